#!/usr/bin/env bash
# Runs every benchmark and writes the table to bench/results/latest.md, with the machine
# it ran on. Every figure is measured against a baseline taken in the same run.
#   bench/run.sh [--quick]
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
mkdir -p bench/results
out=bench/results/latest.md
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

{
    echo "# connstate benchmarks"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "- mode: ${1:-full}"
    echo
    echo "| benchmark | connstate | baseline (same run) | ratio | target | |"
    echo "|---|---|---|---|---|---|"
} >"$tmp"

status=0
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    if ! "$b" "$@" >>"$tmp"; then
        echo "| $(basename "$b") | FAILED | | | | |" >>"$tmp"
        status=1
    fi
done
cat "$tmp"
cp "$tmp" "$out"
echo
echo "written to $out"
exit $status
