# Managed schemas against what users and the lock table do to them: a user's objects that
# depend on or live in a connection's schema are never dropped with it, and a connection
# with thousands of tables is built, rebuilt and deleted within the lock table.
. "$(dirname "$0")/../lib.sh"

db=$(new_db schemas)
cfg=$T_DIR/config
mkdir -p "$cfg"
drivers=$BUILD/tests/drivers

# conn_file NAME TABLES COLUMNS: the config file of one synthetic connection.
conn_file() {
    printf 'connection "%s" {\n  plugin = "synthetic"\n  tables = %d\n  columns = %d\n}\n' \
        "$1" "$2" "$3" >"$cfg/$1.spc"
}
refresh() { connstate refresh --control "$(control main)" --timeout 120 >/dev/null; }
tables_of_db() { sql "$1" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = '$2'"; }
tables_of() { tables_of_db "$db" "$1"; }
temp_schemas() { sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs$%'"; }
# elapsed START: milliseconds since START (date +%s%N).
elapsed() { echo $((($(date +%s%N) - $1) / 1000000)); }

conn_file plain 2 2
conn_file objs 2 2
conn_file big_a 5000 2
conn_file big_b 5000 2
start=$(date +%s%N)
sup_start main "$db" "$cfg"
diag "first refresh with two 5000-table connections: $(elapsed "$start") ms"
check_eq "two 5000-table connections are built" "ready|5000|ready|5000" \
    "$(status_of "$db" big_a)|$(tables_of big_a)|$(status_of "$db" big_b)|$(tables_of big_b)"
check "... and their comments written (in batches of tables)" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'big_%' AND comments_set" 2
check_eq "... down to the last table's" "Synthetic table 5000 of 5000|Synthetic column 2" \
    "$(sql "$db" "SELECT obj_description('big_b.table_5000'::regclass, 'pg_class')")|$(sql "$db" "SELECT col_description('big_b.table_5000'::regclass, 2)")"

# ---- a user's objects that depend on or live in a managed schema ---------------------------
sql "$db" "CREATE VIEW public.v AS SELECT id FROM objs.table_1; CREATE TABLE objs.mine (v int);
           INSERT INTO objs.mine VALUES (42)" >/dev/null
oid_objs=$(schema_oid "$db" objs)
oid_plain=$(schema_oid "$db" plain)
conn_file objs 2 3
conn_file plain 2 3
refresh
check_eq "rebuild: a schema with a user's objects is not dropped" "error|$oid_objs" \
    "$(status_of "$db" objs)|$(schema_oid "$db" objs)"
check_eq "rebuild: the error names the objects and says how to proceed" \
    'objects that connstate did not create depend on schema "objs" or live in it (table objs.mine, view public.v); it was left as it was: move or drop them (or drop the schema yourself), then refresh' \
    "$(error_of "$db" objs)"
check_eq "rebuild: the user's view and table survive" "10|42" \
    "$(sql "$db" "SELECT count(*) FROM public.v")|$(sql "$db" "SELECT v FROM objs.mine")"
check "rebuild: the refusal is logged as a warning" \
    grep -q "warn: \\[objs\\] build failed: objects that connstate did not create" "$T_DIR/main.log"
check "rebuild: a connection without user objects is rebuilt (new OID, 3 columns)" \
    test "$(status_of "$db" plain)|$(sql "$db" "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'plain' AND table_name = 'table_1'")" = "ready|3" \
    -a "$(schema_oid "$db" plain)" != "$oid_plain"

rm "$cfg/objs.spc" "$cfg/plain.spc"
refresh
check_eq "delete: a schema with a user's objects is not dropped" "error|$oid_objs" \
    "$(status_of "$db" objs)|$(schema_oid "$db" objs)"
check "delete: the error names the objects" grep -q "(table objs.mine, view public.v)" \
    <<<"$(error_of "$db" objs)"
check_eq "delete: the user's view and table survive" "10|42" \
    "$(sql "$db" "SELECT count(*) FROM public.v")|$(sql "$db" "SELECT v FROM objs.mine")"
check_eq "delete: a connection without user objects is deleted (schema and row)" "|" \
    "$(schema_oid "$db" plain)|$(status_of "$db" plain)"

sql "$db" "DROP VIEW public.v; DROP TABLE objs.mine" >/dev/null
conn_file objs 2 3
refresh
check_eq "once the user dropped them, a refresh rebuilds the schema" "ready|3" \
    "$(status_of "$db" objs)|$(sql "$db" "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'objs' AND table_name = 'table_1'")"
sql "$db" "CREATE VIEW public.v AS SELECT id FROM objs.table_1" >/dev/null
rm "$cfg/objs.spc"
refresh
check_eq "a delete refused for a view ..." error "$(status_of "$db" objs)"
sql "$db" "DROP VIEW public.v" >/dev/null
refresh
check_eq "... is done by a refresh once the user dropped it" "|" \
    "$(schema_oid "$db" objs)|$(status_of "$db" objs)"

# ---- 5000-table connections: rebuilt, refused, deleted ---------------------------------
# Both at once, by the two workers: in one transaction each, a rebuild takes 4 locks per
# table and a delete 3, more than the harness's lock table holds for the two.
columns_of() { sql "$db" "SELECT count(*) FROM information_schema.columns WHERE table_schema = '$1'"; }
conn_file big_a 5000 3
conn_file big_b 5000 3
start=$(date +%s%N)
refresh
diag "rebuild of two 5000-table connections at once: $(elapsed "$start") ms"
check_eq "two 5000-table connections are rebuilt at once" "ready||ready|" \
    "$(status_of "$db" big_a)|$(error_of "$db" big_a)|$(status_of "$db" big_b)|$(error_of "$db" big_b)"
check_eq "... their 5000 tables have the new columns" "5000|15000|5000|15000" \
    "$(tables_of big_a)|$(columns_of big_a)|$(tables_of big_b)|$(columns_of big_b)"
check_eq "... they are queryable" 10 "$(sql "$db" "SELECT count(*) FROM big_a.table_4321 WHERE col_3 LIKE 'table_4321-%'")"
check_eq "... with no temporary schema left" 0 "$(temp_schemas)"

# A big rebuild whose swap is refused: the new schema is built under its temporary name
# while the old one is in use; a user's view on the old one appears meanwhile (the worker
# waits for another session that holds the temporary name until the view exists).
oid_a=$(schema_oid "$db" big_a)
temp_new="cs\$new\$$(printf %s big_a | sha1sum | cut -c1-16)"
spawn "$T_DIR/holder.log" psql -X -q "$db" -c "BEGIN" -c "CREATE SCHEMA \"$temp_new\"" \
    -c "SELECT pg_sleep(60)" -c "ROLLBACK"
holder=$SPAWNED
wait_sql 10 "$db" "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" 1 >/dev/null
conn_file big_a 5000 2 # the config directory's watch refreshes
waiting="SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'connstate-worker%' AND wait_event_type = 'Lock'"
check "a big rebuild waits for the session that holds its temporary schema's name" \
    wait_sql 20 "$db" "$waiting" 1
sql "$db" "CREATE VIEW public.bv AS SELECT id, col_3 FROM big_a.table_1" >/dev/null
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$holder"
check "the swap is refused for the user's view on the old schema" \
    wait_sql 30 "$db" "SELECT error FROM connstate_internal.connection_state WHERE connection_name = 'big_a'" \
    'objects that connstate did not create depend on schema "big_a" or live in it (view public.bv); it was left as it was: move or drop them (or drop the schema yourself), then refresh'
check_eq "... the old schema is intact (same OID, 5000 tables of 3 columns)" "$oid_a|5000|15000" \
    "$(schema_oid "$db" big_a)|$(tables_of big_a)|$(columns_of big_a)"
check_eq "... and usable, with the view" 10 "$(sql "$db" "SELECT count(*) FROM public.bv")"
check_eq "... and no temporary schema is left" 0 "$(temp_schemas)"
sql "$db" "DROP VIEW public.bv" >/dev/null
refresh
check_eq "once the view is gone, a refresh rebuilds it" "ready|5000|10000" \
    "$(status_of "$db" big_a)|$(tables_of big_a)|$(columns_of big_a)"

start=$(date +%s%N)
rm "$cfg/big_a.spc" "$cfg/big_b.spc"
refresh
diag "delete of two 5000-table connections at once: $(elapsed "$start") ms"
check_eq "two 5000-table connections are deleted at once (schemas and rows)" "|||" \
    "$(schema_oid "$db" big_a)|$(status_of "$db" big_a)|$(schema_oid "$db" big_b)|$(status_of "$db" big_b)"
check_eq "... with no temporary schema left" 0 "$(temp_schemas)"

# A temporary schema that a crash left behind (its connection long gone): the next refresh
# drops it, and no row is made for it.
left="cs\$old\$$(printf %s gone_conn | sha1sum | cut -c1-16)"
marker="connstate marker v1; fingerprint=51644e5fb863794f; plugin=synthetic; plugin_version=1.0.0; schema_hash=5676105e29c04694"
psql -X -q -v ON_ERROR_STOP=1 -v schema="$left" -v marker="$marker" "$db" >/dev/null <<'SQL'
CREATE SCHEMA :"schema";
COMMENT ON SCHEMA :"schema" IS :'marker';
CREATE FOREIGN TABLE :"schema".t (id bigint) SERVER connstate_file OPTIONS (format 'csv', program 'true');
SQL
check_eq "a leftover temporary schema is there" 1 "$(temp_schemas)"
refresh
check "the next refresh drops it" wait_sql 10 "$db" \
    "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs$%'" 0
check_eq "... without a row for it" 0 \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'cs$%'")"

# ---- one worker driven by a stand-in supervisor ------------------------------------------
tdb=$(new_db schemas_tasks)
sql "$tdb" "CREATE EXTENSION file_fdw; CREATE SERVER connstate_file FOREIGN DATA WRAPPER file_fdw" >/dev/null
ep=ipc://$T_DIR/tasks
pglog=$CONNSTATE_TEST_PGDIR/postgres.log
# run_task WORKER_DB [WORKER_ARGS...] -- TASK...: one worker for the tasks; prints the results.
run_task() {
    local wdb=$1 args=()
    shift
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    CONNSTATE_DB=$wdb spawn "$T_DIR/worker.log" connstate-worker --connect "$ep" \
        --plugin-dir "$(plugin_dir)" --name test-worker "${args[@]}"
    local worker=$SPAWNED
    "$drivers/task_check" "$ep" "$@"
    kill -TERM "$worker"
    wait "$worker"
}
# fake_temp SCHEMA TABLES MARKER: a schema as an interrupted update leaves it.
fake_temp() {
    psql -X -q -v ON_ERROR_STOP=1 -v schema="$1" -v marker="$3" "$tdb" >/dev/null <<SQL
CREATE SCHEMA :"schema";
COMMENT ON SCHEMA :"schema" IS :'marker';
SELECT set_config('fake.schema', :'schema', false);
DO \$\$ BEGIN FOR i IN 1..$2 LOOP
  EXECUTE format('CREATE FOREIGN TABLE %I.%I (id bigint) SERVER connstate_file OPTIONS (format %L, program %L)',
                 current_setting('fake.schema'), 'table_' || i, 'csv', 'true');
END LOOP; END \$\$;
SQL
}
statements() { grep -c "LOG:  statement: " "$pglog"; }
marker='connstate marker v1; fingerprint=0000000000000000; plugin=synthetic; plugin_version=1.0.0; schema_hash=0000000000000000'
hash_of() { printf %s "$1" | sha1sum | cut -c1-16; }

# The fresh build of a small schema stays one round trip (its session logs each query).
before=$(statements)
out=$(run_task "$tdb options='-c log_statement=all'" -- build rt_one synthetic '{"tables":3}' 1)
check_eq "a fresh small build: one query to the database" "ok|1" "$out|$(($(statements) - before))"
before=$(statements)
out=$(run_task "$tdb options='-c log_statement=all'" -- build rt_one synthetic '{"tables":4}' 0)
check_eq "a small rebuild: two queries (what the schema holds, then the DDL)" "ok|2" \
    "$out|$(($(statements) - before))"

# Tables per transaction: a worker told 3 builds 7 tables in batches.
lines=$(wc -l <"$pglog")
out=$(CONNSTATE_TABLES_PER_TRANSACTION=3 run_task "$tdb options='-c log_statement=all'" -- \
    build batched synthetic '{"tables":7}' 1)
check_eq "a worker with 3 tables per transaction builds 7 tables" "ok|7|0" \
    "$out|$(tables_of_db "$tdb" batched)|$(sql "$tdb" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs$%'")"
most=$(tail -n +$((lines + 1)) "$pglog" | awk '
    /LOG:  statement: / { if (n > most) most = n; n = 0 }
    /CREATE FOREIGN TABLE/ { n++ }
    END { if (n > most) most = n; print most + 0 }')
check_eq "... in batches: at most 3 of them created by one query" 3 "$most"
CONNSTATE_DB=$tdb connstate-worker --tables-per-transaction 0 --connect "$ep" 2>"$T_DIR/bad.err"
check_eq "--tables-per-transaction 0 is refused (exit 2)" "2" "$?"
check "--help documents --tables-per-transaction and its variable" \
    grep -q "CONNSTATE_TABLES_PER_TRANSACTION, 250" <(connstate-worker --help)

# Leftovers of an interrupted update of "left": dropped before its next update. (A fresh
# small build does not look for them: it stays one round trip.)
out=$(run_task "$tdb" -- build left synthetic '{"tables":2}' 1)
fake_temp "cs\$new\$$(hash_of left)" 600 "$marker"
fake_temp "cs\$old\$$(hash_of left)" 1 "$marker"
out=$(run_task "$tdb" -- build left synthetic '{"tables":3}' 0)
check_eq "a rebuild first drops the connection's leftover temporary schemas" "ok|3|0" \
    "$out|$(tables_of_db "$tdb" left)|$(sql "$tdb" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs$%'")"
fake_temp "cs\$new\$$(hash_of left_big)" 4 "$marker"
out=$(run_task "$tdb" --tables-per-transaction 2 -- build left_big synthetic '{"tables":5}' 1)
check_eq "... so does a build too big for one transaction" "ok|5|0" \
    "$out|$(tables_of_db "$tdb" left_big)|$(sql "$tdb" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs$%'")"
