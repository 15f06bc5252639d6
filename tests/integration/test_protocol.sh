# The wire protocol as a third party sees it from proto/PROTOCOL.md: a raw DEALER sending
# hand-made bytes on the control channel gets ERROR replies that repeat the request's
# request_id whenever it could be read, also when the rest of the request is wrong; a REQ
# socket gets no answer at all (REQ is not supported). A subscriber asks for its snapshot
# only once its first message on SUB has come, so that no change published after the
# snapshot can miss it (shown by a fake supervisor that the subscription reaches late).
. "$(dirname "$0")/../lib.sh"

drivers=$BUILD/tests/drivers
raw=$drivers/control_raw

db=$(new_db protocol)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 3
sup_start main "$db" "$cfg" --workers 1
ctl=$(control main)

# ---- ERROR repeats the request_id ----------------------------------------------------------
# Bodies (msgpack maps, keys as in PROTOCOL.md), one per line of the driver's output:
#   STATUS_REQ, request_id 4242                                        -> STATUS_REP 4242
#   SNAPSHOT_REQ 4243 whose prefix (key 2) is an integer, not a string -> ERROR 4243
#   type 99 (unknown), request_id 4244                                 -> ERROR 4244
#   REFRESH_REQ 4245 with a string key ("k")                           -> ERROR 4245
#   REFRESH_REQ 4246 whose wait (key 2) is nil                         -> ERROR 4246
#   STATUS_REQ 4247 with request_id (key 1) twice                      -> ERROR 0
#   STATUS_REQ whose request_id is a string                            -> ERROR 0
#   a truncated SNAPSHOT_REQ                                           -> ERROR 0
#   READY (a worker's message: key 1 is its capacity)                  -> ERROR 0
out=$("$raw" "$ctl" \
    "82 00 19 01 cd 10 92" \
    "83 00 14 01 cd 10 93 02 07" \
    "82 00 63 01 cd 10 94" \
    "83 00 17 01 cd 10 95 a1 6b 01" \
    "83 00 17 01 cd 10 96 02 c0" \
    "83 00 19 01 cd 10 97 01 cd 10 97" \
    "82 00 19 01 a1 78" \
    "83 00 14 01 cd 10" \
    "82 00 01 01 04")
diag "replies: $(echo "$out" | tr '\n' '|')"
line() { echo "$out" | sed -n "${1}p"; }
check_eq "a valid STATUS_REQ is answered with its request_id" "STATUS_REP request_id=4242" "$(line 1)"
check "a field of the wrong type: ERROR with the request's id, saying which key" \
    grep -q "^ERROR request_id=4243: SNAPSHOT_REQ: key 2 (prefix): expected a string, got an integer$" <<<"$(line 2)"
check "an unknown message type: ERROR with the request's id" \
    grep -q "^ERROR request_id=4244: message: unknown message type$" <<<"$(line 3)"
check "a key that is not an integer: ERROR with the request's id" \
    grep -q "^ERROR request_id=4245: REFRESH_REQ: map key is a string" <<<"$(line 4)"
check "nil for a boolean: ERROR with the request's id" \
    grep -q "^ERROR request_id=4246: REFRESH_REQ: key 2 (wait): expected a boolean, got nil$" <<<"$(line 5)"
check "request_id twice: ERROR with request_id 0 (it is ambiguous)" \
    grep -q "^ERROR request_id=0: STATUS_REQ: duplicate key 1$" <<<"$(line 6)"
check "a request_id that is not an integer: ERROR with request_id 0" \
    grep -q "^ERROR request_id=0: STATUS_REQ: key 1 (request_id): expected an unsigned integer, got a string$" <<<"$(line 7)"
check "a truncated body: ERROR with request_id 0" \
    grep -q "^ERROR request_id=0: map longer than the bytes that remain at byte 1$" <<<"$(line 8)"
check "a worker's READY on the control channel: ERROR with request_id 0" \
    grep -q "^ERROR request_id=0: unexpected message type on the control channel$" <<<"$(line 9)"
check "the supervisor logged the malformed requests" \
    grep -q "warn: malformed control request: SNAPSHOT_REQ: key 2 (prefix)" "$T_DIR/main.log"

# ---- REQ is not supported --------------------------------------------------------------------
# A REQ socket puts an empty delimiter frame before the header: the supervisor sees three
# frames, answers ERROR to the routing id without a delimiter, and the REQ socket drops
# that reply; it waits forever (and may not send again).
out=$("$raw" --req --timeout 1500 "$ctl" "82 00 19 01 cd 10 92")
check_eq "a REQ socket gets no reply" "no reply within 1500 ms" "$out"
check "the supervisor says why: three frames" \
    grep -q "warn: malformed control request: expected 2 frames, got 3" "$T_DIR/main.log"

# ---- watch still starts promptly: the supervisor greets a new subscriber with a heartbeat -
times=()
for i in 1 2 3 4 5; do
    start=$(date +%s%N)
    spawn "$T_DIR/start$i.json" connstate watch --publish "ipc://$T_DIR/main.publish" \
        --control "$ctl" --format json
    wait_until 10 grep -q '"connection_name":"syn_3"' "$T_DIR/start$i.json"
    times+=($((($(date +%s%N) - start) / 1000000)))
    kill -TERM "$SPAWNED"
done
slowest=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
diag "watch showed its snapshot after ${times[*]} ms"
check "watch shows its snapshot within a heartbeat (1 s) of its start, each of 5 times (slowest $slowest ms)" \
    test "$slowest" -lt 1000

# ---- a subscriber asks for its snapshot after its first message on SUB ---------------------
# The fake supervisor takes in a subscription only 2.5 s after it arrived, or once it served
# a snapshot (as a restarted supervisor that a subscriber's control socket reaches before its
# SUB socket), and publishes b's change right after serving the snapshot. A subscriber that
# asked before it heard anything on SUB misses that change: it learns of it only from the
# next heartbeat (seq ahead), through a second snapshot.
pub=ipc://$T_DIR/fake.publish
fctl=ipc://$T_DIR/fake.control
mkfifo "$T_DIR/fake.in"
exec 7<>"$T_DIR/fake.in"
spawn "$T_DIR/fake.out" bash -c 'exec "$0" --publish "$1" --control "$2" --hold-subscriptions 2500 <"$3"' \
    "$drivers/fake_supervisor" "$pub" "$fctl" "$T_DIR/fake.in"
check "the fake supervisor binds" wait_log "$T_DIR/fake.out" "^bound$" 10
for command in "row a ready 3" "row b ready 5" "seq 5" "after-snapshot 6 b updating"; do
    echo "$command" >&7
done
start=$(date +%s%N)
spawn "$T_DIR/watch.json" connstate watch --publish "$pub" --control "$fctl" --format json
check "watch shows b's change published right after the snapshot" \
    wait_log "$T_DIR/watch.json" '"seq":6,"connection_name":"b","status":"updating"' 10
diag "$(grep -c '^snapshot served' "$T_DIR/fake.out") snapshot(s) served; b's change shown $((($(date +%s%N) - start) / 1000000)) ms after watch started"
check_eq "... live, from the one snapshot it asked for (no resync)" 1 "$(grep -c '^snapshot served' "$T_DIR/fake.out")"
check_eq "... after the snapshot's row" '5 ready|6 updating' \
    "$(grep '"connection_name":"b"' "$T_DIR/watch.json" | sed -E 's/^\{"seq":([0-9]+).*"status":"([a-z]+)".*/\1 \2/' | paste -sd'|')"

done_testing
