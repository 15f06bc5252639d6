# What goes wrong, and what connstate does about it: failing plugins, dying workers,
# workers that cannot start, secrets in error messages.
. "$(dirname "$0")/../lib.sh"

db=$(new_db failures)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/good.spc" 1 20
cat >"$cfg/bad.spc" <<'SPC'
connection "no_plugin" {
  plugin = "not_installed"
}
connection "exits" {
  plugin = "fails"
}
connection "garbled" {
  plugin = "garbage"
}
connection "hung" {
  plugin = "hangs"
}
connection "leak" {
  plugin   = "leaky"
  user     = "admin"
  password = "hunter2-very-secret"
}
SPC

# ---- each kind of failing plugin puts that connection, and only that one, in error --------
sup_start main "$db" "$cfg" --plugin-timeout 5
check_eq "good connections are ready despite the failing ones" 20 "$(count_status "$db" ready)"
check_eq "five connections in error" 5 "$(count_status "$db" error)"
check "missing plugin: the error says it is not found" \
    grep -q 'plugin "not_installed" not found in' <<<"$(error_of "$db" no_plugin)"
check_eq "plugin exiting non-zero: the error has its status and stderr" \
    "plugin fails schema exited with status 3: fails: cannot reach the API: connection refused" \
    "$(error_of "$db" exits)"
check "plugin printing garbage: the error says the schema is not valid JSON" \
    grep -q "plugin garbage printed an invalid schema: schema is not valid JSON" <<<"$(error_of "$db" garbled)"
check_eq "plugin hanging: killed after the timeout" \
    "plugin hangs schema timed out after 5 s and was killed" "$(error_of "$db" hung)"
check "plugin hanging: no plugin process is left running" \
    bash -c "! pgrep -f '[s]leep 3600' >/dev/null"

# ---- secrets never reach the state table, the logs or the error ----------------------------
check "secret: the plugin's error is kept, with the secret masked" \
    grep -q 'login failed for config.*"password":"\*\*\*"' <<<"$(error_of "$db" leak)"
check "secret: not in the state table" test "$(sql "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_state::text LIKE '%hunter2%'")" = 0
check "secret: not in the logs" bash -c "! grep -q hunter2 '$T_DIR/main.log'"

# ---- a worker killed with SIGKILL mid-update: re-dispatched, restarted, nothing stuck ------
cat >"$cfg/slow.spc" <<'SPC'
connection "slow_one" {
  plugin = "slow"
}
SPC
kill -HUP "$SUP_PID"
check "a slow update is running" wait_sql 10 "$db" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'slow_one'" updating
# the worker whose child is the slow plugin (it may first finish another task)
slow_worker() {
    local pid
    for pid in $(pgrep -P "$SUP_PID" -f 'connstate-worker'); do
        pgrep -P "$pid" -f "$T_DIR/plugins/slow" >/dev/null && echo "$pid"
    done | head -1
}
check "the slow plugin is running at a worker" wait_until 15 bash -c "[ -n \"\$(pgrep -f '[s]leep 2')\" ]"
victim=$(slow_worker)
check "found the worker running the slow plugin" test -n "$victim"
kill -KILL "$victim"
check "the killed update is dispatched again and ends ready" wait_sql 20 "$db" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'slow_one'" ready
check_eq "it took a second attempt" 2 "$(sql "$db" "SELECT attempts FROM connstate_internal.connection_state WHERE connection_name = 'slow_one'")"
check "the supervisor logged the loss and the re-dispatch" \
    grep -q "\[slow_one\] worker wrk-[12] was killed by signal 9.*dispatching it again" "$T_DIR/main.log"
check "the local worker is restarted" wait_log "$T_DIR/main.log" "wrk-[12] was killed by signal 9 .*; restarting it" 5
check "two workers are connected again" \
    wait_until 10 bash -c "[ \$(grep -c 'worker wrk-[12] ready' '$T_DIR/main.log') -ge 3 ]"
slow_oid=$(schema_oid "$db" slow_one)
connstate refresh --control "$(control main)" >/dev/null
check_eq "after a complete refresh no connection is updating" 0 "$(count_status "$db" updating)"
check_eq "a dynamic schema fetched again but unchanged is not rebuilt (same OID)" "$slow_oid" \
    "$(schema_oid "$db" slow_one)"

# ---- a worker lost three times: the connection goes to error saying why -------------------
printf 'connection "deadly" {\n  plugin = "killer"\n}\n' >"$cfg/deadly.spc"
kill -HUP "$SUP_PID"
check "after 3 lost attempts the connection is in error" wait_sql 60 "$db" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'deadly'" error
check "the error says the worker was lost 3 times, and how" \
    grep -q "worker lost: the update was attempted 3 times .*killed by signal 9" <<<"$(error_of "$db" deadly)"
connstate refresh --control "$(control main)" >/dev/null
check_eq "the others are unaffected" 21 "$(count_status "$db" ready)"
rm "$cfg/deadly.spc"
check "the supervisor is still running" kill -0 "$SUP_PID"
check "it exits 0 on SIGTERM" sup_stop "$SUP_PID"

# ---- workers that cannot initialise are not restarted, and the supervisor says why ---------
db2=$(new_db failures_init)
spawn "$T_DIR/noinit.log" connstate-supervisor --db "$db2" --config-dir "$cfg" \
    --plugin-dir "$T_DIR/no-such-dir" --bind-workers "ipc://$T_DIR/ni.w" \
    --bind-publish "ipc://$T_DIR/ni.p" --bind-control "ipc://$T_DIR/ni.c" --workers 2
check "a worker that cannot start exits 2 and says why" \
    wait_log "$T_DIR/noinit.log" "wrk-1\[[0-9]+\] error: cannot start: plugin directory" 10
check "the supervisor does not restart it, saying why" \
    wait_log "$T_DIR/noinit.log" "wrk-1 cannot initialise \(exited with status 2\): not restarting it" 10
check_eq "each worker was started once" 1 "$(grep -c 'wrk-1\[[0-9]*\] error: cannot start' "$T_DIR/noinit.log")"
check "connections without a plugin are in error, not stuck" wait_sql 10 "$db2" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'error'" 26
sup_stop "$SPAWNED"

done_testing
