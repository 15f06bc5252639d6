# Clients: subscribers end with exactly the table's contents (started before, during and
# after a refresh of 1,000 connections; pushed past the high-water mark; across a supervisor
# kill and restart); wait and query follow the interactive-query rule; inspect; watch.
. "$(dirname "$0")/../lib.sh"

db=$(new_db clients)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/many.spc" 1 1000 4
pub=ipc://$T_DIR/main.publish
ctl=ipc://$T_DIR/main.control
drivers=$BUILD/tests/drivers

# ---- subscribers before, during and after a refresh of 1,000 connections ------------------
spawn "$T_DIR/before.out" "$drivers/sub_check" --publish "$pub" --control "$ctl" --db "$db" \
    --until-file "$T_DIR/settled" --timeout 120
before=$SPAWNED
spawn "$T_DIR/main.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/main.workers" \
    --bind-publish "$pub" --bind-control "$ctl" --workers 2
SUP_PID=$SPAWNED
check "the refresh of 1,000 connections is under way" wait_sql 30 "$db" \
    "SELECT count(*) > 0 FROM connstate_internal.connection_state WHERE status = 'updating'" t
spawn "$T_DIR/during.out" "$drivers/sub_check" --publish "$pub" --control "$ctl" --db "$db" \
    --until-file "$T_DIR/settled" --timeout 120
during=$SPAWNED
check "the refresh completes" wait_log "$T_DIR/main.log" "refresh 1 done" 120
check "and its comments" wait_sql 60 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE comments_set" 1000
spawn "$T_DIR/after.out" "$drivers/sub_check" --publish "$pub" --control "$ctl" --db "$db" \
    --until-file "$T_DIR/settled" --timeout 120
after=$SPAWNED
touch "$T_DIR/settled"
for who in before during after; do
    pid=${!who}
    wait "$pid"
    check "subscriber started $who the refresh ends with the table's 1000 rows" \
        grep -q "^match 1000 rows" "$T_DIR/$who.out"
done
diag "$(cat "$T_DIR/before.out" "$T_DIR/during.out" "$T_DIR/after.out")"

# ---- the JSON dashboard: snapshot rows first, one object per line -----------------------
timeout 5 connstate watch --publish "$pub" --control "$ctl" --format json team_ >"$T_DIR/none.json"
check "watch PREFIX shows only matching connections: an empty snapshot, its two markers" \
    grep -Eqz '^\{"snapshot":"begin"\}
\{"snapshot":"end","seq":[0-9]+\}
$' "$T_DIR/none.json"
timeout 3 connstate watch --publish "$pub" --control "$ctl" syn_99 >"$T_DIR/watch.json"
check_eq "watch without a terminal prints JSON lines, prefix applied (syn_99, syn_990..999, and the snapshot's 2 markers)" 13 \
    "$(wc -l <"$T_DIR/watch.json")"
check_eq "the snapshot's rows come after its begin line" '{"snapshot":"begin"}' "$(head -1 "$T_DIR/watch.json")"
check_eq "... and before its end line, which carries its seq (the table's last)" \
    "{\"snapshot\":\"end\",\"seq\":$(sql "$db" "SELECT max(seq) FROM connstate_internal.connection_state")}" \
    "$(sed -n 13p "$T_DIR/watch.json")"
check_eq "each line is a JSON object with seq, connection_name, status, error, time_changed" 11 \
    "$(sql "$db" "SELECT count(*) FROM (SELECT unnest(string_to_array(\$w\$$(cat "$T_DIR/watch.json")\$w\$, E'\n'))::jsonb AS j) t
      WHERE j ? 'seq' AND j ? 'error' AND j->>'status' = 'ready' AND (j->>'time_changed')::timestamptz <= now()
      AND j->>'connection_name' LIKE 'syn\_99%'")"
check "snapshot rows come in name order" bash -c "sed -n 2p '$T_DIR/watch.json' | grep -q '\"connection_name\":\"syn_99\"'"
CONNSTATE_PUBLISH=$pub CONNSTATE_CONTROL=$ctl timeout 3 connstate watch syn_99 >"$T_DIR/env.json"
check_eq "watch: \$CONNSTATE_PUBLISH and \$CONNSTATE_CONTROL stand for the flags" 13 \
    "$(wc -l <"$T_DIR/env.json")"

