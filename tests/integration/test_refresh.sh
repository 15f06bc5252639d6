# RefreshConnections end to end: a real supervisor, real workers, real schemas.
. "$(dirname "$0")/../lib.sh"

db=$(new_db refresh)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/synthetic.spc" 1 199
cat >"$cfg/host.spc" <<'SPC'
connection "host" {
  plugin = "hostinfo"
}
SPC

# ---- first load of 200 connections --------------------------------------------------------
export CONNSTATE_TEST_COUNT=$T_DIR/schema-calls # the counted plugin's log, read further down
sup_start main "$db" "$cfg"
check_eq "first load: all 200 connections ready" 200 "$(count_status "$db" ready)"
check_eq "first load: 199 synthetic schemas of 2 foreign tables each" 398 \
    "$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema LIKE 'syn\_%'")"
check "hostinfo: SELECT count(*) FROM host.processes returns real rows" \
    test "$(sql "$db" "SELECT count(*) > 0 FROM host.processes")" = t
check_eq "hostinfo: the mounts table lists /proc" 1 \
    "$(sql "$db" "SELECT count(*) FROM host.mounts WHERE mount_point = '/proc'")"
check_eq "synthetic rows are real rows" "1|table_2-1-2" \
    "$(sql "$db" "SELECT id, col_2 FROM syn_7.table_2 ORDER BY id LIMIT 1")"
check "every schema carries a connstate marker" test "$(sql "$db" \
    "SELECT count(*) FROM pg_namespace n JOIN pg_description d ON d.objoid = n.oid
     WHERE d.description LIKE 'connstate marker v1;%'")" = 200
check "comments are written after the tables (comments_set for all)" \
    wait_sql 30 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE comments_set" 200
check_eq "table descriptions are COMMENTs" "Processes running on the host" \
    "$(sql "$db" "SELECT obj_description('host.processes'::regclass, 'pg_class')")"
check_eq "column descriptions are COMMENTs" "Process ID" \
    "$(sql "$db" "SELECT col_description('host.processes'::regclass, 1)")"
check "the state rows say which file and lines" test "$(sql "$db" \
    "SELECT file_name || ':' || start_line || '-' || end_line FROM connstate_internal.connection_state WHERE connection_name = 'host'")" = "$cfg/host.spc:1-3"
check "no connection is left pending or updating" test "$(sql "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status IN ('pending', 'updating')")" = 0

# ---- add, change, delete, rename --------------------------------------------------------
oid_1=$(schema_oid "$db" syn_1)
oid_2=$(schema_oid "$db" syn_2)
synthetic_conns "$cfg/synthetic.spc" 2 199                  # delete syn_1
sed -i 's/"syn_2" {/"syn_2" {\n  rows = 3/' "$cfg/synthetic.spc"   # change syn_2
sed -i 's/"syn_3"/"syn_three"/' "$cfg/synthetic.spc"          # rename syn_3
printf 'connection "added" {\n  plugin = "synthetic"\n  tables = 4\n}\n' >"$cfg/added.spc"
out=$(connstate refresh --control "$(control main)")
check "connstate refresh exits 0 when nothing ended in error" test $? -eq 0
check "connstate refresh prints a summary with counts and seconds" \
    grep -Eq "^refresh [0-9]+ done in [0-9.]+ s: 200 connections: 200 ready$" <<<"$out"
check_eq "deleted: syn_1's schema is dropped" "" "$(schema_oid "$db" syn_1)"
check_eq "deleted: syn_1's row is deleted" "" "$(status_of "$db" syn_1)"
check "changed: syn_2 was rebuilt (new schema OID)" test -n "$(schema_oid "$db" syn_2)" -a "$(schema_oid "$db" syn_2)" != "$oid_2"
check_eq "changed: syn_2's new config is in effect (3 rows)" 3 "$(sql "$db" "SELECT count(*) FROM syn_2.table_1")"
check_eq "renamed: the old schema is gone" "" "$(schema_oid "$db" syn_3)"
check_eq "renamed: the new one is ready" ready "$(status_of "$db" syn_three)"
check_eq "added: ready with its 4 tables" "ready|4" "$(status_of "$db" added)|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'added'")"
check "unchanged connections kept their schemas (same OID)" test "$(schema_oid "$db" syn_199)" = "$(sql "$db" "SELECT oid FROM pg_namespace WHERE nspname = 'syn_199'")"
[ -z "$oid_1" ] && not_ok "syn_1 had a schema before"

# ---- a config change is noticed without being asked (inotify) ------------------------------
printf 'connection "watched" {\n  plugin = "synthetic"\n}\n' >"$cfg/watched.spc"
check "a new file in the config directory is picked up within seconds" \
    wait_sql 10 "$db" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'watched'" ready
# An editor's way: write a hidden temporary file (ignored by the loader and the watch), then
# rename it over the config file.
printf 'connection "watched" {\n  plugin = "synthetic"\n  tables = 3\n}\n' >"$cfg/.watched.spc.tmp"
mv "$cfg/.watched.spc.tmp" "$cfg/watched.spc"
check "a file renamed into place is picked up too" \
    wait_sql 10 "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'watched'" 3

# ---- a broken file keeps its connections' schemas ---------------------------------------
oid_host=$(schema_oid "$db" host)
printf 'connection "host" {\n  plugin = "hostinfo"\n  x = [1 2]\n}\n' >"$cfg/host.spc"
connstate refresh --control "$(control main)" >/dev/null
check_eq "broken file: its connection is in error" error "$(status_of "$db" host)"
check_eq "broken file: the error says file:line:col: message" \
    "$cfg/host.spc:3:10: expected ',' or ']' in the list that starts at line 3, found a number" \
    "$(error_of "$db" host)"
