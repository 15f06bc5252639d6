# The wire protocol as a third party sees it from proto/PROTOCOL.md: a raw DEALER sending
# hand-made bytes on the control channel gets ERROR replies that repeat the request's
# request_id whenever it could be read, also when the rest of the request is wrong; a REQ
# socket gets no answer at all (REQ is not supported).
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

done_testing
