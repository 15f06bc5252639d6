# The control channel under floods: clients reading 10,000-row snapshots back to back do not
# delay worker traffic (a one-connection change is ready in seconds; no worker reconnects);
# snapshots taken while rows change leave subscribers with exactly the table's contents;
# clients that never read their replies, or pile up refresh waits, do not grow the
# supervisor; snapshots in flight are bounded, and dropped when their client is gone or
# takes nothing for --snapshot-timeout.
. "$(dirname "$0")/../lib.sh"

db=$(new_db floods)
cfg=$T_DIR/config
mkdir -p "$cfg"
flood=$BUILD/tests/drivers/control_flood
sub_check=$BUILD/tests/drivers/sub_check

# idle_conns FILE FIRST LAST: connections idle_FIRST .. idle_LAST that are configured but
# not imported (status disabled: rows in the table, no DDL).
idle_conns() {
    awk -v first="$2" -v last="$3" 'BEGIN { for (i = first; i <= last; i++)
        printf "connection \"idle_%d\" {\n  plugin = \"synthetic\"\n  import_schema = \"disabled\"\n}\n", i }' \
        >"$1.tmp" && mv "$1.tmp" "$1"
}

# vm PID FIELD: a /proc/PID/status field in kB (VmRSS, VmHWM).
vm() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# check_growth DESCRIPTION PID BEFORE_KB: the process's peak RSS is under BEFORE + 64 MB.
# AddressSanitizer keeps freed memory in quarantine (256 MB): there, RSS says nothing.
check_growth() {
    if ldd "$(command -v connstate-supervisor)" | grep -q libasan; then
        ok "$1 # skip under AddressSanitizer"
    else
        check "$1" test $(($(vm "$2" VmHWM) - $3)) -lt 65536
    fi
}

# field FILE WORD: the number before WORD in the driver's summary line ("... 12 refused").
field() { grep -Eo "[0-9]+ $2" "$1" | tail -1 | cut -d' ' -f1; }

# no_worker_trouble LOG: no worker reconnected or was reported silent or lost.
no_worker_trouble() {
    local ready
    ready=$(grep -c "info: worker .* ready (capacity" "$1")
    if [ "$ready" -ne 2 ] || grep -Eq "fell silent|reconnecting|worker lost" "$1"; then
        diag "worker READY lines: $ready (2 expected); trouble:"
        grep -E "fell silent|reconnecting|worker lost" "$1" | head -5 | sed 's/^/#   /'
        return 1
    fi
}

idle_conns "$cfg/idle.spc" 1 9998
synthetic_conns "$cfg/live.spc" 1 2 2 live_
export CONNSTATE_TEST_SLOW=1 # the slow plugin's schema takes a second (used further down)
sup_start main "$db" "$cfg"
ctl=$(control main)
pub=ipc://$T_DIR/main.publish
check_eq "10,000 rows to snapshot" 10000 \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state")"

# ---- four clients reading snapshots back to back, eight requests in flight each --------
readers=()
for r in 1 2 3 4; do
    spawn "$T_DIR/readers.out" "$flood" --control "$ctl" --read 10 --depth 8 --rows 10000
    readers+=("$SPAWNED")
done
synthetic_conns "$cfg/live.spc" 1 2 3 live_ # live_1 and live_2 get a third table
start=$(date +%s%N)
check "under snapshot load, a one-connection change is ready within 5 s" wait_sql 5 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state s JOIN information_schema.tables t
     ON t.table_schema = s.connection_name
     WHERE s.connection_name LIKE 'live\_%' AND s.status = 'ready' AND t.table_name = 'table_3'" 2
wait_sql 60 "$db" "SELECT count(*) FROM connstate_internal.connection_state s
    JOIN information_schema.tables t ON t.table_schema = s.connection_name
    WHERE s.connection_name LIKE 'live\_%' AND s.status = 'ready' AND t.table_name = 'table_3'" 2 >/dev/null
diag "the change was ready after $((($(date +%s%N) - start) / 1000000)) ms"
failed=0
for pid in "${readers[@]}"; do wait "$pid" || failed=$((failed + 1)); done
check "every snapshot under load was complete (10,000 rows, END total = rows sent)" \
    test "$failed" -eq 0
diag "$(cat "$T_DIR/readers.out")"
check "each reader got snapshots" test "$(grep -c "^1 clients: [1-9]" "$T_DIR/readers.out")" -eq 4
check "no worker reconnected or fell silent under snapshot load" no_worker_trouble "$T_DIR/main.log"

# ---- snapshots taken while a refresh builds 1,500 connections ----------------------------
# built_at_least N: N of the build_ connections are ready.
built_at_least() {
    [ "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state
                    WHERE connection_name LIKE 'build\_%' AND status = 'ready'")" -ge "$1" ]
}
"$flood" --control "$ctl" --read 90 --until-file "$T_DIR/settled" --peers 3 --depth 2 \
    >"$T_DIR/busy.out" &
busy=$!
T_PIDS+=("$busy")
synthetic_conns "$cfg/build.spc" 1 1500 1 build_
for at in 0 400 900; do
    wait_until 60 built_at_least "$at"
    spawn "$T_DIR/sub$at.out" "$sub_check" --publish "$pub" --control "$ctl" --db "$db" \
        --until-file "$T_DIR/settled" --timeout 90
    eval "sub$at=$SPAWNED"