# ---- a subscriber pushed past the high-water mark resyncs and ends correct ---------------
sup_stop "$SUP_PID"
db_hwm=$(new_db clients_hwm)
mkdir -p "$T_DIR/hwm-config"
sup_start hwm "$db_hwm" "$T_DIR/hwm-config" --publish-hwm 1
CONNSTATE_SUB_RCVHWM=1 spawn "$T_DIR/hwm.out" "$drivers/sub_check" --publish "ipc://$T_DIR/hwm.publish" \
    --control "ipc://$T_DIR/hwm.control" --db "$db_hwm" --pause-after-sync \
    --pause-until-ready 1000 --min-resyncs 1 --timeout 120
hwm=$SPAWNED
check "the slow subscriber synced first" wait_log "$T_DIR/hwm.out" "synced at seq" 20
# Long names make every change ~200 bytes: 3,000 of them overflow the publisher's queue of 1
# plus the kernel's socket buffers (~210 KB each way) by a wide margin.
long=slow_subscriber_overflow_test_connection_
synthetic_conns "$T_DIR/hwm-config/many.spc" 1 1000 4 "$long"
wait "$hwm"
check "a subscriber past the high-water mark resyncs and ends with the table's rows" \
    grep -q "^match 1000 rows" "$T_DIR/hwm.out"
diag "$(cat "$T_DIR/hwm.out")"
check "the slow subscriber did not slow the supervisor: its refresh finished" \
    grep -q "refresh [0-9]* done" "$T_DIR/hwm.log"

# ---- running subscribers recover from a supervisor killed and restarted ----------------
CONNSTATE_LOG_LEVEL=debug spawn "$T_DIR/restart.out" "$drivers/sub_check" --publish "ipc://$T_DIR/hwm.publish" \
    --control "ipc://$T_DIR/hwm.control" --db "$db_hwm" --until-file "$T_DIR/restarted" \
    --min-resyncs 1 --timeout 120
survivor=$SPAWNED
spawn "$T_DIR/restart.json" connstate watch --publish "ipc://$T_DIR/hwm.publish" \
    --control "ipc://$T_DIR/hwm.control" --format json "${long}100"
watcher=$SPAWNED
check "the watcher prints the snapshot" wait_until 10 grep -q "\"${long}1000\"" "$T_DIR/restart.json"
# Its first snapshot must come from this supervisor: a first sync after the restart would
# be no recovery (and no resync).
check "the running subscriber synced before the kill" wait_log "$T_DIR/restart.out" "^synced at seq" 20
kill -KILL "$SUP_PID"
synthetic_conns "$T_DIR/hwm-config/many.spc" 1 999 4 "$long"
sup_start hwm "$db_hwm" "$T_DIR/hwm-config" --publish-hwm 1000
touch "$T_DIR/restarted"
wait "$survivor"
check "a running subscriber recovers from a supervisor kill and restart (no restart of its own)" \
    grep -q "^match 999 rows" "$T_DIR/restart.out"
grep -q "^match 999 rows" "$T_DIR/restart.out" || diag "$(tail -20 "$T_DIR/restart.out")"
check "the running watch shows the change made after the restart" \
    wait_until 10 grep -q "\"connection_name\":\"${long}1000\",\"status\":\"deleted\"" "$T_DIR/restart.json"
check "watch keeps running across the restart" kill -0 "$watcher"
# the resync after the restart: another begin/end pair, each begin closed by its end before
# the next begins (the row gone shows as a deleted line: inside the resync when the restarted
# supervisor had already deleted it, else as a live change after it)
check "the resync is marked: a second begin and its end, pairs never nested" \
    awk '/"snapshot":"begin"/ { if (open) bad = 1; open = 1; begins++ }
         /"snapshot":"end"/ { if (!open) bad = 1; open = 0; ends++ }
         END { exit !(!bad && begins >= 2 && ends == begins) }' "$T_DIR/restart.json"
kill -TERM "$watcher"
wait "$watcher"
check "watch exits 0 on SIGTERM" test $? -eq 0

# ---- wait: the notification between LISTEN and the first read is not lost ------------------
sup_stop "$SUP_PID"
sql "$db_hwm" "UPDATE connstate_internal.connection_state SET status = 'updating' WHERE connection_name = '${long}5'" >/dev/null
out=$("$drivers/wait_check" "$db_hwm" "${long}5")
check "a change committed between LISTEN and the first read wakes the wait" test $? -eq 0
diag "$out"

