#!/bin/bash
# The database goes away -- restarted (fast, immediate), stopped for 20 s, not there yet at
# startup -- and the supervisor, with the same pid, carries every connection to ready by
# itself: no row ends in error because of the outage, the published stream has no duplicate
# sequence number, and a subscriber that ran throughout ends with the table's contents.
. "$(dirname "$0")/../lib.sh"

pg_private pg || { not_ok "a private cluster"; done_testing; exit 1; }
db=$PRIV_DB
cfg=$T_DIR/cfg
mkdir -p "$cfg"
N=${OUTAGE_CONNECTIONS:-1000}

# every row of connections PREFIX* ready, each with a schema carrying a marker
all_ready() { # PREFIX COUNT
    [ "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state
                    WHERE connection_name LIKE '$1%' AND status = 'ready'")" = "$2" ] &&
        [ "$(sql "$db" "SELECT count(*) FROM pg_namespace n JOIN pg_description d
                        ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass
                        WHERE n.nspname LIKE '$1%' AND d.description LIKE 'connstate marker %'")" = "$2" ]
}
ready_count() { sql "$db" "SELECT count(*) FROM connstate_internal.connection_state
                          WHERE connection_name LIKE '$1%' AND status = 'ready'" 2>/dev/null; }
at_least() { [ "$(ready_count "$1")" -ge "$2" ] 2>/dev/null; }
no_errors() { [ "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state
                              WHERE status = 'error'")" = 0 ]; }
# cpu_ticks PID: the process's user + system CPU time, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# seconds since the epoch, with milliseconds
now_s() { date +%s.%N | cut -c1-14; }

synthetic_conns "$cfg/a.spc" 1 50 2 ini
sup_start sup "$db" "$cfg" --workers 2
pid=$SUP_PID
check "the supervisor is up on the private cluster" all_ready ini 50

# a raw recorder and a libconnstate subscriber, both for the whole suite
until=$T_DIR/until
spawn "$T_DIR/rec.log" "$BUILD/tests/drivers/pub_record" "ipc://$T_DIR/sup.publish" \
    "$T_DIR/rec.out" "$until"
spawn "$T_DIR/subcheck.log" "$BUILD/tests/drivers/sub_check" --publish "ipc://$T_DIR/sup.publish" \
    --control "ipc://$T_DIR/sup.control" --db "$db" --timeout 600 --until-file "$until"
subcheck=$SPAWNED
wait_log "$T_DIR/subcheck.log" "synced at seq" 30
spawn "$T_DIR/watch.json" connstate watch --publish "ipc://$T_DIR/sup.publish" \
    --control "ipc://$T_DIR/sup.control" --format json
wait_until 10 grep -q started "$T_DIR/rec.out"

# outage SCENARIO PREFIX: a cold refresh of N connections, interrupted by SCENARIO once a
# tenth of them is ready; then everything must converge by itself.
outage() {
    local how=$1 prefix=$2 t_back t_ready
    synthetic_conns "$cfg/$prefix.spc" 1 "$N" 3 "$prefix"
    kill -HUP "$pid"
    wait_until 120 at_least "$prefix" $((N / 10)) || diag "$how: the refresh did not start"
    local before
    before=$(ready_count "$prefix")
    [ "$before" -lt "$N" ] || diag "$how: the refresh was over before the outage began"
    case $how in
        fast | immediate) pg_private_ctl pg restart -m "$how" >/dev/null ;;
        stop)
            pg_private_ctl pg stop -m fast >/dev/null
            wait_log "$T_DIR/sup.log" "database unavailable" 10
            sleep_until=$(($(date +%s) + 20))
            # the supervisor keeps serving while the database is away, and says so
            local out rc
            out=$(connstate refresh --control "ipc://$T_DIR/sup.control" --timeout 10 2>&1)
            rc=$?
            check "stop: \`connstate refresh\` during the outage fails, saying why" \
                bash -c "[ $rc -ne 0 ] && grep -q 'database unavailable since' <<<'${out//\'/}'"
            [ "$rc" -ne 0 ] || diag "refresh said: $out"
            local cpu0 cpu1
            cpu0=$(cpu_ticks "$pid")
            wait_until 25 bash -c "[ \$(date +%s) -ge $sleep_until ]"
            cpu1=$(cpu_ticks "$pid")
            # a supervisor without its database waits; it does not spin (ticks of 10 ms)
            check "stop: the supervisor used under 2 s of CPU while it waited ($((cpu1 - cpu0)) ticks)" \
                test $((cpu1 - cpu0)) -lt 200
            pg_private_ctl pg start >/dev/null
            ;;
    esac
    t_back=$(now_s)
    diag "$how: $before of $N were ready when the database went away"
    if wait_until 180 all_ready "$prefix" "$N"; then
        t_ready=$(now_s)
        ok "$how: all $N connections ready with their schemas and markers"
        diag "$how: converged $(echo "$t_ready - $t_back" | bc) s after the database was back"
    else
        not_ok "$how: all $N connections ready with their schemas and markers"
        diag "ready: $(ready_count "$prefix") of $N; log tail:"
        tail -20 "$T_DIR/sup.log" | sed 's/^/#   /'
    fi
    check "$how: the supervisor's pid did not change" kill -0 "$pid"
    check "$how: no row is in error" no_errors
}

