#!/bin/bash
# One active supervisor per database, also across a database restart: a standby never
# answers "refresh done", and at any instant at most one supervisor says it is active.
# Also: a supervisor and a worker started before the database wait for it.
. "$(dirname "$0")/../lib.sh"

pg_private pg || { not_ok "a private cluster"; done_testing; exit 1; }
db=$PRIV_DB
cfg=$T_DIR/cfg
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 100 2 sby
status() { "$BUILD/tests/drivers/status_check" "$@"; }

sup_start one "$db" "$cfg" --workers 1
one=$SUP_PID
spawn "$T_DIR/two.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/two.workers" \
    --bind-publish "ipc://$T_DIR/two.publish" --bind-control "ipc://$T_DIR/two.control" \
    --workers 1
two=$SPAWNED
check "the second supervisor stands by" wait_log "$T_DIR/two.log" "standing by" 20

# Restart the database while both run, with the first one frozen meanwhile, so that the
# second one takes the lock; then the first wakes up without its session or its lock and
# must become the standby -- it never answers "refresh done" -- while the second works.
# Both STATUS replies are sampled all along, both asked at once in each sample.
samples=$T_DIR/samples
status --samples 400 --every 50 "$(control one)" "$(control two)" >"$samples" &
sampler=$!
kill -STOP "$one"
pg_private_ctl pg restart -m fast >/dev/null
check "the second supervisor takes over while the first is frozen" \
    wait_log "$T_DIR/two.log" "refresh 1 done" 60
kill -CONT "$one"
check "the first one, awake again, finds the lock taken and stands by" \
    wait_log "$T_DIR/one.log" "standing by" 30
settled() { [ "$(status "$(control one)" "$(control two)")" = "standby active" ]; }
check "STATUS: the first one says standby, the second active" wait_until 30 settled
wait "$sampler"
sampler_rc=$?
check_eq "at no sampled instant were both supervisors active" 0 "$sampler_rc"
diag "samples (one two): $(sort "$samples" | uniq -c | tr -s ' ' | tr '\n' ';')"
for name in one two; do
    what=$(status "$(control $name)")
    out=$(connstate refresh --control "$(control $name)" --timeout 30 2>&1)
    rc=$?
    case $what in
        active) check "the active supervisor ($name) answers refresh done" \
            bash -c "[ $rc -eq 0 ] && grep -Eq 'refresh [0-9]+ done' <<<\"\$1\"" _ "$out" ;;
        standby) check "the standby ($name) never answers refresh done: it says it stands by" \
            bash -c "[ $rc -ne 0 ] && grep -q 'standby' <<<\"\$1\" && ! grep -Eq 'refresh [0-9]+ done' <<<\"\$1\"" _ "$out" ;;
        *) not_ok "supervisor $name says $what" ;;
    esac
done
check "both supervisors kept their pid" bash -c "kill -0 $one && kill -0 $two"
check_eq "all 100 connections are ready" 100 "$(count_status "$db" ready)"

# ---- started before the database --------------------------------------------------------------
sup_stop "$one"
sup_stop "$two"
pg_private_ctl pg stop -m fast >/dev/null
synthetic_conns "$cfg/b.spc" 1 100 2 late
spawn "$T_DIR/early.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/early.workers" \
    --bind-publish "ipc://$T_DIR/early.publish" --bind-control "ipc://$T_DIR/early.control" \
    --workers 0
early=$SPAWNED
# ... and its only worker too, a remote one
spawn "$T_DIR/early-worker.log" connstate-worker --connect "ipc://$T_DIR/early.workers" \
    --db "$db" --plugin-dir "$(plugin_dir)" --name remote
early_worker=$SPAWNED
check "a supervisor started before its database says it waits for it" \
    wait_log "$T_DIR/early.log" "database unavailable, waiting for it" 20
# 10 s later the database comes
wait_until 12 bash -c "! kill -0 $early 2>/dev/null || [ \$(( \$(date +%s) - $(date +%s) )) -ge 10 ]"
check "... and is still running 10 s later" kill -0 "$early"
check "a worker started before the database waits for it too" kill -0 "$early_worker"
pg_private_ctl pg start >/dev/null
t0=$(date +%s%N)
check "... then carries all 200 connections to ready once it is there" \
    wait_sql 60 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 200
diag "ready $(( ($(date +%s%N) - t0) / 1000000 )) ms after the database started"
check_eq "... with one line for the wait, not one per attempt" 1 \
    "$(grep -c 'database unavailable' "$T_DIR/early.log")"
check "... with the same pid" kill -0 "$early"
check "... the work done by the worker that was started before the database, same pid" \
    bash -c "kill -0 $early_worker && grep -q 'database available' '$T_DIR/early-worker.log'"

done_testing
