# A worker on its own, driven by a stand-in supervisor: the fast path for fresh schemas
# never touches a schema that appeared after the update was planned; a lock that a user's
# transaction holds is waited for at most --lock-timeout; a lost session is the worker's
# failure, not the connection's.
. "$(dirname "$0")/../lib.sh"

db=$(new_db worker)
sql "$db" "CREATE EXTENSION file_fdw; CREATE SERVER connstate_file FOREIGN DATA WRAPPER file_fdw" >/dev/null
drivers=$BUILD/tests/drivers
ep=ipc://$T_DIR/workers

run_task() { # KIND NAME PLUGIN CONFIG FRESH
    CONNSTATE_DB=$db spawn "$T_DIR/worker.log" connstate-worker --connect "$ep" \
        --plugin-dir "$(plugin_dir)" --name test-worker
    local worker=$SPAWNED out
    out=$("$drivers/task_check" "$ep" "$@")
    kill -TERM "$worker"
    wait "$worker"
    echo "$?" >>"$T_DIR/exit-codes"
    echo "$out"
}

out=$(run_task build fresh_one synthetic '{"tables":2}' 1)
check_eq "a fresh build creates the schema in one go" ok "$out"
check_eq "it has its tables and its marker" "2|t" "$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'fresh_one'")|$(sql "$db" "SELECT obj_description('fresh_one'::regnamespace, 'pg_namespace') LIKE 'connstate marker v1;%'")"

sql "$db" "CREATE SCHEMA theirs; CREATE TABLE theirs.keep (v int); INSERT INTO theirs.keep VALUES (7)" >/dev/null
out=$(run_task build theirs synthetic '{"tables":1}' 1)
check "a fresh build meeting a schema that appeared meanwhile reports it unmanaged" \
    grep -q 'error: schema "theirs" exists and is not managed by connstate' <<<"$out"
check_eq "... and leaves it untouched" 7 "$(sql "$db" "SELECT v FROM theirs.keep")"
out=$(run_task delete theirs synthetic '{}' 0)
check "a delete of an unmanaged schema is refused" grep -q "not managed by connstate" <<<"$out"
check_eq "... and leaves it untouched" 7 "$(sql "$db" "SELECT v FROM theirs.keep")"

oid=$(schema_oid "$db" fresh_one)
out=$(run_task build fresh_one synthetic '{"tables":3}' 1)
check_eq "a fresh build meeting its own managed schema falls back to a checked rebuild" ok "$out"
check "the rebuilt schema has the new tables" test "$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'fresh_one'")" = 3 -a "$(schema_oid "$db" fresh_one)" != "$oid"
out=$(run_task delete fresh_one synthetic '{}' 0)
check_eq "a managed schema is deleted" "ok|" "$out|$(schema_oid "$db" fresh_one)"

# Several tasks at once: each fresh build goes to the database while the worker prepares the
# next; a failure in the middle (here a schema that appeared after planning) changes nothing
# for the others, and the results come back in order.
out=$(run_task build pipe_a synthetic '{"tables":2}' 1 build theirs synthetic '{"tables":1}' 1 \
    build pipe_b synthetic '{"tables":4}' 1 delete pipe_a synthetic '{}' 0)
check_eq "queued tasks: every result, in order, the failure in the middle its own" \
    "pipe_a ok|theirs error: schema \"theirs\" exists and is not managed by connstate (it has no connstate marker); it was left untouched: rename or drop it, or rename the connection|pipe_b ok|pipe_a ok" \
    "$(paste -sd'|' <<<"$out")"
check_eq "... and the database says the same" "|4|7" \
    "$(schema_oid "$db" pipe_a)|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'pipe_b'")|$(sql "$db" "SELECT v FROM theirs.keep")"

# A finished result does not wait for a slow next update: the worker holds results to send
# them four at a time, but never longer than a moment. Another session creates slow_b and keeps
# its transaction open, so the worker's CREATE SCHEMA slow_b waits for it.
spawn "$T_DIR/blocker.log" psql -X -q "$db" -c "BEGIN" -c "CREATE SCHEMA slow_b" \
    -c "SELECT pg_sleep(60)" -c "ROLLBACK"
blocker=$SPAWNED
wait_sql 10 "$db" "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" 1 >/dev/null
CONNSTATE_DB=$db spawn "$T_DIR/worker.log" connstate-worker --connect "$ep" \
    --plugin-dir "$(plugin_dir)" --name test-worker --lock-timeout 0
worker=$SPAWNED
spawn "$T_DIR/slow.out" "$drivers/task_check" "$ep" build fast_a synthetic '{"tables":1}' 1 \
    build slow_b synthetic '{"tables":1}' 1
slow=$SPAWNED
check "the first result arrives while the second update waits for a lock" \
    wait_until 5 grep -q "^fast_a ok" "$T_DIR/slow.out"
check_eq "... while the second one is still waiting" 0 "$(grep -c "^slow_b" "$T_DIR/slow.out")"
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$slow"
check_eq "once the lock is gone the second one completes" "fast_a ok|slow_b ok" \
    "$(paste -sd'|' "$T_DIR/slow.out")"
