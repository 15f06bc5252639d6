# Hosts as network namespaces on one bridge: the database, the supervisor (--workers 0), two
# worker hosts and a subscriber host, each with its own address. A cold refresh of 1,000
# connections is shared by the two remote workers; a capture on the bridge holds the
# connections' secrets without CURVE and none of them with it; peers without the right key
# get nothing and are logged as rejected; a worker that answers ok without building makes
# nothing ready; a worker host cut off in the middle of a refresh loses its updates to the
# other one within the lease and comes back by itself. Runs as root (CI does); elsewhere, or
# where network namespaces cannot be made, it says why it is skipped.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/netns.sh"

if ! why=$(ns_usable); then
    echo "skipped: $why"
    ok "the multi-host test bed # SKIP $why"
    done_testing
    exit
fi

drivers=$BUILD/tests/drivers
LEASE=5 # --task-timeout of the supervisors here
STATE=connstate_internal.connection_state

check "five hosts and a bridge" ns_bed_up db sup w1 w2 sub
check "PostgreSQL runs on the database host, listening on its address" ns_pg_start pg db
SUP=$(ns_addr sup)
check_eq "the supervisor's host reaches the database over the bed" "$(ns_addr db)" \
    "$(ns sup psql -X -A -t "$NS_PG_TCP dbname=postgres" -c "SELECT inet_server_addr()")"
phase "the bed and its database"

# ---- helpers --------------------------------------------------------------------------------

# bed_db NAME: a new database on the database host; sets DB (what the bed's programs use, over
# TCP) and LOCAL (what the suite reads the tables through: a unix socket, whatever the links do).
bed_db() {
    sql "$NS_PG_LOCAL dbname=postgres" "CREATE DATABASE $1" >/dev/null || return 1
    DB="$NS_PG_TCP dbname=$1"
    LOCAL="$NS_PG_LOCAL dbname=$1"
}

# secret_conns FILE PREFIX SECRET COUNT: COUNT synthetic connections PREFIX1..; every tenth
# (PREFIX1, PREFIX11, ...) has a token of its own, SECRET_i: a secret that only its TASKs
# carry. (The others share one config, hence one schema from the plugin: a worker asks the
# plugin 101 times, not 1,000.)
secret_conns() {
    local i
    for i in $(seq "$4"); do
        printf 'connection "%s%d" {\n  plugin = "synthetic"\n  tables = 2\n' "$2" "$i"
        [ $((i % 10)) -eq 1 ] && printf '  token = "%s_%d"\n' "$3" "$i"
        printf '}\n'
    done >"$1"
}

# bed_supervisor NAME CONFIG_DIR ARGS...: the supervisor on its host, with its three endpoints
# on its address; log $T_DIR/NAME.log (timestamped), pid SUP_PID.
bed_supervisor() {
    local name=$1 cfg=$2
    shift 2
    CONNSTATE_LOG_TIME=1 spawn "$T_DIR/$name.log" ip netns exec "$(ns_name sup)" \
        connstate-supervisor --workers 0 --db "$DB" --config-dir "$cfg" \
        --plugin-dir "$(plugin_dir)" \
        --bind-workers "tcp://$SUP:7600" --bind-publish "tcp://$SUP:7601" \
        --bind-control "tcp://$SUP:7602" --task-timeout $LEASE "$@"
    SUP_PID=$SPAWNED
}

# bed_worker HOST NAME ARGS...: a worker on that host for the supervisor's host; log
# $T_DIR/NAME.log; sets WORKER_PID.
bed_worker() {
    local host=$1 name=$2
    shift 2
    CONNSTATE_TEST_SLOW=0.05 spawn "$T_DIR/$name.log" ip netns exec "$(ns_name "$host")" \
        connstate-worker --connect "tcp://$SUP:7600" --db "$DB" --plugin-dir "$(plugin_dir)" \
        --name "$name" "$@"
    WORKER_PID=$SPAWNED
}

