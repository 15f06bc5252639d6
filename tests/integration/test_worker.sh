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
# them in pairs, but never longer than a moment. Another session creates slow_b and keeps
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

check_eq "the worker exited 0 on SIGTERM all 10 times" "0 0 0 0 0 0 0 0 0 0" "$(echo $(cat "$T_DIR/exit-codes"))"

done_testing
