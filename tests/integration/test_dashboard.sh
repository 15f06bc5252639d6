# The web dashboard in a real browser (headless Chromium, driven over the DevTools protocol):
# loaded during a refresh of 1,000 connections and after it, its counts, errors and workers
# checked against the state table; 10,000 changes without the tab's memory growing without
# bound; a supervisor restart recovered from by itself. A screenshot goes to
# build/test-output/dashboard.png.
. "$(dirname "$0")/../lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] || ! /usr/bin/python3 -c 'import websocket' 2>/dev/null; then
    echo "ok 1 # SKIP no Chromium ($CHROMIUM) or no python3-websocket: deploy/install-deps.sh installs them"
    echo "1..1"
    exit 0
fi
cdp() { /usr/bin/python3 "$ROOT/tests/drivers/cdp.py" "$T_DIR/chrome" "$@"; }
out_dir=$BUILD/test-output
mkdir -p "$out_dir"

db=$(new_db dashboard)
cfg=$T_DIR/config
mkdir -p "$cfg"
sup_start main "$db" "$cfg" --bind-http 127.0.0.1:0 --batch-ms 50
port=$(http_port main)
url=http://127.0.0.1:$port/
check "the supervisor serves the dashboard page" \
    bash -c "curl -s -m 5 '$url' | grep -q '<title>connstate</title>'"

# Chromium as root needs --no-sandbox; its own profile in the suite's directory.
spawn "$T_DIR/chrome.log" "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
    --disable-dev-shm-usage --no-first-run --remote-debugging-port=0 --remote-allow-origins='*' \
    --user-data-dir="$T_DIR/chrome" --window-size=1280,1000 --enable-precise-memory-info about:blank
tab1=$(cdp open "$url")
check "a tab opens the page" test -n "$tab1"
check "... and its event stream is live" cdp wait "$tab1" \
    'document.getElementById("stream").textContent === "live" && csDashboard.snapshots >= 1' 20

# ---- a refresh of 1,000 connections, seen live; a second tab loaded in its middle ----------
synthetic_conns "$cfg/a.spc" 1 998
printf 'connection "bad_1" {\n  plugin = "fails"\n}\nconnection "bad_2" {\n  plugin = "fails"\n}\n' \
    >"$cfg/b.spc"
mid_refresh() { # some rows in the table, not all of them done yet
    [ "$(sql "$db" "SELECT count(*) > 0 AND bool_or(NOT comments_set AND status <> 'error') FROM connstate_internal.connection_state")" = t ]
}
wait_until 30 mid_refresh
tab2=$(cdp open "$url")
cdp wait "$tab2" 'csDashboard.snapshots >= 1' 20 >/dev/null
diag "the second tab's snapshot: $(cdp eval "$tab2" 'csDashboard.snapshotRows + " rows, " + csDashboard.snapshotReady + " of them ready"')"
wait_sql 60 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status IN ('ready', 'error') AND (comments_set OR status = 'error')" 1000
counts_sql() {
    sql "$db" "SELECT count(*) FILTER (WHERE status = 'ready') || ' ' || count(*) FILTER (WHERE status = 'error') || ' ' || count(*) FROM connstate_internal.connection_state"
}
page_counts='["count-ready","count-error","total"].map(i => document.getElementById(i).textContent).join(" ")'
expect=$(counts_sql)
for tab in "$tab1" "$tab2"; do
    which=$([ "$tab" = "$tab1" ] && echo "the tab open before the refresh" || echo "the tab loaded during it")
    cdp wait "$tab" "$page_counts === \"$expect\"" 20 >/dev/null
    check_eq "$which shows the state table's counts (ready, error, total)" "\"$expect\"" \
        "$(cdp eval "$tab" "$page_counts")"
done
check "the first tab saw the refresh live: a change for every row at least" \
    test "$(cdp eval "$tab1" 'csDashboard.changes')" -ge 1000
check_eq "the errors are grouped by message: one group of 2" '"2"' \
    "$(cdp eval "$tab1" 'document.querySelector("#errors tr td").textContent')"
check_eq "the workers table lists the 2 workers" '"2"' \
    "$(cdp eval "$tab1" 'document.getElementById("worker-count").textContent')"
check "the refresh history lists a refresh" \
    cdp wait "$tab1" 'document.querySelectorAll("#refreshes tr td.num").length >= 2' 10
cdp eval "$tab1" 'document.getElementById("filter").value = "bad_"; document.getElementById("filter").dispatchEvent(new Event("input")); 1' >/dev/null
check_eq "the filter narrows the table to the two failing connections" '"bad_1 bad_2"' \
    "$(cdp eval "$tab1" '[...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join(" ")')"
cdp eval "$tab1" 'document.getElementById("filter").value = ""; document.getElementById("filter").dispatchEvent(new Event("input")); 1' >/dev/null
cdp shot "$tab1" "$out_dir/dashboard.png"
check "a screenshot of the page was taken ($out_dir/dashboard.png)" test -s "$out_dir/dashboard.png"
cdp close "$tab2" >/dev/null

# ---- 10,000 changes: the tab keeps up and its memory stays bounded -------------------------
read -r heap0 nodes0 <<<"$(cdp heap "$tab1")"
before=$(cdp eval "$tab1" 'csDashboard.changes')
synthetic_conns "$cfg/c.spc" 1 3500 2 more_
wait_sql 120 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE comments_set" 4498
expect=$(counts_sql)
check "the tab keeps up with the 3,500 new connections' changes" \
    cdp wait "$tab1" "$page_counts === \"$expect\"" 30
changes=$(($(cdp eval "$tab1" 'csDashboard.changes') - before))
check "... at least 10,000 changes ($changes)" test "$changes" -ge 10000
check_eq "... every one through the stream it had (no reconnect, no second snapshot)" "1 1" \
    "$(cdp eval "$tab1" 'csDashboard.opened + " " + csDashboard.snapshots' | tr -d '"')"
read -r heap1 nodes1 <<<"$(cdp heap "$tab1")"
diag "the tab's JS heap: $((heap0 / 1024)) KB with 1,000 rows, $((heap1 / 1024)) KB with 4,500 after $changes changes; DOM nodes $nodes0 -> $nodes1"
check "its JS heap stays under 64 MB" test "$heap1" -lt $((64 * 1024 * 1024))
check "... and grows with the rows held, not with the changes (< 4 KB a change)" \
    test $((heap1 - heap0)) -lt $((changes * 4096))
check "its DOM stays bounded: the table shows 500 rows at most ($nodes1 nodes)" \
    test "$(cdp eval "$tab1" 'document.querySelectorAll("#rows tr").length')" -le 500

# ---- the supervisor restarts: the page recovers by itself ----------------------------------
sup_stop "$SUP_PID"
check "the page notices the stream is gone" \
    cdp wait "$tab1" 'document.getElementById("stream").textContent === "reconnecting"' 20
rm -f "$cfg/c.spc" # the restarted supervisor deletes them: the page sees that too
sup_spawn main "$db" "$cfg" --bind-http "127.0.0.1:$port" --batch-ms 50
wait_sql 60 "$db" "SELECT count(*) FROM connstate_internal.connection_state" 1000
expect=$(counts_sql)
check "after the restart the page is live again, from a new snapshot" \
    cdp wait "$tab1" "document.getElementById(\"stream\").textContent === \"live\" && csDashboard.snapshots >= 2 && $page_counts === \"$expect\"" 30
diag "page after the restart: $(cdp eval "$tab1" "$page_counts"), table: $expect"

check "the supervisor stops cleanly" sup_stop "$SUP_PID"
done_testing
