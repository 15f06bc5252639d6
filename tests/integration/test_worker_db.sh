# The worker and its database: started while the database is down it waits for it, then
# serves; its session terminated in the middle of a big build costs no connection an error;
# a user's transaction that holds a lock on one connection's table holds up that connection
# only, which says what it waits for and becomes ready once the user is done.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/pg.sh"

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# error_sampler DB FILE: writes the rows in `error` to FILE every 100 ms, until
# sampler_stop; sets SAMPLER.
error_sampler() {
    spawn "$2" bash -c 'while :; do psql -X -q -A -t "$1" -c "$2"; sleep 0.1; done' _ "$1" \
        "SELECT connection_name || ': ' || coalesce(error, '') FROM connstate_internal.connection_state WHERE status = 'error'"
    SAMPLER=$SPAWNED
}
sampler_stop() {
    kill -TERM "$SAMPLER"
    wait "$SAMPLER" 2>/dev/null
}

# ---- a private cluster, for a database that is down when the worker starts ----------------
PG_BINDIR=$(pg_bindir) || exit 1
PG_OWNER=
if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then PG_OWNER=postgres; else PG_OWNER=nobody; fi
fi
pdir=$T_DIR/pg
mkdir -p "$pdir"
chmod 755 "$pdir"
[ -n "$PG_OWNER" ] && chown "$PG_OWNER" "$pdir"
private_stop() {
    [ -f "$pdir/data/postmaster.pid" ] &&
        pg_as_owner "$PG_BINDIR/pg_ctl" -D "$pdir/data" -m immediate -w stop >/dev/null 2>&1
    return 0
}
trap 'private_stop; t_cleanup' EXIT
pg_as_owner "$PG_BINDIR/initdb" -D "$pdir/data" -U postgres --auth=trust -E UTF8 --locale=C \
    >"$T_DIR/initdb.log" 2>&1 || { cat "$T_DIR/initdb.log"; exit 1; }
pdb="host=$pdir user=postgres dbname=postgres"

# ---- a worker started before its database ---------------------------------------------------
# Its conninfo names two hosts, the first of which has no server: libpq's own failover.
cfg_a=$T_DIR/config-a
mkdir -p "$cfg_a"
synthetic_conns "$cfg_a/a.spc" 1 5
mkdir -p "$T_DIR/nothing-here"
spawn "$T_DIR/wrk-a.log" env CONNSTATE_DB= connstate-worker --name wrk-a --log-level debug \
    --connect "ipc://$T_DIR/a.workers" --plugin-dir "$(plugin_dir)" \
    --db "host=$T_DIR/nothing-here,$pdir user=postgres dbname=postgres target_session_attrs=read-write"
wrk_a=$SPAWNED
check "a worker whose database is down says it waits for it" \
    wait_log "$T_DIR/wrk-a.log" "^wrk-a\\[$wrk_a\\] warn: database unavailable; waiting for it" 10
check "... and keeps trying with a backoff, without exiting" \
    wait_log "$T_DIR/wrk-a.log" "^wrk-a\\[$wrk_a\\] debug: database still unavailable \\(try 4; next in 2000 ms\\)" 15
check "... saying so once, not once per try" \
    test "$(grep -c "database unavailable; waiting for it" "$T_DIR/wrk-a.log")" = 1
check "... and it does not connect to the supervisor meanwhile" \
    bash -c "! grep -q 'connecting to' '$T_DIR/wrk-a.log'"
pg_as_owner "$PG_BINDIR/pg_ctl" -D "$pdir/data" -l "$pdir/pg.log" -w -t 60 \
    -o "-k $pdir -c listen_addresses= -c fsync=off -c max_connections=50" start >/dev/null
up=$(date +%s%N)
check "once the database is up the worker says it is available" \
    wait_log "$T_DIR/wrk-a.log" "^wrk-a\\[$wrk_a\\] info: database available" 15
