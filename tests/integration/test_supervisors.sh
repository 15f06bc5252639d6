# Refreshes requested during a refresh are coalesced; a second supervisor stands by and
# takes over when the first one exits or dies.
. "$(dirname "$0")/../lib.sh"

db=$(new_db supervisors)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/base.spc" 1 10
sup_start one "$db" "$cfg"

# ---- a refresh requested while one runs is coalesced into one follow-up pass --------------
printf 'connection "slowpoke" {\n  plugin = "slow"\n}\n' >"$cfg/slow.spc"
export CONNSTATE_TEST_SLOW=2
connstate refresh --control "$(control one)" >"$T_DIR/r1.out" &
r1=$!
check "the first refresh is running" wait_sql 10 "$db" \
    "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'slowpoke'" updating
gen_running=$(grep -Eo 'refresh [0-9]+: ' "$T_DIR/one.log" | tail -1 | grep -Eo '[0-9]+')
connstate refresh --control "$(control one)" >"$T_DIR/r2.out" &
r2=$!
connstate refresh --control "$(control one)" >"$T_DIR/r3.out" &
r3=$!
wait "$r1"; wait "$r2"; wait "$r3"
check "all three refresh commands return" test -s "$T_DIR/r1.out" -a -s "$T_DIR/r2.out" -a -s "$T_DIR/r3.out"
follow=$((gen_running + 1))
check_eq "the two requests made during it share one follow-up pass" "2" \
    "$(grep -c "^refresh $follow done" "$T_DIR/r2.out" "$T_DIR/r3.out" | awk -F: '{s += $2} END {print s}')"
check "no further pass ran" bash -c "! grep -q 'refresh $((follow + 1)): ' '$T_DIR/one.log'"
check_eq "slowpoke is ready" ready "$(status_of "$db" slowpoke)"

# ---- a second supervisor on the same database stands by ---------------------------------
spawn "$T_DIR/two.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/two.workers" \
    --bind-publish "ipc://$T_DIR/two.publish" --bind-control "ipc://$T_DIR/two.control" --workers 1
two=$SPAWNED
check "the second supervisor says it is standing by" \
    wait_log "$T_DIR/two.log" "another supervisor is active on this database; standing by" 10
check "while standing by it binds nothing" test ! -e "$T_DIR/two.control"
check "while standing by it starts no workers" bash -c "! pgrep -P $two >/dev/null"

# ---- ... and takes over when the first dies ----------------------------------------------
printf 'connection "after_takeover" {\n  plugin = "synthetic"\n}\n' >"$cfg/later.spc"
kill -KILL "$SUP_PID"
check "the second supervisor takes over when the first dies" \
    wait_log "$T_DIR/two.log" "the other supervisor is gone: taking over" 15
check "the dead supervisor's local workers stop by themselves" \
    wait_until 5 bash -c "! pgrep -f '[c]onnstate-worker --connect ipc://$T_DIR/one.workers' >/dev/null"
check "it runs its own refresh" wait_log "$T_DIR/two.log" "refresh 1 done" 30
check_eq "the new connection is ready under the new supervisor" ready "$(status_of "$db" after_takeover)"
check_eq "nothing is left pending or updating" 0 \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status IN ('pending', 'updating')")"
out=$(connstate refresh --control "$(control two)")
check "the new supervisor answers on its control endpoint" grep -q "^refresh 2 done" <<<"$out"
check "the standby that took over stops gracefully" sup_stop "$two"

done_testing
