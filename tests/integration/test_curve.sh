#!/bin/bash
# CURVE on the supervisor's three sockets, on one host: its local workers get a key of their
# own; a remote worker is admitted only with a key of --curve-workers, a client only with one
# of --curve-clients (a client key is never a worker's); every refused peer is logged once
# with the reason; the allow-lists are read again when their directory changes and on
# SIGHUP; clients with CURVE settings never fall back to plain text; without CURVE no
# endpoint that other hosts can reach is bound unless --insecure says so.
. "$(dirname "$0")/../lib.sh"

drivers=$ROOT/build/tests/drivers

# wait_line FILE SECONDS TEXT [TEXT2]: waits until a line of FILE holds TEXT (and TEXT2), as
# fixed strings: keys and endpoints are full of regex characters.
has_line() { grep -F -- "$2" "$1" | grep -qF -- "${3:-$2}"; }
wait_line() {
    wait_until "$2" has_line "$1" "$3" "${4:-$3}" || {
        diag "no line with '$3' ${4:+and '$4' }in $1 within $2 s; its tail:"
        tail -8 "$1" | sed 's/^/#   /'
        return 1
    }
}
pubkey() { sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$1"; }
keys=$T_DIR/keys
mkdir -p "$keys" "$T_DIR/workers.d" "$T_DIR/clients.d"
for k in sup w1 w2 c1 c2; do connstate keygen "$keys/$k" >/dev/null || exit 1; done
cp "$keys/w1" "$T_DIR/workers.d/"
cp "$keys/c1" "$T_DIR/clients.d/"

# ---- secure by default: nothing reachable from other hosts is bound in clear ---------------
for ep in "tcp://0.0.0.0:7690" "tcp://*:7690" "tcp://10.1.2.3:7690" "tcp://eth0:7690"; do
    out=$(connstate-supervisor --db "$CONNSTATE_TEST_DB" --config-dir "$T_DIR" \
        --bind-workers "$ep" --workers 0 2>&1)
    rc=$?
    check_eq "--bind-workers $ep without CURVE: refused, exit 2" 2 "$rc"
    check "... saying why and naming --insecure" \
        bash -c 'grep -F -- "cannot start: --bind-workers $1 is reachable from other hosts and CURVE is off" <<<"$2" | grep -qF -- --insecure' _ "$ep" "$out"
done
out=$(connstate-supervisor --db "$CONNSTATE_TEST_DB" --config-dir "$T_DIR" \
    --bind-publish "tcp://0.0.0.0:7691" --workers 0 2>&1)
check_eq "--bind-publish on every interface without CURVE: refused too" 2 "$?"
out=$(connstate-supervisor --curve-workers "$T_DIR/workers.d" --workers 0 2>&1)
check_eq "--curve-workers without --curve-cert: a usage error" 2 "$?"
check "... naming what is missing" grep -q -- "--curve-workers needs --curve-cert" <<<"$out"
out=$(connstate-supervisor --curve-cert "$keys/nonesuch" --workers 0 2>&1)
check_eq "an unreadable --curve-cert: exit 2" 2 "$?"
check "... naming the file" grep -q -- "--curve-cert $keys/nonesuch" <<<"$out"
cp "$keys/c2" "$T_DIR/public_only"
out=$(connstate-supervisor --curve-cert "$T_DIR/public_only" --workers 0 2>&1)
check_eq "a public certificate as --curve-cert: exit 2" 2 "$?"
check "... saying it holds no secret key" grep -q "holds no secret key" <<<"$out"
out=$(connstate-supervisor --curve-cert "$keys/sup" --curve-clients "$T_DIR/nonesuch.d" \
    --workers 0 2>&1)
check_eq "a missing allow-list directory: exit 2" 2 "$?"
check "... naming it" grep -q "the client allow-list $T_DIR/nonesuch.d" <<<"$out"
check "the help lists the CURVE flags and --insecure" \
    bash -c "connstate-supervisor --help | grep -q -- '--curve-clients DIR' &&
             connstate-supervisor --help | grep -q -- '--insecure'"

# ---- a supervisor with CURVE on: local workers work, remote ones need a worker key -----------
db=$(new_db curve)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 20 1 a_
name=sec
sup_start $name "$db" "$cfg" --workers 1 --curve-cert "$keys/sup" \
    --curve-workers "$T_DIR/workers.d" --curve-clients "$T_DIR/clients.d"
check_eq "with CURVE on, the local worker (a key of its own) builds every connection" 20 \
    "$(count_status "$db" ready)"
log=$T_DIR/$name.log
check "the log says CURVE is on, with the public key" \
    grep -qF "info: CURVE on: public key $(pubkey "$keys/sup")" "$log"
check "the log counts the keys of each allow-list" \
    bash -c "grep -q 'worker allow-list $T_DIR/workers.d: 1 keys' '$log' &&
             grep -q 'client allow-list $T_DIR/clients.d: 1 keys' '$log'"
wep=ipc://$T_DIR/$name.workers
pep=ipc://$T_DIR/$name.publish
cep=ipc://$T_DIR/$name.control

# remote workers: without a key, with a client key, with an unknown key
spawn "$T_DIR/plain.log" env CONNSTATE_DB="$db" connstate-worker --connect "$wep" \
    --plugin-dir "$(plugin_dir)" --name plain
spawn "$T_DIR/clientkey.log" env CONNSTATE_DB="$db" connstate-worker --connect "$wep" \
    --plugin-dir "$(plugin_dir)" --name clientkey --curve-cert "$keys/c1" --curve-server "$keys/sup"
spawn "$T_DIR/unknown.log" env CONNSTATE_DB="$db" connstate-worker --connect "$wep" \
    --plugin-dir "$(plugin_dir)" --name unknown --curve-cert "$keys/w2" --curve-server "$keys/sup"
c1=$(pubkey "$keys/c1")
w2=$(pubkey "$keys/w2")
check "a worker without a key is rejected and logged: no key" \
    wait_line "$log" 10 "warn: worker socket: rejected" ": no key"
check "a worker with a client key is rejected: wrong socket" \
    wait_line "$log" 10 "warn: worker socket: rejected" "with key $c1: wrong socket"
check "a worker with an unknown key is rejected: unknown key" \
    wait_line "$log" 10 "warn: worker socket: rejected" "with key $w2: unknown key"
# they keep retrying (each keyed one says so every 2 s): still one line each
retried() { [ "$(grep -c "refused this worker's key" "$1")" -ge 2 ]; }
check "the refused keyed workers say so and try again" \
    wait_until 20 bash -c "$(declare -f retried); retried '$T_DIR/clientkey.log' && retried '$T_DIR/unknown.log'"
check_eq "each refused keyed worker is logged once, although it keeps trying" 2 \
    "$(grep -c 'warn: worker socket: rejected .* with key ' "$log")"
# A plain-text peer never reaches the ZAP handler: its address is read when libzmq reports
# the connection, and may be gone by then (one more line, "an address already gone").
check "... and the plain-text one at most twice (its address, or that it was gone)" \
    test "$(grep -c 'warn: worker socket: rejected .*: no key' "$log")" -le 2
check_eq "no refused worker is ever seen by dispatch" 0 \
    "$(grep -Ec 'worker (plain|clientkey|unknown) ready' "$log")"

# a refresh that needs work: only the admitted workers get it
synthetic_conns "$cfg/b.spc" 1 20 1 b_
spawn "$T_DIR/w1.log" env CONNSTATE_DB="$db" connstate-worker --connect "$wep" \
    --plugin-dir "$(plugin_dir)" --name goodworker --curve-cert "$keys/w1" --curve-server "$keys/sup"
check "a worker with a listed key is admitted" wait_log "$log" "worker goodworker ready" 10
check "the new connections become ready" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 40
check_eq "no refused worker built anything" 0 \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE worker IN ('plain', 'clientkey', 'unknown')")"

# the allow-list changes: a key added is admitted without a restart
cp "$keys/w2" "$T_DIR/workers.d/"
check "a certificate added to --curve-workers is read at once" \
    wait_log "$log" "worker allow-list $T_DIR/workers.d: 2 keys" 10
check "... and the worker it names gets in by itself" wait_log "$log" "worker unknown ready" 15

# ---- clients --------------------------------------------------------------------------------
out=$(connstate refresh --control "$cep" --timeout 20 --curve-cert "$keys/c1" \
    --curve-server "$keys/sup" 2>&1)
check_eq "connstate refresh with a client key: done" 0 "$?"
out=$(connstate refresh --control "$cep" --timeout 20 --curve-cert "$keys/w1" \
    --curve-server "$keys/sup" 2>&1)
check_eq "connstate refresh with a worker key: no answer (exit 1)" 1 "$?"
check "... and the supervisor logs it: wrong socket" \
    wait_line "$log" 10 "warn: control socket: rejected" ": wrong socket"
out=$(connstate refresh --control "$cep" --timeout 20 2>&1)
check_eq "connstate refresh without a key: no answer (exit 1)" 1 "$?"
check "... logged: no key" wait_line "$log" 10 "warn: control socket: rejected" ": no key"
out=$(connstate refresh --control "$cep" --curve-cert "$keys/c1" 2>&1)
check_eq "--curve-cert without --curve-server: a usage error, never plain text" 2 "$?"
check "... saying both are needed" grep -q "needs both --curve-cert" <<<"$out"
out=$(CONNSTATE_CURVE_CERT=$keys/c1 CONNSTATE_CURVE_SERVER=$keys/sup \
    connstate refresh --control "$cep" --timeout 20 2>&1)
check_eq "the variables CONNSTATE_CURVE_CERT and CONNSTATE_CURVE_SERVER work as the flags" 0 "$?"

# the library: a subscriber with its key matches the table; without it gets nothing
out=$(CONNSTATE_CURVE_CERT=$keys/c1 CONNSTATE_CURVE_SERVER=$keys/sup \
    "$drivers/sub_check" --publish "$pep" --control "$cep" --db "$db" --timeout 20 2>&1)
check "a libconnstate subscriber with a client key matches the state table" \
    grep -q "^match 40 rows" <<<"$out"
out=$("$drivers/sub_check" --publish "$pep" --control "$cep" --db "$db" --timeout 2 2>&1)
check "a subscriber without a key gets nothing" bash -c "! grep -q '^synced' <<<'$out'"
check "... and is logged on the publish socket" \
    wait_line "$log" 10 "warn: publish socket: rejected" ": no key"
out=$(CONNSTATE_CURVE_CERT=$keys/c1 "$drivers/sub_check" --publish "$pep" --control "$cep" \
    --db "$db" --timeout 2 2>&1)
check_eq "a subscriber with only CONNSTATE_CURVE_CERT set does not start (connstate_sub_new: NULL)" 2 "$?"
out=$(timeout 5 connstate watch --publish "$pep" --control "$cep" --format json \
    --curve-cert "$keys/c1" --curve-server "$keys/sup" 2>&1 | head -2)
check "connstate watch with a client key shows the rows" grep -q '"connection_name":"a_1"' <<<"$out"

# ---- a key removed: new connections with it are refused (SIGHUP reads the lists too) ----------
rm "$T_DIR/clients.d/c1"
check "a certificate removed from --curve-clients is read at once" \
    wait_log "$log" "client allow-list $T_DIR/clients.d: 0 keys" 10
out=$(connstate refresh --control "$cep" --timeout 20 --curve-cert "$keys/c1" \
    --curve-server "$keys/sup" 2>&1)
check_eq "... and that key gets no answer any more" 1 "$?"
check "... logged as unknown" wait_line "$log" 10 "warn: control socket: rejected" "with key $c1: unknown key"
cp "$keys/c2" "$T_DIR/clients.d/"
kill -HUP "$SUP_PID"
check "SIGHUP reads the allow-lists" wait_log "$log" "client allow-list $T_DIR/clients.d: 1 keys" 10
out=$(connstate refresh --control "$cep" --timeout 20 --curve-cert "$keys/c2" \
    --curve-server "$keys/sup" 2>&1)
check_eq "the new client key is admitted" 0 "$?"
secret=$(sed -n 's/^ *secret-key = "\(.*\)"$/\1/p' "$keys/sup_secret")
check "the supervisor's secret key is in its certificate" test -n "$secret"
check "... and was never logged" bash -c '! grep -qF -- "$1" "$2"' _ "$secret" "$log"
check "the supervisor stops cleanly" sup_stop "$SUP_PID"

done_testing
