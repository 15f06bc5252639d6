# The supervisor's HTTP endpoint as an operator's probes and Prometheus use it: /healthz,
# /readyz (503 with a reason until it is active and refreshed), /metrics (checked by promtool
# and against the state table), bearer tokens, and the refusals of bad addresses.
. "$(dirname "$0")/../lib.sh"

db=$(new_db http)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 30

# get URL [CURL-ARGS...]: prints the body, then a last line "HTTP STATUS".
get() {
    local url=$1
    shift
    curl -s -m 10 -w '\nHTTP %{http_code}\n' "$@" "$url"
}
metric() { # metric TEXT NAME{LABELS}: the value of that sample
    printf '%s\n' "$1" | awk -v k="$2" '$1 == k { print $2 }'
}

# ---- probes and metrics --------------------------------------------------------------------
sup_start main "$db" "$cfg" --bind-http 127.0.0.1:0
port=$(http_port main)
check "the supervisor says where it serves HTTP (port $port)" test -n "$port"
base=http://127.0.0.1:$port

main=$SUP_PID
out=$(get "$base/healthz")
check_eq "/healthz answers 200 ok" "ok

HTTP 200" "$out"

wait_sql 30 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 30
out=$(get "$base/readyz")
check "/readyz: 200 once the first refresh is done" grep -q '^HTTP 200$' <<<"$out"
check "... saying ready in JSON" grep -q '^{"ready":true,"generation":[1-9][0-9]*}$' <<<"$out"

m=$(curl -s -m 10 "$base/metrics")
printf '%s\n' "$m" >"$T_DIR/metrics.txt"
check "promtool finds /metrics well formed" promtool check metrics <"$T_DIR/metrics.txt"
promtool check metrics <"$T_DIR/metrics.txt" 2>&1 | sed 's/^/# promtool: /'
ready=$(count_status "$db" ready)
check_eq "connstate_connections{status=\"ready\"} is the state table's count" "$ready" \
    "$(metric "$m" 'connstate_connections{status="ready"}')"
check_eq "no connection is pending" 0 "$(metric "$m" 'connstate_connections{status="pending"}')"
check_eq "30 builds ended ok" 30 "$(metric "$m" 'connstate_updates_total{kind="build",outcome="ok"}')"
check "a refresh is counted, with its duration in the histogram" \
    test "$(metric "$m" connstate_refreshes_total)" -ge 1 -a \
    "$(metric "$m" connstate_refresh_duration_seconds_count)" -ge 1
check_eq "the +Inf bucket holds every refresh" "$(metric "$m" connstate_refreshes_total)" \
    "$(metric "$m" 'connstate_refresh_duration_seconds_bucket{le="+Inf"}')"
check "state batches were written, with their rows" \
    test "$(metric "$m" connstate_state_batches_total)" -ge 1 -a \
    "$(metric "$m" connstate_state_batch_rows_total)" -ge 30
check_eq "the publish sequence is the state table's last" \
    "$(sql "$db" "SELECT max(seq) FROM connstate_internal.connection_state")" \
    "$(metric "$m" connstate_publish_seq)"
check_eq "2 workers connected" 2 "$(metric "$m" connstate_workers)"
check_eq "the database is up and this supervisor active" "1 1" \
    "$(metric "$m" connstate_database_up) $(metric "$m" connstate_active)"
check_eq "the one config file is counted" 1 "$(metric "$m" connstate_config_files)"
check "DDL statements counted" test "$(metric "$m" 'connstate_ddl_statements_total{kind="build"}')" -ge 30

# A file that fails shows as a failed file; its connections stay as they were.
printf 'connection "broken" {\n  plugin = \n' >"$cfg/b.spc"
connstate refresh --control "$(control main)" >/dev/null
m=$(curl -s -m 10 "$base/metrics")
check_eq "a broken file: connstate_config_files_failed 1" 1 "$(metric "$m" connstate_config_files_failed)"
rm -f "$cfg/b.spc"

out=$(get "$base/metrics" -X POST -d x=1)
check "a POST is refused with 405" grep -q '^HTTP 405$' <<<"$out"
out=$(get "$base/no-such-page")
check "an unknown path is 404, naming the pages there are" \
    bash -c "grep -q '^HTTP 404$' <<<'$out' && grep -q '/metrics' <<<'$out'"

# ---- the database away: /healthz still, /readyz 503 with the reason ----------------------
sup_spawn away "host=$T_DIR/no-such-socket-dir port=1 dbname=postgres" "$cfg" \
    --bind-http 127.0.0.1:0 --workers 0
