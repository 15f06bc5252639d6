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
tables_of() { sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = '$1'"; }
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

done_testing
