# The three programs answer --help and --version and reject unknown flags (exit 2).
. "$(dirname "$0")/../lib.sh"

for prog in connstate-supervisor connstate-worker connstate; do
    out=$("$prog" --help 2>&1); rc=$?
    check "$prog --help exits 0 and prints usage" test "$rc" -eq 0 -a -n "$(echo "$out" | grep -i usage)"
    out=$("$prog" --version 2>&1); rc=$?
    check "$prog --version exits 0 and prints a version" \
        bash -c "[ $rc -eq 0 ] && echo '$out' | grep -Eq '^$prog [0-9]+\.[0-9]+\.[0-9]+$'"
    "$prog" --no-such-flag >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
    check "$prog rejects an unknown flag with exit 2" test "$rc" -eq 2
    check "$prog prints usage on stderr for an unknown flag" grep -qi usage "$T_DIR/err"
    check "$prog prints nothing on stdout for an unknown flag" test ! -s "$T_DIR/out"
done

done_testing
