# connstate plan: what a refresh would do now, per connection and why, computed from the config
# and the database without changing either (exit 0 nothing would change, 1 something would,
# 2 an error), also beside a running supervisor.
. "$(dirname "$0")/../lib.sh"

db=$(new_db plan)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 3
synthetic_conns "$cfg/k.spc" 1 1 2 kept_
plan() { connstate plan --db "$db" --config-dir "$cfg" --plugin-dir "$(plugin_dir)" "$@"; }
line_of() { grep -E "^$1 " <<<"$2" | sed -E 's/^[^ ]+ +//'; }

# ---- before any supervisor ran: every connection is new ---------------------------------------
out=$(plan)
check_eq "before anything was built, plan exits 1 (a refresh would change something)" 1 $?
check_eq "each connection: build (new)" "build (new)" "$(line_of syn_2 "$out")"
check "the summary counts them" grep -q "^4 connections: 4 build; a refresh would change something$" <<<"$out"

# ---- everything ready: nothing would change ---------------------------------------------------
sup_start main "$db" "$cfg"
wait_sql 30 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready' AND comments_set" 4
out=$(plan)
check_eq "with everything ready, plan exits 0" 0 $?
check "... saying nothing would change" grep -q "nothing would change$" <<<"$out"
check_eq "... each connection ready" ready "$(line_of syn_1 "$out")"
sup_stop "$SUP_PID"

# ---- what each kind of change would do -----------------------------------------------------------
synthetic_conns "$cfg/a.spc" 1 2          # syn_3 leaves the config
sed -i '/"syn_2"/,/}/ s/tables = 2/tables = 3/' "$cfg/a.spc"   # syn_2's config changes
sql "$db" "DROP SCHEMA syn_1 CASCADE" >/dev/null                # syn_1's schema is gone
printf 'connection "kept_1" {\n  plugin = "synthetic"\n  tables = \n}\n' >"$cfg/k.spc"  # its file breaks
printf 'connection "squatter" {\n  plugin = "synthetic"\n}\n' >"$cfg/s.spc"
sql "$db" "CREATE SCHEMA squatter" >/dev/null                   # a schema connstate did not make
state_of_db() {
    sql "$db" "SELECT md5(string_agg(t::text, '|' ORDER BY connection_name)) FROM connstate_internal.connection_state t"
    sql "$db" "SELECT string_agg(nspname || ':' || coalesce(obj_description(oid, 'pg_namespace'), ''), ',' ORDER BY nspname) FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%'"
}
before=$(state_of_db)
out=$(plan)
check_eq "plan exits 1" 1 $?
diag "$out"
check_eq "a connection whose config changed: rebuild (config changed)" "rebuild (config changed)" "$(line_of syn_2 "$out")"
check_eq "a connection that left the config: delete (left the config)" "delete (left the config)" "$(line_of syn_3 "$out")"
check_eq "a connection whose schema was dropped: rebuild (schema missing)" "rebuild (schema missing)" "$(line_of syn_1 "$out")"
check "a connection of a file that fails to parse: keep, with the file, line and column" \
    grep -Eq "^keep \(its file failed to load: .*k\.spc:[0-9]+:[0-9]+" <<<"$(line_of kept_1 "$out")"
check "a schema of the name not made by connstate: error, saying so" \
    grep -q "^error (.*not .*connstate" <<<"$(line_of squatter "$out")"
check_eq "plan changed nothing: the state table, the schemas and their markers are as they were" \
    "$before" "$(state_of_db)"

# ---- names, JSON, errors ---------------------------------------------------------------------------
out=$(plan syn_2 syn_3)
check_eq "NAMEs: only those" "syn_2 syn_3" "$(awk 'NF > 1 && $1 ~ /^syn_/ { printf "%s%s", sep, $1; sep = " " }' <<<"$out")"
json=$(plan --format json syn_2)
check_eq "--format json: an object per connection" "syn_2 rebuild true" \
    "$(sql "$db" "SELECT j->>'connection_name' || ' ' || (j->>'action') || ' ' || (j->>'change') FROM jsonb_array_elements(\$j\$$json\$j\$::jsonb) j")"
plan no_such_one >"$T_DIR/unknown.out" 2>&1
check_eq "a NAME that is no connection: exit 2" 2 $?
check "... saying so" grep -q 'no connection named "no_such_one"' "$T_DIR/unknown.out"
connstate plan --db "host=$T_DIR/nowhere port=1 dbname=x" --config-dir "$cfg" >"$T_DIR/nodb.out" 2>&1
check_eq "a database that cannot be reached: exit 2" 2 $?
check "... saying so" grep -q "cannot connect to the database" "$T_DIR/nodb.out"
connstate plan --db "$db" --config-dir "$T_DIR/no-such-dir" >"$T_DIR/nodir.out" 2>&1
check_eq "a config directory that cannot be read: exit 2" 2 $?

# ---- beside a running supervisor: it is not disturbed ----------------------------------------------
rm -f "$cfg/s.spc"
sql "$db" "DROP SCHEMA squatter" >/dev/null
sup_start main "$db" "$cfg"
wait_sql 30 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 2
out=$(plan)
rc=$?
check "beside a running supervisor plan answers (exit $rc)" test "$rc" -le 1
check "... and the supervisor stays the active one" \
    bash -c "! grep -q 'standby' '$T_DIR/main.log'"
check "the supervisor stops cleanly" sup_stop "$SUP_PID"
done_testing