wait "$blocker"

# The worker's session killed while an update runs in it: not the connection's failure.
# That update is answered "retry" saying the database is unavailable, the worker says
# goodbye, opens a new session and comes back from a new socket, where the next update runs.
spawn "$T_DIR/blocker.log" psql -X -q "$db" -c "BEGIN" -c "CREATE SCHEMA killed_c" \
    -c "SELECT pg_sleep(60)" -c "ROLLBACK"
blocker=$SPAWNED
wait_sql 10 "$db" "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" 1 >/dev/null
spawn "$T_DIR/killed.out" "$drivers/task_check" "$ep" build killed_c synthetic '{"tables":1}' 1 \
    build after_c synthetic '{"tables":1}' 1
killed=$SPAWNED
waiting="SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'connstate-worker%' AND wait_event_type = 'Lock'"
check "the worker's update waits for the lock" wait_sql 10 "$db" "SELECT count(*) FROM ($waiting) w" 1
sql "$db" "SELECT pg_terminate_backend(pid) FROM ($waiting) w" >/dev/null
wait "$killed"
lost="database unavailable: terminating connection due to administrator command"
check_eq "the update whose session was killed is answered retry (not an error), then the worker says goodbye, and comes back from a new socket where the next update runs" \
    "killed_c retry: $lost|disconnect: $lost|reconnected|after_c ok" "$(paste -sd'|' "$T_DIR/killed.out")"
check "the worker logged that it opened a new session" \
    grep -q "test-worker\[$worker\] warn: $lost; told the supervisor, opening a new session" "$T_DIR/worker.log"
check "... and that the database is available" \
    grep -q "test-worker\[$worker\] info: database available" "$T_DIR/worker.log"
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$blocker"
kill -TERM "$worker"
wait "$worker"
echo "$?" >>"$T_DIR/exit-codes"

# Fresh builds queued behind one another go to the database up to eight in one text, each its
# own transaction: an eighth of the round trips. The first waits for a lock (another session
# creates grp_0) while the sixteen after it arrive; they take at most two texts more, and the
# server logs every text it receives (log_statement = all for the worker's session).
spawn "$T_DIR/blocker.log" psql -X -q "$db" -c "BEGIN" -c "CREATE SCHEMA grp_0" \
    -c "SELECT pg_sleep(60)" -c "ROLLBACK"
blocker=$SPAWNED
wait_sql 10 "$db" "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" 1 >/dev/null
CONNSTATE_DB=$db PGOPTIONS="-c log_statement=all" spawn "$T_DIR/worker.log" connstate-worker \
    --connect "$ep" --plugin-dir "$(plugin_dir)" --name test-worker --lock-timeout 0
worker=$SPAWNED
tasks=()
for i in $(seq 0 16); do tasks+=(build "grp_$i" synthetic '{"tables":1}' 1); done
spawn "$T_DIR/grp.out" "$drivers/task_check" "$ep" "${tasks[@]}"
grp=$SPAWNED
waiting="SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'connstate-worker%' AND wait_event_type = 'Lock'"
check "the first of seventeen builds waits for the lock" wait_sql 10 "$db" "SELECT count(*) FROM ($waiting) w" 1
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$grp"
wait "$blocker"
check_eq "the seventeen builds are done, their results in order" \
    "$(for i in $(seq 0 16); do echo "grp_$i ok"; done | paste -sd'|')|17" \
    "$(paste -sd'|' "$T_DIR/grp.out")|$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'grp\_%'")"
texts=$(awk '/LOG:  statement: /{ if (t != "") print t; t = $0; next } /^\t/{ t = t " " $0; next } { if (t != "") print t; t = "" } END { if (t != "") print t }' \
    "$CONNSTATE_TEST_PGDIR/postgres.log" | grep -F 'CREATE SCHEMA "grp_')
grouped=$(grep -c . <<<"$texts")
diag "the seventeen builds went to the database in $grouped texts"
check "... in at most three texts (the first alone or with what had arrived, then eight at a time)" \
    test "$grouped" -le 3
check "... one of them with eight builds, each its own transaction" \
    grep -Eq '(BEGIN;[^;]*CREATE SCHEMA "grp_[0-9]+";.*COMMIT;.*){8}' <<<"$texts"
kill -TERM "$worker"
wait "$worker"
echo "$?" >>"$T_DIR/exit-codes"

# A user's transaction holds a lock on a table of the connection's schema: the rebuild waits
# at most --lock-timeout, is rolled back (the old schema untouched) and answered "retry",
# saying which relation and who holds it (never their query); once the user is done it runs.
out=$(run_task build lockd synthetic '{"tables":2}' 1)
check_eq "a schema for the user to read" ok "$out"
spawn "$T_DIR/user.log" psql -X -q "$db application_name=user-session" -c "BEGIN" \
    -c "SELECT count(*) AS secret_query FROM lockd.table_1" -c "SELECT pg_sleep(60)" -c "COMMIT"