# ---- wait and query against a live supervisor ---------------------------------------------
db_q=$(new_db clients_query)
mkdir -p "$T_DIR/q-config"
cat >"$T_DIR/q-config/q.spc" <<'SPC'
connection "rebuilt" {
  plugin = "slow"
  column = "before"
}
connection "broken" {
  plugin = "fails"
}
connection "host" {
  plugin = "hostinfo"
}
SPC
export CONNSTATE_TEST_SLOW=2
sup_start q "$db_q" "$T_DIR/q-config"
connstate wait --db "$db_q" host rebuilt
check "wait: exit 0 when every named connection is ready" test $? -eq 0
connstate wait --db "$db_q" host broken 2>"$T_DIR/wait.err"
check "wait: exit 1 when one ended in error" test $? -eq 1
check "wait: the error is printed" grep -q "broken: error: plugin fails schema exited with status 3" "$T_DIR/wait.err"
connstate wait --db "$db_q" no_such 2>"$T_DIR/wait.err"
check "wait: an unknown connection is an error (exit 1)" test $? -eq 1
connstate wait --db "$db_q" not-a-name 2>/dev/null
check "wait: a bad name is a usage error (exit 2)" test $? -eq 2

sed -i 's/column = "before"/column = "after"/' "$T_DIR/q-config/q.spc"
kill -HUP "$SUP_PID"
check "query: the connection is being rebuilt" wait_sql 10 "$db_q" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'rebuilt'" updating
out=$(connstate query --db "$db_q" --format csv "SELECT after FROM rebuilt.t")
check "query on a connection being rebuilt waits and then succeeds (new column)" \
    test "$?" -eq 0 -a "$out" = "$(printf 'after\n1')"
sed -i 's/column = "after"/column = "later"/' "$T_DIR/q-config/q.spc"
kill -HUP "$SUP_PID"
check "wait: the connection is being rebuilt again" wait_sql 10 "$db_q" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'rebuilt'" updating
connstate wait --db "$db_q" --timeout 0.3 rebuilt 2>"$T_DIR/wait.err"
check "wait: exit 3 on timeout" test $? -eq 3
check "wait: the timeout says what is still loading" grep -q "rebuilt: still updating" "$T_DIR/wait.err"
connstate query --db "$db_q" "SELECT * FROM broken.t" >/dev/null 2>"$T_DIR/query.err"
check "query on a connection in error fails (exit 1)" test $? -eq 1
check "query on a connection in error reports that error, not 'schema does not exist'" \
    grep -q "broken: error: plugin fails schema exited with status 3" "$T_DIR/query.err"
out=$(connstate query --db "$db_q" --format json "SELECT count(*) > 0 AS alive, 'x,y' AS s FROM host.load")
check_eq "query --format json" '[ {"alive":true,"s":"x,y"} ]' "$(echo $out)"
out=$(connstate query --db "$db_q" "SELECT 1 AS one")
check "query --format table" test "$out" = "$(printf 'one\n---\n  1\n(1 row)')"

# ---- inspect -------------------------------------------------------------------------------
out=$(connstate inspect --db "$db_q")
check "inspect: every connection with status and table count" grep -Eq "^host +ready +5 +hostinfo" <<<"$out"
out=$(connstate inspect --db "$db_q" host)
check "inspect NAME: its tables with descriptions" grep -Eq "^processes +7 +Processes running on the host$" <<<"$out"
out=$(connstate inspect --db "$db_q" host.processes --format json)
check "inspect NAME.TABLE: columns, types and descriptions (JSON)" \
    grep -q '{"column":"pid","type":"bigint","description":"Process ID"}' <<<"$out"
connstate inspect --db "$db_q" broken 2>"$T_DIR/inspect.err"
check "inspect of a connection in error says so (exit 1)" test $? -eq 1
check "inspect shows the connection's status and error" \
    grep -q 'connection "broken" is error: plugin fails schema exited' "$T_DIR/inspect.err"
connstate inspect --db "$db_q" host.nope 2>/dev/null
check "inspect of a missing table fails" test $? -eq 1

# ---- the environment stands for absent flags; a flag wins -------------------------------
out=$(CONNSTATE_DB=$db_q connstate inspect host)
check "inspect: \$CONNSTATE_DB stands for --db" grep -Eq "^processes +7 " <<<"$out"
check "wait: --db wins over \$CONNSTATE_DB" \
    env CONNSTATE_DB="host=$T_DIR/nowhere dbname=x" connstate wait --db "$db_q" host
out=$(CONNSTATE_CONTROL=$(control q) connstate refresh --timeout 60)
check "refresh: \$CONNSTATE_CONTROL stands for --control" grep -Eq "^refresh [0-9]+ done in" <<<"$out"
sup_stop "$SUP_PID"

done_testing