outage fast fst
outage immediate imm
outage stop stp

check_eq "the supervisor logged each outage once, not once per attempt" 3 \
    "$(grep -c 'error: database unavailable' "$T_DIR/sup.log")"

# the stream: no STATE sequence number twice
touch "$until"
wait "$subcheck"
check "a subscriber that ran throughout ends with exactly the table's contents" \
    grep -q "^match" "$T_DIR/subcheck.log"
dups=$(awk '$1 == "state" {print $2}' "$T_DIR/rec.out" | sort -n | uniq -d | wc -l)
check_eq "no published sequence number came twice" 0 "$dups"
check "heartbeats said the database was unavailable during the outages" \
    awk '$1 == "hb" && $4 > 0 {found = 1} END {exit !found}' "$T_DIR/rec.out"
# watch_said STATE N: connstate watch has printed the supervisor's STATE at least N times (the
# last return to active reaches it with the heartbeat sent at once, but it may not have
# written that line yet when the last outage's rows are all ready)
watch_said() { [ "$(grep -c "\"supervisor\":\"$1\"" "$T_DIR/watch.json")" -ge "$2" ]; }
wait_until 10 watch_said database_unavailable 3
check_eq "connstate watch said three times that the database was unavailable" 3 \
    "$(grep -c '"supervisor":"database_unavailable"' "$T_DIR/watch.json")"
wait_until 10 watch_said active 3
check_eq "... and three times that it was back" 3 \
    "$(grep -c '"supervisor":"active"' "$T_DIR/watch.json")"

# ---- the embedded cluster's postmaster killed: started again, the supervisor carries on -------
sup_stop "$pid"
emb=$T_DIR/emb
synthetic_conns "$T_DIR/embcfg.spc" 1 20 1 emb
mkdir -p "$T_DIR/embcfg" && mv "$T_DIR/embcfg.spc" "$T_DIR/embcfg/"
spawn "$T_DIR/emb.log" env -u CONNSTATE_DB connstate-supervisor --data-dir "$emb" \
    --config-dir "$T_DIR/embcfg" --plugin-dir "$(plugin_dir)" \
    --bind-workers "ipc://$T_DIR/emb.workers" --bind-publish "ipc://$T_DIR/emb.publish" \
    --bind-control "ipc://$T_DIR/emb.control" --workers 1
emb_pid=$SPAWNED
if wait_log "$T_DIR/emb.log" "refresh 1 done" 120; then
    postmaster=$(head -1 "$emb/postmaster.pid")
    kill -KILL "$postmaster"
    check "the embedded postmaster killed with SIGKILL is started again" \
        wait_log "$T_DIR/emb.log" "embedded database: started in" 60
    check "... and the supervisor carries on with it" \
        wait_log "$T_DIR/emb.log" "database available again after" 60
    kill -HUP "$emb_pid"
    check "... its next refresh completes" wait_log "$T_DIR/emb.log" "refresh [2-9] done" 60
    check "... with the same pid" kill -0 "$emb_pid"
    check "... on a new postmaster" bash -c "[ \"\$(head -1 '$emb/postmaster.pid')\" != $postmaster ]"
else
    not_ok "the embedded cluster started"
fi
sup_stop "$emb_pid"

done_testing