done
check "the refresh builds the 1,500 connections and their comments" wait_sql 60 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state
     WHERE connection_name LIKE 'build\_%' AND status = 'ready' AND comments_set" 1500
touch "$T_DIR/settled"
for at in 0 400 900; do
    pid=sub$at
    wait "${!pid}"
    check "a subscriber started when $at were built ends with exactly the table's 11,500 rows" \
        grep -q "^match 11500 rows" "$T_DIR/sub$at.out"
    grep -q "^match" "$T_DIR/sub$at.out" || diag "$(tail -3 "$T_DIR/sub$at.out")"
done
wait "$busy"
check "every snapshot taken during the build was complete (END total = rows sent, no row twice)" \
    test $? -eq 0
diag "$(cat "$T_DIR/busy.out")"
check "no worker reconnected or fell silent during the build under load" \
    no_worker_trouble "$T_DIR/main.log"

# ---- clients that ask for snapshots and never read them ---------------------------------
echo 5 >"/proc/$SUP_PID/clear_refs" # VmHWM starts again from the current VmRSS
rss=$(vm "$SUP_PID" VmRSS)
"$flood" --control "$ctl" --ignore 6 --peers 4 --hold 1 >"$T_DIR/ignore.out"
diag "$(cat "$T_DIR/ignore.out"); supervisor VmRSS ${rss} kB before, peak $(vm "$SUP_PID" VmHWM) kB"
check_growth "4 clients flooding snapshot requests they never read grow the supervisor by < 64 MB" \
    "$SUP_PID" "$rss"
"$flood" --control "$ctl" --read 1 --rows 11500 >"$T_DIR/after.out"
check "once they are gone, snapshots are served in full again" test $? -eq 0
diag "$(cat "$T_DIR/after.out")"

# ---- refresh requests that wait: bounded per client, and in all ------------------------
rss=$(vm "$SUP_PID" VmRSS)
echo 5 >"/proc/$SUP_PID/clear_refs"
"$flood" --control "$ctl" --ignore 4 --peers 2 --refresh >"$T_DIR/waits-flood.out"
diag "$(cat "$T_DIR/waits-flood.out"); supervisor VmRSS ${rss} kB before, peak $(vm "$SUP_PID" VmHWM) kB"
check_growth "2 clients flooding refresh requests with wait grow the supervisor by < 64 MB" \
    "$SUP_PID" "$rss"
# A refresh that takes a while (the slow plugin is rebuilt every time): the 20 requests all
# come in before the refresh they wait for can be done.
connstate refresh --control "$ctl" >/dev/null
printf 'connection "slow_1" {\n  plugin = "slow"\n}\n' >"$cfg/slow.spc"
wait_sql 10 "$db" "SELECT status FROM connstate_internal.connection_state
                   WHERE connection_name = 'slow_1'" updating
out=$("$flood" --control "$ctl" --waits 20)
check_eq "a client's 17th and later waiting refresh requests are refused; the rest complete" \
    "accepted 16, refused 4, done 16" "$(grep '^accepted' <<<"$out")"
check "the refusal says why" grep -q "too many refresh requests of this client waiting (at most 16)" <<<"$out"
check "no worker reconnected or fell silent during the floods" no_worker_trouble "$T_DIR/main.log"
sup_stop "$SUP_PID"

# ---- snapshots in flight: at most --max-snapshots; dropped when idle or gone --------------
sup_start bounds "$db" "$cfg" --max-snapshots 4 --snapshot-timeout 8
ctl=$(control bounds)
# Three clients that never read: each holds two stalled snapshots, but only four are served.
"$flood" --control "$ctl" --ignore 0.5 --peers 3 --hold 14 >"$T_DIR/stall.out" &
stall=$!
T_PIDS+=("$stall")
wait_until 10 grep -q "^sent" "$T_DIR/stall.out"
"$flood" --control "$ctl" --read 1 >"$T_DIR/refused.out"
diag "$(cat "$T_DIR/refused.out")"
check "with --max-snapshots in flight, another client is refused and told why" \
    grep -q "^first refusal: too many snapshots in flight (at most 4)" "$T_DIR/refused.out"
check "a snapshot whose client takes nothing for --snapshot-timeout is dropped, and logged" \
    wait_log "$T_DIR/bounds.log" "snapshot [0-9]+ dropped after .* took nothing for 8 s" 15
"$flood" --control "$ctl" --read 1 --rows 11501 >"$T_DIR/freed.out"
check "the dropped snapshots' places are free: a reading client is served again" test $? -eq 0
dropped=$(grep -c "took nothing for 8 s" "$T_DIR/bounds.log")
check "each dropped snapshot is logged once (not once per retry): $dropped lines" \
    test "$dropped" -le 4
wait "$stall"
# Clients that flood and go away: their snapshots are dropped at once, long before 8 s.
"$flood" --control "$ctl" --ignore 0.5 --peers 3 >/dev/null
served_fully() {
    "$flood" --control "$ctl" --read 1 --rows 11501 >"$T_DIR/gone.out" &&
        [ "$(field "$T_DIR/gone.out" refused)" -eq 0 ]
}
check "snapshots of clients that are gone are dropped at once (served again within 4 s)" \
    wait_until 4 served_fully || diag "$(cat "$T_DIR/gone.out")"
sup_stop "$SUP_PID"

done_testing
