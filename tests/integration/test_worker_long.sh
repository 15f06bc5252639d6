# A statement of an update that runs longer than the supervisor's lease on a silent worker
# (10 s): here a rebuild's DDL waiting behind a user's transaction, with the worker's
# lock_timeout longer than that. The worker heartbeats while it waits, so it is not taken
# for lost: the update is not sent elsewhere, and it lands once the user's transaction ends.
. "$(dirname "$0")/../lib.sh"

db=$(new_db worker_long)
cfg=$T_DIR/config
mkdir -p "$cfg"
conn() { printf 'connection "held" {\n  plugin = "synthetic"\n  tables = 1\n  columns = %d\n}\n' "$1" >"$cfg/held.spc"; }
conn 2
CONNSTATE_LOCK_TIMEOUT=30s sup_start main "$db" "$cfg" --workers 1
check_eq "the connection is ready" "ready" "$(status_of "$db" held)"

# A user's transaction reads the table for 13 s; the rebuild's DROP waits for it.
psql_user() { psql -X -q -v ON_ERROR_STOP=1 "$db" >/dev/null 2>&1; }
{ echo "BEGIN; SELECT count(*) FROM held.table_1; SELECT pg_sleep(13); COMMIT;"; } | psql_user &
user=$!
wait_sql 10 "$db" "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'held' AND l.granted" 1 >/dev/null
conn 3
check "the rebuild waits behind the user's transaction" wait_sql 10 "$db" \
    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'held' AND NOT l.granted" 1
wait "$user"
check "once it ended, the rebuild lands: ready with 3 columns" wait_sql 30 "$db" \
    "SELECT (SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'held') || ' ' || (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'held' AND table_name = 'table_1')" "ready 3"
check "the waiting worker was never taken for silent" \
    bash -c "! grep -q 'fell silent' '$T_DIR/main.log'"
check_eq "... and its update ran once, on its first attempt" "1" \
    "$(sql "$db" "SELECT attempts FROM connstate_internal.connection_state WHERE connection_name = 'held'")"
check "the supervisor exits 0" sup_stop "$SUP_PID"
done_testing
