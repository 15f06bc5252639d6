# Connection names as Steampipe allows them: letters of either case. A mixed-case name is
# its schema's name exactly (quoted in SQL) in the DDL, the markers, the state table, the
# catalog reads and every client command; names that differ only in case are two
# connections; reserved names are reserved in any case.
. "$(dirname "$0")/../lib.sh"

db=$(new_db names)
cfg=$T_DIR/config
mkdir -p "$cfg"

# conn NAME [TABLES]: the config file of one synthetic connection.
conn() {
    printf 'connection "%s" {\n  plugin = "synthetic"\n  tables = %d\n  columns = 2\n}\n' \
        "$1" "${2:-2}" >"$cfg/$1.spc"
}
refresh() { connstate refresh --control "$(control main)" --timeout 60 >/dev/null; }
marker_of() {
    sql "$db" "SELECT d.description LIKE 'connstate marker v1;%' FROM pg_namespace n
               JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass
               WHERE n.nspname = '$1'"
}

conn AwsProd
conn aws_Dev 3
conn awsprod 1 # differs from AwsProd only in case: a connection of its own
sup_start main "$db" "$cfg"

check_eq "mixed-case connections are ready" "ready|ready|ready" \
    "$(status_of "$db" AwsProd)|$(status_of "$db" aws_Dev)|$(status_of "$db" awsprod)"
check_eq "... each in the schema of its exact name, with its marker" "t|t|t" \
    "$(marker_of AwsProd)|$(marker_of aws_Dev)|$(marker_of awsprod)"
check_eq "... with its own tables (AwsProd 2, aws_Dev 3, awsprod 1)" "2|3|1" \
    "$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'AwsProd'")|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'aws_Dev'")|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'awsprod'")"
check "a table of a mixed-case schema is queryable quoted" \
    test "$(sql "$db" 'SELECT count(*) > 0 FROM "AwsProd".table_1')" = t
check "... and the unquoted name is the lowercase schema, another connection" \
    test "$(sql "$db" 'SELECT count(*) FROM AwsProd.table_1')" = "$(sql "$db" 'SELECT count(*) FROM awsprod.table_1')"
check_eq "the state table holds the names as written" "AwsProd,aws_Dev,awsprod" \
    "$(sql "$db" "SELECT string_agg(connection_name, ',' ORDER BY connection_name COLLATE \"C\") FROM connstate_internal.connection_state")"

# ---- the clients ----------------------------------------------------------------------------
out=$(connstate query --db "$db" --format csv 'SELECT count(*) AS n FROM "aws_Dev".table_3' 2>&1)
check "connstate query waits for and reads a quoted mixed-case schema" \
    test "$out" = "n
$(sql "$db" 'SELECT count(*) FROM "aws_Dev".table_3')"
connstate wait --db "$db" --timeout 10 AwsProd aws_Dev >/dev/null 2>&1
check "connstate wait takes mixed-case names (exit 0)" test $? -eq 0
connstate wait --db "$db" --timeout 2 Public >/dev/null 2>"$T_DIR/err"
check "connstate wait refuses a reserved name in any case (exit 2)" test $? -eq 2
check "... saying it is reserved" grep -q "reserved" "$T_DIR/err"
out=$(connstate inspect --db "$db")
check "connstate inspect lists AwsProd with its 2 tables" grep -Eq "^AwsProd +ready +2 " <<<"$out"
check "... and aws_Dev with its 3" grep -Eq "^aws_Dev +ready +3 " <<<"$out"
out=$(connstate inspect --db "$db" aws_Dev)
check "connstate inspect NAME lists a mixed-case schema's tables" \
    test "$(grep -c '^table_' <<<"$out")" -eq 3
out=$(connstate inspect --db "$db" AwsProd.table_1)
check "connstate inspect NAME.TABLE lists its columns" grep -q "^id " <<<"$out"

# ---- the publications: watch sees the name as written --------------------------------------
spawn "$T_DIR/watch.out" connstate watch --publish "ipc://$T_DIR/main.publish" \
    --control "$(control main)" --format json
watch_pid=$SPAWNED
check "watch's snapshot holds AwsProd as written" \
    wait_log "$T_DIR/watch.out" '"connection_name":"AwsProd","status":"ready"' 10

# ---- rename and drop -------------------------------------------------------------------------
rm "$cfg/AwsProd.spc"
conn AwsStaging
rm "$cfg/aws_Dev.spc"
refresh
check_eq "a rename: the new mixed-case schema is ready, the old one is gone" "ready||" \
    "$(status_of "$db" AwsStaging)|$(schema_oid "$db" AwsProd)|$(status_of "$db" AwsProd)"
check_eq "a drop: the mixed-case schema and its row are gone" "|" \
    "$(schema_oid "$db" aws_Dev)|$(status_of "$db" aws_Dev)"
check_eq "... and the lowercase namesake is untouched" "ready|t" \
    "$(status_of "$db" awsprod)|$(marker_of awsprod)"
check "watch published the rename and the drop under the names as written" \
    wait_log "$T_DIR/watch.out" '"connection_name":"AwsStaging","status":"ready"' 10
check "... (aws_Dev deleted)" wait_log "$T_DIR/watch.out" '"connection_name":"aws_Dev","status":"delet' 10
kill "$watch_pid" 2>/dev/null

# ---- reserved in any case --------------------------------------------------------------------
printf 'connection "Public" {\n  plugin = "synthetic"\n}\n' >"$cfg/reserved.spc"
out=$(connstate config check --config-dir "$cfg" 2>&1)
check "a connection named Public is refused: the name is reserved in any case" \
    grep -q 'reserved.spc:1:12: invalid connection name "Public": the name is reserved' <<<"$out"
check_eq "... and no schema of that name is made" "" \
    "$(refresh; schema_oid "$db" Public)"

done_testing
