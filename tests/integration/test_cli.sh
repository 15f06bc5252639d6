# The three programs answer --help and --version and reject unknown flags (exit 2); each
# connstate command's --help lists the flags it accepts.
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

# --help lists every flag a program accepts, and each flag it lists is accepted (the parser
# and the help come from one table): with the flag first and an unknown one after it, the
# error names the unknown one.
for prog in connstate-supervisor connstate-worker; do
    flags=$("$prog" --help | grep -oE '^  --[a-z-]+' | sed 's/^  //' | grep -vE '^--(help|version)$')
    bad=""
    for flag in $flags; do
        "$prog" "$flag" 1 --no-such-flag >/dev/null 2>"$T_DIR/err"
        grep -q "option '--no-such-flag'" "$T_DIR/err" || bad="$bad $flag"
    done
    check "$prog: every flag its --help lists is accepted ($(echo $flags | wc -w) flags)${bad:+; not:$bad}" \
        test -z "$bad"
done
check "connstate-supervisor --help lists --publish-hwm" \
    grep -q -- "--publish-hwm N" <(connstate-supervisor --help)

# Each command's --help lists exactly the flags it accepts: a flag is accepted (then --help
# answers, exit 0) if and only if the help has a line for it.
flags="--db:x --data-dir:x --config-dir:x --plugin-dir:x --publish:x --control:x --timeout:1 --format:json"
for cmd in "config check" status refresh wait query inspect plan watch keygen; do
    # shellcheck disable=SC2086 # $cmd is one or two words
    help=$(connstate $cmd --help)
    check "connstate $cmd --help lists --help" grep -q -- "^  --help " <<<"$help"
    listed_ok=1
    for fv in $flags; do
        flag=${fv%%:*} value=${fv#*:}
        connstate $cmd "$flag" "$value" --help >/dev/null 2>&1
        accepted=$?
        if grep -q -- "^  $flag " <<<"$help"; then
            [ "$accepted" -eq 0 ] || { listed_ok=0; diag "$cmd: $flag listed, not accepted"; }
        else
            [ "$accepted" -eq 2 ] || { listed_ok=0; diag "$cmd: $flag accepted, not listed"; }
        fi
    done
    check "connstate $cmd --help lists exactly the flags it accepts" test "$listed_ok" -eq 1
done

done_testing
