# Dynamic schemas end to end: fetched again when a watched file changes (inotify, no refresh
# asked for), when `connstate refresh` names them or asks for all, once after a restart; and
# not otherwise (a config edit of another file, the plans of a running refresh). A refetch
# that finds the same schema costs no DDL and no row change.
. "$(dirname "$0")/../lib.sh"

db=$(new_db schema_watch)
cfg=$T_DIR/config
mkdir -p "$cfg"
runs=$T_DIR/schema-runs # one line per schema run of the folder plugin: its directory

# A dynamic plugin: one table per *.csv file of the config's "dir", its columns the file's
# first line; its schema lists "DIR/*.csv" to watch, and each run appends DIR to $runs.
plugins=$(plugin_dir)
cat >"$plugins/folder" <<'PLUGIN'
#!/bin/sh
case "$1" in
    info) echo '{"name":"folder","version":"1.0.0","schema_mode":"dynamic"}' ;;
    schema)
        dir=$(sed -n 's/.*"dir":"\([^"]*\)".*/\1/p')
        echo "$dir" >>"$CONNSTATE_TEST_RUNS"
        printf '{"watch":["%s/*.csv"],"tables":[' "$dir"
        sep=
        for f in "$dir"/*.csv; do
            [ -e "$f" ] || continue
            name=$(basename "$f" .csv)
            cols=$(head -n 1 "$f" | sed 's/[^a-z0-9_,]//g; s/\([a-z0-9_]*\)/{"name":"\1","type":"text"}/g')
            printf '%s{"name":"%s","columns":[%s]}' "$sep" "$name" "$cols"
            sep=,
        done
        echo ']}' ;;
    rows) exit 0 ;;
    *) exit 2 ;;
esac
PLUGIN
chmod 755 "$plugins/folder"
export CONNSTATE_TEST_RUNS=$runs
: >"$runs"
# runs_of DIR: how many schema runs that connection's folder had so far.
runs_of() { grep -cx "$1" "$runs"; }
tables_of() {
    sql "$db" "SELECT string_agg(foreign_table_name, ',' ORDER BY foreign_table_name) FROM information_schema.foreign_tables WHERE foreign_table_schema = '$1'"
}
time_of() { sql "$db" "SELECT time_changed FROM connstate_internal.connection_state WHERE connection_name = '$1'"; }
row_of() { sql "$db" "SELECT status, time_changed, schema_hash, comments_set, seq FROM connstate_internal.connection_state WHERE connection_name = '$1'"; }

for d in one two; do
    mkdir -p "$T_DIR/data/$d"
    printf 'a,b\n1,2\n' >"$T_DIR/data/$d/first.csv"
    printf 'connection "%s" {\n  plugin = "folder"\n  dir = "%s"\n}\n' "$d" "$T_DIR/data/$d" >"$cfg/$d.spc"
done
synthetic_conns "$cfg/synthetic.spc" 1 3
# One worker: a build's comments then always use the schema the build fetched (another
# worker would run the plugin once more for them), so the runs below are exact.
sup_start main "$db" "$cfg" --workers 1
check_eq "both dynamic connections are ready with their one table" "ready first|ready first" \
    "$(status_of "$db" one) $(tables_of one)|$(status_of "$db" two) $(tables_of two)"
check "their comments are set" wait_sql 10 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE comments_set" 5
check_eq "the first refresh fetched each dynamic schema once (its comments too)" "1 1" \
    "$(runs_of "$T_DIR/data/one") $(runs_of "$T_DIR/data/two")"

# ---- a file added to a watched folder: its table appears, no refresh asked for -----------
printf 'x,y,z\n' >"$T_DIR/data/one/second.csv"
check "a new file's table appears without a refresh" wait_sql 10 "$db" \
    "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'one' AND foreign_table_name = 'second'" 1
check "its columns are the file's header" test "$(sql "$db" \
    "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'one' AND table_name = 'second'")" = "x,y,z"
check "the log says a watched file changed" grep -q "\[one\] a watched file changed" "$T_DIR/main.log"
check_eq "the other dynamic connection was not fetched again" 1 "$(runs_of "$T_DIR/data/two")"
check "the row is ready with the new schema's comments" wait_sql 10 "$db" \
    "SELECT status || ' ' || comments_set FROM connstate_internal.connection_state WHERE connection_name = 'one'" "ready true"

# ---- a change that keeps the schema: no DDL, no row change -------------------------------
# ddl_stats: the statements counted since the start, as the last completed refresh logs them
ddl_stats() { grep -o 'since start: [0-9]* builds, [0-9]* DDL statements, [0-9]* comment statements' "$T_DIR/main.log" | tail -1; }
done_lines() { grep -c "info: refresh [0-9]* done" "$T_DIR/main.log"; }
before_row=$(row_of one)
before_oid=$(sql "$db" "SELECT 'one.first'::regclass::oid")
before_runs=$(runs_of "$T_DIR/data/one")
before_ddl=$(ddl_stats)
before_done=$(done_lines)
printf '3,4\n5,6\n' >>"$T_DIR/data/one/first.csv" # rows change, the header does not
check "a changed file makes its connection fetch its schema again" \
    wait_until 10 bash -c "[ \$(grep -cx '$T_DIR/data/one' '$runs') -gt $before_runs ]"
check "... and that refresh completes" wait_until 10 bash -c "[ \$(grep -c 'info: refresh [0-9]* done' '$T_DIR/main.log') -gt $before_done ]"
check_eq "a file changed without changing the schema: the row is unchanged (status, time, hash, comments, seq)" \
    "$before_row" "$(row_of one)"
check_eq "... its tables were not rebuilt (same OID)" "$before_oid" \
    "$(sql "$db" "SELECT 'one.first'::regclass::oid")"
check_eq "... and no statement ran (neither DDL nor comments)" "$before_ddl" "$(ddl_stats)"

# ---- a burst of writes costs one fetch (debounced), not one per write ------------------------
before_runs=$(runs_of "$T_DIR/data/one")
before_done=$(done_lines)
for i in $(seq 50); do printf '%s,%s\n' "$i" "$i" >>"$T_DIR/data/one/first.csv"; done
check "a burst of 50 writes makes it fetch again" \
    wait_until 10 bash -c "[ \$(grep -c 'info: refresh [0-9]* done' '$T_DIR/main.log') -gt $before_done ]"
burst=$(($(runs_of "$T_DIR/data/one") - before_runs))
check "... once (twice at most, should the burst outlast 2 s): $burst" test "$burst" -ge 1 -a "$burst" -le 2

# ---- a file removed: its table goes ------------------------------------------------------
rm "$T_DIR/data/one/second.csv"
check "a removed file's table is dropped" wait_sql 10 "$db" \
    "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'one' AND foreign_table_name = 'second'" 0
check_eq "the connection is ready" ready "$(status_of "$db" one)"

# ---- connstate refresh NAME: only that connection ----------------------------------------
wait_sql 10 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready' AND comments_set" 5 >/dev/null
t_two=$(time_of two)
t_syn=$(sql "$db" "SELECT string_agg(time_changed::text, ',' ORDER BY connection_name) FROM connstate_internal.connection_state WHERE connection_name LIKE 'syn%'")
runs_one=$(runs_of "$T_DIR/data/one")
runs_two=$(runs_of "$T_DIR/data/two")
out=$(connstate refresh --control "$(control main)" one)
check "connstate refresh NAME exits 0" test $? -eq 0
check "it says the counts of those named" grep -Eq "^refresh [0-9]+ done in [0-9.]+ s: of those named, 1 connection: 1 ready$" <<<"$out"
check_eq "the named dynamic connection was fetched again" $((runs_one + 1)) "$(runs_of "$T_DIR/data/one")"
check_eq "the dynamic connection not named was not" "$runs_two" "$(runs_of "$T_DIR/data/two")"
check_eq "the other rows' time_changed is unchanged" "$t_two|$t_syn" \
    "$(time_of two)|$(sql "$db" "SELECT string_agg(time_changed::text, ',' ORDER BY connection_name) FROM connstate_internal.connection_state WHERE connection_name LIKE 'syn%'")"
out=$(connstate refresh --control "$(control main)" one nosuch 2>&1)
check "an unknown name: exit status 1" test $? -eq 1
check "... and the error names it" grep -q 'no connection named "nosuch"' <<<"$out"
check_eq "... and nothing was refreshed" $((runs_one + 1)) "$(runs_of "$T_DIR/data/one")"
connstate refresh --control "$(control main)" "$(printf 'x%.0s' $(seq 64))" >/dev/null 2>&1
check_eq "a name over 63 bytes is a usage error" 2 $?

# ---- a plain connstate refresh fetches every dynamic schema again --------------------------
runs_one=$(runs_of "$T_DIR/data/one")
connstate refresh --control "$(control main)" >/dev/null
check_eq "a plain refresh fetched both dynamic schemas again" "$((runs_one + 1)) $((runs_two + 1))" \
    "$(runs_of "$T_DIR/data/one") $(runs_of "$T_DIR/data/two")"
check_eq "... and all 5 rows are ready" 5 "$(count_status "$db" ready)"

# ---- a .spc edit of one file fetches no other connection's dynamic schema ----------------
runs_one=$(runs_of "$T_DIR/data/one")
runs_two=$(runs_of "$T_DIR/data/two")
synthetic_conns "$cfg/synthetic.spc" 1 4
check "the edited file's new connection is built" wait_sql 10 "$db" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'syn_4'" ready
connstate refresh --control "$(control main)" syn_4 >/dev/null
check_eq "no dynamic schema was fetched again for it" "$runs_one $runs_two" \
    "$(runs_of "$T_DIR/data/one") $(runs_of "$T_DIR/data/two")"

# ---- after a restart each dynamic connection is fetched once -----------------------------
check "the supervisor stops" sup_stop "$SUP_PID"
: >"$runs"
sup_start main "$db" "$cfg" --workers 1
check "after the restart every connection is ready" wait_sql 20 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 6
check_eq "each dynamic connection was fetched once after the restart" "1 1" \
    "$(runs_of "$T_DIR/data/one") $(runs_of "$T_DIR/data/two")"
printf 'k\n' >"$T_DIR/data/two/third.csv"
check "the watches work after the restart too" wait_sql 10 "$db" \
    "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'two' AND foreign_table_name = 'third'" 1
check_eq "... without fetching the other one again" 1 "$(runs_of "$T_DIR/data/one")"

# ---- a folder that does not exist yet is watched through its parent ---------------------
printf 'connection "later" {\n  plugin = "folder"\n  dir = "%s"\n}\n' "$T_DIR/data/later/sub" >"$cfg/later.spc"
check "a connection whose folder is missing is ready with no table" wait_sql 10 "$db" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'later'" ready
mkdir -p "$T_DIR/data/later/sub"
printf 'q\n' >"$T_DIR/data/later/sub/late.csv"
check "once the folder appears, its file's table appears" wait_sql 10 "$db" \
    "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'later'" 1

check "the supervisor exits 0 on SIGTERM" sup_stop "$SUP_PID"
done_testing
