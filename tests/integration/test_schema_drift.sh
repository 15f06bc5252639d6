# Schemas changed by hand behind the supervisor's back: with the schema journal (event triggers
# that record the oids of schemas created, renamed, commented on or dropped) each change is
# noticed by the next plain refresh, which reads only what changed; what the journal cannot
# see (DDL with session_replication_role = replica) by the periodic full read and by
# `connstate refresh --full`; without the privilege to create event triggers every read is a
# full one, and as right.
. "$(dirname "$0")/../lib.sh"

db=$(new_db drift)
cfg=$T_DIR/config
mkdir -p "$cfg"

# conn NAME [PLUGIN]: one connection of 1 table x 2 columns in its own file.
conn() {
    printf 'connection "%s" {\n  plugin = "%s"\n  tables = 1\n  columns = 2\n}\n' \
        "$1" "${2:-synthetic}" >"$cfg/$1.spc"
}
refresh() { connstate refresh --control "$(control "${1:-main}")" --timeout 60 "${@:2}" >/dev/null; }
marker_of() { sql "$db" "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = '$1'"; }
# reads_logged LOG: how many delta reads the log shows so far
reads_logged() { grep -c "debug: catalog: [0-9]* schemas read (" "$1"; }
# last_read LOG: the last delta read's line, from "catalog:" on
# journal_triggers: how many of the journal's event triggers exist
journal_triggers() { sql "$db" "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'connstate_%'"; }
# refresh_until SECONDS CONDITION: refreshes until the shell condition holds, within the deadline
refresh_until() { wait_until "$1" eval "refresh; $2"; }
last_read() { grep "debug: catalog: [0-9]* schemas read (" "$1" | tail -1 | sed 's/.*debug: //; s/ in [0-9]* ms$//'; }

for c in d_drop d_mark d_rename d_trig d_reen d_trig2 d_table d_own d_repl d_period; do conn "$c"; done
conn d_none no_such_plugin # in error (its plugin is not installed): it never had a schema
sup_start main "$db" "$cfg" --log-level debug
log=$T_DIR/main.log
check "the schema journal is made and said to be in force" \
    grep -q "info: schema journal in force (event triggers connstate_schema_ddl and connstate_schema_drop)" "$log"
check_eq "... a table and two enabled event triggers" "t|connstate_schema_ddl:O,connstate_schema_drop:O" \
    "$(sql "$db" "SELECT to_regclass('connstate_internal.schema_journal') IS NOT NULL,
                         string_agg(evtname || ':' || evtenabled::text, ',' ORDER BY evtname)
                  FROM pg_event_trigger WHERE evtname LIKE 'connstate_%'")"
check_eq "the first refresh builds what can be built" "10|error" \
    "$(count_status "$db" ready)|$(status_of "$db" d_none)"
check_eq "workers' DDL is not journaled (session_replication_role = replica)" 0 \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.schema_journal")"

# ---- a no-op refresh reads no marker ----------------------------------------------------------
refresh # reads again the names the first refresh's updates touched
refresh
check_eq "a no-op refresh reads no schema (nothing journaled, nothing in doubt)" \
    "catalog: 0 schemas read (0 journaled, 0 in doubt)" "$(last_read "$log")"

# ---- changes by hand, each seen by the next plain refresh -------------------------------------
oid=$(schema_oid "$db" d_drop)
sql "$db" "DROP SCHEMA d_drop CASCADE" >/dev/null 2>&1
refresh
check "a schema dropped by hand: the plain refresh read it from the journal" \
    grep -q "debug: catalog: 1 schemas read (1 journaled, 0 in doubt)" "$log"
check "... and built it again (ready, a new schema)" \
    test "$(status_of "$db" d_drop)" = ready -a -n "$(schema_oid "$db" d_drop)" -a "$(schema_oid "$db" d_drop)" != "$oid"

sql "$db" "COMMENT ON SCHEMA d_mark IS 'my own schema now'" >/dev/null
refresh
check_eq "its marker changed by hand (COMMENT ON SCHEMA): the row says error, the schema is left" \
    "error|my own schema now" "$(status_of "$db" d_mark)|$(marker_of d_mark)"
check "... with the reason" grep -q 'schema "d_mark" exists and is not managed by connstate' \
    <<<"$(error_of "$db" d_mark)"

sql "$db" "ALTER SCHEMA d_rename RENAME TO d_renamed" >/dev/null
refresh
check_eq "renamed by hand: the connection is built again under its name, the renamed copy dropped" \
    "ready|1|" "$(status_of "$db" d_rename)|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'd_rename'")|$(schema_oid "$db" d_renamed)"

sql "$db" "CREATE SCHEMA d_none" >/dev/null
refresh
check "a user's schema created under a configured connection's name that had none: error, untouched" \
    grep -q 'schema "d_none" exists and is not managed by connstate' <<<"$(error_of "$db" d_none)"

