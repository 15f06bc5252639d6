# The supervisor's event loop never waits on a plugin: while a plugin's `info` takes 8 s,
# the control channel answers and the workers are heard (they give a supervisor up after
# 5 s of silence).
. "$(dirname "$0")/../lib.sh"

db=$(new_db plugin_info)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 5 1 a_
export CONNSTATE_TEST_INFO_SLEEP=8
sup_start main "$db" "$cfg" --plugin-timeout 20

printf 'connection "late" {\n  plugin = "slowinfo"\n}\n' >"$cfg/c.spc"
kill -HUP "$SUP_PID"
check "the slow plugin's info is being asked" wait_until 15 bash -c "pgrep -f '$T_DIR/plugins/[s]lowinfo info' >/dev/null"
connstate refresh --control "$(control main)" --timeout 60 >"$T_DIR/refresh.out" 2>&1
check_eq "connstate refresh, asked meanwhile, is answered and completes (exit 0)" 0 "$?"
check "... without 'no supervisor answers'" bash -c "! grep -q 'no supervisor answers' '$T_DIR/refresh.out'"
check_eq "the connection of the slow plugin is ready" ready "$(status_of "$db" late)"
check "no worker fell silent or reconnected" \
    bash -c "! grep -Eq 'fell silent|no word from the supervisor|announced itself again' '$T_DIR/main.log'"

# The info is asked once per plugin file: a refresh now waits for nothing.
start=$(date +%s%N)
connstate refresh --control "$(control main)" --timeout 60 >/dev/null
check "the plugin's info is cached: the next refresh does not ask again" \
    test $((($(date +%s%N) - start) / 1000000)) -lt 4000

# Stopped while a plugin is being asked: a clean stop once the ask ends.
touch "$T_DIR/plugins/slowinfo" # changed: asked again
kill -HUP "$SUP_PID"
check "the changed plugin is asked again" \
    wait_until 15 bash -c "pgrep -f '$T_DIR/plugins/[s]lowinfo info' >/dev/null"
check "stopped meanwhile, the supervisor exits 0" sup_stop "$SUP_PID"
check "... with nothing left dangling" bash -c "! grep -Eq 'dangling|Assertion' '$T_DIR/main.log'"

# A plugin whose info never ends is killed at the timeout; only its connection fails.
export CONNSTATE_TEST_INFO_SLEEP=3600
sup_start hang "$db" "$cfg" --plugin-timeout 3
check_eq "a plugin whose info hangs: its connection is in error, saying so" \
    "plugin slowinfo info timed out after 3 s and was killed" "$(error_of "$db" late)"
check_eq "... the others are ready" 5 "$(count_status "$db" ready)"
check "... and no info process is left running" bash -c "! pgrep -f '$T_DIR/plugins/[s]lowinfo info' >/dev/null"
sup_stop "$SUP_PID"

done_testing
