#!/bin/sh
# make run: the supervisor with local workers on the embedded PostgreSQL and the example
# config (deploy/examples); shows the connections becoming ready, then runs until Ctrl-C.
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD
export CONNSTATE_CONFIG_DIR="${CONNSTATE_CONFIG_DIR:-$root/deploy/examples}"
mkdir -p build/run
log=$root/build/run/supervisor.log
: >"$log"

echo "connstate: config $CONNSTATE_CONFIG_DIR; supervisor log $log"
echo "connstate: web dashboard http://127.0.0.1:7603/ (metrics /metrics)"
bin/connstate-supervisor >>"$log" 2>&1 &
sup=$!
stop() {
    trap - INT TERM EXIT
    kill -TERM "$sup" 2>/dev/null
    wait "$sup" 2>/dev/null
    echo
    echo "connstate: stopped (the supervisor stopped its workers and the embedded database)"
    exit 0
}
trap stop INT TERM EXIT

# The first start creates the embedded cluster (initdb): wait for the control endpoint.
i=0
until grep -q "control endpoint" "$log"; do
    if ! kill -0 "$sup" 2>/dev/null; then
        echo "connstate: the supervisor did not start; its log says:" >&2
        tail -20 "$log" >&2
        trap - EXIT
        exit 1
    fi
    i=$((i + 1))
    [ $i -gt 1200 ] && { echo "connstate: the supervisor did not start within 120 s" >&2; exit 1; }
    sleep 0.1
done
if [ -n "${CONNSTATE_DATA_DIR:-}" ]; then data=$CONNSTATE_DATA_DIR
elif [ "$(id -u)" -eq 0 ]; then data=/var/lib/connstate/db
else data=$HOME/.connstate/db; fi
if [ -t 1 ]; then
    # The live dashboard: counts and progress, latest changes, errors. Ctrl-C ends it all.
    bin/connstate watch
else
    bin/connstate refresh
    bin/connstate status | tail -1
    echo "connstate: running. Try:"
    echo "  bin/connstate status"
    echo "  bin/connstate watch"
    echo "  a browser on http://127.0.0.1:7603/ (the dashboard), curl http://127.0.0.1:7603/metrics"
    echo "  psql \"host=$data port=5432 user=postgres dbname=connstate\" -c 'SELECT count(*) FROM host.processes'"
    echo "connstate: Ctrl-C (or SIGTERM) stops everything"
    wait "$sup"
fi
