#!/usr/bin/env bash
# The csv benchmark of `make bench`: SELECT count(*) on a ~100 MB CSV file read by file_fdw
# directly (the plugin's "file" entry) against the same file through the plugin's `rows` (a
# second connection with direct = false), both built by a real supervisor and its workers.
# Called by bench/run.sh with a throwaway PostgreSQL in $CONNSTATE_TEST_DB; prints markdown
# table rows. Wall time and CPU seconds (the backend's, with its children's: the plugin under
# `rows`, from /proc/PID/stat) of each run; median and range of RUNS runs each, interleaved.
#   bench/csv.sh [--quick]      (--quick: a ~25 MB file)
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BIN=$ROOT/${BIN:-bin}
TOOLS=$ROOT/${BUILD:-build}/bench
export PATH="$BIN:$PATH"

if [ "${1:-}" = --quick ]; then ROWS=350000; else ROWS=1400000; fi
RUNS=5

WORK=$(mktemp -d /tmp/connstate-bench-csv.XXXXXX)
chmod 755 "$WORK"
SUP=
cleanup() {
    if [ -n "$SUP" ]; then
        kill -TERM "$SUP" 2>/dev/null
        wait "$SUP" 2>/dev/null
    fi
    if [ "${CONNSTATE_BENCH_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$1" -c "$2"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
range() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
fail() {
    echo "| csv: SELECT count(*), file_fdw direct against rows | FAILED: $1 | | | | |"
    exit 1
}

# A deterministic file: ROWS rows of 6 fields, every 10th note quoted with a comma and a
# doubled quote, every 100th with an embedded newline.
file=$WORK/sales.csv
awk -v rows="$ROWS" 'BEGIN {
    split("Lyon Paris Oslo Lima Kyoto Perth Quito Riga", city, " ")
    print "id,customer,amount,city,day,note"
    for (i = 1; i <= rows; i++) {
        note = "plain note number " i
        if (i % 10 == 0) note = "\"with, a comma and \"\"quotes\"\" " i "\""
        if (i % 100 == 0) note = "\"two\nlines " i "\""
        printf "%d,customer_%07d,%d.%02d,%s,2026-%02d-%02d,%s\n", i, (i * 7919) % 1000003,
            (i * 31) % 100000, i % 100, city[i % 8 + 1], i % 12 + 1, i % 28 + 1, note
    }
}' >"$file" || fail "cannot write the file"
mb=$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.0f", b / 1048576 }')

sql "$CONNSTATE_TEST_DB" "DROP DATABASE IF EXISTS csv_bench" >/dev/null 2>&1
sql "$CONNSTATE_TEST_DB" "CREATE DATABASE csv_bench" >/dev/null || fail "cannot create the database"
db=${CONNSTATE_TEST_DB/dbname=postgres/dbname=csv_bench}
mkdir -p "$WORK/config"
cat >"$WORK/config/csv.spc" <<EOF
connection "direct" {
  plugin = "csv"
  paths  = ["$file"]
}
connection "rows" {
  plugin = "csv"
  paths  = ["$file"]
  direct = false
}
EOF
connstate-supervisor --db "$db" --config-dir "$WORK/config" --workers 2 \
    --bind-workers "ipc://$WORK/w" --bind-publish "ipc://$WORK/p" --bind-control "ipc://$WORK/c" \
    >>"$WORK/sup.log" 2>&1 &
SUP=$!
"$TOOLS/tool_until" "$db" "SELECT count(*) = 2 FROM connstate_internal.connection_state WHERE status = 'ready'" 120 >/dev/null ||
    fail "the connections were not ready: $(tail -1 "$WORK/sup.log")"
sql "$db" "SELECT array_to_string(ftoptions, ' ') FROM pg_foreign_table WHERE ftrelid = 'direct.sales'::regclass" |
    grep -q '^filename=' || fail "direct.sales is not read with filename"
sql "$db" "SELECT array_to_string(ftoptions, ' ') FROM pg_foreign_table WHERE ftrelid = 'rows.sales'::regclass" |
    grep -q ' program=' || fail "rows.sales does not run the plugin"

# run SCHEMA: one SELECT count(*) in a session of its own; prints "COUNT WALL_S CPU_S".
tck=$(getconf CLK_TCK)
run() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 "$db" <<EOF | tr '\n' ' '
SELECT pg_backend_pid() AS pid \gset
\setenv BACKEND :pid
\! awk '{ print \$14 + \$15 + \$16 + \$17 }' /proc/\$BACKEND/stat >$WORK/cpu0; date +%s.%N >$WORK/t0
SELECT count(*) FROM $1.sales;
\! date +%s.%N >$WORK/t1; awk '{ print \$14 + \$15 + \$16 + \$17 }' /proc/\$BACKEND/stat >$WORK/cpu1
EOF
    awk -v tck="$tck" -v c0="$(cat "$WORK/cpu0")" -v c1="$(cat "$WORK/cpu1")" \
        -v t0="$(cat "$WORK/t0")" -v t1="$(cat "$WORK/t1")" \
        'BEGIN { printf "%.3f %.2f\n", t1 - t0, (c1 - c0) / tck }'
}

run direct >/dev/null # warm-up: the file in the page cache
dw=() dc=() rw=() rc=()
for ((i = 1; i <= RUNS; i++)); do
    for s in direct rows; do
        read -r count wall cpu <<<"$(run "$s")"
        [ "$count" = "$ROWS" ] || fail "$s.sales counted '$count' rows, not $ROWS"
        if [ "$s" = direct ]; then dw+=("$wall") dc+=("$cpu"); else rw+=("$wall") rc+=("$cpu"); fi
    done
done
d=$(median "${dw[@]}")
r=$(median "${rw[@]}")
ratio=$(awk -v d="$d" -v r="$r" 'BEGIN { printf "%.1f", r / d }')
echo "| csv: SELECT count(*) on a $mb MB file of $ROWS rows, file_fdw reading it directly (median of $RUNS: ${dw[*]} s) |" \
    "$d s (range $(range "${dw[@]}") s), CPU $(median "${dc[@]}") s |" \
    "$r s through the plugin's rows (range $(range "${rw[@]}") s), CPU $(median "${rc[@]}") s (backend + plugin) |" \
    "${ratio}x faster | | |"
