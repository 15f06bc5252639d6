#!/bin/bash
# Failover: a primary and a hot standby (pg_basebackup -R), the supervisor and its workers on
# a two-host conninfo with target_session_attrs=read-write. The primary dies in the middle of
# a cold refresh and the standby is promoted: supervisor and workers find the new primary by
# themselves and the refresh converges there -- the state table and the markers are in the
# database, so the new primary holds the truth.
. "$(dirname "$0")/../lib.sh"

pg_private primary || { not_ok "a primary"; done_testing; exit 1; }
primary_db=$PRIV_DB
standby_dir=$T_DIR/standby
mkdir -p "$standby_dir" && chmod 755 "$standby_dir"
[ -n "${PG_OWNER:-}" ] && chown "$PG_OWNER" "$standby_dir"
if ! pg_as_owner "$PG_BINDIR/pg_basebackup" -D "$standby_dir/data" -R -h "$T_DIR/primary" \
        -U postgres -X stream >"$T_DIR/basebackup.log" 2>&1; then
    not_ok "a hot standby made with pg_basebackup -R"
    sed 's/^/# /' "$T_DIR/basebackup.log"
    done_testing
    exit 1
fi
T_PGS+=(standby)
pg_private_ctl standby start >/dev/null
standby_db="host=$standby_dir user=postgres dbname=postgres"
check "the standby is in recovery" \
    wait_sql 30 "$standby_db" "SELECT pg_is_in_recovery()" t

db="host=$T_DIR/primary,$standby_dir user=postgres dbname=postgres target_session_attrs=read-write"
cfg=$T_DIR/cfg
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 20 1 pre
sup_start sup "$db" "$cfg" --workers 2
pid=$SUP_PID
N=1000
synthetic_conns "$cfg/b.spc" 1 "$N" 3 fo
kill -HUP "$pid"
ready() { sql "$1" "SELECT count(*) FROM connstate_internal.connection_state
                    WHERE connection_name LIKE 'fo%' AND status = 'ready'" 2>/dev/null; }
wait_until 120 bash -c "[ \"\$(psql -X -q -A -t '$primary_db' -c \"SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'fo%' AND status = 'ready'\")\" -ge $((N / 10)) ]"
diag "$(ready "$primary_db") of $N ready on the primary when it died"
pg_private_ctl primary stop -m immediate >/dev/null
pg_as_owner "$PG_BINDIR/pg_ctl" -D "$standby_dir/data" -w promote >/dev/null
t0=$(date +%s%N)
check "the promoted standby takes writes" wait_sql 30 "$standby_db" "SELECT pg_is_in_recovery()" f
all_ready() {
    [ "$(ready "$standby_db")" = "$N" ] &&
        [ "$(sql "$standby_db" "SELECT count(*) FROM pg_namespace n JOIN pg_description d
              ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass
              WHERE n.nspname LIKE 'fo%' AND d.description LIKE 'connstate marker %'")" = "$N" ]
}
if wait_until 180 all_ready; then
    ok "the refresh converges on the new primary: all $N ready, with schemas and markers"
    diag "converged $(( ($(date +%s%N) - t0) / 1000000 )) ms after the promotion"
else
    not_ok "the refresh converges on the new primary: all $N ready, with schemas and markers"
    diag "ready there: $(ready "$standby_db") of $N; log tail:"
    tail -15 "$T_DIR/sup.log" | sed 's/^/#   /'
fi
check "the supervisor's pid did not change" kill -0 "$pid"
check_eq "no row is in error" 0 "$(count_status "$standby_db" error)"
check "the supervisor found the new primary by itself" \
    wait_log "$T_DIR/sup.log" "database available again after" 5

done_testing
