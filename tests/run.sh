#!/usr/bin/env bash
# Runs every test suite (cmocka unit tests, then integration tests against a throwaway
# PostgreSQL) and ends with one line: "N passed, M failed". Exits 1 on any failure.
#   tests/run.sh [--unit|--integration] [SUITE...]     V=1 shows every suite's full output
set -u
cd "$(dirname "$0")/.." || exit 2
export BUILD=${BUILD:-build} BIN=${BIN:-bin} LIBDIR=${LIBDIR:-lib}
export CONNSTATE_ROOT=$PWD

mode=all
filters=()
for arg in "$@"; do
    case "$arg" in
        --unit) mode=unit ;;
        --integration) mode=integration ;;
        *) filters+=("$arg") ;;
    esac
done

. tests/pg.sh
work=$(mktemp -d /tmp/connstate-tests.XXXXXX)
cleanup() {
    pg_stop
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "tests: interrupted" >&2; exit 130' INT TERM HUP

passed=0
failed=0
failed_suites=()

selected() {
    [ ${#filters[@]} -eq 0 ] && return 0
    local f
    for f in "${filters[@]}"; do [[ "$1" == *"$f"* ]] && return 0; done
    return 1
}

# run_suite NAME COMMAND...: runs one suite, counts its TAP "ok"/"not ok" lines.
suites_run=0
run_suite() {
    local name=$1 out="$work/${1//\//_}.out" start rc p f k
    shift
    suites_run=$((suites_run + 1))
    start=$(date +%s%N)
    CMOCKA_MESSAGE_OUTPUT=TAP timeout --kill-after=10 900 "$@" >"$out" 2>&1 </dev/null
    rc=$?
    p=$(grep -c '^ok ' "$out")
    # a test that cannot run here says so (TAP's "not ok N # SKIP"): skipped, not failed
    k=$(grep -Ec '^not ok [0-9]+ # SKIP' "$out")
    f=$(($(grep -c '^not ok ' "$out") - k))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name exited with status $rc without reporting a failure" >>"$out"
        f=1
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name ran no test" >>"$out"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    local ms=$((($(date +%s%N) - start) / 1000000))
    printf '%-36s %4d passed, %d failed%s  (%d.%ds)\n' "$name" "$p" "$f" \
        "$([ "$k" -gt 0 ] && echo ", $k skipped")" $((ms / 1000)) $((ms % 1000 / 100))
    [ "$k" -gt 0 ] && [ "$f" -eq 0 ] && grep -B1 -E '^not ok [0-9]+ # SKIP' "$out" | sed 's/^/    /'

    if [ "$f" -gt 0 ] || [ "${V:-0}" = 1 ]; then
        failed_suites+=("$name")
        sed 's/^/    /' "$out"
    fi
}

if [ "$mode" != integration ]; then
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        name=unit/$(basename "$t")
        selected "$name" && run_suite "$name" "$t"
    done
fi

if [ "$mode" != unit ]; then
    suites=()
    for t in tests/integration/test_*.sh; do
        [ -f "$t" ] || continue
        name=integration/$(basename "$t" .sh)
        selected "$name" && suites+=("$t")
    done
    if [ ${#suites[@]} -gt 0 ]; then
        if pg_start; then
            for t in "${suites[@]}"; do
                run_suite "integration/$(basename "$t" .sh)" bash "$t"
            done
        else
            echo "not ok - the throwaway PostgreSQL did not start"
            failed=$((failed + 1))
        fi
    fi
fi

if [ "$suites_run" -eq 0 ]; then
    echo "not ok - no suite matches: ${filters[*]}"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
