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
# Log lines start with role[pid], as the suites grep them; test_logs checks the timestamps.
export CONNSTATE_LOG_TIME=0
# Suites' supervisors serve no HTTP unless one asks (--bind-http): the default port is one.
export CONNSTATE_BIND_HTTP=none

T_NUM=0
T_FAILED=0
T_PIDS=()
T_PGS=() # private clusters (pg_private), stopped by t_cleanup
T_DIR=$(mktemp -d /tmp/connstate-suite.XXXXXX)
chmod 755 "$T_DIR"

t_cleanup() {
    local pid pg
    for pg in "${T_PGS[@]}"; do pg_private_stop "$pg"; done
    for pid in "${T_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${T_PIDS[@]}"; do
        # give each process 5 s to stop gracefully, then SIGKILL it
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "${CONNSTATE_TEST_KEEP:-0}" = 1 ]; then
        echo "# kept $T_DIR" >&2
    else
        rm -rf "$T_DIR"
    fi
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
    "$@" >>"$log" 2>&1 &
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

# ---- supervisor helpers ------------------------------------------------------------------

LIBDIR=${LIBDIR:-lib}
case "$LIBDIR" in /*) ;; *) LIBDIR=$ROOT/$LIBDIR ;; esac

# plugin_dir: a directory with the bundled plugins and the test plugins (prints its path).
plugin_dir() {
    local dir=$T_DIR/plugins p
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir"
        for p in "$LIBDIR"/connstate/plugins/*; do ln -s "$p" "$dir/"; done
        cp "$ROOT"/tests/plugins/* "$dir/"
        chmod 755 "$dir" "$dir"/*
    fi
    echo "$dir"
}

# sup_spawn NAME DB CONFIG_DIR [ARGS...]: starts a supervisor whose endpoints are ipc
# sockets in the suite's directory ($T_DIR/NAME.{workers,publish,control}); its log is
# $T_DIR/NAME.log and its pid SUP_PID.
sup_spawn() {
    local name=$1 db=$2 cfg=$3
    shift 3
    spawn "$T_DIR/$name.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
        --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/$name.workers" \
        --bind-publish "ipc://$T_DIR/$name.publish" --bind-control "ipc://$T_DIR/$name.control" \
        --workers 2 "$@"
    SUP_PID=$SPAWNED
}

# sup_start NAME DB CONFIG_DIR [ARGS...]: sup_spawn, then waits until its first refresh is
# done.
sup_start() {
    sup_spawn "$@"
    wait_log "$T_DIR/$1.log" "^sup\\[$SUP_PID\\] info: refresh 1 done" 60
}

# sup_stop PID: SIGTERM, and waits for it (true when it exited 0).
sup_stop() {
    kill -TERM "$1" 2>/dev/null
    wait "$1"
}

# control NAME: the control endpoint of supervisor NAME.
control() { echo "ipc://$T_DIR/$1.control"; }

# http_port NAME: the port supervisor NAME's log says it serves HTTP on (--bind-http
# 127.0.0.1:0 picks one).
http_port() {
    sed -n 's/.*info: http endpoint: 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$T_DIR/$1.log" | tail -1
}

# wait_log FILE PATTERN SECONDS: waits until a line of FILE matches the extended regex.
wait_log() {
    wait_until "$3" grep -Eq -- "$2" "$1" || {
        diag "no line matching '$2' in $1 within $3 s; its tail:"
        tail -15 "$1" | sed 's/^/#   /'
        return 1
    }
}

# wait_sql SECONDS DB QUERY EXPECTED: polls the query until it returns EXPECTED.
wait_sql() {
    local deadline=$(($(date +%s%N) + $1 * 1000000000)) got
    while :; do
        got=$(sql "$2" "$3")
        [ "$got" == "$4" ] && return 0
        if [ "$(date +%s%N)" -ge "$deadline" ]; then
            diag "waited $1 s for '$3' to return '$4'; last: '$got'"
            return 1
        fi
        sleep 0.05
    done
}

# status_of DB NAME: the connection's status ("" when it has no row).
status_of() { sql "$1" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = '$2'"; }
error_of() { sql "$1" "SELECT error FROM connstate_internal.connection_state WHERE connection_name = '$2'"; }

# count_status DB STATUS: how many rows have that status.
count_status() { sql "$1" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = '$2'"; }

# schema_oid DB NAME: the schema's OID ("" when it does not exist).
schema_oid() { sql "$1" "SELECT oid FROM pg_namespace WHERE nspname = '$2'"; }

# synthetic_conns FILE FIRST LAST [TABLES [PREFIX]]: writes connections PREFIXFIRST ..
# PREFIXLAST (PREFIX defaults to syn_).
synthetic_conns() {
    local file=$1 i
    : >"$file.tmp"
    for i in $(seq "$2" "$3"); do
        printf 'connection "%s%d" {\n  plugin = "synthetic"\n  tables = %d\n  columns = 3\n}\n' \
            "${5:-syn_}" "$i" "${4:-2}" >>"$file.tmp"
    done
    mv "$file.tmp" "$file"
}

# ---- a private PostgreSQL cluster (for suites that stop or restart it) ----------------------

# pg_private NAME: creates and starts a cluster of the suite's own in $T_DIR/NAME (unix socket
# there, run as the harness's unprivileged user when root); sets PRIV_DB to its conninfo. The
# harness cluster is shared by every suite: a suite that stops or restarts PostgreSQL uses its
# own. (Not in a $(...): it remembers the cluster for t_cleanup.)
pg_private() {
    local dir=$T_DIR/$1
    . "$ROOT/tests/pg.sh"
    PG_BINDIR=${PG_BINDIR:-$(pg_bindir)} || return 1
    PG_OWNER=
    if [ "$(id -u)" -eq 0 ]; then
        if id postgres >/dev/null 2>&1; then PG_OWNER=postgres; else PG_OWNER=nobody; fi
    fi
    T_PGS+=("$1")
    mkdir -p "$dir" && chmod 755 "$dir"
    [ -n "${PG_OWNER:-}" ] && chown "$PG_OWNER" "$dir"
    pg_as_owner "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    pg_private_ctl "$1" start >/dev/null || return 1
    PRIV_DB="host=$dir user=postgres dbname=postgres"
}

# pg_private_ctl NAME pg_ctl-ARGS...: runs pg_ctl on that cluster (start adds its options).
pg_private_ctl() {
    local dir=$T_DIR/$1
    shift
    if [ "$1" = start ] || [ "$1" = restart ]; then
        set -- "$@" -o "-k $dir -c listen_addresses= -c fsync=off -c synchronous_commit=off \
            -c full_page_writes=off -c max_connections=100"
    fi
    pg_as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 "$@"
}

# pg_private_stop NAME: stops it (immediate) if it runs; t_cleanup calls it for every cluster.
pg_private_stop() {
    pg_as_owner "$PG_BINDIR/pg_ctl" -D "$T_DIR/$1/data" -m immediate -w stop >/dev/null 2>&1
    return 0
}
