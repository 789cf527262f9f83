#!/usr/bin/env bash
# Installs the Debian packages kedit builds against when one is missing (as root), or says which to
# install. Quiet when everything is present.
set -u
need=()
check() { pkg-config --exists "$1" 2>/dev/null || need+=("$2"); }
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
check openblas libopenblas-dev
check lapacke liblapacke-dev
check libcjson libcjson-dev
check hdf5 libhdf5-dev
check libpcre2-8 libpcre2-dev
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "kedit: installing missing packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null || {
        echo "kedit: apt-get failed; install these and retry: ${need[*]}" >&2; exit 1; }
else
    echo "kedit: missing build dependencies. Install them with:" >&2
    echo "  sudo apt-get install ${need[*]}" >&2
    exit 1
fi