check_eq "broken file: the schema is kept (same OID)" "$oid_host" "$(schema_oid "$db" host)"
check "broken file: the schema stays queryable" test "$(sql "$db" "SELECT count(*) > 0 FROM host.load")" = t
check_eq "broken file: the other files are untouched" ready "$(status_of "$db" syn_100)"
printf 'connection "host" {\n  plugin = "hostinfo"\n}\n' >"$cfg/host.spc"
connstate refresh --control "$(control main)" >/dev/null
check_eq "fixed file: ready again, with no rebuild (same OID)" "ready|$oid_host" \
    "$(status_of "$db" host)|$(schema_oid "$db" host)"

# ---- a failed rebuild leaves the previous schema intact and usable ------------------------
oid_50=$(schema_oid "$db" syn_50)
perl -0pi -e 's/("syn_50" \{\n  plugin = "synthetic"\n  tables = )2/${1}-1/' "$cfg/synthetic.spc"
connstate refresh --control "$(control main)" >/dev/null
check_eq "failed rebuild: the connection is in error with the plugin's reason" \
    "plugin synthetic schema exited with status 1: synthetic: tables must be an integer from 0 to 10000" \
    "$(error_of "$db" syn_50)"
check_eq "failed rebuild: the previous schema is intact (same OID)" "$oid_50" "$(schema_oid "$db" syn_50)"
check_eq "failed rebuild: the previous schema is still usable" 10 "$(sql "$db" "SELECT count(*) FROM syn_50.table_1")"
check_eq "failed rebuild: only that connection changed" 1 "$(count_status "$db" error)"
perl -0pi -e 's/("syn_50" \{\n  plugin = "synthetic"\n  tables = )-1/${1}2/' "$cfg/synthetic.spc"

# ---- a static plugin's schema is fetched once per worker, not once per connection ---------
for i in 1 2 3 4 5 6 7 8 9 10; do
    printf 'connection "counted_%d" {\n  plugin = "counted"\n}\n' "$i"
done >"$cfg/counted.spc"
check "static schema: 10 connections become ready" wait_sql 20 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'counted%' AND status = 'ready'" 10
check "static schema: fetched at most once per worker (2), not per connection (10)" \
    test "$(wc -l <"$CONNSTATE_TEST_COUNT")" -le 2
rm "$cfg/counted.spc"
connstate refresh --control "$(control main)" >/dev/null

# ---- a user's own schema with a connection's name is never touched ------------------------
sql "$db" "CREATE SCHEMA mine; CREATE TABLE mine.important (x int); INSERT INTO mine.important VALUES (42)" >/dev/null
printf 'connection "mine" {\n  plugin = "synthetic"\n}\n' >"$cfg/mine.spc"
connstate refresh --control "$(control main)" >/dev/null
check "connstate refresh exits 1 when a connection ended in error" test $? -eq 1
check_eq "unmanaged schema: the connection is in error" error "$(status_of "$db" mine)"
check "unmanaged schema: the error says the schema is not managed by connstate" \
    grep -q "exists and is not managed by connstate" <<<"$(error_of "$db" mine)"
check_eq "unmanaged schema: the user's table is untouched" 42 "$(sql "$db" "SELECT x FROM mine.important")"
rm "$cfg/mine.spc"
connstate refresh --control "$(control main)" >/dev/null
check_eq "unmanaged schema: removing the connection does not drop it" 42 "$(sql "$db" "SELECT x FROM mine.important")"
check_eq "unmanaged schema: the row is gone" "" "$(status_of "$db" mine)"

# ---- import_schema = "disabled" -----------------------------------------------------------
printf 'connection "added" {\n  plugin = "synthetic"\n  tables = 4\n  import_schema = "disabled"\n}\n' >"$cfg/added.spc"
printf 'connection "never" {\n  plugin = "synthetic"\n  import_schema = "disabled"\n}\n' >"$cfg/never.spc"
connstate refresh --control "$(control main)" >/dev/null
check_eq "disabled: a new connection is disabled with no schema" "disabled|" "$(status_of "$db" never)|$(schema_oid "$db" never)"
check_eq "disabled: an existing connection's schema is dropped" "disabled|" "$(status_of "$db" added)|$(schema_oid "$db" added)"

# ---- restart with nothing changed: ready within seconds, no DDL ---------------------------
before=$(sql "$db" "SELECT string_agg(nspname || ':' || oid, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'syn%' OR nspname = 'host'")
ready_before=$(count_status "$db" ready)
check "the supervisor stops gracefully on SIGTERM (exit 0)" sup_stop "$SUP_PID"
check_eq "after a stop nothing is left updating" 0 "$(count_status "$db" updating)"
start=$(date +%s%N)
sup_start main "$db" "$cfg"
ms=$((($(date +%s%N) - start) / 1000000))
check_eq "restart: every connection is ready again" "$ready_before" "$(count_status "$db" ready)"
check "restart: ready within seconds ($ms ms)" test "$ms" -lt 10000
check_eq "restart: no DDL (every schema has the same OID)" "$before" \
    "$(sql "$db" "SELECT string_agg(nspname || ':' || oid, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'syn%' OR nspname = 'host'")"
check "restart: the log says nothing to build" grep -q "0 to build, 0 to delete" "$T_DIR/main.log"

done_testing
