# The state table stays truthful when writing it fails: a batch that fails is retried with
# backoff until it commits, without losing or reordering rows, and the supervisor lives on.
. "$(dirname "$0")/../lib.sh"

db=$(new_db store_faults)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 20 1 a_

sup_start main "$db" "$cfg"
check_eq "20 connections ready" 20 "$(count_status "$db" ready)"

# ---- a transient failure of the state writes ------------------------------------------------
# A constraint that every write of the new connections violates, until it is dropped.
sql "$db" "ALTER TABLE connstate_internal.connection_state ADD CONSTRAINT t_reject
           CHECK (connection_name NOT LIKE 'b\_%') NOT VALID" >/dev/null
synthetic_conns "$cfg/b.spc" 1 30 1 b_
kill -HUP "$SUP_PID"
check "the failed write is logged with the database's reason" \
    wait_log "$T_DIR/main.log" "state write failed .*t_reject" 20
check "it is retried, again and again, with backoff" \
    wait_until 20 bash -c "[ \$(grep -c 'state write failed' '$T_DIR/main.log') -ge 3 ]"
check "the supervisor is still running" kill -0 "$SUP_PID"
check "no row of the failing batch was written" test \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'b\_%'")" = 0
seq_before=$(sql "$db" "SELECT value FROM connstate_internal.meta WHERE key = 'last_seq'")
sql "$db" "ALTER TABLE connstate_internal.connection_state DROP CONSTRAINT t_reject" >/dev/null
check "once the failure passes, every row is written and ready" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 50
check "the supervisor is still running after the retries" kill -0 "$SUP_PID"
check_eq "sequence numbers continue without a gap or a reuse" "t" "$(sql "$db" \
    "SELECT max(seq) = (SELECT value FROM connstate_internal.meta WHERE key = 'last_seq')
            AND min(seq) > $seq_before
     FROM connstate_internal.connection_state WHERE connection_name LIKE 'b\_%'")"
check_eq "a refresh afterwards is complete and truthful" \
    "refresh done: 50 ready" \
    "$(connstate refresh --control "$(control main)" | sed -E 's/^refresh [0-9]+ done in [0-9.]+ s: 50 connections: /refresh done: /')"
# ---- the state table is readable by connstate_reader, not by PUBLIC ----------------------------
user=cs_reader_test_$$
sql "$db" "CREATE ROLE $user LOGIN" >/dev/null
as_user="${db} user=$user"
check "a role that was not granted connstate_reader cannot read the state table" \
    bash -c "! psql -X -q -A -t '$as_user' -c 'SELECT count(*) FROM connstate_internal.connection_state' 2>/dev/null"
check_eq "PUBLIC has no privilege on it" "f|f" "$(sql "$db" "SELECT
    has_schema_privilege('public', 'connstate_internal', 'USAGE'),
    has_table_privilege('public', 'connstate_internal.connection_state', 'SELECT')")"
sql "$db" "GRANT connstate_reader TO $user" >/dev/null
check_eq "a member of connstate_reader reads it" 50 \
    "$(psql -X -q -A -t "$as_user" -c 'SELECT count(*) FROM connstate_internal.connection_state')"
check "... and connstate wait works for it" connstate wait --db "$as_user" --timeout 10 a_1 b_1
check "... but it cannot write it" \
    bash -c "! psql -X -q -A -t '$as_user' -c \"DELETE FROM connstate_internal.connection_state\" 2>/dev/null"
sql "$db" "DROP OWNED BY $user; DROP ROLE $user" >/dev/null

# ---- a row deleted by hand: a write of its state alone fails, and the row is written in full --
# A row the table holds changes only its state (error, as its file fails to load: a plan's
# update, with its reason, is written in full anyway): that write carries the state columns
# only and updates by key, so it must notice the row is gone rather than lose the change.
sql "$db" "DELETE FROM connstate_internal.connection_state WHERE connection_name = 'a_3'" >/dev/null
cp "$cfg/a.spc" "$T_DIR/a.spc.good"
printf '}\n' >>"$cfg/a.spc" # no new connection: only the rows' state changes
connstate refresh --control "$(control main)" >/dev/null
check "a write of the state of a row deleted by hand fails, and says why" \
    wait_log "$T_DIR/main.log" "state write failed .*1 of the [0-9]+ rows written are not in the state table" 20
check "... the row is written again in full: kept as its file failed, described as before" \
    wait_sql 30 "$db" "SELECT status || '|' || plugin || '|' || file_name FROM
        connstate_internal.connection_state WHERE connection_name = 'a_3'" "error|synthetic|$cfg/a.spc"
cp "$T_DIR/a.spc.good" "$cfg/a.spc"
connstate refresh --control "$(control main)" >/dev/null
check "... the file fixed, its schema is still there" \
    test "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = 'a_3'")" = 1
check "... and every row is ready" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 50

check "it exits 0 on SIGTERM" sup_stop "$SUP_PID"

# ---- the database session lost: the supervisor reconnects by itself, said once ----------------
sup_start lost "$db" "$cfg"
lost_pid=$SUP_PID
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = 'connstate-supervisor' AND datname = current_database()" >/dev/null
kill -HUP "$lost_pid"
check "a supervisor whose session was terminated reconnects by itself" \
    wait_log "$T_DIR/lost.log" "database available again after" 20
check "... and its next refresh completes" wait_log "$T_DIR/lost.log" "refresh [2-9] done" 20
check "... with the same pid" kill -0 "$lost_pid"
check_eq "... the loss is logged once" 1 "$(grep -c 'error: database unavailable' "$T_DIR/lost.log")"
sup_stop "$lost_pid"

done_testing
