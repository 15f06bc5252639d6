# Log lines as an operator reads them: timestamps (by default when not under journald),
# every line of a multi-line message prefixed, and repeated messages rate-limited.
. "$(dirname "$0")/../lib.sh"

# ---- timestamps ---------------------------------------------------------------------------
# A worker that cannot start logs one error line and exits 2.
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
env -u CONNSTATE_LOG_TIME -u JOURNAL_STREAM "$BIN/connstate-worker" --name wrk-t \
    --plugin-dir "$T_DIR/no-such-dir" 2>"$T_DIR/t1.log"
check_eq "a worker that cannot start exits 2" 2 $?
check "by default (not the journal) a line starts with the UTC time in ms" \
    grep -Eq "^$iso wrk-t\[[0-9]+\] error: cannot start: plugin directory" "$T_DIR/t1.log"
stamp=$(grep -Eo "^$iso" "$T_DIR/t1.log" | head -1)
check "the time is now, in UTC" test $(( $(date -u +%s) - $(date -u -d "$stamp" +%s) )) -lt 60

: >"$T_DIR/t2.log"
journal=$(stat -c '%d:%i' "$T_DIR/t2.log")
env -u CONNSTATE_LOG_TIME JOURNAL_STREAM="$journal" "$BIN/connstate-worker" --name wrk-t \
    --plugin-dir "$T_DIR/no-such-dir" 2>>"$T_DIR/t2.log"
check "under journald (JOURNAL_STREAM is stderr) no timestamp: it has its own" \
    grep -Eq "^wrk-t\[[0-9]+\] error: cannot start" "$T_DIR/t2.log"

: >"$T_DIR/t3.log"
env -u CONNSTATE_LOG_TIME JOURNAL_STREAM=1:1 "$BIN/connstate-worker" --name wrk-t \
    --plugin-dir "$T_DIR/no-such-dir" 2>>"$T_DIR/t3.log"
check "JOURNAL_STREAM of another stream: timestamps" grep -Eq "^$iso wrk-t\[" "$T_DIR/t3.log"

: >"$T_DIR/t4.log"
CONNSTATE_LOG_TIME=1 JOURNAL_STREAM=$(stat -c '%d:%i' "$T_DIR/t4.log") "$BIN/connstate-worker" \
    --name wrk-t --plugin-dir "$T_DIR/no-such-dir" 2>>"$T_DIR/t4.log"
check "CONNSTATE_LOG_TIME=1 forces them on" grep -Eq "^$iso wrk-t\[" "$T_DIR/t4.log"

CONNSTATE_LOG_TIME=0 env -u JOURNAL_STREAM "$BIN/connstate-worker" --name wrk-t \
    --plugin-dir "$T_DIR/no-such-dir" 2>"$T_DIR/t5.log"
check "CONNSTATE_LOG_TIME=0 turns them off" grep -Eq "^wrk-t\[[0-9]+\] error: cannot start" "$T_DIR/t5.log"

# ---- multi-line messages ------------------------------------------------------------------
mkdir -p "$T_DIR/nosock"
spawn "$T_DIR/multi.log" connstate-worker --name wrk-t --plugin-dir "$(plugin_dir)" \
    --db "host=$T_DIR/nosock port=1" --connect "ipc://$T_DIR/multi.workers"
multi=$SPAWNED
wait_log "$T_DIR/multi.log" "Is the server running" 10
kill -TERM "$multi"
wait "$multi"
check "libpq's error has several lines" test "$(wc -l <"$T_DIR/multi.log")" -ge 2
check "every one of them carries the prefix" \
    bash -c "! grep -Ev '^wrk-t\[[0-9]+\] (warn|info): ' '$T_DIR/multi.log'"
check "its second line is libpq's hint" grep -Eq "^wrk-t\[[0-9]+\] warn: [[:space:]]*Is the server running" "$T_DIR/multi.log"

# ---- rate limits: 10,000 garbage frames on the worker socket -------------------------------
db=$(new_db logs)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 5
sup_start main "$db" "$cfg"
log=$T_DIR/main.log
"$BUILD/tests/drivers/garbage_frames" "ipc://$T_DIR/main.workers" 10000 >"$T_DIR/garbage.out" &
garbage=$!
start=$(date +%s%N)
check "the supervisor answers a refresh during the flood" \
    timeout 30 connstate refresh --control "$(control main)"
diag "refresh during the flood took $((($(date +%s%N) - start) / 1000000)) ms"
wait "$garbage"
diag "$(cat "$T_DIR/garbage.out"): the driver was done (3 s after the last answer) in $((($(date +%s%N) - start) / 1000000)) ms"
check "the driver sent its 10,000 frames" grep -q "^sent 10000," "$T_DIR/garbage.out"
# Every frame is answered with the reason why, up to what the peer's queue holds (the worker
# socket's high-water mark, 1000 messages): a peer that floods without reading loses the rest.
answered=$(sed -n 's/^sent 10000, answered \([0-9]*\)$/\1/p' "$T_DIR/garbage.out")
check "the supervisor answered the frames, the reason why in each ($answered of 10000)" \
    test "${answered:-0}" -ge 1000

# every frame is either logged or counted in a "suppressed" summary (printed by the loop
# when the 10 s window ends)
accounted() {
    local lines suppressed
    lines=$(grep -c "^sup\[$SUP_PID\] warn: malformed message from worker" "$log")
    suppressed=$(grep -Eo "^sup\[$SUP_PID\] warn: suppressed [0-9]+ more messages like \"malformed message from worker" "$log" |
        grep -Eo '[0-9]+ more' | awk '{ s += $1 } END { print s + 0 }')
    [ $((lines + suppressed)) -ge 10000 ]
}
check "every garbage frame is logged or counted as suppressed" wait_until 60 accounted
lines=$(grep -c "^sup\[$SUP_PID\] warn: malformed message from worker" "$log")
diag "$lines lines about malformed messages, then: $(grep -m1 'suppressed [0-9]' "$log")"
check "at most a few dozen lines about them" test "$lines" -le 60
check "a summary says how many were suppressed" \
    grep -Eq "^sup\[$SUP_PID\] warn: suppressed [0-9]+ more messages like \"malformed message from worker %s: %s\" in 10 s" "$log"
start=$(date +%s%N)
check "the supervisor still answers a refresh" timeout 30 connstate refresh --control "$(control main)"
diag "refresh after the flood took $((($(date +%s%N) - start) / 1000000)) ms"
check_eq "its connections are still ready" 5 "$(count_status "$db" ready)"
check "it exits 0 on SIGTERM" sup_stop "$SUP_PID"

done_testing
