# Aggregators over dynamic members: csv connections whose files have different headers. The
# aggregator's views hold the union of their columns (NULL where a member lacks one), follow
# the members when a watched file changes (no refresh asked for), and a named refresh of a
# member refreshes its aggregators too, touching no other row.
. "$(dirname "$0")/../lib.sh"

db=$(new_db aggregators_csv)
cfg=$T_DIR/config
data=$T_DIR/data
mkdir -p "$cfg" "$data/a" "$data/b"
printf 'id,amount\n1,10\n2,20\n' >"$data/a/sales.csv"
printf 'id,region\n3,north\n' >"$data/b/sales.csv"
printf 'sku\nx1\n' >"$data/b/stock.csv"
cat >"$cfg/csv.spc" <<SPC
connection "all_csv" {
  type        = "aggregator"
  plugin      = "csv"
  connections = ["csv_*"]
}
connection "csv_b" {
  plugin = "csv"
  paths  = ["$data/b/*.csv"]
}
connection "csv_a" {
  plugin = "csv"
  paths  = ["$data/a/*.csv"]
}
SPC
synthetic_conns "$cfg/other.spc" 1 1
printf 'connection "broken" {\n  plugin = "synthetic"\n  tables = -1\n}\n' >"$cfg/broken.spc"

columns_of() { # the view's columns in order
    sql "$db" "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '$1'::regclass AND attnum > 0"
}
rows_of() { # _connection:id:rest of one view's rows, in order
    sql "$db" "SELECT string_agg(concat_ws(':', $2), ' ' ORDER BY $3) FROM $1"
}
time_of() { sql "$db" "SELECT time_changed FROM connstate_internal.connection_state WHERE connection_name = '$1'"; }
hash_of() { sql "$db" "SELECT schema_hash FROM connstate_internal.connection_state WHERE connection_name = '$1'"; }

sup_start main "$db" "$cfg"
check_eq "the csv members and their aggregator are ready" "ready|ready|ready" \
    "$(status_of "$db" csv_a)|$(status_of "$db" csv_b)|$(status_of "$db" all_csv)"
check_eq "a table both members have: the union of their columns, in order of first appearance" \
    "_connection,id,amount,region" "$(columns_of all_csv.sales)"
check_eq "... NULL where a member lacks a column" \
    "csv_a:1:10 csv_a:2:20 csv_b:3:north" \
    "$(rows_of all_csv.sales "_connection, id, amount, region" "_connection, id")"
check_eq "a table one member has is in the aggregator too" "csv_b:x1" \
    "$(rows_of all_csv.stock "_connection, sku" "sku")"

# ---- a member's header changes: the watch rebuilds it, then the aggregator -------------------
printf 'id,amount,region\n1,10,south\n2,20,east\n' >"$data/a/sales.csv.new"
mv "$data/a/sales.csv.new" "$data/a/sales.csv"
check "a member's new header reaches the aggregator without any refresh asked for" \
    wait_sql 30 "$db" "SELECT string_agg(coalesce(region, '-'), ' ' ORDER BY id) FROM all_csv.sales" \
    "south east north"
check_eq "... the same columns, now from both members" "_connection,id,amount,region" \
    "$(columns_of all_csv.sales)"
check "... and the aggregator is ready again" wait_sql 30 "$db" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'all_csv'" ready
check_eq "... no previous schema is left behind" "0" \
    "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\$%'")"

# ---- never ready over a member's previous schema --------------------------------------------
# Once the table shows a member's new schema (its schema_hash moved), its aggregator is not
# `ready` without that schema's columns: sampled in one statement until the aggregator has
# the new column. (While the member's refetch runs, its row and the aggregator's views both
# still show the previous schema, which is usable: the worker swaps it atomically.)
old_hash=$(hash_of csv_a)
printf 'id,amount,region,price\n1,10,south,5\n2,20,east,6\n' >"$data/a/sales.csv.new"
mv "$data/a/sales.csv.new" "$data/a/sales.csv"
sample="SELECT (SELECT (schema_hash <> '$old_hash')::int FROM connstate_internal.connection_state WHERE connection_name = 'csv_a')
         || ':' || (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('all_csv.sales') AND attname = 'price')
         || ':' || (SELECT string_agg(status, ',' ORDER BY connection_name) FROM connstate_internal.connection_state WHERE connection_name IN ('all_csv', 'csv_a'))"
