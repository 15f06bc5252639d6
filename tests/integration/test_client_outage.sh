# Clients across database outages: connstate wait and connstate query that lose their
# session (PostgreSQL restarted with -m fast and -m immediate, their backend terminated)
# reconnect and go on waiting within --timeout, LISTEN again and read the table again, so a
# change made while they were away is not missed; a timeout that passes while the database
# is down says so. The suite restarts PostgreSQL, so it runs its own private cluster.
. "$(dirname "$0")/../lib.sh"

# ---- a private cluster (the harness's is shared) ------------------------------------------
bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
owner=
[ "$(id -u)" -eq 0 ] && { id postgres >/dev/null 2>&1 && owner=postgres || owner=nobody; }
as_owner() { if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }
pgdir=$T_DIR/pg
mkdir -p "$pgdir"
[ -n "$owner" ] && chown "$owner" "$pgdir"
pgctl() {
    as_owner "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 60 \
        -o "-k $pgdir -c listen_addresses= -c fsync=off -c synchronous_commit=off \
            -c full_page_writes=off -c log_line_prefix='%m '" \
        "$@" >/dev/null
}
trap 'as_owner "$bindir/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1; t_cleanup' EXIT
as_owner "$bindir/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C \
    >"$pgdir/initdb.log" 2>&1
check "a private cluster starts" pgctl start
su_db="host=$pgdir user=postgres dbname=postgres"
sql "$su_db" "CREATE DATABASE outage" >/dev/null
db="host=$pgdir user=postgres dbname=outage"

# A supervisor creates the state table for three synthetic connections and goes away.
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/s.spc" 1 3 1
check "a supervisor on the private cluster builds its connections" sup_start outage "$db" "$cfg"
sup_stop "$SUP_PID"
check_eq "every row is ready" 3 "$(count_status "$db" ready)"

# set_status NAME STATUS: the row's change exactly as the supervisor's batch writes it: the
# row with the next sequence number, the last one in meta, one pg_notify, one transaction.
set_status() {
    sql "$db" "WITH m AS (SELECT value::bigint + 1 AS seq FROM connstate_internal.meta WHERE key = 'last_seq'),
      up AS (UPDATE connstate_internal.connection_state SET status = '$2', error = NULL, detail = NULL,
             time_changed = now(), seq = (SELECT seq FROM m) WHERE connection_name = '$1' RETURNING 1),
      meta AS (UPDATE connstate_internal.meta SET value = (SELECT seq FROM m) WHERE key = 'last_seq' RETURNING 1)
      SELECT pg_notify('connstate_state', '{\"seq\":' || (SELECT seq FROM m) || ',\"rows\":1,\"xid\":' || txid_current() || '}')
      FROM up, meta" >/dev/null
}

# listening [USER]: a connstate client has LISTENed and read the table (its last statement).
listening() {
    [ "$(sql "$su_db" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'connstate'
        AND usename = '${1:-postgres}' AND state = 'idle' AND query LIKE 'SELECT n, s.status%'")" = 1 ]
}

# back_ms: how long after PostgreSQL last became ready to accept connections the client's
# session started (from the server's own clock: its log line and pg_stat_activity).
back_ms() {
    local ready
    ready=$(grep "database system is ready to accept connections" "$pgdir/postgres.log" | tail -1 | cut -c1-27)
    sql "$su_db" "SELECT round(extract(epoch FROM backend_start - '$ready'::timestamptz) * 1000)
        FROM pg_stat_activity WHERE application_name = 'connstate'"
}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---- wait across a fast and an immediate restart -------------------------------------------
set_status syn_1 pending
spawn "$T_DIR/wait.err" connstate wait --db "$db" --timeout 60 syn_1
waiter=$SPAWNED
check "wait: listening for syn_1" wait_until 10 listening
pgctl restart -m fast
check "wait: survives a restart -m fast" kill -0 "$waiter"
check "wait: LISTENs and reads again after the restart -m fast" wait_until 10 listening
fast_ms=$(back_ms)
diag "wait reconnected $fast_ms ms after the database accepted connections again (-m fast)"
check "wait: says once that the database went away, and why" \
    grep -q "^connstate wait: the database went away (terminating connection due to administrator command); reconnecting$" "$T_DIR/wait.err"
