# What the benchmark scripts share (sourced by bench/supervisor.sh and bench/scale.sh, from
# the repository's root, with a throwaway PostgreSQL in $CONNSTATE_TEST_DB): the work
# directory, the supervisor's start and stop, config generation, SQL, timing and statistics,
# and CPU and memory from /proc.

ROOT=$PWD
BIN=$ROOT/${BIN:-bin}
TOOLS=$ROOT/${BUILD:-build}/bench
export PATH="$BIN:$PATH"

# bench_init: a fresh work directory in $WORK; everything started with start_sup (or added
# to PIDS) is stopped at exit, and the directory removed (kept with CONNSTATE_BENCH_KEEP=1).
bench_init() {
    WORK=$(mktemp -d /tmp/connstate-bench.XXXXXX)
    chmod 755 "$WORK"
    PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}
bench_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if [ "${CONNSTATE_BENCH_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}

sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$1" -c "$2"; }
newdb() {
    sql "$CONNSTATE_TEST_DB" "DROP DATABASE IF EXISTS $1" >/dev/null 2>&1
    sql "$CONNSTATE_TEST_DB" "CREATE DATABASE $1" >/dev/null
    echo "${CONNSTATE_TEST_DB/dbname=postgres/dbname=$1}"
}
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# spread VALUE...: "min-max"
spread() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

# gen_config DIR CONNECTIONS TABLES COLUMNS FILES [NAME_DIGITS [FILE_DIGITS]]: connections
# c_00000... spread over FILES files part_0000.spc... (connection i in file i % FILES).
gen_config() {
    local dir=$1 n=$2 tables=$3 cols=$4 files=$5 nd=${6:-5} fd=${7:-4}
    mkdir -p "$dir"
    rm -f "$dir"/*.spc
    awk -v dir="$dir" -v n="$n" -v t="$tables" -v c="$cols" -v files="$files" \
        -v nf="c_%0${nd}d" -v ff="%s/part_%0${fd}d.spc" 'BEGIN {
        for (f = 0; f < files; f++) {
            path = sprintf(ff, dir, f)
            for (i = f; i < n; i += files)
                printf "connection \"" nf "\" {\n  plugin  = \"synthetic\"\n  tables  = %d\n  columns = %d\n}\n", i, t, c > path
            close(path)
        }
    }'
}

# start_sup NAME DB CONFIG WORKERS: the supervisor in the background (SUP_PID), its log
# $WORK/NAME.log, ipc endpoints $WORK/NAME.{workers,publish,control}.
start_sup() {
    local name=$1 db=$2 cfg=$3 workers=$4
    connstate-supervisor --db "$db" --config-dir "$cfg" --workers "$workers" \
        --bind-workers "ipc://$WORK/$name.workers" --bind-publish "ipc://$WORK/$name.publish" \
        --bind-control "ipc://$WORK/$name.control" >>"$WORK/$name.log" 2>&1 &
    SUP_PID=$!
    PIDS+=("$SUP_PID")
}
stop_sup() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
# settle DB: before a timed run, nothing of the previous one is left to write: PostgreSQL's
# dirty buffers (CHECKPOINT) and the kernel's dirty pages (sync; the cluster is on disk, and
# the kernel would otherwise write them back in the middle of the next run).
settle() {
    sql "$1" "CHECKPOINT" >/dev/null
    sync
}
ready_count() { echo "SELECT count(*) = $1 FROM connstate_internal.connection_state WHERE status = 'ready'"; }

# The supervisor's cumulative counters, from its last "refresh N done" line.
counters() { grep -o 'since start: .*' "$1" | tail -1; }

# wait_log FILE PATTERN COUNT PID SECONDS: until FILE has COUNT lines matching PATTERN;
# fails when PID exits or the deadline passes.
wait_log() {
    local file=$1 pattern=$2 count=$3 pid=$4 deadline
    deadline=$(($(date +%s) + $5))
    until [ "$(grep -c "$pattern" "$file" 2>/dev/null)" -ge "$count" ]; do
        kill -0 "$pid" 2>/dev/null || { echo "bench: process $pid exited; see $file" >&2; return 1; }
        [ "$(date +%s)" -lt "$deadline" ] || { echo "bench: no \"$pattern\" in $file within $5 s" >&2; return 1; }
        sleep 0.05
    done
}

# ---- CPU and memory from /proc --------------------------------------------------------------

CLK_TCK=$(getconf CLK_TCK)

# descendants PID: PID and every process under it, one a line.
descendants() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            keep[root] = 1; print root
            do {
                more = 0
                for (i in pids) {
                    p = pids[i]
                    if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; more = 1 }
                }
            } while (more)
        }'
}

# tree_cpu PID: CPU-seconds of PID and its live descendants (utime + stime) and of everything
# they reaped (cutime + cstime), from /proc/PID/stat.
tree_cpu() {
    local pid ticks=0 stat
    for pid in $(descendants "$1"); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) } # after the command's name, which may hold spaces
        # fields 14-17 of stat are the 12th-15th after the name
        ticks=$((ticks + $(awk '{ print $12 + $13 + $14 + $15 }' <<<"$stat")))
    done
    calc "%.2f" "$ticks / $CLK_TCK"
}

# pg_cpu: the CPU-seconds the throwaway cluster has used so far: the postmaster, its live
# processes, and the processes it reaped (every exited backend).
pg_postmaster() { head -1 "$CONNSTATE_TEST_PGDIR/data/postmaster.pid"; }
pg_cpu() { tree_cpu "$(pg_postmaster)"; }
# pg_sessions: how many client sessions' backends the postmaster has now (their titles say
# "[local]": the cluster listens on its unix socket only).
pg_sessions() { ps -o args= --ppid "$(pg_postmaster)" | grep -c '\[local\]'; }
# pg_quiet: until no client session's backend is left (those of the sessions just closed
# have exited and been reaped, so that their CPU is in pg_cpu), at most 10 s.
pg_quiet() {
    local deadline=$(($(date +%s) + 10))
    while [ "$(pg_sessions)" -gt 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.05; done
}

# vmhwm PID: the process's peak resident set (VmHWM) in KiB.
vmhwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# workers_vmhwm PID: the largest VmHWM of the supervisor's workers, in KiB.
workers_vmhwm() {
    local pid max=0 v
    for pid in $(ps -o pid= --ppid "$1"); do
        v=$(vmhwm "$pid")
        [ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v
    done
    echo "$max"
}

# ---- one connection changed ------------------------------------------------------------------

# incr_rounds DB FILE NAME ROUNDS: changes connection NAME (the first block of config FILE) in
# its file ROUNDS times, its table count growing by one each time, and times each change from
# the file's write to the commit that makes NAME ready with its new schema (a LISTENing
# session). Sets INCR (ms, one per round). Fails when one is not ready within 60 s.
incr_rounds() {
    local db=$1 file=$2 name=$3 rounds=$4 round old tables t0 waiter deadline
    INCR=()
    for ((round = 1; round <= rounds; round++)); do
        old=$(sql "$db" "SELECT schema_hash FROM connstate_internal.connection_state WHERE connection_name = '$name'")
        tables=$(($(grep -m1 -o 'tables  = [0-9]*' "$file" | grep -o '[0-9]*$') + 1))
        rm -f "$WORK/listening"
        "$TOOLS/tool_until" "$db" "SELECT status = 'ready' AND schema_hash IS DISTINCT FROM '$old' FROM connstate_internal.connection_state WHERE connection_name = '$name'" 60 "$WORK/listening" >"$WORK/t1" &
        waiter=$!
        deadline=$(($(date +%s) + 10))
        until [ -e "$WORK/listening" ]; do
            [ "$(date +%s)" -lt "$deadline" ] || { echo "bench: tool_until did not start" >&2; return 1; }
            sleep 0.01
        done
        t0=$(now)
        sed -i "0,/tables  = [0-9]*/s//tables  = $tables/" "$file"
        wait "$waiter" || return 1
        INCR+=("$(calc "%.1f" "($(cat "$WORK/t1") - $t0) * 1000")")
    done
}

# one_ddl CAPTURE_DIR NAME OUT: NAME's last captured build, to be replayed alone on the same
# database (it drops and recreates that schema). The worker drops the tables it found by
# name, then the schema RESTRICT; the replay runs again and again on the schema it made
# itself, so its drop is the schema's CASCADE.
one_ddl() {
    awk -v quoted="\"$2\"" 'BEGIN { RS = "-- end\n" } index($0, quoted) { block = $0 } END { printf "%s-- end\n", block }' \
        "$1"/*.sql |
        sed -E '/^DROP FOREIGN TABLE /d; s/^(DROP SCHEMA .*) RESTRICT;$/\1 CASCADE;/' >"$3"
}

# replay_ms DB FILE ROUNDS: replays FILE alone ROUNDS times; sets DDL_MS (ms, one per round).
replay_ms() {
    local round r
    DDL_MS=()
    for ((round = 1; round <= $3; round++)); do
        r=$("$TOOLS/tool_replay" "$1" 1 "$2") || return 1
        DDL_MS+=("$(calc "%.1f" "${r% *} * 1000")")
    done
}