# stops_within SECONDS PID: SIGTERM; true when it exited within the deadline (else SIGKILL).
exited() { [ ! -e "/proc/$1" ] || grep -q "^State:.*zombie" "/proc/$1/status"; }
stops_within() {
    kill -TERM "$2" 2>/dev/null
    wait_until "$1" exited "$2"
    local rc=$?
    kill -KILL "$2" 2>/dev/null
    wait "$2" 2>/dev/null
    return $rc
}
# stop PID...: SIGTERM, and wait for each.
stop() {
    local pid
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "$@"; do wait "$pid" 2>/dev/null; done
    return 0
}

# capture_start NAME: tcpdump on the bridge (in its own namespace: every packet between the
# hosts) into $T_DIR/NAME.pcap; waits until it listens. Sets CAPTURE_PID.
capture_start() {
    spawn "$T_DIR/$1.tcpdump" ip netns exec "$NS_BRIDGE" tcpdump -i br0 -U -s 0 -B 16384 \
        -Z root -w "$T_DIR/$1.pcap" tcp
    CAPTURE_PID=$SPAWNED
    wait_log "$T_DIR/$1.tcpdump" "listening on br0" 10
}

# capture_stop NAME: stops it; true when the kernel dropped no packet.
capture_stop() {
    kill -INT "$CAPTURE_PID"
    wait "$CAPTURE_PID"
    diag "$1 capture: $(grep -E "captured|dropped by kernel" "$T_DIR/$1.tcpdump" | paste -sd, -)," \
        "$(($(stat -c %s "$T_DIR/$1.pcap") / 1024)) KiB"
    grep -q "^0 packets dropped by kernel" "$T_DIR/$1.tcpdump"
}

# secrets_in NAME SECRET: how many distinct secrets SECRET_i the capture holds.
secrets_in() { grep -a -o -E "$2_[0-9]+" "$T_DIR/$1.pcap" | sort -u | wc -l; }

# by_worker DB PREFIX NAME: how many of PREFIX's rows worker NAME made ready.
by_worker() {
    sql "$1" "SELECT count(*) FROM $STATE WHERE connection_name LIKE '$2%' AND status = 'ready'
        AND worker = '$3'"
}

# configure DIR NAME GENERATOR ARGS...: GENERATOR FILE ARGS... writes DIR/NAME.spc, which
# appears there at once (a rename: one change of the directory, one refresh).
configure() {
    local dir=$1 name=$2 gen=$3
    shift 3
    "$gen" "$T_DIR/$name.spc" "$@" && mv "$T_DIR/$name.spc" "$dir/$name.spc"
}

# wait_line FILE SECONDS TEXT [TEXT2 [TEXT3]]: waits until a line of FILE holds each TEXT, as
# fixed strings (keys are full of regex characters).
has_line() { grep -F -- "$2" "$1" | grep -F -- "${3:-$2}" | grep -qF -- "${4:-$2}"; }
wait_line() {
    wait_until "$2" has_line "$1" "$3" "${4:-$3}" "${5:-$3}" || {
        diag "no line with '$3' ${4:+and '$4' }${5:+and '$5' }in $1 within $2 s; its tail:"
        tail -8 "$1" | sed 's/^/#   /'
        return 1
    }
}

