# Updates never look like work in progress when no worker can do them: the log says that no
# worker is available, each waiting row says so (status pending, detail), `connstate wait`
# shows it; a local worker given up for restarting too often is tried again after a cool-down.
. "$(dirname "$0")/../lib.sh"


# ---- no worker at all (--workers 0, the remote one not started yet) -----------------------------
db=$(new_db workers_lost)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/r.spc" 1 5 1 r_
spawn "$T_DIR/remote.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/remote.workers" \
    --bind-publish "ipc://$T_DIR/remote.publish" --bind-control "ipc://$T_DIR/remote.control" \
    --workers 0
sup=$SPAWNED
check "the supervisor logs that no worker is available" \
    wait_log "$T_DIR/remote.log" "warn: no worker is available: 5 updates wait; no worker is connected" 15
check "each waiting row says so: pending, waiting for a worker" \
    wait_sql 10 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'pending' AND detail LIKE 'waiting for a worker to build it: no worker is connected%'" 5
check_eq "no row claims an update in progress" 0 "$(count_status "$db" updating)"
out=$(connstate wait --db "$db" --timeout 1 r_1 2>&1)
rc=$?
check_eq "connstate wait times out (exit 3)" 3 "$rc"
check "connstate wait says what the connection waits for" \
    grep -q "r_1: pending waiting for a worker to build it: no worker is connected" <<<"$out"
spawn "$T_DIR/worker.log" env CONNSTATE_DB="$db" connstate-worker \
    --connect "ipc://$T_DIR/remote.workers" --plugin-dir "$(plugin_dir)" --name late
check "a worker that connects later does the waiting updates" wait_sql 20 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready' AND detail IS NULL" 5
check "the log says a worker is available again" \
    wait_log "$T_DIR/remote.log" "info: a worker is available again" 5
check "connstate wait returns at once now" connstate wait --db "$db" --timeout 5 r_1
sup_stop "$sup"

# ---- the only local worker keeps dying: given up, then tried again after a cool-down --------------
db=$(new_db workers_lost_local)
cfg=$T_DIR/config2
mkdir -p "$cfg"
printf 'connection "kill_1" {\n  plugin = "killer"\n}\nconnection "kill_2" {\n  plugin = "killer"\n}\n' \
    >"$cfg/a.spc"
spawn "$T_DIR/local.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/local.workers" \
    --bind-publish "ipc://$T_DIR/local.publish" --bind-control "ipc://$T_DIR/local.control" \
    --workers 1 --max-restarts 5 --restart-window 8
sup=$SPAWNED
check "the worker that keeps dying is given up for the window" \
    wait_log "$T_DIR/local.log" "wrk-1 was killed by signal 9 .*after 5 restarts within 8 s: .*not restarted for 8 s" 30
check "the killers ended in error, saying why" wait_sql 10 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'kill\_%' AND status = 'error' AND error LIKE 'worker lost:%'" 2
rm "$cfg/a.spc"
synthetic_conns "$cfg/b.spc" 1 10 1 b_
kill -HUP "$sup"
check "the supervisor logs that no worker is available, and why" \
    wait_log "$T_DIR/local.log" "no worker is available: 10 updates wait; no worker is connected \(of 1 local workers, 1 restarted too often \(tried again at" 15
check "the waiting rows say so" wait_sql 10 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'b\_%' AND status = 'pending' AND detail LIKE '%restarted too often%'" 10
check "after the cool-down the worker is started again" \
    wait_log "$T_DIR/local.log" "wrk-1: its cool-down is over; starting it again" 15
check "... and every waiting update is done" wait_sql 20 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'b\_%' AND status = 'ready'" 10
sup_stop "$sup"

done_testing
