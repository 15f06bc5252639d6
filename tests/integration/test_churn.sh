# Config churn: a 1,000-connection file rewritten 50 times in 5 s. connstate converges on the
# last version, and an update that a newer plan superseded is cancelled (queued) or its result
# not written (in flight): far fewer builds than one full pass per rewrite.
. "$(dirname "$0")/../lib.sh"

db=$(new_db churn)
cfg=$T_DIR/config
mkdir -p "$cfg"
# version V: 1,000 connections whose config says rows = V (every fingerprint changes)
version() {
    awk -v v="$1" 'BEGIN { for (i = 1; i <= 1000; i++)
        printf "connection \"c_%d\" {\n  plugin = \"synthetic\"\n  rows = %d\n}\n", i, v }' \
        >"$cfg/.c.tmp" && mv "$cfg/.c.tmp" "$cfg/c.spc"
}
# every committed build's DDL, one block each (the workers' capture for the benchmarks)
export CONNSTATE_DDL_CAPTURE=$T_DIR/capture
mkdir -p "$CONNSTATE_DDL_CAPTURE"
builds() { cat "$CONNSTATE_DDL_CAPTURE"/ddl.*.sql | grep -c '^-- end$'; }
version 0
sup_start main "$db" "$cfg"
check_eq "1,000 connections ready" 1000 "$(count_status "$db" ready)"
before=$(builds)
start=$(date +%s%N)
for v in $(seq 1 50); do
    version "$v"
    # 50 rewrites in 5 s: one each 100 ms
    while [ $(($(date +%s%N) - start)) -lt $((v * 100000000)) ]; do sleep 0.01; done
done
connstate refresh --control "$(control main)" --timeout 120 >/dev/null
check "every connection converges on the last version" wait_sql 60 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state s JOIN pg_namespace n ON n.nspname = s.connection_name
     WHERE s.status = 'ready'
       AND obj_description(n.oid, 'pg_namespace') LIKE '%fingerprint=' || s.config_hash || ';%'" 1000
check_eq "... and its rows are those of the last version (50 rows)" 50 "$(sql "$db" "SELECT count(*) FROM c_777.table_1")"
check_eq "nothing is left updating or pending" 0 "$(sql "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status IN ('updating', 'pending', 'deleting')")"
wait_until 10 bash -c "[ \$(cat '$CONNSTATE_DDL_CAPTURE'/ddl.*.sql | grep -c '^-- end\$') -ge $((before + 1000)) ]"
after=$(builds)
n=$((after - before))
diag "builds for 50 rewrites of 1,000 connections: $n"
check "superseded updates were cancelled: at most 1.5 builds per connection ($n)" test "$n" -le 1500
check_eq "the log counts the same builds" "$after" \
    "$(grep -o 'since start: [0-9]* builds' "$T_DIR/main.log" | tail -1 | grep -o '[0-9]*')"
check "the supervisor is still running" kill -0 "$SUP_PID"
sup_stop "$SUP_PID"

done_testing