diag "the worker had its session $(ms_since "$up") ms after the database was up"
check "... and then connects to the supervisor" \
    wait_log "$T_DIR/wrk-a.log" "^wrk-a\\[$wrk_a\\] info: connecting to ipc://$T_DIR/a.workers" 5
# The supervisor does not wait for its database (yet): it starts once the database is up,
# with no local worker, so that only the worker started before the database can serve it.
start=$(date +%s%N)
check "a supervisor on that database, with the early worker only, finishes its refresh" \
    sup_start a "$pdb" "$cfg_a" --workers 0
diag "the supervisor's first refresh (5 connections) was done $(ms_since "$start") ms after it started, $(ms_since "$up") ms after the database was up"
check_eq "every connection is ready" 5 "$(count_status "$pdb" ready)"
check "the early worker built them" grep -q "worker wrk-a ready" "$T_DIR/a.log"
check "... and is still the same process" kill -0 "$wrk_a"
sup_stop "$SUP_PID"
kill -TERM "$wrk_a"
wait "$wrk_a"
check_eq "the worker stops with 0" 0 "$?"
private_stop

# ---- the worker's session terminated while it builds a big connection ----------------------
db=$(new_db worker_db_b)
cfg=$T_DIR/config-b
mkdir -p "$cfg"
synthetic_conns "$cfg/small.spc" 1 10 2 small_
# 100 tables per transaction (the workers inherit it): the big build below takes a while.
CONNSTATE_TABLES_PER_TRANSACTION=100 sup_start b "$db" "$cfg"
workers_before=$(pgrep -P "$SUP_PID" | sort | paste -sd' ')
check "two local workers" test "$(wc -w <<<"$workers_before")" = 2
# 6,000 tables: 60 transactions, a new schema swapped in at the end; and 20 small ones.
printf 'connection "big" {\n  plugin = "synthetic"\n  tables = 6000\n  columns = 3\n}\n' >"$cfg/big.spc"
synthetic_conns "$cfg/more.spc" 1 20 2 more_
error_sampler "$db" "$T_DIR/errors-b.log"
spawn "$T_DIR/refresh-b.out" connstate refresh --control "$(control b)"
refresh_b=$SPAWNED
start=$(date +%s%N)
check "the big connection is being built (a batch of its new schema committed)" \
    wait_sql 60 "$db" "SELECT count(*) > 0 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'cs\$new\$%'" t
killed=$(sql "$db" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'connstate-worker%'")
killed_at=$(date +%s%N)
diag "terminated $(ms_since "$start") ms after the refresh began, $(sql "$db" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'cs\$new\$%' AND c.relkind = 'f'") of its tables built"
check "both workers' sessions were terminated" test "$killed" = 2
check "every connection ends ready" wait_sql 120 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 31
diag "every row was ready $(ms_since "$killed_at") ms after the sessions were terminated"
sampler_stop
check_eq "no row was ever error (sampled every 100 ms)" "" "$(cat "$T_DIR/errors-b.log")"
check_eq "the big schema has its 6000 tables and its marker" "6000|t" \
    "$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'big'")|$(sql "$db" "SELECT obj_description('big'::regnamespace, 'pg_namespace') LIKE 'connstate marker v1;%'")"
check_eq "no temporary schema is left" 0 "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\$%'")"
wait "$refresh_b"
check_eq "the refresh says so" 0 "$?"
check "the workers said that their session was lost and opened a new one" \
    test "$(grep -Ec "^wrk[^ ]* warn: database unavailable: .*; told the supervisor, opening a new session" "$T_DIR/b.log")" = 2
check "... and that the database is available" \
    test "$(grep -Ec "^wrk[^ ]* info: database available" "$T_DIR/b.log")" = 2
check "the big build was answered retry, its worker's fault (not error): it went to a worker again" \
    grep -Eq "^sup[^ ]* info: \\[big\\] worker wrk-[12] could not run it: database unavailable: .*; dispatching it again" "$T_DIR/b.log"