wait_log "$T_DIR/away.log" "http endpoint" 30
aport=$(http_port away)
out=$(get "http://127.0.0.1:$aport/healthz")
check "without a database /healthz still answers 200" grep -q '^HTTP 200$' <<<"$out"
wait_until 10 bash -c "curl -s -m 5 http://127.0.0.1:$aport/readyz | grep -q 'database unavailable'"
out=$(get "http://127.0.0.1:$aport/readyz")
check "... and /readyz 503" grep -q '^HTTP 503$' <<<"$out"
check "... with the reason in JSON" grep -q '^{"ready":false,"reason":"database unavailable: ' <<<"$out"
m=$(curl -s -m 10 "http://127.0.0.1:$aport/metrics")
check_eq "... and connstate_database_up 0" 0 "$(metric "$m" connstate_database_up)"
sup_stop "$SUP_PID"

# ---- bearer tokens --------------------------------------------------------------------------
tok=$T_DIR/token
printf 'c0nnstate-test-token-0123456789\n' >"$tok"
chmod 600 "$tok"
sup_spawn tokened "$db" "$cfg" --bind-http 127.0.0.1:0 --http-token "$tok" --workers 0
wait_log "$T_DIR/tokened.log" "http endpoint" 30
tport=$(http_port tokened)
out=$(get "http://127.0.0.1:$tport/metrics")
check "with --http-token, /metrics without the token is 401" grep -q '^HTTP 401$' <<<"$out"
out=$(get "http://127.0.0.1:$tport/metrics" -H 'Authorization: Bearer c0nnstate-test-token-012345678')
check "... and with a wrong one" grep -q '^HTTP 401$' <<<"$out"
out=$(get "http://127.0.0.1:$tport/metrics" -H 'Authorization: Bearer c0nnstate-test-token-0123456789')
check "... and 200 with the right one" grep -q '^HTTP 200$' <<<"$out"
out=$(get "http://127.0.0.1:$tport/healthz")
check "/healthz needs none" grep -q '^HTTP 200$' <<<"$out"
# a token rotated: SIGHUP reads the file again; a file made unusable keeps the last token
printf 'c0nnstate-rotated-token-9876543210\n' >"$tok"
kill -HUP "$SUP_PID"
rotated() {
    get "http://127.0.0.1:$tport/metrics" -H 'Authorization: Bearer c0nnstate-rotated-token-9876543210' |
        grep -q '^HTTP 200$'
}
check "after SIGHUP the rotated token is in force" wait_until 10 rotated
out=$(get "http://127.0.0.1:$tport/metrics" -H 'Authorization: Bearer c0nnstate-test-token-0123456789')
check "... and the old one refused" grep -q '^HTTP 401$' <<<"$out"
printf 'short\n' >"$tok"
kill -HUP "$SUP_PID"
check "a token file made too short on SIGHUP: said, and the last token kept" \
    wait_log "$T_DIR/tokened.log" "kept the token read before" 10
check "... still accepted" rotated
sup_stop "$SUP_PID"

# ---- refusals ---------------------------------------------------------------------------------
run_sup() { # run_sup LOG ARGS...: a supervisor that should not start; prints its exit status
    local log=$1
    shift
    timeout 30 connstate-supervisor --db "$db" --config-dir "$cfg" --plugin-dir "$(plugin_dir)" \
        --bind-workers "ipc://$T_DIR/r.workers" --bind-publish "ipc://$T_DIR/r.publish" \
        --bind-control "ipc://$T_DIR/r.control" --workers 0 "$@" >"$log" 2>&1
    echo $?
}
check_eq "a non-loopback address without --http-token: exit 2" 2 \
    "$(run_sup "$T_DIR/r1.log" --bind-http 0.0.0.0:0)"
check "... saying a token is needed" grep -q "is not a loopback address: give --http-token" "$T_DIR/r1.log"
printf 'short\n' >"$T_DIR/short"
check_eq "a token shorter than 16 characters: exit 2" 2 \
    "$(run_sup "$T_DIR/r2.log" --bind-http 127.0.0.1:0 --http-token "$T_DIR/short")"
check "... saying so" grep -q "the token has 5 characters; at least 16" "$T_DIR/r2.log"
check_eq "an address that is not one: exit 2" 2 "$(run_sup "$T_DIR/r3.log" --bind-http nonsense)"
check "... saying what is expected" grep -q "expected ADDRESS:PORT" "$T_DIR/r3.log"
check_eq "a port in use, asked for: exit 1 (may pass)" 1 \
    "$(run_sup "$T_DIR/r4.log" --bind-http "127.0.0.1:$port")"
check "... saying it cannot listen there" grep -q "cannot listen there" "$T_DIR/r4.log"

check "the main supervisor stops cleanly" sup_stop "$main"
done_testing