check "wait: says that it reconnected" wait_log "$T_DIR/wait.err" "^connstate wait: reconnected to the database after [0-9.]+ s$" 5
pgctl restart -m immediate
check "wait: survives a restart -m immediate" kill -0 "$waiter"
check "wait: LISTENs and reads again after the restart -m immediate" wait_until 20 listening
immediate_ms=$(back_ms)
diag "wait reconnected $immediate_ms ms after the database accepted connections again (-m immediate)"
check "wait: still waiting for syn_1" kill -0 "$waiter"
set_status syn_1 ready
start=$(date +%s%N) # the ready is committed
wait "$waiter"
rc=$?
ready_ms=$(ms_since "$start")
check_eq "wait: exit 0 once syn_1 is ready" 0 "$rc"
check "wait: returns promptly after the ready commit ($ready_ms ms)" test "$ready_ms" -lt 3000
diag "wait returned $ready_ms ms after the ready commit"
check_eq "wait: one 'went away' and one 'reconnected' line per restart" "2 2" \
    "$(grep -c 'the database went away' "$T_DIR/wait.err") $(grep -c 'reconnected to the database' "$T_DIR/wait.err")"
diag "$(cat "$T_DIR/wait.err")"

# ---- query across both restarts ----------------------------------------------------------
set_status syn_2 pending
spawn "$T_DIR/query.err" connstate query --db "$db" --timeout 60 --format csv \
    "SELECT count(*) AS n FROM syn_2.table_1"
querier=$SPAWNED
check "query: waiting for syn_2" wait_until 10 listening
pgctl restart -m fast
check "query: LISTENs and reads again after the restart -m fast" wait_until 10 listening
pgctl restart -m immediate
check "query: LISTENs and reads again after the restart -m immediate" wait_until 20 listening
check "query: still waiting for syn_2" kill -0 "$querier"
set_status syn_2 ready
wait "$querier"
check_eq "query: exit 0 once syn_2 is ready" 0 "$?"
check_eq "query: then runs its SQL and prints the result" "$(printf 'n\n10')" \
    "$(grep -v '^connstate' "$T_DIR/query.err")"
check_eq "query: says it reconnected, once per restart" 2 "$(grep -c '^connstate query: reconnected' "$T_DIR/query.err")"

# ---- a change made while the client is away is read, not missed ---------------------------
# A role that cannot log in for a while: its wait is away (its backend terminated) when the
# change and its notification are committed; only reading the table again can see it.
sql "$db" "CREATE ROLE reader LOGIN; GRANT connstate_reader TO reader" >/dev/null
set_status syn_3 pending
spawn "$T_DIR/away.err" connstate wait --db "host=$pgdir user=reader dbname=outage" --timeout 60 syn_3
away=$SPAWNED
check "wait as a connstate_reader: listening for syn_3" wait_until 10 listening reader
sql "$db" "ALTER ROLE reader NOLOGIN" >/dev/null
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'reader'" >/dev/null
check "wait: its backend terminated, it says the database went away" \
    wait_log "$T_DIR/away.err" "the database went away \\(terminating connection due to administrator command\\)" 10
check "wait: tries to reconnect (refused meanwhile)" \
    wait_log "$pgdir/postgres.log" 'role "reader" is not permitted to log in' 10
set_status syn_3 ready
sql "$db" "ALTER ROLE reader LOGIN" >/dev/null
start=$(date +%s%N)
wait_until 10 bash -c "! kill -0 $away 2>/dev/null"
wait "$away"
rc=$?
check_eq "wait: sees the change committed while it was away (exit 0)" 0 "$rc"
diag "wait returned $(ms_since "$start") ms after its role could log in again"
check "wait: says it reconnected" grep -q "^connstate wait: reconnected to the database after" "$T_DIR/away.err"

# ---- a timeout that passes while the database is down ------------------------------------
set_status syn_1 pending
start=$(date +%s%N)
spawn "$T_DIR/timeout.err" connstate wait --db "$db" --timeout 4 syn_1
timer=$SPAWNED
check "wait --timeout 4: listening" wait_until 10 listening
pgctl stop -m fast
wait "$timer"
rc=$?
elapsed=$(ms_since "$start")
check_eq "wait: a timeout during the outage exits 3, as any timeout" 3 "$rc"
check "wait: ... at its timeout ($elapsed ms after it started)" test "$elapsed" -lt 6000
check "wait: the timeout names the outage" grep -Eq \
    "^connstate wait: timed out after 4 s: the database has been unavailable since [0-9]{2}:[0-9]{2}:[0-9]{2} UTC \(terminating connection due to administrator command\); 1 of 1 connections were still loading when it went away$" \
    "$T_DIR/timeout.err"
diag "$(cat "$T_DIR/timeout.err")"
connstate query --db "$db" --timeout 2 "SELECT 1" 2>"$T_DIR/down.err"
check_eq "query while the database is down: exit 1, as before (it cannot start)" 1 "$?"
pgctl start

done_testing
