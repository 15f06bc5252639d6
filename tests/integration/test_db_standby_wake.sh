#!/bin/bash
# A supervisor that was frozen while it lost its session (and so its lock) to the other one
# never answers a STATUS request that waited in its socket meanwhile with "active": it reads
# its database first. 20 rounds: freeze the active one, end its session, let the standby
# take over, send the frozen one STATUS, wake it, and check what it says; 10 more with a
# refresh request instead, which it must refuse, never answer "done".
. "$(dirname "$0")/../lib.sh"

pg_private pg || { not_ok "a private cluster"; done_testing; exit 1; }
db=$PRIV_DB
cfg=$T_DIR/cfg
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 10 2 wake
status() { "$BUILD/tests/drivers/status_check" "$@"; }

sup_start one "$db" "$cfg" --workers 1
pids[0]=$SUP_PID
names=(one two)
spawn "$T_DIR/two.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/two.workers" \
    --bind-publish "ipc://$T_DIR/two.publish" --bind-control "ipc://$T_DIR/two.control" \
    --workers 1
pids[1]=$SPAWNED
check "the second supervisor stands by" wait_log "$T_DIR/two.log" "standing by" 20

says() { [ "$(status "$(control "$1")")" = "$2" ]; }
# A standby since its start has no control socket yet ("none"): any answer but active.
not_active() { [ "$(status "$(control "$1")")" != active ]; }
# queued NAME: the supervisor's control socket holds bytes it has not read yet.
queued() {
    ss -xn | awk -v p="$T_DIR/$1.control" '$5 == p && $3 > 0 { found = 1 } END { exit !found }'
}
lock_holder() {
    sql "$db" "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
        AND objsubid = 1 AND (classid::bigint << 32 | objid::bigint) = 109304925990004"
}

rounds=20 stale=0 failed=0
active=0
for round in $(seq $rounds); do
    a=${names[$active]} b=${names[$((1 - active))]} apid=${pids[$active]}
    if ! wait_until 30 says "$a" active || ! wait_until 30 not_active "$b"; then
        diag "round $round: $a says $(status "$(control "$a")"), $b $(status "$(control "$b")")"
        failed=$((failed + 1))
        break
    fi
    backend=$(lock_holder)
    coproc HOLD { status --hold "$(control "$a")"; }
    echo ask >&"${HOLD[1]}"
    read -r -t 30 first <&"${HOLD[0]}"
    kill -STOP "$apid"
    sql "$db" "SELECT pg_terminate_backend($backend)" >/dev/null
    if ! wait_until 30 says "$b" active; then
        failed=$((failed + 1))
        kill -CONT "$apid"
        break
    fi
    echo ask >&"${HOLD[1]}"
    wait_until 10 queued "$a" || diag "round $round: the request was not seen queued"
    kill -CONT "$apid"
    read -r -t 30 answer <&"${HOLD[0]}"
    exec {HOLD[1]}>&-
    wait "$HOLD_PID" 2>/dev/null
    [ "$first" = active ] || diag "round $round: before the freeze $a said $first"
    if [ "$answer" = active ]; then
        stale=$((stale + 1))
        diag "round $round: $a, woken after losing its session, said active"
    fi
    active=$((1 - active))
done
check_eq "the supervisor woken without its session never says active (of $rounds)" 0 "$stale"
check_eq "every round's takeover happened" 0 "$failed"

# The same with a refresh request waiting in the frozen one's socket: it never says done.
refresh_rounds=10 done_said=0 failed=0
for round in $(seq $refresh_rounds); do
    a=${names[$active]} b=${names[$((1 - active))]} apid=${pids[$active]}
    if ! wait_until 30 says "$a" active || ! wait_until 30 not_active "$b"; then
        failed=$((failed + 1))
        break
    fi
    backend=$(lock_holder)
    coproc HOLD { status --hold "$(control "$a")"; }
    echo status >&"${HOLD[1]}"
    read -r -t 30 first <&"${HOLD[0]}"
    kill -STOP "$apid"
    sql "$db" "SELECT pg_terminate_backend($backend)" >/dev/null
    if ! wait_until 30 says "$b" active; then
        failed=$((failed + 1))
        kill -CONT "$apid"
        break
    fi
    echo refresh >&"${HOLD[1]}"
    wait_until 10 queued "$a" || diag "refresh round $round: the request was not seen queued"
    kill -CONT "$apid"
    read -r -t 30 answer <&"${HOLD[0]}"
    exec {HOLD[1]}>&-
    wait "$HOLD_PID" 2>/dev/null
    if [ "$answer" != refused ]; then
        done_said=$((done_said + 1))
        diag "refresh round $round: $a, woken after losing its session, answered: $answer"
    fi
    active=$((1 - active))
done
check_eq "the supervisor woken without its session refuses the refresh (of $refresh_rounds)" \
    0 "$done_said"
check_eq "every refresh round's takeover happened" 0 "$failed"
check "both supervisors kept their pid" bash -c "kill -0 ${pids[0]} && kill -0 ${pids[1]}"
done_testing
