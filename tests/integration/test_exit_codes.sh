# Exit codes and the shipped systemd units agree: a failure that may pass (an endpoint in use)
# is restarted by the unit without a start limit; only usage and installation errors (exit 2)
# are not. The database not reachable is no failure at all: the supervisor waits for it.
. "$(dirname "$0")/../lib.sh"

units=$ROOT/deploy/systemd
# unit_value UNIT KEY: the value of KEY= in the unit file (empty when absent).
unit_value() { sed -n "s/^$2=//p" "$units/$1" | tail -1; }
# restarted UNIT STATUS: true when systemd's Restart= and RestartPreventExitStatus= of the
# unit restart a process that exited with STATUS.
restarted() {
    local restart prevent
    restart=$(unit_value "$1" Restart)
    prevent=" $(unit_value "$1" RestartPreventExitStatus) "
    case "$restart" in always | on-failure | on-abnormal) ;; *) return 1 ;; esac
    [ "$restart" = on-abnormal ] && return 1 # not on a clean non-zero exit
    [[ "$prevent" != *" $2 "* ]]
}

nodb="host=$T_DIR/no-such-socket-dir dbname=x connect_timeout=2"
mkdir -p "$T_DIR/config"
# The database not reachable at start is not a failure: the supervisor waits for it, and a
# SIGTERM meanwhile is a clean stop.
spawn "$T_DIR/sup.log" connstate-supervisor --db "$nodb" --config-dir "$T_DIR/config" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/w" --bind-publish "ipc://$T_DIR/p" \
    --bind-control "ipc://$T_DIR/c" --workers 0
waiting=$SPAWNED
check "supervisor: the database not reachable at start: it says so and waits" \
    wait_log "$T_DIR/sup.log" "database unavailable, waiting for it" 20
check "supervisor: ... and stops cleanly on SIGTERM meanwhile" sup_stop "$waiting"
# A failure that may pass (an endpoint that cannot be bound) exits 1, which the unit restarts.
db=$(new_db exit_codes)
connstate-supervisor --db "$db" --config-dir "$T_DIR/config" --plugin-dir "$(plugin_dir)" \
    --bind-workers "ipc://$T_DIR/no-such-dir/w" --bind-publish "ipc://$T_DIR/p" \
    --bind-control "ipc://$T_DIR/c" --workers 0 >"$T_DIR/sup1.log" 2>&1
sup_rc=$?
check_eq "supervisor: an endpoint it cannot bind exits 1" 1 "$sup_rc"
check "supervisor: ... that its unit restarts" restarted connstate-supervisor.service "$sup_rc"
check "supervisor: the log says why" grep -q "cannot bind the worker endpoint" "$T_DIR/sup1.log"
connstate-supervisor --no-such-option >/dev/null 2>&1
bad_rc=$?
check_eq "supervisor: a bad option exits 2" 2 "$bad_rc"
if restarted connstate-supervisor.service 2; then
    not_ok "supervisor: ... which its unit does not restart"
else
    ok "supervisor: ... which its unit does not restart"
fi

# A worker waits for its database (a remote host may boot before it): it neither exits
# nor needs its unit to restart it, and SIGTERM ends the wait with 0.
CONNSTATE_DB= spawn "$T_DIR/wrk.log" connstate-worker --connect "ipc://$T_DIR/w" --db "$nodb" \
    --plugin-dir "$(plugin_dir)"
wrk=$SPAWNED
check "worker: the database not reachable at start is waited for, and said so" \
    wait_log "$T_DIR/wrk.log" "warn: database unavailable; waiting for it" 10
check "worker: ... while it keeps running" kill -0 "$wrk"
kill -TERM "$wrk"
wait "$wrk"
check_eq "worker: SIGTERM while it waits ends it with 0" 0 "$?"
CONNSTATE_DB= connstate-worker --connect "ipc://$T_DIR/w" --db "$nodb" \
    --plugin-dir "$T_DIR/no-such-plugins" >/dev/null 2>&1
check_eq "worker: an unreadable plugin directory exits 2" 2 "$?"
connstate-worker --no-such-option >/dev/null 2>&1
check_eq "worker: a bad option exits 2" 2 "$?"

for unit in connstate-supervisor.service connstate-worker@.service; do
    check_eq "$unit: no start limit stops it for good" 0 "$(unit_value "$unit" StartLimitIntervalSec)"
done

done_testing
