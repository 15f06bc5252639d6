# The benchmarks' DDL capture: with CONNSTATE_DDL_CAPTURE=DIR and CONNSTATE_COMMENT_CAPTURE=DIR
# the workers write every committed build's and every committed comment transaction's
# statements, one block each, and replaying them on an empty database makes the same tables
# with the same descriptions: the baselines bench/scale.sh replays.
. "$(dirname "$0")/../lib.sh"

db=$(new_db capture)
cfg=$T_DIR/config
mkdir -p "$cfg" "$T_DIR/ddl" "$T_DIR/comments"
synthetic_conns "$cfg/a.spc" 1 20 2
export CONNSTATE_DDL_CAPTURE=$T_DIR/ddl CONNSTATE_COMMENT_CAPTURE=$T_DIR/comments
sup_start main "$db" "$cfg"
check "every connection's comments are written" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready' AND comments_set" 20
check "the supervisor stops cleanly (its workers write out their captures)" sup_stop "$SUP_PID"
unset CONNSTATE_DDL_CAPTURE CONNSTATE_COMMENT_CAPTURE

blocks() { cat "$1"/*.sql 2>/dev/null | grep -c '^-- end$'; }
check_eq "the build capture: a block per connection" 20 "$(blocks "$T_DIR/ddl")"
check_eq "the comment capture: a block per connection" 20 "$(blocks "$T_DIR/comments")"
check "the comment capture holds comments" grep -q '^COMMENT ON ' "$T_DIR"/comments/comments.*.sql
check "... and no build" bash -c "! grep -q 'CREATE FOREIGN TABLE' '$T_DIR'/comments/*.sql"

# the captures replayed on an empty database, builds then comments, each block in its own
# transaction (a block ends with its COMMIT)
copy=$(new_db capture_replay)
sql "$copy" "CREATE EXTENSION file_fdw; CREATE SERVER connstate_file FOREIGN DATA WRAPPER file_fdw" >/dev/null
replay() {
    awk 'BEGIN { print "BEGIN;" } /^-- end$/ { print "BEGIN;"; next } { print } END { print "COMMIT;" }' \
        "$1"/*.sql | PGOPTIONS='-c client_min_messages=error' psql -X -q -v ON_ERROR_STOP=1 "$copy" >/dev/null
}
check "the builds replay" replay "$T_DIR/ddl"
check "the comments replay after them" replay "$T_DIR/comments"
# every description of the connections' schemas, tables and columns
descriptions="SELECT string_agg(format('%s: %s', pg_describe_object(classoid, objoid, objsubid),
    description), E'\n' ORDER BY pg_describe_object(classoid, objoid, objsubid))
  FROM pg_description
 WHERE (classoid = 'pg_namespace'::regclass AND objoid IN (SELECT oid FROM pg_namespace WHERE nspname LIKE 'syn\_%'))
    OR (classoid = 'pg_class'::regclass AND objoid IN (SELECT c.oid FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'syn\_%'))"
want=$(sql "$db" "$descriptions")
check "the tables have descriptions" test -n "$(sql "$db" "SELECT 1 FROM pg_description d JOIN pg_class c ON c.oid = d.objoid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'syn_1' AND d.objsubid > 0 LIMIT 1")"
check_eq "the replay has the same tables and columns with the same descriptions" "$want" "$(sql "$copy" "$descriptions")"

done_testing
