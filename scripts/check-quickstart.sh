#!/usr/bin/env bash
# The quick start on a machine without the packages: as root on Debian, clones this repository's HEAD
# into a temporary folder (with ../shared beside it, linked, when present), removes one build dependency
# (libcjson-dev), runs `make` there and checks that bin/kedit was built, then always reinstalls the
# package. Options: --run adds `make run`, --test adds `make test`, --test-bin NAME builds and runs the one
# test binary tests/NAME.c, --package NAME removes another package. MAKEFLAGS (e.g. -j2) reaches every make.
# Exits 0 when every command succeeded.
set -u
cd "$(dirname "$0")/.."
pkg=libcjson-dev
goals=()
test_bin=
while [ $# -gt 0 ]; do
    case "$1" in
        --run) goals+=(run) ;;
        --test) goals+=(test) ;;
        --test-bin) test_bin=$2; shift ;;
        --package) pkg=$2; shift ;;
        *) echo "usage: $0 [--run] [--test] [--test-bin NAME] [--package NAME]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "check-quickstart: needs root on Debian/Ubuntu (it removes and reinstalls $pkg)" >&2
    exit 2
fi
repo=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kedit_quickstart_XXXXXX")
restore() {
    echo "check-quickstart: reinstalling $pkg"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$pkg" >/dev/null || echo "check-quickstart: could not reinstall $pkg" >&2
    rm -rf "$tmp"
}
trap restore EXIT
trap 'exit 130' INT TERM

git clone -q "$repo" "$tmp/kedit" || exit 1
[ -d "$repo/../shared" ] && ln -s "$(cd "$repo/../shared" && pwd)" "$tmp/shared"
echo "check-quickstart: removing $pkg"
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 remove -y -qq "$pkg" >/dev/null || exit 1
cd "$tmp/kedit"
status=0
for g in all "${goals[@]+"${goals[@]}"}"; do
    echo "check-quickstart: make $g"
    if ! make "$g"; then echo "check-quickstart: make $g FAILED"; status=1; break; fi
done
if [ $status = 0 ] && ! bin/kedit --help >/dev/null; then echo "check-quickstart: bin/kedit does not run"; status=1; fi
if [ $status = 0 ] && [ -n "$test_bin" ]; then
    echo "check-quickstart: make build/cpu/tests/$test_bin"
    make "build/cpu/tests/$test_bin" && tests/run_tests.sh "build/cpu/tests/$test_bin" || status=1
fi
[ $status = 0 ] && echo "check-quickstart: the quick start worked on a machine without $pkg"
exit $status