# ---- the journal in doubt: a trigger disabled or dropped by hand ---------------------------------
sql "$db" "ALTER EVENT TRIGGER connstate_schema_ddl DISABLE; COMMENT ON SCHEMA d_trig IS 'mine'" >/dev/null
refresh
check "a trigger disabled by hand: the read is a full one, and says why" \
    grep -q "info: catalog: a full read (the schema journal's event triggers are not both enabled)" "$log"
check_eq "... and still right: the marker changed is seen" error "$(status_of "$db" d_trig)"
sql "$db" "ALTER EVENT TRIGGER connstate_schema_ddl ENABLE" >/dev/null
refresh
sql "$db" "ALTER EVENT TRIGGER connstate_schema_ddl DISABLE" >/dev/null
sql "$db" "COMMENT ON SCHEMA d_reen IS 'mine'" >/dev/null
sql "$db" "ALTER EVENT TRIGGER connstate_schema_ddl ENABLE" >/dev/null
refresh
check "a trigger disabled and enabled again between two reads: the read is a full one, and says why" \
    grep -q "info: catalog: a full read (the schema journal's event triggers were altered or made since the last read)" "$log"
check_eq "... and still right: the marker changed while it was disabled is seen" error "$(status_of "$db" d_reen)"
sql "$db" "DROP EVENT TRIGGER connstate_schema_drop;
           DROP SCHEMA d_trig2 CASCADE" >/dev/null 2>&1
