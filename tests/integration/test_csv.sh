# The csv plugin through a real supervisor and workers: one table per file with the columns of
# its header (quoted fields, embedded newlines, a BOM, CRLF, a header-only file, 1,000 files
# in one folder), files that are not tables listed in _csv_skipped, the same rows read by
# file_fdw directly and through `rows`, rows that change costing no DDL, and files added,
# removed or given another header picked up by `connstate refresh`.
. "$(dirname "$0")/../lib.sh"

db=$(new_db csv)
cfg=$T_DIR/config
data=$T_DIR/data
many=$T_DIR/many
mkdir -p "$cfg" "$data/a" "$data/b" "$many" "$T_DIR/other"

printf 'id,name,note\n1,alice,"hello, world"\n2,bob,"say ""hi"""\n3,,""\n' >"$data/quoted.csv"
printf 'id,text\n1,"first\nsecond"\n2,"a\r\nb"\n' >"$data/multiline.csv"
printf '\xef\xbb\xbfcode,label\n10,ten\n20,twenty\n' >"$data/bom.csv"
printf 'k,v\r\nx,1\r\ny,2\r\n' >"$data/crlf.csv"
printf 'only,a,header\n' >"$data/Header-Only.csv"
: >"$data/empty.csv"
printf 'a\0b\n' >"$data/binary.csv"
printf 'dup,dup,,Dup\nq,r,s,t\n' >"$data/dups.csv"
printf 'n\n1\n' >"$data/a/sales.csv"
printf 'n\n2\n' >"$data/b/sales.csv"
mkdir "$data/dir.csv" # a directory a glob matches: no table, no complaint
printf '# exported by hand\n1;2\n# a note\n3;"4;5"\n' >"$T_DIR/other/notes.txt"
for i in $(seq -w 1 1000); do printf 'id,value\n%s,v%s\n' "$i" "$i" >"$many/f$i.csv"; done

paths="[\"$data/*.csv\", \"$data/a/*.csv\", \"$data/b/*.csv\"]"
cat >"$cfg/csv.spc" <<EOF
connection "files" {
  plugin = "csv"
  paths  = $paths
}
connection "files_rows" {
  plugin = "csv"
  paths  = $paths
  direct = false
}
connection "many" {
  plugin = "csv"
  paths  = ["$many/*.csv"]
}
connection "headers_on" {
  plugin = "csv"
  paths  = ["$data/dups.csv"]
  header = "on"
}
connection "commented" {
  plugin    = "csv"
  paths     = ["$T_DIR/other/notes.txt"]
  separator = ";"
  comment   = "#"
  header    = "off"
}
connection "bad_sep" {
  plugin    = "csv"
  paths     = ["$data/*.csv"]
  separator = ";;"
}
EOF
refresh() { connstate refresh --control "$(control main)" --timeout 120 >/dev/null; }
tables_of() { sql "$db" "SELECT string_agg(foreign_table_name, ' ' ORDER BY foreign_table_name) FROM information_schema.foreign_tables WHERE foreign_table_schema = '$1'"; }
columns_of() { sql "$db" "SELECT string_agg(column_name || ':' || data_type, ' ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = '$1' AND table_name = '$2'"; }
# rows_of SCHEMA TABLE: every row, each field quoted, NULL as <null> (so '' and NULL differ).
rows_of() { sql "$db" "SELECT string_agg(r, '|' ORDER BY r) FROM (SELECT concat_ws(',', VARIADIC (SELECT array_agg(coalesce(quote_literal(v), '<null>')) FROM json_each_text(row_to_json(t)) AS j(k, v))) AS r FROM $1.$2 AS t) AS s"; }
options_of() { sql "$db" "SELECT array_to_string(ftoptions, ' ') FROM pg_foreign_table WHERE ftrelid = '$1.$2'::regclass"; }
hash_of() { sql "$db" "SELECT schema_hash FROM connstate_internal.connection_state WHERE connection_name = '$1'"; }
ddl_count() { grep -o 'since start: [0-9]* builds, [0-9]* DDL' "$T_DIR/main.log" | tail -1 | grep -o '[0-9]* DDL' | cut -d' ' -f1; }
build_count() { grep -o 'since start: [0-9]* builds' "$T_DIR/main.log" | tail -1 | grep -o '[0-9]* builds' | cut -d' ' -f1; }