stale=0 deadline=$(($(date +%s) + 30))
while :; do
    got=$(sql "$db" "$sample")
    [ "$got" = "1:0:ready,ready" ] && stale=$((stale + 1))
    [ "$got" = "1:1:ready,ready" ] || [ "$(date +%s)" -ge "$deadline" ] && break
done
check_eq "a member's new column reaches its aggregator" "1:1:ready,ready" "$got"
check_eq "... and no sample found the member's new schema in the table with the aggregator ready without it" \
    "0" "$stale"

# ---- a file added to a member's folder: a new view -----------------------------------------
printf 'id,note\n9,new\n' >"$data/a/notes.csv"
check "a file added to a member's folder becomes a view of the aggregator" \
    wait_sql 30 "$db" "SELECT count(*) FROM pg_views WHERE schemaname = 'all_csv' AND viewname = 'notes'" 1
check "... which reads it" wait_sql 30 "$db" \
    "SELECT string_agg(_connection || ':' || note, ' ') FROM all_csv.notes" "csv_a:new"

# ---- a named refresh of a member: it and its aggregator, nothing else ------------------------
wait_sql 30 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 4 >/dev/null
check_eq "a connection in error beside them" "error" "$(status_of "$db" broken)"
other_before=$(time_of syn_1)
a_before=$(time_of csv_a)
broken_before=$(time_of broken)
out=$(connstate refresh csv_b --control "$(control main)" --timeout 60 2>&1)
check "connstate refresh csv_b succeeds" test $? -eq 0
check_eq "... it touched no other row (syn_1, csv_a, broken in error: time_changed unchanged)" \
    "$other_before|$a_before|$broken_before" "$(time_of syn_1)|$(time_of csv_a)|$(time_of broken)"
check_eq "... and the aggregator is ready" "ready" "$(status_of "$db" all_csv)"
check "... whose answer counts csv_b and its aggregator (2 named rows)" grep -q "2 ready" <<<"$out"

# ---- a member's schema dropped by hand (CASCADE drops the aggregator's views of it) --------
sql "$db" "DROP SCHEMA csv_a CASCADE" >/dev/null 2>&1
connstate refresh --control "$(control main)" --timeout 60 >/dev/null
check_eq "a member's schema dropped by hand with CASCADE: rebuilt, and the aggregator's views too" \
    "ready|ready|csv_a,csv_b" \
    "$(status_of "$db" csv_a)|$(status_of "$db" all_csv)|$(sql "$db" "SELECT string_agg(DISTINCT _connection, ',' ORDER BY _connection) FROM all_csv.sales" 2>&1)"

# ---- a member removed from the config -----------------------------------------------------
a_hash=$(hash_of all_csv)
sed -i '/^connection "csv_b"/,/^}/d' "$cfg/csv.spc"
check "a member removed from the config leaves the aggregator's views" \
    wait_sql 30 "$db" "SELECT count(*) FROM pg_views WHERE schemaname = 'all_csv' AND viewname = 'stock'" 0
check "... which read the other member only" wait_sql 30 "$db" \
    "SELECT string_agg(DISTINCT _connection, ',') FROM all_csv.sales" "csv_a"
check "... its schema gone, the aggregator ready" wait_sql 30 "$db" \
    "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'csv_b') || ' ' || (SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'all_csv')" "0 ready"
check "... with a new schema hash" test "$(hash_of all_csv)" != "$a_hash"

# ---- a restart with nothing changed -------------------------------------------------------
sup_stop "$SUP_PID"
sup_start again "$db" "$cfg"
check "restart with nothing changed: no DDL" grep -Eq \
    "^sup\\[$SUP_PID\\] info: refresh 1 done .*since start: [0-9]+ builds, 0 DDL statements" \
    "$T_DIR/again.log"
check_eq "... the aggregator ready with its views" "ready|csv_a" \
    "$(status_of "$db" all_csv)|$(sql "$db" "SELECT string_agg(DISTINCT _connection, ',') FROM all_csv.sales")"
check "the supervisor exits 0" sup_stop "$SUP_PID"
done_testing
