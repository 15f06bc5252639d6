# A test bed of hosts as network namespaces (sourced after lib.sh, as root): one namespace
# per host, each with loopback and one veth whose other end is a port of a bridge living in
# a namespace of its own. Addresses (10.213.0.0/24) exist only inside the namespaces made
# here; the names carry the suite's pid. Everything (namespaces, their links, every process
# still in them) goes away on exit, also on failure: ns_bed_down runs after t_cleanup.
NS_PREFIX=cs$$
NS_BRIDGE=$NS_PREFIX-br
NS_NET=10.213.0
NS_HOSTS=()

# ns_usable: true when network namespaces can be made here; else prints why.
ns_usable() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root (network namespaces need CAP_SYS_ADMIN)"
        return 1
    fi
    local err
    if ! command -v ip >/dev/null || ! command -v tcpdump >/dev/null; then
        echo "ip or tcpdump missing (deploy/install-deps.sh installs iproute2 and tcpdump)"
        return 1
    fi
    if ! err=$(ip netns add "$NS_PREFIX-probe" 2>&1); then
        echo "ip netns add failed: $err"
        return 1
    fi
    if ! err=$(ip -n "$NS_PREFIX-probe" link add br0 type bridge 2>&1 &&
        ip -n "$NS_PREFIX-probe" link add v0 type veth peer name v1 2>&1); then
        ip netns del "$NS_PREFIX-probe"
        echo "no bridge or veth in a network namespace: $err"
        return 1
    fi
    ip netns del "$NS_PREFIX-probe"
}

# ns_name HOST: the namespace of a host.
ns_name() { echo "$NS_PREFIX-$1"; }

# ns HOST COMMAND...: runs the command on that host (in its namespace), in the foreground. To
# start a background process whose pid is the program's own, spawn `ip netns exec "$(ns_name
# HOST)" COMMAND...` (ip execs the command; a function in the background would be a subshell).
ns() {
    local host=$1
    shift
    ip netns exec "$(ns_name "$host")" "$@"
}

# ns_addr HOST: the host's address.
ns_addr() {
    local i
    for i in "${!NS_HOSTS[@]}"; do
        [ "${NS_HOSTS[$i]}" = "$1" ] && { echo "$NS_NET.$((i + 10))"; return 0; }
    done
    return 1
}

# ns_bed_up HOST...: the bridge's namespace, then each host with its veth on the bridge and
# its address (10.213.0.10, .11, ... in the order given). Returns non-zero on any failure.
ns_bed_up() {
    local host ns
    ip netns add "$NS_BRIDGE" || return 1
    ip -n "$NS_BRIDGE" link set lo up &&
        ip -n "$NS_BRIDGE" link add br0 type bridge &&
        ip -n "$NS_BRIDGE" link set br0 up || return 1
    for host in "$@"; do
        ns=$(ns_name "$host")
        NS_HOSTS+=("$host")
        ip netns add "$ns" || return 1
        # The veth is made in the bridge's namespace, its host end moved into the host's
        # at once: no link ever appears outside the namespaces of the bed.
        ip -n "$NS_BRIDGE" link add "$host" type veth peer name eth0 netns "$ns" &&
            ip -n "$NS_BRIDGE" link set "$host" master br0 up &&
            ip -n "$ns" link set lo up &&
            ip -n "$ns" addr add "$(ns_addr "$host")/24" dev eth0 &&
            ip -n "$ns" link set eth0 up || return 1
    done
}

# ns_link HOST up|down: the host's port on the bridge; down cuts the host off the network
# (its own eth0 loses its carrier, its address and routes stay).
ns_link() { ip -n "$NS_BRIDGE" link set "$1" "$2"; }

# ns_bed_down: every process still in a namespace of the bed (started by this suite: the
# namespaces are its own) is killed, then the namespaces are deleted with their links.
ns_bed_down() {
    local host ns pid
    for ns in "$NS_BRIDGE" "${NS_HOSTS[@]/#/$NS_PREFIX-}"; do
        [ -e "/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
}

ns_on_exit() {
    t_cleanup
    ns_bed_down
}
trap ns_on_exit EXIT

# ---- PostgreSQL on a host ---------------------------------------------------------------

# ns_pg_start NAME HOST: a cluster of the suite's own in $T_DIR/NAME, run as the harness's
# unprivileged user in the host's namespace, listening on the host's address (trust for the
# bed's subnet) and on a unix socket in $T_DIR/NAME. Sets NS_PG_TCP (conninfo over the bed)
# and NS_PG_LOCAL (over the unix socket: what the suite itself reads the tables through,
# whatever the links do). t_cleanup stops it.
ns_pg_start() {
    local name=$1 host=$2 dir=$T_DIR/$1 addr
    addr=$(ns_addr "$host") || return 1
    . "$ROOT/tests/pg.sh"
    PG_BINDIR=${PG_BINDIR:-$(pg_bindir)} || return 1
    if id postgres >/dev/null 2>&1; then PG_OWNER=postgres; else PG_OWNER=nobody; fi
    T_PGS+=("$name")
    mkdir -p "$dir" && chmod 755 "$dir" && chown "$PG_OWNER" "$dir" || return 1
    pg_as_owner "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    echo "host all all $NS_NET.0/24 trust" >>"$dir/data/pg_hba.conf"
    ns "$host" runuser -u "$PG_OWNER" -- "$PG_BINDIR/pg_ctl" -D "$dir/data" \
        -l "$dir/postgres.log" -w -t 60 -o "-k $dir -c listen_addresses=$addr -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
        start >/dev/null || { tail -20 "$dir/postgres.log" >&2; return 1; }
    NS_PG_TCP="host=$addr user=postgres"
    NS_PG_LOCAL="host=$dir user=postgres"
}

# ---- timing ---------------------------------------------------------------------------------

NS_PHASE_START=$(date +%s%N)
# phase NAME: reports how long the phase since the previous call took.
phase() {
    local now
    now=$(date +%s%N)
    diag "phase $1: $(((now - NS_PHASE_START) / 1000000)) ms"
    NS_PHASE_START=$now
}
