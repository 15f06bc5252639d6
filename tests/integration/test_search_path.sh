# The database's default search path, kept as Steampipe keeps it (options "database"):
# search_path_prefix, public, then the ready connections in name order (or search_path as
# written), written in the transaction that changes which rows are ready and only when it
# changes; bounded by --search-path-max; left alone without options "database" and kept as
# it is while the file that declares them is broken.
. "$(dirname "$0")/../lib.sh"

db=$(new_db search_path)
dbname=search_path
cfg=$T_DIR/config
mkdir -p "$cfg"

# conn NAME [TABLES]: the config file of one synthetic connection.
conn() {
    printf 'connection "%s" {\n  plugin = "synthetic"\n  tables = %d\n  columns = 2\n}\n' \
        "$1" "${2:-1}" >"$cfg/$1.spc"
}
refresh() { connstate refresh --control "$(control "${1:-main}")" --timeout 60 >/dev/null; }
# in_force DBNAME: the database's own setting of search_path ("" when it has none).
in_force() {
    sql "$CONNSTATE_TEST_DB" "SELECT substr(c, 13) FROM pg_db_role_setting s, unnest(s.setconfig) c
        WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = '$1') AND s.setrole = 0
        AND c LIKE 'search\\_path=%'"
}
# setting_xmin DBNAME: the transaction that wrote the database's settings.
setting_xmin() {
    sql "$CONNSTATE_TEST_DB" "SELECT xmin FROM pg_db_role_setting
        WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = '$1') AND setrole = 0"
}
# A new session's search path and what an unqualified name finds there.
new_session_path() { sql "$db" "SHOW search_path"; }

conn aws_a 3
conn AwsProd 1
conn zeta 2

# ---- without options "database" the database's settings are not touched ---------------------
sup_start main "$db" "$cfg"
check_eq "without options \"database\": the database's search path is left alone" "" \
    "$(in_force $dbname)"

# ---- options "database" {} (as Steampipe's default.spc has it): the default rule ----------
printf 'options "database" {\n  port = 9193\n}\n' >"$cfg/default.spc"
refresh
check_eq "public, then the ready connections in byte order of their names, quoted" \
    'public, "AwsProd", aws_a, zeta' "$(in_force $dbname)"
check_eq "... as a new session sees it" 'public, "AwsProd", aws_a, zeta' "$(new_session_path)"
check_eq "... so an unqualified table is found in the first connection that has it" \
    "$(sql "$db" 'SELECT count(*) FROM aws_a.table_3')|$(sql "$db" 'SELECT count(*) FROM "AwsProd".table_1')" \
    "$(sql "$db" 'SELECT count(*) FROM table_3')|$(sql "$db" 'SELECT count(*) FROM table_1')"
check "the path change is logged" \
    grep -q "info: the database's default search path is now public, \"AwsProd\", aws_a, zeta" "$T_DIR/main.log"

xmin=$(setting_xmin $dbname)
refresh
check_eq "a refresh that changes nothing does not write the path again" "$xmin" \
    "$(setting_xmin $dbname)"

# ---- a connection that becomes ready, and one removed -----------------------------------------
conn beta 1
refresh
check_eq "a new connection joins the path once ready" 'public, "AwsProd", aws_a, beta, zeta' \
    "$(in_force $dbname)"
rm "$cfg/zeta.spc"
refresh
check_eq "a removed connection leaves the path" 'public, "AwsProd", aws_a, beta' \
    "$(in_force $dbname)"

# The path changes in the transaction that changes the rows: no new session ever sees a
# connection in the path whose row is not ready, nor a ready row missing from it (no prefix,
# under the bound). Sampled, one snapshot per query, while a slow connection is built,
# rebuilt and removed.
violations() {
    sql "$db" "SELECT count(*) FROM connstate_internal.connection_state s,
        pg_db_role_setting r, unnest(r.setconfig) c
        WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND r.setrole = 0 AND c LIKE 'search\\_path=%'
        AND (quote_ident(s.connection_name) = ANY (string_to_array(substr(c, 13), ', ')))
            <> (s.status = 'ready')"
}
: >"$T_DIR/violations"
(
    while [ ! -e "$T_DIR/stop" ]; do violations >>"$T_DIR/violations"; done
) &
sampler=$!
T_PIDS+=("$sampler")
conn slow 3000
refresh
check_eq "a 3000-table connection is ready and in the path" 'ready|public, "AwsProd", aws_a, beta, slow' \
    "$(status_of "$db" slow)|$(in_force $dbname)"