user=$SPAWNED
check "the user's transaction holds its lock" wait_sql 10 "$db" \
    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'table_1' AND c.relnamespace = 'lockd'::regnamespace AND l.granted" 1
oid=$(schema_oid "$db" lockd)
start=$(date +%s%N)
out=$(CONNSTATE_LOCK_TIMEOUT=1s run_task build lockd synthetic '{"tables":3}' 0)
diag "the rebuild was answered in $((($(date +%s%N) - start) / 1000000)) ms (CONNSTATE_LOCK_TIMEOUT=1s): $out"
check "the rebuild blocked by the user's lock is answered retry, saying what it waits for" \
    grep -Eq '^retry: waiting for a lock on lockd\.table_1 held by pid [0-9]+ \(application_name "user-session", active, in a transaction for [0-9]+ s\): the update waited lock_timeout \(1s\) and was rolled back' <<<"$out"
check "... and never the user's query" bash -c '! grep -q secret_query <<<"$1"' _ "$out"
check_eq "the old schema is as it was" "$oid|2" \
    "$(schema_oid "$db" lockd)|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'lockd'")"
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'user-session'" >/dev/null
wait "$user"
out=$(CONNSTATE_LOCK_TIMEOUT=1s run_task build lockd synthetic '{"tables":3}' 0)
check_eq "once the user is done the rebuild runs" "ok|3" \
    "$out|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'lockd'")"

# Comments of a schema within one batch of tables go to the database as one transaction in
# one round trip: BEGIN, the check that the schema is connstate's with this schema's hash,
# the COMMENT statements, COMMIT. The server logs every query text it receives (a session of
# its own with log_statement = all): one text holds all of it.
out=$(PGOPTIONS="-c log_statement=all" run_task build note_one synthetic '{"tables":2}' 1 \
    comments note_one synthetic '{"tables":2}' 0)
check_eq "a build and its comments" "note_one ok|note_one ok" "$(paste -sd'|' <<<"$out")"
check_eq "the comments are written" "Synthetic table 2 of 2|Row number" \
    "$(sql "$db" "SELECT obj_description('note_one.table_2'::regclass, 'pg_class')")|$(sql "$db" "SELECT col_description('note_one.table_1'::regclass, 1)")"
texts=$(awk '/LOG:  statement: /{ if (t != "") print t; t = $0; next } /^\t/{ t = t " " $0; next } { if (t != "") print t; t = "" } END { if (t != "") print t }' \
    "$CONNSTATE_TEST_PGDIR/postgres.log" | grep -F 'COMMENT ON FOREIGN TABLE "note_one"."table_1"')
check_eq "... sent as one query text: the check, every COMMENT and the COMMIT" "1|1" \
    "$(grep -c . <<<"$texts")|$(grep -c "BEGIN;[[:space:]]*SELECT pg_temp.connstate_comments_check('note_one', '[0-9a-f]*');.*COMMENT ON FOREIGN TABLE \"note_one\".\"table_1\".*COMMENT ON COLUMN \"note_one\".\"table_2\".\"id\" IS 'Row number';.*COMMIT;$" <<<"$texts")"

# The transaction is still one: a COMMENT that fails (a table dropped by hand) rolls back
# the ones before it, and the result is the database's error.
out=$(run_task build note_gone synthetic '{"tables":2}' 1)
sql "$db" "DROP FOREIGN TABLE note_gone.table_2" >/dev/null
out=$(run_task comments note_gone synthetic '{"tables":2}' 0)
check_eq "comments failing on their second table report the database's error" \
    'error: database: relation "note_gone.table_2" does not exist' "$out"
check_eq "... and none of them is written" "|" \
    "$(sql "$db" "SELECT obj_description('note_gone.table_1'::regclass, 'pg_class')")|$(sql "$db" "SELECT col_description('note_gone.table_1'::regclass, 1)")"

# The check refuses a schema that is not connstate's (a user's of the connection's name,
# with the plugin's tables), and one whose marker says another schema hash; nothing changes.
sql "$db" "CREATE SCHEMA note_user; CREATE TABLE note_user.table_1 (id bigint); COMMENT ON TABLE note_user.table_1 IS 'mine'" >/dev/null
out=$(run_task comments note_user synthetic '{"tables":1}' 0 build note_hash synthetic '{"tables":1}' 1 \
    comments note_hash synthetic '{"tables":3}' 0)
check_eq "comments refused: a user's schema, a schema of another hash" \
    'note_user error: schema "note_user" is missing or changed before its comments were written|note_hash ok|note_hash error: schema "note_hash" is missing or changed before its comments were written' \
    "$(paste -sd'|' <<<"$out")"
check_eq "... and the user's comment stays, the other schema has none" "mine|" \
    "$(sql "$db" "SELECT obj_description('note_user.table_1'::regclass, 'pg_class')")|$(sql "$db" "SELECT obj_description('note_hash.table_1'::regclass, 'pg_class')")"

check_eq "the worker exited 0 on SIGTERM all 15 times" "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0" "$(echo $(cat "$T_DIR/exit-codes"))"

done_testing
