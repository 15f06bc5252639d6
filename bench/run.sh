#!/usr/bin/env bash
# make bench: every benchmark, each figure against a baseline measured in the same run, on a
# throwaway PostgreSQL. Prints the table and writes it to bench/results/latest.md with the
# machine and the PostgreSQL settings used.
#   bench/run.sh [--quick] [--only cold]
#     --quick: about two minutes; --only cold: only the cold refreshes, their scaling and their
#     state writes (while working on them; the table then lacks the other rows)
set -u
cd "$(dirname "$0")/.." || exit 2
export BUILD=${BUILD:-build} BIN=${BIN:-bin}
mode=full quick= only=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) mode=quick quick=--quick ;;
        --only) only=$2; shift ;;
        *) echo "usage: bench/run.sh [--quick] [--only cold]" >&2; exit 2 ;;
    esac
    shift
done
case $only in '' | cold) ;; *) echo "bench: --only takes cold" >&2; exit 2 ;; esac
export BENCH_ONLY=$only
[ -n "$only" ] && mode="$mode, only $only"
mkdir -p bench/results
out=bench/results/latest.md
tmp=$(mktemp)

. tests/pg.sh
export PG_EXTRA_OPTS="-c track_commit_timestamp=on"
trap 'pg_stop; rm -f "$tmp"' EXIT
trap 'exit 130' INT TERM
pg_start || exit 1

settings=$(psql -X -A -t "$CONNSTATE_TEST_DB" -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('server_version', 'shared_buffers', 'fsync', 'synchronous_commit', 'full_page_writes', 'max_connections', 'track_commit_timestamp', 'max_locks_per_transaction', 'work_mem')")
{
    echo "# connstate benchmarks"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), mode: $mode"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
    echo "- PostgreSQL: throwaway cluster (tests/pg.sh), unix socket; $settings"
    echo "- reproduce: \`make bench\` (or \`make bench QUICK=1\`) from a clean clone"
    echo
    echo "| benchmark | connstate | baseline (same run) | ratio | target | |"
    echo "|---|---|---|---|---|---|"
} >"$tmp"
cat "$tmp"

status=0
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] && [ -z "$only" ] || continue
    "$b" $quick | tee -a "$tmp" || status=1
done
bench/supervisor.sh $quick | tee -a "$tmp" || status=1
if [ -z "$only" ]; then bench/csv.sh $quick | tee -a "$tmp" || status=1; fi
grep -q "FAILED" "$tmp" && status=1
cp "$tmp" "$out"
echo
echo "written to $out"
exit $status
