# Aggregator connections end to end: a real supervisor, real workers, the synthetic plugin
# (members with different `columns`, so that their schemas differ). Membership follows the
# state: members added after the aggregator, removed, in error, all in error; two aggregators
# over overlapping entries; a member rebuilt while a query on the aggregator runs; the order
# of connections in files and of file names changes nothing; a restart with nothing changed
# costs no DDL; members of a broken file; members and aggregators that change type. Before
# this suite's change every aggregator was in error ("not built by this version"): 36 of its
# 50 checks failed (the other 14 check members, or hold either way).
. "$(dirname "$0")/../lib.sh"

db=$(new_db aggregators)
export CONNSTATE_LOCK_TIMEOUT=1s # the workers' lock waits (a user's query holds a view below)
cfg=$T_DIR/config
mkdir -p "$cfg"

# member NAME COLUMNS [MORE]: a synthetic connection of one table (table_1) of 2 rows.
member() {
    printf 'connection "%s" {\n  plugin = "synthetic"\n  tables = 1\n  columns = %s\n  rows = 2\n%s}\n' \
        "$1" "$2" "${3:-}"
}
# aggregator NAME ENTRIES: over the synthetic connections the entries match.
aggregator() {
    printf 'connection "%s" {\n  type = "aggregator"\n  plugin = "synthetic"\n  connections = %s\n}\n' \
        "$1" "$2"
}
write_aggs() { # ENTRIES of all_aws
    {
        aggregator all_aws "$1"
        aggregator some_aws '["aws_1", "aws_3"]'
        aggregator bad_only '["bad_*"]'
        aggregator nothing '["zzz_*"]'
    } >"$cfg/a_aggs.spc"
}
write_aggs '["aws_*", "legacy"]'
{
    member aws_2 3
    member aws_1 2
    member legacy 4
    printf 'connection "aws_host" {\n  plugin = "hostinfo"\n}\n' # another plugin: no member
} >"$cfg/m_members.spc"
# bad NAME: a synthetic connection whose config the plugin refuses: in error.
bad() { printf 'connection "%s" {\n  plugin = "synthetic"\n  tables = -1\n}\n' "$1"; }
{ bad bad_1; bad bad_2; } >"$cfg/b_bad.spc"

