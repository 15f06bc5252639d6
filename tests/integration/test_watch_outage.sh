# connstate watch across the supervisor's database outages, shown by a fake supervisor
# (tests/drivers/fake_supervisor) whose heartbeats carry db_down_since and standby: watch
# says once when the database becomes unavailable, when the supervisor is a standby and
# when it is back, in JSON and in the dashboard; it recovers by itself when the sequence
# jumps after the outage or the supervisor restarts, and shows each change exactly once.
. "$(dirname "$0")/../lib.sh"

drivers=$BUILD/tests/drivers
pub=ipc://$T_DIR/fake.publish
ctl=ipc://$T_DIR/fake.control
mkfifo "$T_DIR/fake.in"
exec 7<>"$T_DIR/fake.in" # held open: the fake supervisor reads commands from it
# (a background job's stdin is /dev/null unless the job itself redirects it)
spawn "$T_DIR/fake.out" bash -c 'exec "$0" --publish "$1" --control "$2" <"$3"' \
    "$drivers/fake_supervisor" "$pub" "$ctl" "$T_DIR/fake.in"
check "the fake supervisor binds" wait_log "$T_DIR/fake.out" "^bound$" 10
say() { echo "$*" >&7; }
say "row a ready 3"
say "row b ready 5"
say "seq 5"

spawn "$T_DIR/watch.json" connstate watch --publish "$pub" --control "$ctl" --format json
json=$SPAWNED
spawn "$T_DIR/watch.txt" connstate watch --publish "$pub" --control "$ctl" --format table
text=$SPAWNED
# lines CONNECTION: the JSON lines about one connection; lines_are CONNECTION N: N of them.
lines() { grep -c "\"connection_name\":\"$1\"" "$T_DIR/watch.json"; }
lines_are() { [ "$(lines "$1")" = "$2" ]; }
# served_more N: the fake supervisor served more than N snapshots; refused_at_least N.
served_more() { [ "$(grep -c '^snapshot served' "$T_DIR/fake.out")" -gt "$1" ]; }
refused_at_least() { [ "$(grep -c '^snapshot refused' "$T_DIR/fake.out")" -ge "$1" ]; }
check "watch prints the snapshot" wait_until 10 lines_are b 1

# 2025-12-01T14:40:00.123456Z
say "down 1764600000123456"
check "watch (JSON): one object says the database is unavailable and since when" wait_log "$T_DIR/watch.json" \
    '^\{"supervisor":"database_unavailable","db_down_since":"2025-12-01T14:40:00.123456Z","message":"supervisor: database unavailable since 14:40:00 UTC"\}$' 5
check "watch (dashboard): says it too" wait_log "$T_DIR/watch.txt" "supervisor: database unavailable since 14:40:00 UTC" 5

# Back, with changes written during the outage that were never published: seq 5 -> 8.
say "row b error 7"
say "row c pending 8"
say "drop a"
# Back first, then the seq jumps (a heartbeat saying seq 8 while still down would start a
# resync that the fake refuses, or not, depending on when it reads its next command).
say "up"
say "seq 8"
check "watch (JSON): the database is available again" wait_log "$T_DIR/watch.json" \
    '^\{"supervisor":"active","db_down_since":null,"message":"supervisor: database available again"\}$' 5
check "watch (dashboard): says it too" wait_log "$T_DIR/watch.txt" "supervisor: database available again" 5
check "watch resyncs after the jump in sequence numbers: c appears" wait_until 10 lines_are c 1
check "... b's change written during the outage is shown" grep -q '"seq":7,"connection_name":"b","status":"error"' "$T_DIR/watch.json"
check "... a, gone during the outage, is shown deleted" grep -q '"connection_name":"a","status":"deleted"' "$T_DIR/watch.json"
check_eq "... and nothing twice (lines of a, b, c)" "2 2 1" "$(lines a) $(lines b) $(lines c)"
say "publish 9 c ready"
check "a live change after the outage is shown" wait_until 5 grep -q '"seq":9,"connection_name":"c","status":"ready"' "$T_DIR/watch.json"

# A standby, then active again.
say "standby"
check "watch (JSON): the supervisor is a standby" wait_log "$T_DIR/watch.json" \
    '^\{"supervisor":"standby","db_down_since":null,"message":"supervisor: standby \(another supervisor is active\)"\}$' 5
check "watch (dashboard): says it too" wait_log "$T_DIR/watch.txt" "supervisor: standby \\(another supervisor is active\\)" 5
say "up"
check "watch (JSON): active again" wait_log "$T_DIR/watch.json" '"supervisor":"active".*it took over' 5

# The supervisor restarts while the database is down: snapshots are refused until it is
# back; watch says so once, and takes the snapshot as soon as the database is back.
say "down 1764600000123456"
say "instance 2"
check "the restarted supervisor refuses snapshots while the database is down" \
    wait_until 10 refused_at_least 4 # two watchers, each asked twice
check_eq "watch says once that the snapshot was refused" 1 "$(grep -c 'refused the snapshot' "$T_DIR/watch.json")"
served=$(grep -c '^snapshot served' "$T_DIR/fake.out")
say "row d ready 10"
say "seq 10"
start=$(date +%s%N)
say "up"
check "watch asks for the snapshot as soon as the database is back" \
    wait_until 10 served_more "$served"
diag "snapshot taken $((($(date +%s%N) - start) / 1000000)) ms after the heartbeat said the database is back"
check "... and shows the row added meanwhile" wait_until 5 grep -q '"seq":10,"connection_name":"d","status":"ready"' "$T_DIR/watch.json"
check_eq "... and nothing twice (lines of b, c, d)" "2 2 1" "$(lines b) $(lines c) $(lines d)"
check_eq "two 'unavailable' and two 'available again' objects in all" "2 2" \
    "$(grep -c '"supervisor":"database_unavailable"' "$T_DIR/watch.json") $(grep -c 'database available again' "$T_DIR/watch.json")"
check "both watchers are still running" kill -0 "$json" "$text"
kill -TERM "$json" "$text"
wait "$json"
check "watch exits 0 on SIGTERM" test $? -eq 0
diag "$(grep -v '"connection_name"' "$T_DIR/watch.json")"
exec 7>&-

done_testing
