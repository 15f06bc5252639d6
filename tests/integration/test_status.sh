# connstate status as an operator asks it when something is wrong: one connection's row in
# full (status NAME), and the connections stuck updating (--stuck[=SEC], by default the
# supervisor's lease as it wrote it to the database).
. "$(dirname "$0")/../lib.sh"

db=$(new_db status)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 3
hangs_before=$(pgrep -fc '[s]leep 3600')
sup_start main "$db" "$cfg" --task-timeout 60 --plugin-timeout 600
wait_sql 30 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 3
# a plugin that never answers: its connection stays updating (added once the others are
# ready: a worker waits for its plugin, and tasks sent to it meanwhile would wait with it)
printf 'connection "stuck_one" {\n  plugin = "hangs"\n}\n' >"$cfg/b.spc"
wait_sql 30 "$db" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'stuck_one'" updating

# ---- status NAME ----------------------------------------------------------------------------
out=$(connstate status --db "$db" syn_2)
check_eq "status NAME exits 0" 0 $?
check "it shows the row's status" grep -Eq '^status +ready$' <<<"$out"
check "... its file and lines" grep -Eq '^file_name +.*/a\.spc$' <<<"$out"
check "... its plugin and version" \
    bash -c "grep -Eq '^plugin +synthetic$' <<<'$out' && grep -Eq '^plugin_version +[0-9]' <<<'$out'"
check "... a column without a value as -" grep -Eq '^error +-$' <<<"$out"
json=$(connstate status --db "$db" --format json syn_2 stuck_one)
check_eq "status --format json NAME NAME: both rows, valid JSON, typed" "stuck_one updating null 1|syn_2 ready null 6" \
    "$(sql "$db" "SELECT string_agg(j->>'connection_name' || ' ' || (j->>'status') || ' ' ||
        coalesce(j->>'error', 'null') || ' ' || coalesce((j->'start_line')::text, 'null')
        , '|' ORDER BY j->>'connection_name') FROM jsonb_array_elements(\$j\$$json\$j\$::jsonb) j")"
connstate status --db "$db" no_such_conn >"$T_DIR/none.out" 2>&1
check_eq "status of a name that is not in the table exits 1" 1 $?
check "... saying so" grep -q 'no connection named "no_such_conn" in the state table' "$T_DIR/none.out"

# ---- each row's history ------------------------------------------------------------------------
field() { connstate status --db "$db" "$1" | sed -nE "s/^$2 +//p"; }
check_eq "a new connection's reason: new" new "$(field syn_2 reason)"
check "... its build's duration in ms" grep -Eq '^[1-9][0-9]*$' <<<"$(field syn_2 build_ms)"
check "... when it was attempted and became ready" \
    bash -c "[ '$(field syn_2 last_attempt_at)' != - ] && [ '$(field syn_2 last_ready_at)' != - ]"
check_eq "... no error in its history" "- -" "$(field syn_2 last_error) $(field syn_2 last_error_at)"
printf 'connection "flaky" {\n  plugin = "fails"\n}\n' >"$cfg/f.spc"
wait_sql 30 "$db" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'flaky'" error
check "a failed build: last_error says why" grep -q "cannot reach the API" <<<"$(field flaky last_error)"
failed_at=$(field flaky last_error_at)
check "... and when" test "$failed_at" != -
printf 'connection "flaky" {\n  plugin = "synthetic"\n}\n' >"$cfg/f.spc"
wait_sql 30 "$db" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'flaky'" ready
check_eq "fixed, it is ready: its reason, as the plan gave it (its schema was never made)" "schema missing" "$(field flaky reason)"
check "... last_ready_at after its error" \
    test "$(sql "$db" "SELECT last_ready_at > last_error_at FROM connstate_internal.connection_state WHERE connection_name = 'flaky'")" = t
check_eq "... and its last error kept, with its time" "$failed_at" "$(field flaky last_error_at)"
check "... the error itself too" grep -q "cannot reach the API" <<<"$(field flaky last_error)"
check_eq "... while its error column is empty" - "$(field flaky error)"

# ---- --stuck ---------------------------------------------------------------------------------
check_eq "the supervisor wrote its lease to the meta" 60 \
    "$(sql "$db" "SELECT value FROM connstate_internal.meta WHERE key = 'task_timeout_s'")"
out=$(connstate status --db "$db" --stuck)
check_eq "--stuck, by default the lease (60 s): nothing yet" "0 connections updating for longer than 60 s" "$out"
listed() { connstate status --db "$db" --stuck=1 | grep -q '^stuck_one  *updating'; }
check "--stuck=1 lists the connection updating for more than a second" wait_until 20 listed
out=$(connstate status --db "$db" --stuck=1)
check "... and only it" grep -q "^1 connection updating for longer than 1 s$" <<<"$out"
json=$(connstate status --db "$db" --stuck=1 --format json)
check_eq "... in JSON too" stuck_one \
    "$(sql "$db" "SELECT string_agg(j->>'connection_name', ',') FROM jsonb_array_elements(\$j\$$json\$j\$::jsonb) j")"
connstate status --db "$db" --stuck=soon >"$T_DIR/bad.out" 2>&1
check_eq "--stuck=soon is a usage error" 2 $?
check "... saying what it must be" grep -q -- "--stuck=SEC must be a positive number of seconds, not 'soon'" "$T_DIR/bad.out"
connstate status --db "$db" --stuck syn_1 >"$T_DIR/bad2.out" 2>&1
check_eq "--stuck with a NAME is a usage error" 2 $?
check "--help shows --stuck[=SEC]" bash -c "connstate status --help | grep -q -- '--stuck\[=SEC\]'"

check "the supervisor stops cleanly" sup_stop "$SUP_PID"
# the hanging plugin's process is ended with its worker, not left to run for an hour
hangs_left() { [ "$(pgrep -fc '[s]leep 3600')" -le "$hangs_before" ]; }
check "the stopped worker's hanging plugin does not outlive it" wait_until 5 hangs_left
done_testing