check_eq "the workers are the same processes" "$workers_before" "$(pgrep -P "$SUP_PID" | sort | paste -sd' ')"
sup_stop "$SUP_PID"

# ---- a user's transaction holds a lock on a connection's table during its rebuild ----------
db=$(new_db worker_db_c)
cfg=$T_DIR/config-c
mkdir -p "$cfg"
synthetic_conns "$cfg/c.spc" 1 6 2 c_
export CONNSTATE_LOCK_TIMEOUT=1s # the workers' lock_timeout: the supervisor passes it on
sup_start c "$db" "$cfg"
mkfifo "$T_DIR/user.in"
spawn "$T_DIR/user.out" bash -c 'exec psql -X -q -A -t -v ON_ERROR_STOP=1 "$1 application_name=user-session" <"$2"' \
    _ "$db" "$T_DIR/user.in"
exec 7>"$T_DIR/user.in"
echo "BEGIN; SELECT count(*) FROM c_1.table_1;" >&7
check "the user's transaction holds a lock on c_1.table_1" wait_sql 10 "$db" \
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.relation = 'c_1.table_1'::regclass AND l.granted AND a.application_name = 'user-session' AND a.state = 'idle in transaction'" 1
oid_1=$(schema_oid "$db" c_1)
error_sampler "$db" "$T_DIR/errors-c.log"
synthetic_conns "$cfg/c.spc" 1 6 3 c_ # every connection changes: 3 tables each
start=$(date +%s%N)
spawn "$T_DIR/refresh-c.out" connstate refresh --control "$(control c)"
refresh_c=$SPAWNED
others="SELECT count(*) FROM connstate_internal.connection_state s WHERE connection_name <> 'c_1' AND status = 'ready' AND (SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = s.connection_name) = 3"
# Within 8 s: a worker that waited for the lock without a bound would hold the tasks queued
# behind c_1 until their lease expired (10 s of silence).
check "the other connections are rebuilt while the user's transaction is open, in time" \
    wait_sql 8 "$db" "$others" 5
diag "the 5 others were ready $(ms_since "$start") ms after the refresh began"
waits="SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name = 'c_1' AND status = 'updating' AND detail LIKE 'waiting for a lock on c\\_1.table\\_1 held by pid % (application\\_name \"user-session\", idle in transaction, in a transaction for % s): the update waited lock\\_timeout (1s) and was rolled back%; retrying in %'"
check "the blocked connection's row says what it waits for while it retries" wait_sql 30 "$db" "$waits" 1
diag "its detail: $(sql "$db" "SELECT detail FROM connstate_internal.connection_state WHERE connection_name = 'c_1'")"
check_eq "... and its old schema is as it was" "$oid_1|2" \
    "$(schema_oid "$db" c_1)|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'c_1'")"
check "... and it retries (the second retry logged)" wait_log "$T_DIR/c.log" "\\[c_1\\] waiting for a lock .*\\(retry 2\\)" 30
check_eq "it is not error" "updating|" "$(status_of "$db" c_1)|$(error_of "$db" c_1)"
echo "COMMIT;" >&7
exec 7>&-
committed=$(date +%s%N)
check "after the user's commit the blocked connection becomes ready" \
    wait_sql 30 "$db" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'c_1'" ready
diag "c_1 was ready $(ms_since "$committed") ms after the user's commit"
check_eq "... with its new schema" 3 \
    "$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = 'c_1'")"
wait "$refresh_c"
check_eq "the refresh ends with every connection ready" 0 "$?"
check_eq "the user's SELECT returned its rows" 10 "$(head -1 "$T_DIR/user.out")"
sampler_stop
check_eq "no row was ever error (sampled every 100 ms)" "" "$(cat "$T_DIR/errors-c.log")"
sup_stop "$SUP_PID"

done_testing