fake_temp "cs\$old\$$(hash_of left)" 3 "$marker"
out=$(run_task "$tdb" -- delete left synthetic '{}' 0)
check_eq "... and so does a delete" "ok||0" \
    "$out|$(schema_oid "$tdb" left)|$(sql "$tdb" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs$%'")"

# A DELETE task for a leftover itself (the supervisor's way to clear them).
gone="cs\$old\$$(hash_of gone)"
fake_temp "$gone" 700 "$marker"
out=$(run_task "$tdb" -- delete "$gone" synthetic '{}' 0)
check_eq "a DELETE of a leftover temporary schema drops it, in batches" "ok|" \
    "$out|$(schema_oid "$tdb" "$gone")"
fake_temp "$gone" 1 "not a marker"
out=$(run_task "$tdb" -- delete "$gone" synthetic '{}' 0)
check "... but not when it has no connstate marker" grep -q "is not managed by connstate" <<<"$out"
check_eq "... which leaves it untouched" 1 "$(tables_of_db "$tdb" "$gone")"

# While an update of a connection is under way its session holds the connection's lock
# (advisory, class 1668506472, the first 8 hex digits of the hash as an int4): a DELETE of
# its temporary schema leaves it alone, and another update of it waits for it to end.
h=$(hash_of busy)
key=$((16#${h:0:8}))
[ "$key" -ge 2147483648 ] && key=$((key - 4294967296))
fake_temp "cs\$new\$$h" 2 "$marker"
spawn "$T_DIR/busy.log" psql -X -q "$tdb" -c "SELECT pg_advisory_lock(1668506472, $key)" -c "SELECT pg_sleep(60)"
busy=$SPAWNED
wait_sql 10 "$tdb" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = ($key)::int4::oid AND granted" 1 >/dev/null
spawn "$T_DIR/busy.out" run_task "$tdb" -- delete "cs\$new\$$h" synthetic '{}' 0 \
    build busy synthetic '{"tables":1}' 0
tasks=$SPAWNED
check "an update of a connection that another session is updating waits for it" \
    wait_log "$T_DIR/worker.log" "\\[busy\\] waiting for another session's update of it to end" 10
check "... while a DELETE of its temporary schema succeeded" \
    wait_until 5 grep -qx "cs\\\$new\\\$$h ok" "$T_DIR/busy.out"
check_eq "... by leaving it alone (and the update has not run)" "2|0" \
    "$(tables_of_db "$tdb" "cs\$new\$$h")|$(grep -c "^busy" "$T_DIR/busy.out")"
sql "$tdb" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$busy" "$tasks"
check_eq "... and once it ended, the update runs (and drops the temporary schema first)" \
    "cs\$new\$$h ok|busy ok||1" \
    "$(paste -sd'|' "$T_DIR/busy.out")|$(schema_oid "$tdb" "cs\$new\$$h")|$(tables_of_db "$tdb" busy)"

# A view created while a delete runs (after the worker looked, before its DROP): the drop is
# RESTRICT, so the view survives and the error keeps PostgreSQL's DETAIL and HINT. The
# user's session holds the table until another session lets it commit.
out=$(run_task "$tdb" -- build race synthetic '{"tables":2}' 1)
spawn "$T_DIR/gate.log" psql -X -q "$tdb" -c "SELECT pg_advisory_lock(4242)" -c "SELECT pg_sleep(60)"
gate=$SPAWNED
wait_sql 10 "$tdb" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted" 1 >/dev/null
spawn "$T_DIR/user.log" psql -X -q "$tdb" -c "BEGIN" -c "CREATE VIEW public.w AS SELECT id FROM race.table_1" \
    -c "SELECT pg_advisory_xact_lock(4242)" -c "COMMIT"
user=$SPAWNED
wait_sql 10 "$tdb" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted" 1 >/dev/null
spawn "$T_DIR/race.out" run_task "$tdb" -- delete race synthetic '{}' 0
racer=$SPAWNED
check "the delete waits for the user's session" wait_sql 20 "$tdb" \
    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'connstate-worker%' AND wait_event_type = 'Lock'" 1
sql "$tdb" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$gate" "$user" "$racer"
check_eq "a view that appeared meanwhile stops the drop, with PostgreSQL's DETAIL and HINT" \
    "error: database: cannot drop desired object(s) because other objects depend on them (DETAIL: view w depends on foreign table race.table_1; HINT: Use DROP ... CASCADE to drop the dependent objects too.)" \
    "$(cat "$T_DIR/race.out")"
check_eq "... and the view and the schema survive" "10|2" \
    "$(sql "$tdb" "SELECT count(*) FROM public.w")|$(tables_of_db "$tdb" race)"

done_testing