# pubkey CERT: the public key of a certificate, as the supervisor logs it.
pubkey() { sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$1"; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# iso MS: a time as the log's timestamps write it (UTC, milliseconds).
iso() { date -u -d "@$(($1 / 1000)).$(printf %03d $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }

# ---- without CURVE (--insecure) ---------------------------------------------------------------

SECRET_A=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
bed_db bed_a
cfg_a=$T_DIR/config-a
mkdir -p "$cfg_a"
configure "$cfg_a" a secret_conns a_ "$SECRET_A" 1000
out=$(ns sup connstate-supervisor --workers 0 --db "$DB" --config-dir "$cfg_a" \
    --bind-workers "tcp://$SUP:7600" --bind-publish "tcp://$SUP:7601" \
    --bind-control "tcp://$SUP:7602" 2>&1)
check_eq "without CURVE or --insecure, the supervisor refuses its address (exit 2)" 2 "$?"
check "... saying why and naming --insecure" grep -q -- "--insecure" <<<"$out"
capture_start plain
bed_supervisor plain "$cfg_a" --insecure
bed_worker w1 w1
w1_pid=$WORKER_PID
bed_worker w2 w2
w2_pid=$WORKER_PID
check "without CURVE: the cold refresh of 1,000 connections completes" \
    wait_log "$T_DIR/plain.log" "info: refresh 1 done" 180
phase "cold refresh of 1,000 connections by two remote workers, without CURVE"
diag "$(grep -o "refresh 1 done in [0-9.]* s" "$T_DIR/plain.log")"
refresh=1 # the supervisor's refreshes so far: each change of the config directory is one
check "the capture lost no packet" capture_stop plain
check_eq "every connection is ready" 1000 "$(count_status "$LOCAL" ready)"
n1=$(by_worker "$LOCAL" a_ w1)
n2=$(by_worker "$LOCAL" a_ w2)
diag "w1 built $n1, w2 built $n2"
check "both workers shared the work (each built at least 250)" test "$n1" -ge 250 -a "$n2" -ge 250
found=$(secrets_in plain "$SECRET_A")
diag "secrets in the capture without CURVE: $found of 100"
check "without CURVE the capture on the bridge holds the connections' secrets (at least 50)" \
    test "$found" -ge 50

spawn "$T_DIR/plain-sub.out" ip netns exec "$(ns_name sub)" "$drivers/sub_check" \
    --publish "tcp://$SUP:7601" --control "tcp://$SUP:7602" --db "$LOCAL" --timeout 60
wait "$SPAWNED"
check "a subscriber on its host (without CURVE) ends with the table's 1000 rows" \
    grep -q "^match 1000 rows" "$T_DIR/plain-sub.out"

# ---- a worker that answers every TASK with ok and builds nothing --------------------------------
# tests/drivers/fake_worker (written from PROTOCOL.md alone), on w1's host, is the only worker
# when 20 new connections are configured: none of them may become ready, having no schema.
# The table is sampled every 100 ms until the refresh is done; then a real worker builds them.
stop "$w1_pid" "$w2_pid"
said_goodbye() { [ "$(grep -cE "info: worker w[12] disconnected" "$T_DIR/plain.log")" -eq 2 ]; }
check "the workers said goodbye" wait_until 5 said_goodbye
spawn "$T_DIR/fake.out" ip netns exec "$(ns_name w1)" "$drivers/fake_worker" \
    "tcp://$SUP:7600" --name fake
fake=$SPAWNED
check "the fake worker is connected" wait_log "$T_DIR/plain.log" "info: worker fake ready" 10
configure "$cfg_a" e synthetic_conns 1 20 2 e_
refresh=$((refresh + 1))
unbuilt_ready() {
    sql "$LOCAL" "SELECT count(*) FROM $STATE s WHERE status = 'ready' AND NOT EXISTS
        (SELECT 1 FROM pg_namespace n WHERE n.nspname = s.connection_name)"
}
answered_all() {
    [ "$(grep -oE "^answered build e_[0-9]+$" "$T_DIR/fake.out" | sort -u | wc -l)" -eq 20 ]
}
worst=0
deadline=$(($(now_ms) + 30000))
while :; do
    n=$(unbuilt_ready)
    [ "$n" -gt "$worst" ] && worst=$n
    answered_all && grep -q "info: refresh $refresh done" "$T_DIR/plain.log" && break
    [ "$(now_ms)" -lt "$deadline" ] || break
    sleep 0.1
done
check "the fake worker answered ok to the build of each new connection" answered_all
check "the refresh completes with only the fake worker" grep -q "info: refresh $refresh done" \
    "$T_DIR/plain.log"
check_eq "no connection was ever ready without its schema (the table sampled every 100 ms)" \
    0 "$worst"
most=$(grep -oE "^answered build e_[0-9]+$" "$T_DIR/fake.out" | sort | uniq -c | sort -rn |
    awk 'NR == 1 { print $1 }')
check "... each build went to it at most 3 times (the bound of an update's attempts)" \
    test "${most:-0}" -le 3
diag "the fake worker answered $(grep -c "^answered" "$T_DIR/fake.out") tasks (at most" \
    "${most:-0} builds of one connection); the new rows:" \
    "$(sql "$LOCAL" "SELECT status || ': ' || coalesce(error, '') || ' (' || count(*) || ')'
        FROM $STATE WHERE connection_name LIKE 'e\_%' GROUP BY status, error" | paste -sd';' -)"
stop "$fake"
bed_worker w1 w1
w1_pid=$WORKER_PID
bed_worker w2 w2
w2_pid=$WORKER_PID
kill -HUP "$SUP_PID"
refresh=$((refresh + 1))
check "real workers then build them" wait_log "$T_DIR/plain.log" "info: refresh $refresh done" 60
check_eq "... each ready with its schema" 20 "$(sql "$LOCAL" "SELECT count(*) FROM $STATE s
    JOIN pg_namespace n ON n.nspname = s.connection_name WHERE s.connection_name LIKE 'e\_%'
    AND s.status = 'ready' AND s.worker IN ('w1', 'w2')")"
phase "the fake worker"

# ---- a worker host cut off in the middle of a refresh -------------------------------------------
# 300 connections whose schema takes 50 ms (the test plugin `slow`; ~100 ms a connection with
# its processes): a refresh of ~15 s with both workers. When a quarter is ready, w1's link goes
# down; what w1 held at that moment must be made ready by w2 within the lease (+ 3 s for w2's
# queue and the state write); the link comes back once those leases expired, and w1 must
# connect again by itself and take work.
slow_conns() { # FILE COUNT
    local i
    for i in $(seq "$2"); do printf 'connection "d_%d" {\n  plugin = "slow"\n}\n' "$i"; done >"$1"
}
configure "$cfg_a" d slow_conns 300
refresh=$((refresh + 1))
check "the refresh of 300 slow connections is under way" wait_sql 60 "$LOCAL" \
    "SELECT count(*) >= 75 FROM $STATE WHERE connection_name LIKE 'd\_%' AND status = 'ready'" t
phase "refresh of 300 slow connections a quarter done"
ns_link w1 down
cut=$(now_ms)
window_end=$(iso $((cut + LEASE * 1000 + 1000)))
lost_at_cut() { # the updates w1 lost in the lease after the cut, as the supervisor logs them
    awk -v from="$(iso "$cut")" -v to="$window_end" '$1 >= from && $1 <= to &&
        / at worker w1; dispatching it again/ { sub(/^\[/, "", $4); sub(/\]$/, "", $4); print $4 }' \
        "$T_DIR/plain.log" | sort -u
}
check "w1's leases expire within the lease (+1 s) of the cut" \
    wait_log "$T_DIR/plain.log" "its lease expired after $LEASE s at worker w1" $((LEASE + 1))
after_window() { [ "$(now_ms)" -gt $((cut + LEASE * 1000 + 1000)) ]; }
wait_until $((LEASE + 2)) after_window
lost=$(lost_at_cut)
nlost=$(wc -w <<<"$lost")
diag "w1 held $nlost updates when it was cut off: $(paste -sd' ' <<<"$lost")"
names=$(sed "s/.*/'&'/" <<<"$lost" | paste -sd, -)
[ -n "$names" ] || names="''"
check "w1 held updates when it was cut off" test "$nlost" -ge 1
check "each was made ready by w2 within the lease + 3 s of the cut" wait_sql 5 "$LOCAL" \
    "SELECT count(*) FROM $STATE WHERE connection_name IN ($names) AND status = 'ready'
       AND worker = 'w2' AND time_changed <= to_timestamp(($cut + ($LEASE + 3) * 1000) / 1000.0)" \
    "$nlost"
diag "the last of them was ready $(sql "$LOCAL" "SELECT round(extract(epoch FROM
    max(time_changed)) * 1000 - $cut) FROM $STATE WHERE connection_name IN ($names)") ms after the cut"
ns_link w1 up
up=$(now_ms)
phase "w1 cut off and its updates re-dispatched"
w1_again() { [ "$(grep -c "info: worker w1 ready" "$T_DIR/plain.log")" -ge 2 ]; }
check "back on the network, w1 connects again by itself (within 20 s)" wait_until 20 w1_again
diag "w1 was ready again $(($(now_ms) - up)) ms after its link came back (±50 ms)"
check "... and takes work again" wait_sql 60 "$LOCAL" \
    "SELECT count(*) > 0 FROM $STATE WHERE connection_name LIKE 'd\_%' AND status = 'ready'
       AND worker = 'w1' AND time_changed > to_timestamp($up / 1000.0)" t
check "the refresh completes" wait_log "$T_DIR/plain.log" "info: refresh $refresh done" 180
phase "w1 back, the refresh done"
diag "$(grep -o "refresh $refresh done in [0-9.]* s" "$T_DIR/plain.log")"
check_eq "every slow connection is ready, none stays updating" "300|0" \
    "$(sql "$LOCAL" "SELECT count(*) FILTER (WHERE status = 'ready'),
        count(*) FILTER (WHERE status = 'updating') FROM $STATE WHERE connection_name LIKE 'd\_%'")"
built_since() { # WORKER MS: the slow connections it made ready after that time
    sql "$LOCAL" "SELECT count(*) FROM $STATE WHERE connection_name LIKE 'd\_%' AND worker = '$1'
        AND time_changed > to_timestamp($2 / 1000.0)"
}
diag "after the cut: w2 built $(built_since w2 "$cut"); w1, back, $(built_since w1 "$up");" \
    "$(grep -c "at worker w1; dispatching it again" "$T_DIR/plain.log") updates taken back" \
    "from w1, $(grep -c "warn: worker w1 fell silent" "$T_DIR/plain.log") silence"

check "the supervisor exits 0 on SIGTERM" sup_stop "$SUP_PID"
stop "$w1_pid" "$w2_pid"
phase "the run without CURVE stopped"

# ---- with CURVE -------------------------------------------------------------------------------
# The supervisor's certificate; w1's and w2's keys admitted on the worker socket, the
# subscriber host's on the publish and control sockets. From the subscriber host, peers that
# must get nothing: a worker without a key, one with the client key, one with a key nobody
# listed; a subscriber without a key.
keys=$T_DIR/keys
mkdir -p "$keys/workers" "$keys/clients"
for who in sup w1 w2 sub stranger; do connstate keygen "$keys/$who" >/dev/null; done
cp "$keys/w1" "$keys/w2" "$keys/workers/"
cp "$keys/sub" "$keys/clients/"
SECRET_B=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
bed_db bed_b
cfg_b=$T_DIR/config-b
mkdir -p "$cfg_b"
configure "$cfg_b" b secret_conns b_ "$SECRET_B" 1000
capture_start curve
bed_supervisor curve "$cfg_b" --curve-cert "$keys/sup" --curve-workers "$keys/workers" \
    --curve-clients "$keys/clients"
log=$T_DIR/curve.log
rogue_names=(nokey clientkey stranger)
bed_worker sub nokey
rogues=("$WORKER_PID")
bed_worker sub clientkey --curve-cert "$keys/sub" --curve-server "$keys/sup"
rogues+=("$WORKER_PID")
bed_worker sub stranger --curve-cert "$keys/stranger" --curve-server "$keys/sup"
rogues+=("$WORKER_PID")
spawn "$T_DIR/nokey-pub.log" ip netns exec "$(ns_name sub)" "$drivers/pub_record" \
    "tcp://$SUP:7601" "$T_DIR/nokey.pub" "$T_DIR/record.stop"
recorder=$SPAWNED
spawn "$T_DIR/nokey-sub.out" ip netns exec "$(ns_name sub)" "$drivers/sub_check" \
    --publish "tcp://$SUP:7601" --control "tcp://$SUP:7602" --db "$LOCAL" --timeout 10
nokey_sub=$SPAWNED
subaddr=$(ns_addr sub)
# A plain-text peer never reaches the ZAP handler: its address is read off the accepted socket
# by the monitor thread, which a loaded machine may schedule after libzmq closed that socket
# (one round trip after the accept); the log then says so rather than guess.
check "a worker without a key is rejected, logged with its address (or that it was gone): no key" \
    wait_until 10 grep -qE \
    "warn: worker socket: rejected (${subaddr//./\\.}|an address already gone): no key" "$log"
check "a worker with the client key is rejected: wrong socket" wait_line "$log" 10 \
    "warn: worker socket: rejected" "$subaddr with key $(pubkey "$keys/sub"): wrong socket"
check "a worker with a key nobody listed is rejected: unknown key" wait_line "$log" 10 \
    "warn: worker socket: rejected" "$subaddr with key $(pubkey "$keys/stranger"): unknown key"
check "while they knock, the supervisor says that no worker is connected" \
    wait_log "$log" "warn: no worker is available: 1000 updates wait; no worker is connected" 10
check_eq "... and no row is ready" 0 "$(count_status "$LOCAL" ready)"
phase "with CURVE: peers without the right key rejected"
bed_worker w1 w1 --curve-cert "$keys/w1" --curve-server "$keys/sup"
w1_pid=$WORKER_PID
bed_worker w2 w2 --curve-cert "$keys/w2" --curve-server "$keys/sup"
w2_pid=$WORKER_PID
check "with CURVE: the cold refresh of 1,000 connections completes" \
    wait_log "$log" "info: refresh 1 done" 180
phase "cold refresh of 1,000 connections by two remote workers, with CURVE"
diag "$(grep -o "refresh 1 done in [0-9.]* s" "$log")"
check "the capture lost no packet" capture_stop curve
check_eq "every connection is ready" 1000 "$(count_status "$LOCAL" ready)"
n1=$(by_worker "$LOCAL" b_ w1)
n2=$(by_worker "$LOCAL" b_ w2)
diag "w1 built $n1, w2 built $n2"
check "both workers shared the work (each built at least 250, together all)" \
    test "$n1" -ge 250 -a "$n2" -ge 250 -a $((n1 + n2)) -eq 1000
found=$(secrets_in curve "$SECRET_B")
diag "secrets in the capture with CURVE: $found of 100"
check_eq "with CURVE the capture on the bridge holds none of the connections' secrets" 0 "$found"
check "... though it recorded the refresh (the workers' DDL to PostgreSQL, which is not encrypted)" \
    grep -a -q "CREATE FOREIGN TABLE" "$T_DIR/curve.pcap"
check "... and the CURVE handshakes" grep -a -q "CURVE" "$T_DIR/curve.pcap"
check_eq "the rejected workers got no task (the worker column), dispatch never saw them" "0|0" \
    "$(sql "$LOCAL" "SELECT count(*) FROM $STATE WHERE worker IN ('nokey', 'clientkey', 'stranger')")|$(
        grep -cE "worker (nokey|clientkey|stranger) ready" "$log")"
diag "rejections logged: $(grep -oE "[a-z]+ socket: rejected .*: (no key|unknown key|wrong socket)" \
    "$log" | sed -E 's/ socket: rejected (.*) with key .*: / \1 /; s/ socket: rejected / /; s/: / /' |
    paste -sd, -)"