rows_of() { # the aggregator's rows per member: "aws_1:2 aws_2:2"
    sql "$db" "SELECT string_agg(_connection || ':' || n, ' ' ORDER BY _connection)
               FROM (SELECT _connection, count(*) AS n FROM $1.table_1 GROUP BY 1) r"
}
columns_of() { # a table's columns in order
    sql "$db" "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
               FROM information_schema.columns WHERE table_schema = '$1' AND table_name = '$2'"
}
marker_of() { sql "$db" "SELECT obj_description('$1'::regnamespace, 'pg_namespace')"; }
hash_of() { sql "$db" "SELECT schema_hash FROM connstate_internal.connection_state WHERE connection_name = '$1'"; }
# left_of DB NAME: a ready aggregator's detail (the members it left out) and its error (NULL)
left_of() { sql "$1" "SELECT coalesce(detail, '') || '|' || coalesce(error, 'NULL') FROM connstate_internal.connection_state WHERE connection_name = '$2'"; }
leftovers() { sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs$%'"; }

# ---- the first refresh ---------------------------------------------------------------------
sup_start main "$db" "$cfg"
check_eq "all_aws is ready, nothing left out (aws_host is another plugin's)" "ready||NULL" \
    "$(status_of "$db" all_aws)|$(left_of "$db" all_aws)"
check_eq "its view holds every member's rows, each named in _connection, members in name order" \
    "aws_1:2 aws_2:2 legacy:2" "$(rows_of all_aws)"
check_eq "its columns: _connection, then the union by name in order of first appearance" \
    "_connection,id,col_2,col_3,col_4" "$(columns_of all_aws table_1)"
check_eq "a column a member lacks is NULL in its rows" 2 \
    "$(sql "$db" "SELECT count(*) FROM all_aws.table_1 WHERE _connection = 'aws_1' AND col_3 IS NULL")"
check "its schema's marker says kind=aggregator and the row's fingerprint" grep -q \
    "fingerprint=$(sql "$db" "SELECT config_hash FROM connstate_internal.connection_state
                              WHERE connection_name = 'all_aws'");.*; kind=aggregator$" \
    <<<"$(marker_of all_aws)"
check_eq "its row says type aggregator and comments_set (its comments are its build's)" \
    "aggregator|t" "$(sql "$db" "SELECT type, comments_set FROM connstate_internal.connection_state
                                 WHERE connection_name = 'all_aws'")"
check_eq "some_aws (aws_1 and aws_3, which is not there yet) reads aws_1" "aws_1:2" \
    "$(rows_of some_aws)"
refused="plugin synthetic schema exited with status 1: synthetic: tables must be an integer from 0 to 10000"
check_eq "all members in error: bad_only is in error, naming them and why" \
    "error|all 2 members are in error: bad_1 (error: $refused), bad_2 (error: $refused)" \
    "$(status_of "$db" bad_only)|$(error_of "$db" bad_only)"
check_eq "no match: nothing is in error saying so" \
    "error|matches no connection of plugin synthetic" \
    "$(status_of "$db" nothing)|$(error_of "$db" nothing)"
check "connstate status shows all_aws like any other row" grep -Eq "^all_aws +ready" \
    <<<"$(connstate status --db "$db")"
check_eq "no state row says anything is not built" 0 \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE error LIKE '%not built%'")"

# ---- a member added after the aggregator ---------------------------------------------------
member aws_3 5 >"$cfg/n_new.spc"
check "a new file with aws_3: all_aws gets its rows (the file watch, no refresh asked)" \
    wait_sql 30 "$db" "SELECT count(*) FROM all_aws.table_1 WHERE _connection = 'aws_3'" 2
check_eq "... and its columns" "_connection,id,col_2,col_3,col_4,col_5" "$(columns_of all_aws table_1)"
check "some_aws, over an overlapping entry, reads aws_3 too" \
    wait_sql 30 "$db" "SELECT count(*) FROM some_aws.table_1 WHERE _connection = 'aws_3'" 2
check "... and both are ready" wait_sql 30 "$db" "SELECT string_agg(status, ' ' ORDER BY connection_name)
    FROM connstate_internal.connection_state WHERE connection_name IN ('all_aws', 'some_aws')" \
    "ready ready"

# ---- a member in error ---------------------------------------------------------------------
{ member aws_3 5; bad aws_bad; } >"$cfg/n_new.spc"
connstate refresh --control "$(control main)" >/dev/null
check_eq "a member in error: all_aws is ready without it, its detail naming it (error NULL)" \
    "ready|left out: aws_bad (error: $refused)|NULL" "$(status_of "$db" all_aws)|$(left_of "$db" all_aws)"
check_eq "... and its views read the others" "aws_1:2 aws_2:2 aws_3:2 legacy:2" "$(rows_of all_aws)"
connstate wait all_aws --db "$db" --timeout 30 >/dev/null 2>&1
check "... connstate wait all_aws exits 0: it is ready (a left-out member is not its error)" \
    test $? -eq 0

# ---- a member removed ----------------------------------------------------------------------
{ member aws_1 2; member legacy 4; printf 'connection "aws_host" {\n  plugin = "hostinfo"\n}\n'; } \
    >"$cfg/m_members.spc"
connstate refresh --control "$(control main)" >/dev/null
check_eq "a member removed: its rows are gone from all_aws" "aws_1:2 aws_3:2 legacy:2" \
    "$(rows_of all_aws)"
check_eq "... its schema is dropped" "" "$(schema_oid "$db" aws_2)"
check "... and no temporary schema is left" wait_sql 30 "$db" \
    "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\$%'" 0
check_eq "... and all_aws is ready" ready "$(status_of "$db" all_aws)"

# ---- a member rebuilt while a query on the aggregator runs ----------------------------------
# A user's transaction reads all_aws and stays open until the release file appears.
release=$T_DIR/release
(
    printf 'BEGIN;\nSELECT count(*) FROM all_aws.table_1;\n'
    wait_until 120 test -e "$release"
    printf 'SELECT count(*) FROM all_aws.table_1;\nCOMMIT;\n'
) | PGAPPNAME=agg_reader psql -X -q -A -t -v ON_ERROR_STOP=1 "$db" >"$T_DIR/reader.out" 2>&1 &
reader=$!
T_PIDS+=("$reader")
check "the user's transaction holds all_aws.table_1" wait_sql 30 "$db" \
    "SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
     WHERE c.relname = 'table_1' AND c.relnamespace = 'all_aws'::regnamespace AND l.granted
     AND l.pid <> pg_backend_pid()" t
oid_all=$(schema_oid "$db" all_aws)
sed -i 's/columns = 2/columns = 6/' "$cfg/m_members.spc" # aws_1: 6 columns
check "the member is rebuilt meanwhile: aws_1 ready with its 6 columns" wait_sql 30 "$db" \
    "SELECT (SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'aws_1')
            || ':' || (SELECT count(*) FROM information_schema.columns
                       WHERE table_schema = 'aws_1' AND table_name = 'table_1')" "ready:6"
check_eq "... the aggregator is not in error (it waits for the user's lock)" "" \
    "$(sql "$db" "SELECT status FROM connstate_internal.connection_state
                  WHERE connection_name IN ('all_aws', 'some_aws') AND status = 'error'")"
check "... it waits for the user's lock, updating, its detail naming the reader" wait_sql 30 "$db" \
    "SELECT status || ':' || (detail LIKE 'waiting for a lock on all_aws.table_1 held by pid % (application_name \"agg_reader\", %')
     FROM connstate_internal.connection_state WHERE connection_name = 'all_aws'" "updating:true"
check_eq "... and its views still read the old shape" "_connection,id,col_2,col_3,col_4,col_5" \
    "$(columns_of all_aws table_1)"
t0=$(date +%s%N)
touch "$release"
wait "$reader"
check "the user's query returned its rows both times, no error" test "$(cat "$T_DIR/reader.out")" = \
    "$(printf '6\n6')"
check "once the user's transaction ended, all_aws is ready with the new shape" wait_sql 60 "$db" \
    "SELECT (SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'all_aws')
            || ':' || (SELECT count(*) FROM information_schema.columns
                       WHERE table_schema = 'all_aws' AND table_name = 'table_1' AND column_name = 'col_6')" \
    "ready:1"
diag "all_aws ready $((($(date +%s%N) - t0) / 1000000)) ms after the user's commit"
check "... and some_aws too" wait_sql 60 "$db" \
    "SELECT (SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'some_aws')
            || ':' || (SELECT count(*) FROM information_schema.columns
                       WHERE table_schema = 'some_aws' AND table_name = 'table_1' AND column_name = 'col_6')" \
    "ready:1"
check_eq "... its rows read the new aws_1" 2 \
    "$(sql "$db" "SELECT count(col_6) FROM all_aws.table_1 WHERE _connection = 'aws_1'")"
check "... and no temporary schema is left" wait_sql 30 "$db" \
    "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\$%'" 0
[ "$oid_all" = "$(schema_oid "$db" all_aws)" ] && diag "(all_aws kept its schema OID)"

# ---- the order of connections and files changes nothing ------------------------------------
hash_1=$(hash_of all_aws)
fp_1=$(sql "$db" "SELECT config_hash FROM connstate_internal.connection_state WHERE connection_name = 'all_aws'")
# The members in other files, in the other order; the aggregator's entries reversed (a new
# fingerprint of its own config, so that it is built again).
rm "$cfg/m_members.spc" "$cfg/n_new.spc"
{
    bad aws_bad
    member legacy 4
    member aws_3 5
} >"$cfg/0_first.spc"
{ printf 'connection "aws_host" {\n  plugin = "hostinfo"\n}\n'; member aws_1 6; } >"$cfg/zz_last.spc"
write_aggs '["legacy", "aws_*"]'
connstate refresh --control "$(control main)" >/dev/null
check_eq "members moved between files and reordered: the same members, rows and views" \
    "aws_1:2 aws_3:2 legacy:2" "$(rows_of all_aws)"
check "... all_aws was built again (its own config changed: a new fingerprint)" test \
    "$(sql "$db" "SELECT config_hash FROM connstate_internal.connection_state
                  WHERE connection_name = 'all_aws'")" != "$fp_1"
check_eq "... to the same views: the same schema hash in its marker" "$hash_1" "$(hash_of all_aws)"
check "... which its marker says" grep -q "schema_hash=$hash_1; kind=aggregator$" <<<"$(marker_of all_aws)"

# ---- a restart with nothing changed ---------------------------------------------------------
oid_all=$(schema_oid "$db" all_aws)
error_all=$(left_of "$db" all_aws)
sup_stop "$SUP_PID"
check "the supervisor exits 0" test $? -eq 0
sup_start again "$db" "$cfg"
check "restart with nothing changed: no build, no DDL" grep -Eq \
    "^sup\\[$SUP_PID\\] info: refresh 1 done .*since start: 0 builds, 0 DDL statements" \
    "$T_DIR/again.log"
check_eq "... all_aws ready as it was (same schema, same left-out member)" \
    "ready|$oid_all|$error_all" "$(status_of "$db" all_aws)|$(schema_oid "$db" all_aws)|$(left_of "$db" all_aws)"
check_eq "... some_aws ready, bad_only and nothing in error" "ready error error" \
    "$(sql "$db" "SELECT string_agg(status, ' ' ORDER BY connection_name DESC)
                  FROM connstate_internal.connection_state
                  WHERE connection_name IN ('some_aws', 'nothing', 'bad_only')")"

# ---- a member's file that fails to load ------------------------------------------------------
cp "$cfg/zz_last.spc" "$T_DIR/zz_last.spc"
oid_1=$(schema_oid "$db" aws_1)
printf 'connection "aws_1" {\n  plugin = "synth' >"$cfg/zz_last.spc" # cut in the middle
connstate refresh --control "$(control again)" >/dev/null
check_eq "a member's file cut in the middle: aws_1 in error, its schema kept" "error|$oid_1" \
    "$(status_of "$db" aws_1)|$(schema_oid "$db" aws_1)"
check_eq "... all_aws as it was: ready, the same schema, still reading aws_1" \
    "ready|$oid_all|aws_1:2 aws_3:2 legacy:2" \
    "$(status_of "$db" all_aws)|$(schema_oid "$db" all_aws)|$(rows_of all_aws)"
cp "$T_DIR/zz_last.spc" "$cfg/zz_last.spc"
connstate refresh --control "$(control again)" >/dev/null
check_eq "... and the file fixed: aws_1 ready again, all_aws unchanged" "ready|ready|$oid_all" \
    "$(status_of "$db" aws_1)|$(status_of "$db" all_aws)|$(schema_oid "$db" all_aws)"

# ---- a member that becomes an aggregator ----------------------------------------------------
{ bad aws_bad; aggregator legacy '["aws_1"]'; member aws_3 5; } >"$cfg/0_first.spc"
connstate refresh --control "$(control again)" >/dev/null
check_eq "a member that becomes an aggregator: all_aws reads the others, legacy reads aws_1" \
    "aws_1:2 aws_3:2|aws_1:2" "$(rows_of all_aws)|$(rows_of legacy)"
check_eq "... both ready, legacy's aggregate never failed (it waited for all_aws's)" "ready ready|0" \
    "$(sql "$db" "SELECT string_agg(status, ' ') FROM connstate_internal.connection_state
                  WHERE connection_name IN ('all_aws', 'legacy')")|$(grep -c '\[legacy\] aggregate failed' "$T_DIR/again.log")"

# ---- an aggregator that becomes a plugin connection, then leaves the config ------------------
write_aggs '["legacy", "aws_*"]'
sed -i '/"some_aws"/,/^}/d' "$cfg/a_aggs.spc"
member some_aws 2 >>"$cfg/a_aggs.spc"
connstate refresh --control "$(control again)" >/dev/null
check_eq "an aggregator that becomes a plugin connection is built as one (its views replaced)" \
    "ready|2|" "$(status_of "$db" some_aws)|$(sql "$db" "SELECT count(*) FROM some_aws.table_1")|$(
        columns_of some_aws table_1 | grep -o _connection)"
check "... its marker no longer says kind=aggregator" test -n "$(marker_of some_aws)" -a \
    "$(marker_of some_aws | grep -c 'kind=aggregator')" = 0
sed -i '/"some_aws"/,/^}/d' "$cfg/a_aggs.spc"
connstate refresh --control "$(control again)" >/dev/null
check_eq "an aggregator removed: its schema and row are gone" "|" \
    "$(schema_oid "$db" some_aws)|$(status_of "$db" some_aws)"
check_eq "... its members are untouched" "ready ready" \
    "$(sql "$db" "SELECT string_agg(status, ' ') FROM connstate_internal.connection_state
                  WHERE connection_name IN ('aws_1', 'aws_3')")"

sup_stop "$SUP_PID"
check "the supervisor exits 0" test $? -eq 0
done_testing
