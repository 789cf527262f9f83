#!/usr/bin/env bash
# Runs test binaries from the repository root and adds up their RESULT lines; exits non-zero on any
# failure or crash. The last line is "N passed, N failed, N skipped".
set -u
pass=0; fail=0; skip=0; crashed=()
for t in "$@"; do
    echo "== $(basename "$t")"
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^RESULT '
    res=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
    if [ -z "$res" ]; then
        crashed+=("$(basename "$t") (exit $rc, no result line)"); fail=$((fail + 1)); continue
    fi
    set -- $res
    pass=$((pass + $2)); fail=$((fail + $3)); skip=$((skip + $4))
    if [ "$rc" -ne 0 ] && [ "$3" -eq 0 ]; then crashed+=("$(basename "$t") (exit $rc)"); fail=$((fail + 1)); fi
done
for c in "${crashed[@]+"${crashed[@]}"}"; do echo "CRASH $c"; done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