wait "$nokey_sub"
check_eq "a subscriber without a key never gets a snapshot (sub_check exits 1)" 1 "$?"
check "... it says so" grep -q "never synced" "$T_DIR/nokey-sub.out"
touch "$T_DIR/record.stop"
wait "$recorder"
check_eq "a SUB socket without a key receives nothing, not even a heartbeat" started \
    "$(paste -sd' ' "$T_DIR/nokey.pub")"
check "the subscriber without a key is logged as rejected on the publish socket" \
    wait_line "$log" 1 "warn: publish socket: rejected" ": no key"
check "... and on the control socket" wait_line "$log" 1 "warn: control socket: rejected" ": no key"
CONNSTATE_CURVE_CERT=$keys/sub CONNSTATE_CURVE_SERVER=$keys/sup spawn "$T_DIR/key-sub.out" \
    ip netns exec "$(ns_name sub)" "$drivers/sub_check" --publish "tcp://$SUP:7601" \
    --control "tcp://$SUP:7602" --db "$LOCAL" --timeout 60
wait "$SPAWNED"
check "the subscriber with its key ends with the table's 1000 rows" \
    grep -q "^match 1000 rows" "$T_DIR/key-sub.out"
phase "the subscribers checked"
for i in "${!rogues[@]}"; do
    check "a refused worker stops on SIGTERM within 5 s: ${rogue_names[$i]}" \
        stops_within 5 "${rogues[$i]}"
done
check "the supervisor exits 0 on SIGTERM" sup_stop "$SUP_PID"
stop "$w1_pid" "$w2_pid"
phase "the run with CURVE stopped"

done_testing
