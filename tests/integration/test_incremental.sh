# A refresh costs what changed: a no-op refresh decides no connection, and a change of one
# file decides only that file's connections (the plan's debug line says how many it decided).
. "$(dirname "$0")/../lib.sh"

db=$(new_db incremental)
cfg=$T_DIR/config
mkdir -p "$cfg"
for f in $(seq 0 99); do # 2000 connections in 100 files of 20
    synthetic_conns "$cfg/part_$f.spc" $((f * 20)) $((f * 20 + 19)) 1 "c_${f}_"
done

sup_start main "$db" "$cfg" --log-level debug
log=$T_DIR/main.log
check_eq "cold start: all 2000 connections ready" 2000 "$(count_status "$db" ready)"
check "cold start: every comment written" \
    wait_sql 60 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE comments_set" 2000

# plans_after N: the plan lines after the first N lines of the log
plans_after() { tail -n +"$(($1 + 1))" "$log" | grep -E "debug: plan: [0-9]+ of [0-9]+ connections decided"; }

# What the cold start built is looked at once more; after that, a refresh looks at nothing.
connstate refresh --control "$(control main)" >/dev/null
check "a refresh after the cold start: done" test $? -eq 0
lines=$(wc -l <"$log")
out=$(connstate refresh --control "$(control main)")
check "a no-op refresh: done, 2000 ready" grep -Eq "2000 connections: 2000 ready$" <<<"$out"
check_eq "a no-op refresh: its plan decides 0 of the 2000 connections" \
    "plan: 0 of 2000 connections decided (0 names looked at)" \
    "$(plans_after "$lines" | tail -1 | grep -Eo 'plan: [0-9]+ of [0-9]+ connections decided \([^)]*\)')"

# One file changed: its 20 connections are decided, no other.
lines=$(wc -l <"$log")
oid_other=$(schema_oid "$db" c_9_180)
synthetic_conns "$cfg/part_7.spc" 140 159 2 "c_7_"
check "one file changed: its 20 connections are rebuilt with 2 tables" wait_sql 30 "$db" \
    "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema LIKE 'c\_7\_%'" 40
check "one file changed: its connections are ready again" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'c\_7\_%' AND status = 'ready'" 20
check_eq "one file changed: the plan it caused decides its 20 connections only" \
    "plan: 20 of 2000 connections decided (20 names looked at)" \
    "$(plans_after "$lines" | head -1 | grep -Eo 'plan: [0-9]+ of [0-9]+ connections decided \([^)]*\)')"
check_eq "one file changed: another file's connection keeps its schema" "$oid_other" \
    "$(schema_oid "$db" c_9_180)"

# Once they landed, a refresh looks at them once more (their schemas changed), then at nothing.
check "the rebuilt connections' comments are written" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE comments_set" 2000
connstate refresh --control "$(control main)" >/dev/null
lines=$(wc -l <"$log")
connstate refresh --control "$(control main)" >/dev/null
check_eq "after the change: a no-op refresh decides 0 connections again" \
    "plan: 0 of 2000 connections decided (0 names looked at)" \
    "$(plans_after "$lines" | tail -1 | grep -Eo 'plan: [0-9]+ of [0-9]+ connections decided \([^)]*\)')"

# A file removed: its connections are deleted (after the grace), and only they are decided.
lines=$(wc -l <"$log")
rm "$cfg/part_3.spc"
check "a file removed: its 20 connections' rows are deleted" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'c\_3\_%'" 0
check "a file removed: it caused plans" test "$(plans_after "$lines" | wc -l)" -gt 0
check "a file removed: every plan it caused decides at most its 20 connections" \
    test "$(plans_after "$lines" | grep -Eo 'plan: [0-9]+ of' | awk '$2 > 20' | wc -l)" -eq 0
check_eq "a file removed: the other 1980 connections are ready" 1980 "$(count_status "$db" ready)"

sup_stop "$SUP_PID"
check "the supervisor exits 0" test $? -eq 0
done_testing