sup_start main "$db" "$cfg"
check_eq "csv connections are ready" "ready|ready|ready|ready|ready" \
    "$(status_of "$db" files)|$(status_of "$db" files_rows)|$(status_of "$db" many)|$(status_of "$db" headers_on)|$(status_of "$db" commented)"
check_eq "one table per file with a usable header, names sanitised, collisions _2" \
    "_csv_skipped bom crlf dups header_only multiline quoted sales sales_2" "$(tables_of files)"
check_eq "... the same without direct reading" "$(tables_of files)" "$(tables_of files_rows)"
check_eq "columns come from the header, all text" "id:text name:text note:text" \
    "$(columns_of files quoted)"
check_eq "a BOM is not part of the first column's name" "code:text label:text" \
    "$(columns_of files bom)"
check_eq "header auto: a first line with repeated or empty names is data (columns a, b, ...)" \
    "a:text b:text c:text d:text|'dup','dup','','Dup'|'q','r','s','t'" \
    "$(columns_of files dups)|$(rows_of files dups)"
check_eq "header on: repeated and empty header names are made unique" \
    "dup:text dup_2:text column_3:text Dup:text|'q','r','s','t'" \
    "$(columns_of headers_on dups)|$(rows_of headers_on dups)"
check_eq "comment and separator: comment lines skipped, no header (through rows)" \
    "a:text b:text|'1','2'|'3','4;5'" "$(columns_of commented notes)|$(rows_of commented notes)"
check "... a comment character means no direct reading (file_fdw cannot skip comments)" grep -q \
    "^format=csv program=" <<<"$(options_of commented notes)"
check "a renamed table's description names the collision" grep -q \
    "named sales_2: sales is taken by $data/a/sales.csv" \
    <<<"$(sql "$db" "SELECT obj_description('files.sales_2'::regclass, 'pg_class')")"
check "a file read directly is a file_fdw table with filename (no program)" grep -q \
    "^filename=$data/quoted.csv format=csv header=true delimiter=,$" <<<"$(options_of files quoted)"
check "... every column force_not_null (an empty field is '', as through rows)" test \
    "$(sql "$db" "SELECT count(*) FROM pg_attribute WHERE attrelid = 'files.quoted'::regclass AND attnum > 0 AND attfdwoptions = '{force_not_null=true}'")" = 3
check "with direct = false, the table runs the plugin's rows" grep -q "^format=csv program=.*/csv' rows 'quoted'" \
    <<<"$(options_of files_rows quoted)"

check_eq "quoted fields: commas, doubled quotes, empty fields as '' (direct)" \
    "'1','alice','hello, world'|'2','bob','say \"hi\"'|'3','',''" "$(rows_of files quoted)"
for t in quoted multiline bom crlf dups header_only sales sales_2; do
    check_eq "$t: the same rows direct and through rows" "$(rows_of files "$t")" "$(rows_of files_rows "$t")"
done
check_eq "embedded newlines (LF and CRLF) stay in the field" "'1','first
second'|'2','a"$'\r'"
b'" "$(rows_of files multiline)"
check_eq "a BOM file's rows" "'10','ten'|'20','twenty'" "$(rows_of files bom)"
check_eq "CRLF line ends are not part of the last field" "'x','1'|'y','2'" "$(rows_of files_rows crlf)"
check_eq "a header-only file is a table without rows" "0|only:text a:text header:text" \
    "$(sql "$db" "SELECT count(*) FROM files.header_only")|$(columns_of files header_only)"
