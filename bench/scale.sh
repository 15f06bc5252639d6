#!/usr/bin/env bash
# make bench-scale: every figure of issue 15's table at two numbers of connections (10,000 and
# 100,000 by default) in one run on a throwaway PostgreSQL, each the median and spread
# (min-max) of ROUNDS runs, the small scale's figure beside the large one's and the growth.
# Prints a markdown table and writes it to bench/results/scale.md with the machine and the
# settings; exits 1 when a row FAILED (a target MISSED is reported, not an exit status).
#   bench/scale.sh          SCALES="10000 100000" ROUNDS=3 (the environment overrides both)
# Connections: synthetic, 1 table x 2 columns, 10 per file. Baselines, as in bench/run.sh: the
# cold refreshes against the DDL they issued (captured in an untimed run by the workers,
# CONNSTATE_DDL_CAPTURE and CONNSTATE_COMMENT_CAPTURE) replayed by as many bare sessions; a
# changed connection against its own DDL replayed alone; CPU-seconds from /proc.
set -u
cd "$(dirname "$0")/.." || exit 2
export BUILD=${BUILD:-build} BIN=${BIN:-bin}
SCALES=${SCALES:-"10000 100000"}
ROUNDS=${ROUNDS:-3}
read -r S1 S2 more <<<"$SCALES"
if [ -z "${S2:-}" ] || [ -n "${more:-}" ] || ! [[ $S1 =~ ^[0-9]+$ && $S2 =~ ^[0-9]+$ ]] ||
    [ "$S1" -lt 10 ] || [ "$S2" -le "$S1" ] || ! [[ $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
    echo "bench/scale.sh: SCALES takes two numbers of connections, the smaller first (at least 10;" \
        "default \"10000 100000\"), ROUNDS a positive number (default 3)" >&2
    exit 2
fi
NOOP_SAMPLES=7 # the cheap rows take more samples than ROUNDS, at least ROUNDS
INCR_SAMPLES=5
[ "$ROUNDS" -gt "$NOOP_SAMPLES" ] && NOOP_SAMPLES=$ROUNDS
[ "$ROUNDS" -gt "$INCR_SAMPLES" ] && INCR_SAMPLES=$ROUNDS
START=$(date +%s)

. tests/pg.sh
. bench/lib.sh
export PG_EXTRA_OPTS="-c track_commit_timestamp=on"
bench_init
trap 'bench_cleanup; pg_stop' EXIT
pg_start || exit 1

# The deadline of one cold refresh (generous: a W = 1 cold refresh of 100,000 takes minutes).
deadline_for() { echo $((300 + $1 / 100)); }

# wait_file FILE: until a tool that announces itself with FILE is ready, at most 10 s.
wait_file() {
    local deadline=$(($(date +%s) + 10))
    until [ -e "$1" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "bench: $1 did not appear" >&2; return 1; }
        sleep 0.01
    done
}

# ---- cold refreshes ---------------------------------------------------------------------------

# cold_run N W ROUND: a cold refresh of config $WORK/cfg-N on a fresh database by a supervisor
# with W workers. Appends to the scale's arrays: the time to all ready and (W = 2, which then
# runs on to the end of the refresh) to every comments_set, the supervisor's and its largest
# worker's peak RSS, the CPU-seconds of connstate's processes and of the database.
cold_run() {
    local n=$1 w=$2 round=$3 db name=cold$1-$2-$3 t0 ready cmt sup dl cs_cpu db0 db1
    dl=$(deadline_for "$n")
    db=$(newdb cold)
    settle "$db"
    pg_quiet
    rm -f "$WORK/l1"
    # all ready: the condition counts every row, so it is read only once enough changes were
    # notified (the plan sets N rows updating, the builds N ready)
    "$TOOLS/tool_until" "$db" "$(ready_count "$n")" "$dl" "$WORK/l1" $((2 * n)) >"$WORK/ready" &
    local u1=$!
    wait_file "$WORK/l1" || return 1
    db0=$(pg_cpu)
    t0=$(now)
    start_sup "$name" "$db" "$WORK/cfg-$n" "$w"
    sup=$SUP_PID
    wait "$u1" || { echo "bench: $name: not all ready (see $WORK/$name.log)" >&2; return 1; }
    ready=$(calc "%.3f" "$(cat "$WORK/ready") - $t0")
    V_READY[$n.$w]+=" $ready"
    if [ "$w" = 1 ]; then # W = 1: to all ready only (the comments and CPU rows are W = 2's)
        echo "  $name: ready $ready s" >&2
        stop_sup "$sup"
        sql "$CONNSTATE_TEST_DB" "DROP DATABASE cold" >/dev/null
        return 0
    fi
    wait_log "$WORK/$name.log" "refresh 1 done" 1 "$sup" "$dl" || return 1
    # every comments_set: the commit of the last row's last change (its xmin), once the
    # refresh is done (its comments too; nothing changes a row after its comments)
    cmt=$(sql "$db" "SELECT count(*) FILTER (WHERE NOT comments_set) || ' ' || extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM connstate_internal.connection_state")
    [ "${cmt%% *}" = 0 ] || { echo "bench: $name: ${cmt%% *} rows without comments_set" >&2; return 1; }
    cmt=$(calc "%.3f" "${cmt#* } - $t0")
    cs_cpu=$(tree_cpu "$sup")
    V_SUP_RSS[$n.$w]+=" $(vmhwm "$sup")"
    V_WRK_RSS[$n.$w]+=" $(workers_vmhwm "$sup")"
    stop_sup "$sup"
    pg_quiet
    db1=$(pg_cpu)
    V_CMT[$n.$w]+=" $cmt"
    V_CS_CPU[$n.$w]+=" $cs_cpu"
    V_DB_CPU[$n.$w]+=" $(calc "%.2f" "$db1 - $db0")"
    echo "  $name: ready $ready s, comments $cmt s, connstate $cs_cpu CPU-s, database $(calc "%.2f" "$db1 - $db0") CPU-s" >&2
    sql "$CONNSTATE_TEST_DB" "DROP DATABASE cold" >/dev/null
}

# replay_run N W: the captured builds replayed by W sessions on a fresh database, then (W = 2)
# the captured comments. Appends the times and the CPU-seconds (the sessions' processes and
# the database's).
replay_run() {
    local n=$1 w=$2 db out out2 db0 db1 rt ct=0 rcpu ccpu=0
    db=$(newdb replay)
    sql "$db" "CREATE EXTENSION file_fdw; CREATE SERVER connstate_file FOREIGN DATA WRAPPER file_fdw" >/dev/null
    settle "$db"
    pg_quiet
    db0=$(pg_cpu)
    out=$("$TOOLS/tool_replay" --cpu "$db" "$w" "$WORK/ddl-$n"/*.sql) || return 1
    read -r rt _ rcpu <<<"$out"
    if [ "$w" = 2 ]; then
        out2=$("$TOOLS/tool_replay" --cpu "$db" "$w" "$WORK/cmt-$n"/*.sql) || return 1
        read -r ct _ ccpu <<<"$out2"
    fi
    pg_quiet
    db1=$(pg_cpu)
    V_REPLAY[$n.$w]+=" $rt"
    V_REPLAY_CMT[$n.$w]+=" $(calc "%.3f" "$rt + $ct")"
    V_REPLAY_CPU[$n.$w]+=" $(calc "%.2f" "$rcpu + $ccpu + $db1 - $db0")"
    echo "  replay $n W=$w: builds $rt s, comments $ct s, $(calc "%.2f" "$rcpu + $ccpu + $db1 - $db0") CPU-s" >&2
    sql "$CONNSTATE_TEST_DB" "DROP DATABASE replay" >/dev/null
}

# ---- one scale ----------------------------------------------------------------------------------

declare -A V_READY V_CMT V_SUP_RSS V_WRK_RSS V_CS_CPU V_DB_CPU V_REPLAY V_REPLAY_CMT V_REPLAY_CPU
declare -A V_NOOP V_INCR V_DDL V_RESTART V_RESTART_DDL V_SNAP V_BURST FAILED

scale() {
    local n=$1 cfg=$WORK/cfg-$1 db sup round blocks comments dl
    dl=$(deadline_for "$n")
    echo "scale $n: config" >&2
    gen_config "$cfg" "$n" 1 2 $(((n + 9) / 10)) 6 5

    # Untimed: a W = 2 cold refresh whose workers capture the DDL the replays execute (the
    # same for any W: the replay deals the transactions out to its sessions); it warms up too,
    # and its database is the one the steady-state figures use.
    echo "scale $n: capture" >&2
    db=$(newdb "steady$n")
    mkdir -p "$WORK/ddl-$n" "$WORK/cmt-$n" "$WORK/incr-$n"
    CONNSTATE_DDL_CAPTURE=$WORK/ddl-$n CONNSTATE_COMMENT_CAPTURE=$WORK/cmt-$n \
        start_sup "cap$n" "$db" "$cfg" 2
    wait_log "$WORK/cap$n.log" "refresh 1 done" 1 "$SUP_PID" "$dl" || return 1
    stop_sup "$SUP_PID"
    blocks=$(cat "$WORK/ddl-$n"/*.sql | grep -c '^-- end$')
    comments=$(cat "$WORK/cmt-$n"/*.sql 2>/dev/null | grep -c '^-- end$')
    echo "scale $n: captured $blocks build and $comments comment transactions" >&2
    if [ "$blocks" = 0 ] || [ "$comments" = 0 ]; then
        echo "bench: the capture holds $blocks builds and $comments comment transactions" >&2
        return 1
    fi

    # Timed: ROUNDS of each cold refresh and its replay, the order alternating (the shared
    # machine drifts by more than the margins).
    for ((round = 1; round <= ROUNDS; round++)); do
        echo "scale $n: round $round of $ROUNDS" >&2
        if ((round % 2)); then
            cold_run "$n" 1 "$round" && replay_run "$n" 1 && cold_run "$n" 2 "$round" &&
                replay_run "$n" 2 || return 1
        else
            replay_run "$n" 1 && cold_run "$n" 1 "$round" && replay_run "$n" 2 &&
                cold_run "$n" 2 "$round" || return 1
        fi
    done

    # Restarts with everything ready (the capture run's database): start to all ready, the
    # DDL they ran, and the burst of changes (every row pending, then ready) as a subscriber
    # that keeps up sees it. The last one stays up for the figures below, capturing the
    # rebuild of the changed connection.
    for ((round = 1; round <= ROUNDS; round++)); do
        echo "scale $n: restart $round" >&2
        local name=steady$n-$round t0 t1 ddl
        rm -f "$WORK/l1"
        "$TOOLS/tool_burst" "ipc://$WORK/$name.publish" "$db" $((2 * n)) "$dl" >"$WORK/burst" &
        local burst=$!
        "$TOOLS/tool_until" "$db" "$(ready_count "$n")" "$dl" "$WORK/l1" $((2 * n)) >"$WORK/ready" &
        local u1=$!
        wait_file "$WORK/l1" || return 1
        t0=$(now)
        CONNSTATE_DDL_CAPTURE=$WORK/incr-$n start_sup "$name" "$db" "$cfg" 2
        sup=$SUP_PID
        wait "$u1" || { echo "bench: $name: not all ready again" >&2; return 1; }
        t1=$(cat "$WORK/ready")
        wait_log "$WORK/$name.log" "refresh 1 done" 1 "$sup" "$dl" || return 1
        ddl=$(counters "$WORK/$name.log" | sed -E 's/since start: [0-9]+ builds, ([0-9]+) DDL.*/\1/')
        V_RESTART[$n]+=" $(calc "%.3f" "$t1 - $t0")"
        V_RESTART_DDL[$n]=$((${V_RESTART_DDL[$n]:-0} + ddl))
        wait "$burst"
        V_BURST[$n]+="$(cat "$WORK/burst")|"
        [ "$round" -lt "$ROUNDS" ] && stop_sup "$sup"
    done

    # no-op refresh
    echo "scale $n: no-op refresh, changed connection, snapshot" >&2
    local t0 t1
    for ((round = 1; round <= NOOP_SAMPLES; round++)); do
        t0=$(now)
        connstate refresh --control "ipc://$WORK/$name.control" >/dev/null || return 1
        t1=$(now)
        V_NOOP[$n]+=" $(calc "%.1f" "($t1 - $t0) * 1000")"
    done

    # one connection changed in its file (c_000007, first in part_00007.spc), against its own
    # DDL replayed alone
    incr_rounds "$db" "$cfg/part_00007.spc" c_000007 "$INCR_SAMPLES" || return 1
    one_ddl "$WORK/incr-$n" c_000007 "$WORK/one.sql"
    replay_ms "$db" "$WORK/one.sql" "$INCR_SAMPLES" || return 1
    for ((round = 0; round < INCR_SAMPLES; round++)); do
        V_INCR[$n]+=" $(calc "%.1f" "${INCR[$round]} - ${DDL_MS[$round]}")"
        V_DDL[$n]+=" ${DDL_MS[$round]}"
    done

    # a snapshot of every row, asked for on the control channel
    local out
    out=$("$TOOLS/tool_snapshot" "ipc://$WORK/$name.control" "$ROUNDS" 60) || return 1
    V_SNAP[$n]=$(awk -v n="$n" '$2 != n { print "bench: a snapshot of " $2 " rows, not " n > "/dev/stderr"; exit 1 } { printf " %s", $1 }' <<<"$out") || return 1
    stop_sup "$sup"
}

# ---- the table ----------------------------------------------------------------------------------

# fig VALUES: "median (min-max)" of a space-separated list
fig() { echo "$(median $1) ($(spread $1))"; }
# ratios A B: the per-round ratios of two lists
ratios() { paste <(tr ' ' '\n' <<<"${1# }") <(tr ' ' '\n' <<<"${2# }") | awk '{ printf " %.3f", $1 / $2 }'; }
# mb KIB...: in MB
mb() { for v in $1; do calc " %.1f" "$v / 1024"; done; }
verdict() { awk "BEGIN { print ($1) ? \"met\" : \"MISSED\" }"; }
med() { median $1; }

OUT=bench/results/scale.md
mkdir -p bench/results
tmp=$(mktemp)
status=0
for n in "$S1" "$S2"; do
    scale "$n" || { FAILED[$n]=1; status=1; echo "bench: scale $n FAILED" >&2; }
done
ELAPSED=$(($(date +%s) - START))
settings=$(sql "$CONNSTATE_TEST_DB" "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('server_version', 'shared_buffers', 'fsync', 'synchronous_commit', 'full_page_writes', 'max_connections', 'track_commit_timestamp', 'max_locks_per_transaction', 'work_mem')")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"

# row BENCHMARK SMALL LARGE GROWTH TARGET VERDICT
row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 |"; }
# have: both scales were measured
have() { [ -z "${FAILED[$S1]:-}" ] && [ -z "${FAILED[$S2]:-}" ]; }
growth() { calc "%.2fx" "$(med "$2") / $(med "$1")"; }

{
    echo "# connstate at scale: $S1 and $S2 connections"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), code: $commit, $ROUNDS rounds, took $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- PostgreSQL: throwaway cluster (tests/pg.sh), unix socket; $settings"
    echo "- connections: synthetic, 1 table x 2 columns, 10 per file; every figure: median (min-max) of its samples"
    echo "- reproduce: \`make bench-scale\` (\`SCALES=\"2000 20000\" ROUNDS=1 make bench-scale\` for a quick run)"
    echo
    echo "| benchmark | $S1 | $S2 | growth | target | |"
    echo "|---|---|---|---|---|---|"
} >"$tmp"

if have; then
    a=${V_NOOP[$S1]} b=${V_NOOP[$S2]} g=$(calc "%.2f" "$(med "$b") / $(med "$a")")
    row "no-op refresh: \`connstate refresh\`, nothing changed ($NOOP_SAMPLES samples)" "$(fig "$a") ms" "$(fig "$b") ms" \
        "${g}x" "<= 1.5x, <= 100 ms" "$(verdict "$g <= 1.5 && $(med "$b") <= 100")" >>"$tmp"
    a=${V_INCR[$S1]} b=${V_INCR[$S2]} g=$(calc "%.2f" "$(med "$b") / $(med "$a")")
    row "one connection changed in its file, to its ready notification, outside its own DDL ($INCR_SAMPLES samples; its DDL replayed alone: $(med "${V_DDL[$S1]}") / $(med "${V_DDL[$S2]}") ms)" \
        "$(fig "$a") ms" "$(fig "$b") ms" "${g}x" "<= 1.5x, <= 50 ms" "$(verdict "$g <= 1.5 && $(med "$b") <= 50")" >>"$tmp"
    a=${V_RESTART[$S1]} b=${V_RESTART[$S2]}
    row "restart with everything ready: start to all ready ($ROUNDS restarts; DDL statements in all)" \
        "$(fig "$a") s, ${V_RESTART_DDL[$S1]} DDL" "$(fig "$b") s, ${V_RESTART_DDL[$S2]} DDL" "$(growth "$a" "$b")" \
        "0 DDL, <= 2 s" "$(verdict "${V_RESTART_DDL[$S2]} == 0 && $(med "$b") <= 2")" >>"$tmp"
    a=$(mb "${V_SUP_RSS[$S1.2]}") b=$(mb "${V_SUP_RSS[$S2.2]}")
    slope=$(calc "%.2f" "($(med "$b") - $(med "$a")) * 1024 / ($S2 - $S1)")
    base=$(calc "%.1f" "$(med "$a") - $slope * $S1 / 1024")
    row "supervisor peak RSS (VmHWM) over a W = 2 cold refresh" "$(fig "$a") MB" "$(fig "$b") MB" \
        "${slope} KB per connection above $base MB" "<= 1 KB per connection, <= 128 MB" \
        "$(verdict "$slope <= 1 && $(med "$b") <= 128")" >>"$tmp"
    a=$(mb "${V_WRK_RSS[$S1.2]}") b=$(mb "${V_WRK_RSS[$S2.2]}") g=$(calc "%.2f" "$(med "$b") / $(med "$a")")
    row "one worker's peak RSS (the larger of the two) over a W = 2 cold refresh" "$(fig "$a") MB" "$(fig "$b") MB" \
        "${g}x" "independent of N (<= 1.1x)" "$(verdict "$g <= 1.1")" >>"$tmp"
    for w in 1 2; do
        a=$(ratios "${V_READY[$S1.$w]}" "${V_REPLAY[$S1.$w]}") b=$(ratios "${V_READY[$S2.$w]}" "${V_REPLAY[$S2.$w]}")
        row "cold refresh, W = $w, to all ready / the same DDL replayed by $w bare session(s) ($S1: $(fig "${V_READY[$S1.$w]}") s / $(fig "${V_REPLAY[$S1.$w]}") s; $S2: $(fig "${V_READY[$S2.$w]}") s / $(fig "${V_REPLAY[$S2.$w]}") s)" \
            "$(fig "$a")" "$(fig "$b")" "$(growth "${V_READY[$S1.$w]}" "${V_READY[$S2.$w]}") (time)" "<= 1.10" \
            "$(verdict "$(med "$b") <= 1.10")" >>"$tmp"
    done
    a=$(ratios "${V_CMT[$S1.2]}" "${V_REPLAY_CMT[$S1.2]}") b=$(ratios "${V_CMT[$S2.2]}" "${V_REPLAY_CMT[$S2.2]}")
    row "comments phase, W = 2: cold start to every comments_set / the build and comment DDL replayed by 2 sessions ($S1: $(fig "${V_CMT[$S1.2]}") s / $(fig "${V_REPLAY_CMT[$S1.2]}") s; $S2: $(fig "${V_CMT[$S2.2]}") s / $(fig "${V_REPLAY_CMT[$S2.2]}") s)" \
        "$(fig "$a")" "$(fig "$b")" "$(growth "${V_CMT[$S1.2]}" "${V_CMT[$S2.2]}") (time)" "<= 1.10" \
        "$(verdict "$(med "$b") <= 1.10")" >>"$tmp"
    tot() { paste <(tr ' ' '\n' <<<"${1# }") <(tr ' ' '\n' <<<"${2# }") | awk '{ printf " %.2f", $1 + $2 }'; }
    t1=$(tot "${V_CS_CPU[$S1.2]}" "${V_DB_CPU[$S1.2]}") t2=$(tot "${V_CS_CPU[$S2.2]}" "${V_DB_CPU[$S2.2]}")
    a=$(ratios "$t1" "${V_REPLAY_CPU[$S1.2]}") b=$(ratios "$t2" "${V_REPLAY_CPU[$S2.2]}")
    row "CPU-seconds of a W = 2 cold refresh to every comments_set (connstate's processes + the database's) / the bare replay's (its sessions + the database's) ($S1: $(fig "$t1") / $(fig "${V_REPLAY_CPU[$S1.2]}"); $S2: $(fig "$t2") / $(fig "${V_REPLAY_CPU[$S2.2]}"))" \
        "$(fig "$a")" "$(fig "$b")" "$(growth "$t1" "$t2") (CPU-s)" "<= 1.05" "$(verdict "$(med "$b") <= 1.05")" >>"$tmp"
    per() { for v in $1; do calc " %.3f" "$v * 1000 / (2 * $2)"; done; }
    a=$(per "${V_CS_CPU[$S1.2]}" "$S1") b=$(per "${V_CS_CPU[$S2.2]}" "$S2")
    row "connstate's own CPU (supervisor + workers + plugins) per 1,000 updates (a build and a comments update per connection; the database's: $(fig "$(per "${V_DB_CPU[$S2.2]}" "$S2")") s at $S2)" \
        "$(fig "$a") s" "$(fig "$b") s" "$(growth "$a" "$b")" "" "" >>"$tmp"
    a=${V_SNAP[$S1]} b=${V_SNAP[$S2]}
    row "subscriber: a snapshot of every row, request to its end ($ROUNDS samples)" "$(fig "$a") s" "$(fig "$b") s" \
        "$(growth "$a" "$b")" "<= 1 s" "$(verdict "$(med "$b") <= 1")" >>"$tmp"
    # tool_burst: received sent_from_first gaps before_first first_seq last_seq changes_per_s
    burst() {
        awk -v RS='|' 'NF == 7 { got += $1; sent += $2; gaps += $3; before += $4; rounds++; if ($7 > rate) rate = $7 }
            END { printf "%d of %d changes received, %d gaps, in %d restarts (%d published before the subscription reached the new supervisor); up to %d changes/s", got, sent, gaps, rounds, before, rate }' <<<"$1"
    }
    drops() { awk -v RS='|' 'NF == 7 { d += $2 - $1 + $3; r++ } END { print (r ? d : -1) }' <<<"$1"; }
    row "subscriber that keeps up (a SUB with libconnstate's settings): a restart's burst, every row pending then ready" \
        "$(burst "${V_BURST[$S1]}")" "$(burst "${V_BURST[$S2]}")" "" "no drop" \
        "$(verdict "$(drops "${V_BURST[$S2]}") == 0")" >>"$tmp"
else
    for n in "$S1" "$S2"; do [ -n "${FAILED[$n]:-}" ] && row "scale $n" "FAILED (see the messages above)" "" "" "" "" >>"$tmp"; done
fi
cat "$tmp"
cp "$tmp" "$OUT"
rm -f "$tmp"
echo
echo "written to $OUT (took $((ELAPSED / 60)) min $((ELAPSED % 60)) s)"
exit $status