full_reads=$(grep -c "info: catalog: a full read (the schema journal's event triggers" "$log")
refresh
check_eq "a trigger dropped by hand: the read is a full one" $((full_reads + 1)) \
    "$(grep -c "info: catalog: a full read (the schema journal's event triggers" "$log")"
check "... and still right: the dropped schema is built again" \
    test "$(status_of "$db" d_trig2)" = ready -a -n "$(schema_oid "$db" d_trig2)"
sql "$db" "DROP TABLE connstate_internal.schema_journal; DROP SCHEMA d_table CASCADE" >/dev/null 2>&1
refresh
check "the journal's table dropped by hand: no journal, said" \
    grep -q "info: no schema journal (it could not be read: see the error above; set up again at a later read)" "$log"
check "... and the read is a full one, still right" \
    test "$(status_of "$db" d_table)" = ready -a -n "$(schema_oid "$db" d_table)"
check "... a later read sets the journal up again" \
    refresh_until 20 '[ "$(grep -c "info: schema journal in force" "$log")" -ge 2 ]'
check_eq "... its table and both triggers made again" "t|2" \
    "$(sql "$db" "SELECT to_regclass('connstate_internal.schema_journal') IS NOT NULL")|$(sql "$db" "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'connstate_%' AND evtenabled = 'O'")"

# ---- a journal that is not this role's own is not kept -------------------------------------------
sql "$db" "CREATE FUNCTION public.d_noop() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN RETURN NEW; END\$\$;
           CREATE TRIGGER d_noop BEFORE INSERT ON connstate_internal.schema_journal
               FOR EACH ROW EXECUTE FUNCTION public.d_noop()" >/dev/null
sql "$db" "DROP SCHEMA d_own CASCADE" >/dev/null 2>&1
refresh
check "a trigger on the journal's table: no journal, and why" \
    grep -q "info: no schema journal (connstate_internal.schema_journal is not this role's own ordinary table without triggers or rules)" "$log"
check "... the read is a full one" grep -q "info: catalog: a full read (the schema journal is not this role's own)" "$log"
check "... still right" test "$(status_of "$db" d_own)" = ready -a -n "$(schema_oid "$db" d_own)"
check_eq "... the journal's event triggers are dropped" 0 "$(journal_triggers)"
sql "$db" "DROP TABLE connstate_internal.schema_journal; DROP FUNCTION public.d_noop()" >/dev/null
check "the supervisor survives it" kill -0 "$SUP_PID"
sup_stop "$SUP_PID"

# ---- what the journal cannot see: --full, and the periodic check ---------------------------------
sup_start main "$db" "$cfg" --log-level debug --catalog-check 0
log=$T_DIR/main.log
check_eq "a restart makes the dropped trigger and table again" "2|t" \
    "$(sql "$db" "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'connstate_%' AND evtenabled = 'O'")|$(sql "$db" "SELECT to_regclass('connstate_internal.schema_journal') IS NOT NULL")"
refresh
sql "$db" "SET session_replication_role = replica; DROP SCHEMA d_repl CASCADE" >/dev/null 2>&1
refresh
check_eq "a drop that the journal cannot see (replica session) is not seen by a plain refresh" \
    "ready|" "$(status_of "$db" d_repl)|$(schema_oid "$db" d_repl)"
refresh main --full
check "... connstate refresh --full reads every schema, and says why" \
    grep -q "info: catalog: a full read (asked for: refresh --full): .* [1-9][0-9]* changed" "$log"
check "... and builds it again" test "$(status_of "$db" d_repl)" = ready -a -n "$(schema_oid "$db" d_repl)"
kill -HUP "$SUP_PID"
check "SIGHUP reads every schema" wait_log "$log" "info: catalog: a full read \\(SIGHUP\\)" 20
sup_stop "$SUP_PID"

sup_start main "$db" "$cfg" --log-level debug --catalog-check 1
log=$T_DIR/main.log
sql "$db" "SET session_replication_role = replica; DROP SCHEMA d_period CASCADE" >/dev/null 2>&1
check "the periodic check (--catalog-check 1) finds a drop the journal cannot see" \
    wait_log "$log" "info: catalog: a full read \\(the periodic check, --catalog-check\\): .* [1-9][0-9]* changed" 20
check "... and the connection is built again, without any refresh asked for" \
    wait_sql 20 "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = 'd_period'" 1
check "... ready" wait_sql 20 "$db" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'd_period'" ready
sup_stop "$SUP_PID"

# ---- without the privilege to create event triggers: every read is a full one -----------------
np=drift_np_$$
sql "$CONNSTATE_TEST_DB" "CREATE ROLE $np LOGIN; GRANT pg_execute_server_program TO $np" >/dev/null
npdb=$(new_db drift_np)
sql "$npdb" "ALTER DATABASE drift_np OWNER TO $np; CREATE SCHEMA connstate_internal AUTHORIZATION $np;
             CREATE EXTENSION file_fdw; CREATE SERVER connstate_file FOREIGN DATA WRAPPER file_fdw;
             ALTER SERVER connstate_file OWNER TO $np" >/dev/null
npcfg=$T_DIR/np_config
mkdir -p "$npcfg"
printf 'connection "np_a" {\n  plugin = "synthetic"\n  tables = 1\n  columns = 2\n}\n' >"$npcfg/a.spc"
printf 'connection "np_b" {\n  plugin = "synthetic"\n  tables = 1\n  columns = 2\n}\n' >"$npcfg/b.spc"
sup_start np "$npdb user=$np" "$npcfg" --log-level debug
nplog=$T_DIR/np.log
check "a supervisor that may not create event triggers says once that it has no journal, and why" \
    test "$(grep -c "info: no schema journal (this session is not a superuser's: it may not create event triggers): every refresh reads every schema" "$nplog")" = 1
check_eq "... no journal is made" "|0" \
    "$(sql "$npdb" "SELECT to_regclass('connstate_internal.schema_journal')")|$(sql "$npdb" "SELECT count(*) FROM pg_event_trigger")"
check_eq "... its connections are built" "ready|ready" "$(status_of "$npdb" np_a)|$(status_of "$npdb" np_b)"
check "... its workers say that their DDL is journaled, if at all, once" \
    grep -q "info: this session's DDL is recorded by the schema journal's event triggers, if any" "$nplog"
sql "$npdb" "DROP SCHEMA np_a CASCADE; COMMENT ON SCHEMA np_b IS 'mine'" >/dev/null 2>&1
refresh np
check_eq "... and a schema dropped or its marker changed by hand is still noticed (full reads)" \
    "ready|error" "$(status_of "$npdb" np_a)|$(status_of "$npdb" np_b)"
check "... each read a full one" grep -q "debug: catalog: [0-9]* schemas read (a full read: no schema journal)" "$nplog"
sup_stop "$SUP_PID"

# ---- a superuser's supervisor where connstate_internal is another role's: no journal ---------
# (np's own schema_journal, with a trigger of np's, would run as the superuser on any DDL)
sql "$npdb" "SET ROLE $np; CREATE TABLE connstate_internal.schema_journal (nsp oid);
             CREATE FUNCTION connstate_internal.np_trig() RETURNS trigger LANGUAGE plpgsql
                 AS \$\$BEGIN RETURN NEW; END\$\$;
             CREATE TRIGGER np_trig BEFORE INSERT ON connstate_internal.schema_journal
                 FOR EACH ROW EXECUTE FUNCTION connstate_internal.np_trig()" >/dev/null
sup_start npsu "$npdb" "$npcfg" --log-level debug
check "a superuser's supervisor where connstate_internal is another role's makes no journal, and says why" \
    grep -q "info: no schema journal (connstate_internal is not this role's own)" "$T_DIR/npsu.log"
check_eq "... no event trigger is made" 0 "$(sql "$npdb" "SELECT count(*) FROM pg_event_trigger")"
sup_stop "$SUP_PID"
sql "$CONNSTATE_TEST_DB" "DROP DATABASE drift_np" >/dev/null 2>&1
sql "$CONNSTATE_TEST_DB" "DROP OWNED BY $np; DROP ROLE $np" >/dev/null

done_testing