check_eq "files that are not tables are listed in _csv_skipped, with why" \
    "$data/binary.csv: not text: a NUL byte in its first record|$data/empty.csv: empty file" \
    "$(sql "$db" "SELECT string_agg(path || ': ' || reason, '|' ORDER BY path) FROM files._csv_skipped")"
check "... and named in its description (the table's comment), with why" wait_sql 20 "$db" \
    "SELECT obj_description('files._csv_skipped'::regclass, 'pg_class') LIKE '%Skipped when the schema was read: $data/binary.csv (not text: a NUL byte in its first record); $data/empty.csv (empty file)'" t
check "... and a bad config is the connection's error, naming the key" grep -q \
    'csv: "separator" must be one ASCII character' <<<"$(error_of "$db" bad_sep)"

check_eq "1,000 files in one folder: 1,000 tables (and _csv_skipped)" 1001 \
    "$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'many'")"
check_eq "... each queryable" "'0537','v0537'" "$(rows_of many f0537)"

check "the plugin's schema lists the config's paths to watch" grep -qF \
    "\"watch\":[\"$data/*.csv\",\"$data/a/*.csv\",\"$data/b/*.csv\"]" \
    <<<"$("$(plugin_dir)/csv" schema <<<"{\"paths\": $paths}" 2>/dev/null)"

check "a path the supervisor cannot watch (it ends in /) is read, only not in the watch list" grep -qF \
    '"watch":[]' <<<"$("$(plugin_dir)/csv" schema <<<"{\"paths\": [\"$data/\"]}" 2>/dev/null)"

# ---- rows change: no DDL --------------------------------------------------------------------
hash=$(hash_of files)
hash_rows=$(hash_of files_rows)
ddl=$(ddl_count)
builds=$(build_count)
printf '4,dave,appended\n' >>"$data/quoted.csv"
refresh
# (a ready row's schema is fetched again without a build of its row; the one in error is built)
fetched=$(sed -n -E 's/.*refresh 2: ([0-9]+) connections configured; ([0-9]+) to build, .* ([0-9]+) dynamic schemas to fetch again.*/\1 \2 \3/p' "$T_DIR/main.log")
check_eq "rows appended: the refresh fetches every dynamic schema again (a fetch or build for each)" \
    "6 1 5" "$fetched"
check_eq "... which found nothing to change: no build ran DDL" "$builds" "$(build_count)"
check_eq "rows appended: refreshed, the schema hashes are the same" "$hash|$hash_rows" \
    "$(hash_of files)|$(hash_of files_rows)"
check_eq "... and no DDL was run" "$ddl" "$(ddl_count)"
check_eq "... the new row is read, direct and through rows" "4|4" \
    "$(sql "$db" "SELECT count(*) FROM files.quoted")|$(sql "$db" "SELECT count(*) FROM files_rows.quoted")"

# ---- files added, given another header, removed ------------------------------------------
printf 'city,population\nLyon,522250\n' >"$data/new file.csv"
printf 'code,label,extra\n10,ten,x\n' >"$data/bom.csv"
rm "$data/crlf.csv"
mv "$data/multiline.csv" "$data/Renamed.csv"
refresh
check_eq "a file added: its table is queryable after a refresh" "'Lyon','522250'" \
    "$(rows_of files new_file)"
check_eq "a header changed: the table has the new columns" "code:text label:text extra:text" \
    "$(columns_of files bom)"
check_eq "a file removed: its table is gone" "" \
    "$(sql "$db" "SELECT 1 FROM information_schema.foreign_tables WHERE foreign_table_schema = 'files' AND foreign_table_name = 'crlf'")"
check_eq "a file renamed: its table has the new name, the old one is gone" \
    "_csv_skipped bom dups header_only new_file quoted renamed sales sales_2" "$(tables_of files)"
check_eq "... the same through rows" "'Lyon','522250'|code:text label:text extra:text" \
    "$(rows_of files_rows new_file)|$(columns_of files_rows bom)"
check "the schema hash changed" test "$(hash_of files)" != "$hash"

done_testing