conn slow 3001 # rebuilt: updating, then ready again
refresh
rm "$cfg/slow.spc"
refresh
touch "$T_DIR/stop"
wait "$sampler"
samples=$(wc -l <"$T_DIR/violations")
diag "$samples samples of the path against the rows"
check "... sampled many times meanwhile" test "$samples" -ge 20
check_eq "... and no sample saw the path disagree with the rows (each in one transaction)" 0 \
    "$(grep -cv '^0$' "$T_DIR/violations")"

# ---- search_path_prefix, and search_path as written ------------------------------------------
printf 'options "database" {\n  search_path_prefix = "aws_a, Extra"\n}\n' >"$cfg/default.spc"
refresh
check_eq "search_path_prefix (here as Steampipe's one string) goes first; each schema once" \
    'aws_a, "Extra", public, "AwsProd", beta' "$(in_force $dbname)"
printf 'options "database" {\n  search_path_prefix = ["pfx"]\n  search_path = ["beta", "AwsProd", "gone"]\n}\n' \
    >"$cfg/default.spc"
refresh
check_eq "search_path: the prefix, then the list as written (no connection, no public added)" \
    'pfx, beta, "AwsProd", gone' "$(in_force $dbname)"
check "a settings change is written without a row changing" \
    grep -q 'search path is now pfx, beta, "AwsProd", gone' "$T_DIR/main.log"

# ---- a broken file that declares options "database": the path in force stays ----------------
printf 'options "database" {\n  search_path = ["beta"\n}\n' >"$cfg/default.spc"
conn gamma 1
refresh
check_eq "while the file of options \"database\" is broken, the path in force stays" \
    'ready|pfx, beta, "AwsProd", gone' "$(status_of "$db" gamma)|$(in_force $dbname)"
check "... and the log says why" \
    grep -q "search path is left as it is: a file that failed to load declares options" "$T_DIR/main.log"
printf 'options "database" {\n}\n' >"$cfg/default.spc"
refresh
check_eq "once it loads again the path follows the rows" \
    'public, "AwsProd", aws_a, beta, gamma' "$(in_force $dbname)"
sup_stop "$SUP_PID"

# ---- the SQL function itself: an empty path, and a session that may not ALTER DATABASE ----
check_eq "an empty path is set as an empty search path" 'set: ""|""' \
    "$(sql "$db" "SELECT connstate_internal.set_search_path(ARRAY[]::text[])")|$(in_force $dbname)"
check_eq "... and is then the same" 'same' \
    "$(sql "$db" "SELECT connstate_internal.set_search_path(ARRAY[]::text[])")"
sql "$db" "DROP ROLE IF EXISTS search_path_nobody; CREATE ROLE search_path_nobody;
    GRANT USAGE ON SCHEMA connstate_internal TO search_path_nobody;
    GRANT EXECUTE ON FUNCTION connstate_internal.set_search_path(text[]) TO search_path_nobody" \
    >/dev/null
out=$(sql "$db" "SET ROLE search_path_nobody; SELECT connstate_internal.set_search_path(ARRAY['x'])")
check "a session that does not own the database gets the failure as the answer, not an error" \
    grep -q '^failed: must be owner of database search_path$' <<<"$out"
sql "$db" "REVOKE ALL ON FUNCTION connstate_internal.set_search_path(text[]) FROM search_path_nobody;
    REVOKE ALL ON SCHEMA connstate_internal FROM search_path_nobody; DROP ROLE search_path_nobody" \
    >/dev/null

# ---- the bound ------------------------------------------------------------------------------------
db2=$(new_db search_path_bound)
cfg2=$T_DIR/config2
mkdir -p "$cfg2"
printf 'options "database" {\n  search_path_prefix = ["mine"]\n}\n' >"$cfg2/default.spc"
synthetic_conns "$cfg2/many.spc" 1 3 1 c_
sup_start bound "$db2" "$cfg2" --search-path-max 5
check_eq "under --search-path-max the connections are in the path" 'mine, public, c_1, c_2, c_3' \
    "$(in_force search_path_bound)"
synthetic_conns "$cfg2/many.spc" 1 6 1 c_
refresh bound
check_eq "past it: search_path_prefix and public only" 'mine, public' "$(in_force search_path_bound)"
check "... logged" grep -q "would hold 8 schemas, more than --search-path-max 5" "$T_DIR/bound.log"
synthetic_conns "$cfg2/many.spc" 1 5 1 c_
refresh bound
check_eq "still past it" 'mine, public' "$(in_force search_path_bound)"
check_eq "... logged once" 1 "$(grep -c 'more than --search-path-max' "$T_DIR/bound.log")"
synthetic_conns "$cfg2/many.spc" 1 2 1 c_
refresh bound
check_eq "back under it: the connections again" 'mine, public, c_1, c_2' \
    "$(in_force search_path_bound)"
check "... logged" grep -q "holds the ready connections again" "$T_DIR/bound.log"

done_testing
