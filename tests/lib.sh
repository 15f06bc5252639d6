# Helpers for integration suites (sourced): TAP output, waiting on conditions with a
# deadline, a private database and temporary directory per suite, and cleanup of every
# process the suite started, also when it fails or is interrupted.
set -u
ROOT=${CONNSTATE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${BIN:-bin}
case "$BIN" in /*) ;; *) BIN=$ROOT/$BIN ;; esac
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export PATH="$BIN:$PATH"

T_NUM=0
T_FAILED=0
T_PIDS=()
T_DIR=$(mktemp -d /tmp/connstate-suite.XXXXXX)
chmod 755 "$T_DIR"

t_cleanup() {
    local pid
    for pid in "${T_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${T_PIDS[@]}"; do
        # give each process 5 s to stop gracefully, then SIGKILL it
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$T_DIR"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM HUP

ok() { T_NUM=$((T_NUM + 1)); echo "ok $T_NUM - $*"; }
not_ok() { T_NUM=$((T_NUM + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_NUM - $*"; }
diag() { echo "# $*"; }

# check DESCRIPTION COMMAND...: one test, passing when the command succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" == "$3" ]; then
        ok "$1"
    else
        not_ok "$1"
        diag "expected: $2"
        diag "actual:   $3"
    fi
}

# wait_until SECONDS COMMAND...: polls the command every 50 ms until it succeeds; fails
# when the deadline passes first.
wait_until() {
    local deadline=$(($(date +%s%N) + $1 * 1000000000))
    shift
    until "$@"; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# spawn LOGFILE COMMAND...: starts a background process that t_cleanup stops; sets SPAWNED.
spawn() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    SPAWNED=$!
    T_PIDS+=("$SPAWNED")
}

# new_db NAME: creates an empty database and prints its conninfo.
new_db() {
    psql -X -q -v ON_ERROR_STOP=1 "$CONNSTATE_TEST_DB" -c "DROP DATABASE IF EXISTS $1" \
        -c "CREATE DATABASE $1" >/dev/null || return 1
    echo "${CONNSTATE_TEST_DB/dbname=postgres/dbname=$1}"
}

# sql CONNINFO QUERY: the query's result, unaligned, tuples only.
sql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 "$1" -c "$2"
}

# done_testing: prints the plan and exits non-zero when a test failed.
done_testing() {
    echo "1..$T_NUM"
    [ "$T_FAILED" -eq 0 ]
}
