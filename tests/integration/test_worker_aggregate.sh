# The aggregate task (kind 4) on a real worker, driven by a stand-in supervisor: an
# aggregator's views over members built by real build tasks; a member's update never breaks
# them (its previous schema is renamed away and kept while they read it, and dropped once the
# aggregator is built again); the locks between members and aggregators never deadlock.
# Before this change (the worker of 3ba7883) the aggregate kind was refused ("this worker
# cannot run a task of kind aggregate"), so every check from the first aggregate on failed.
# With that old worker running only the members' builds and deletes (and this one the
# aggregates), these failed: a member's rebuild under the aggregator's views, also while a
# query on the aggregator runs, its delete and the build after it (each refused: "objects
# that connstate did not create depend on schema "m_a" or live in it (view agg.table_1,
# ...)"), the aggregator's own delete (its views counted as a user's), the kept leftover and
# what the worker logs about it.
. "$(dirname "$0")/../lib.sh"

db=$(new_db worker_aggregate)
sql "$db" "CREATE EXTENSION file_fdw; CREATE SERVER connstate_file FOREIGN DATA WRAPPER file_fdw" >/dev/null
drivers=$BUILD/tests/drivers
ep=ipc://$T_DIR/workers

# run_task (KIND NAME PLUGIN CONFIG FRESH)...: one worker runs the tasks; prints the results.
run_task() {
    CONNSTATE_DB=$db spawn "$T_DIR/worker.log" connstate-worker --connect "$ep" \
        --plugin-dir "$(plugin_dir)" --name test-worker
    local worker=$SPAWNED out
    out=$("$drivers/task_check" "$ep" "$@")
    kill -TERM "$worker"
    wait "$worker" || echo "worker exited $?" >>"$T_DIR/exits"
    echo "$out"
}
# hash_of SCHEMA: the schema_hash of its marker.
hash_of() { sql "$db" "SELECT substring(obj_description('$1'::regnamespace, 'pg_namespace') FROM 'schema_hash=([0-9a-f]{16})')"; }
# members NAME...: TASK key 12 for these members as their markers are now.
members() {
    local m
    for m in "$@"; do printf '%s=%s\n' "$m" "$(hash_of "$m")"; done
}
# old_of NAME: the member's previous schema (cs$old$...) when it exists.
old_of() { sql "$db" "SELECT nspname FROM pg_namespace WHERE nspname = 'cs\$old\$$(printf %s "$1" | sha1sum | cut -c1-16)'"; }
# lock_key NAME: the second key of the connection's advisory lock (update.c's s_key).
lock_key() { sql "$db" "SELECT ('x' || '$(printf %s "$1" | sha1sum | cut -c1-8)')::bit(32)::int"; }
# rows AGG TABLE: "_connection|count" per member, as the view answers.
rows() { sql "$db" "SELECT _connection || '|' || count(*) FROM $1.$2 GROUP BY _connection ORDER BY _connection" | paste -sd' '; }
columns() { sql "$db" "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '$1'::regclass AND attnum > 0"; }

out=$(run_task build m_a synthetic '{"tables":2,"columns":2}' 1 build m_b synthetic '{"tables":3,"columns":3}' 1)
check_eq "two members built by real build tasks" "m_a ok|m_b ok" "$(paste -sd'|' <<<"$out")"

# ---- the plain case ----
out=$(run_task aggregate agg synthetic "$(members m_a m_b)" 0)
check_eq "the aggregate task builds the aggregator's schema" ok "$out"
check_eq "one view per table name any member has" "table_1 table_2 table_3" \
    "$(sql "$db" "SELECT string_agg(table_name, ' ' ORDER BY table_name) FROM information_schema.views WHERE table_schema = 'agg'")"
check_eq "rows from both members, each with its _connection" "m_a|10 m_b|10" "$(rows agg table_1)"
check_eq "a table only one member has reads that member" "m_b|10" "$(rows agg table_3)"
check_eq "the columns: _connection, then the union by name in order of first appearance" \
    "_connection,id,col_2,col_3" "$(columns agg.table_1)"
check_eq "a column a member lacks is NULL in its rows" "10|0" \
    "$(sql "$db" "SELECT count(*) FILTER (WHERE col_3 IS NULL) || '|' || count(*) FILTER (WHERE col_3 IS NULL AND _connection = 'm_b') FROM agg.table_1")"
marker=$(sql "$db" "SELECT obj_description('agg'::regnamespace, 'pg_namespace')")
check "the marker: the task's fingerprint, plugin and version, the views' hash, kind=aggregator" \
    grep -Eq '^connstate marker v1; fingerprint=0123456789abcdef; plugin=synthetic; plugin_version=1\.0\.0; schema_hash=[0-9a-f]{16}; kind=aggregator$' <<<"$marker"
check_eq "each view says what it is" "aggregator agg: 2 members" \
    "$(sql "$db" "SELECT obj_description('agg.table_1'::regclass, 'pg_class')")"
view_oid=$(sql "$db" "SELECT 'agg.table_1'::regclass::oid")
out=$(run_task aggregate agg synthetic "$(members m_a m_b)" 0)
check_eq "the same aggregate again changes nothing" "ok|$view_oid|$marker" \
    "$out|$(sql "$db" "SELECT 'agg.table_1'::regclass::oid")|$(sql "$db" "SELECT obj_description('agg'::regnamespace, 'pg_namespace')")"

# ---- a member rebuilt while the aggregator's views read it ----
old_hash=$(hash_of m_a)
out=$(run_task build m_a synthetic '{"tables":2,"columns":4}' 0)
check_eq "a member's rebuild under the aggregator's views succeeds" ok "$out"
check "... its schema is new" test "$(hash_of m_a)" != "$old_hash"
check_eq "the aggregator's views still answer, in their old shape" "m_a|10 m_b|10|_connection,id,col_2,col_3" \
    "$(rows agg table_1)|$(columns agg.table_1)"
old=$(old_of m_a)
check "the member's previous schema is kept (renamed away)" test -n "$old"
check "... and the worker said why" grep -qF "[m_a] the previous schema stays as $old: aggregator agg reads it" "$T_DIR/worker.log"
# stale MARKER: the marker with the fingerprint that no config has (the aggregator is built
# again by the next plan, whatever its members' hashes say).
stale() { sed 's/fingerprint=[0-9a-f]*/fingerprint=0000000000000000/' <<<"$1"; }
agg_marker() { sql "$db" "SELECT obj_description('${1:-agg}'::regnamespace, 'pg_namespace')"; }
check_eq "... and made the aggregator's marker stale, in the same transaction" "$(stale "$marker")" "$(agg_marker)"
out=$(run_task delete "$old" synthetic '{}' 0)
check_eq "dropping that leftover while the aggregator reads it is refused quietly" "ok|$old" "$out|$(old_of m_a)"
check "... saying who still reads it" grep -q "kept: aggregator agg still reads it" "$T_DIR/worker.log"
out=$(run_task aggregate agg synthetic "$(members m_a m_b)" 0)
check_eq "the aggregate again: the views read the member's new schema" "ok|_connection,id,col_2,col_3,col_4|m_a|10 m_b|10" \
    "$out|$(columns agg.table_1)|$(rows agg table_1)"
check_eq "... and the leftover is gone, the marker the task's" "|0123456789abcdef" \
    "$(old_of m_a)|$(agg_marker | sed -E 's/.*fingerprint=([0-9a-f]+).*/\1/')"

# ---- a member's marker changed since the plan, or a member being updated ----
out=$(run_task aggregate agg synthetic "$(printf 'm_a=%s\nm_b=%s' 0000000000000000 "$(hash_of m_b)")" 0)
check_eq "a member whose marker changed since the plan: retry" 'retry: member "m_a" changed since the plan; try again' "$out"
out=$(run_task aggregate agg synthetic "$(printf 'm_a=%s\nm_gone=%s' "$(hash_of m_a)" 0000000000000000)" 0)
check_eq "a member without a schema: retry" 'retry: member "m_gone" changed since the plan; try again' "$out"
out=$(run_task aggregate agg synthetic 'm_a=nothex' 0)
check "a malformed members line is refused" grep -q '^error: aggregate task: members line 1 is not NAME=SCHEMA_HASH' <<<"$out"
spawn "$T_DIR/holder.log" psql -X -q "$db application_name=holder" \
    -c "SELECT pg_advisory_lock(1668506472, $(lock_key m_b))" -c "SELECT pg_sleep(60)"
holder=$SPAWNED
wait_sql 10 "$db" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = (($(lock_key m_b))::bigint & 4294967295)::oid AND granted" 1 >/dev/null
start=$(date +%s%N)
out=$(run_task aggregate agg synthetic "$(members m_a m_b)" 0)
ms=$((($(date +%s%N) - start) / 1000000))
diag "the aggregate was answered in $ms ms while a member's update held its lock"
check_eq "a member being updated (its lock held): retry at once, not a wait" 'retry: member "m_b" is being updated; try again' "$out"
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait "$holder"
# the other way round: an aggregate of agg under way (its lock held) while a member is rebuilt
spawn "$T_DIR/holder.log" psql -X -q "$db application_name=holder" \
    -c "SELECT pg_advisory_lock(1668506472, $(lock_key agg))" -c "SELECT pg_sleep(60)"
holder=$SPAWNED
wait_sql 10 "$db" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = (($(lock_key agg))::bigint & 4294967295)::oid AND granted" 1 >/dev/null
hash=$(hash_of m_a)
out=$(run_task build m_a synthetic '{"tables":2,"columns":3}' 0)
check_eq "a member's rebuild while an aggregate of an aggregator reading it is under way: retry at once, the member as it was" \
    'retry: aggregator "agg", whose views read this schema, is being built; try again|'"$hash" "$out|$(hash_of m_a)"
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait "$holder"

# ---- a member rebuilt while a query on the aggregator runs ----
spawn "$T_DIR/user.log" psql -X -q "$db application_name=user-session" -c "BEGIN" \
    -c "SELECT count(*) FROM agg.table_1" -c "SELECT pg_sleep(60)" -c "COMMIT"
user=$SPAWNED
check "the user's query on the aggregator holds its locks" wait_sql 10 "$db" \
    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'table_1' AND c.relnamespace = 'm_b'::regnamespace AND l.granted AND l.pid IN (SELECT pid FROM pg_stat_activity WHERE application_name = 'user-session')" 1
start=$(date +%s%N)
out=$(CONNSTATE_LOCK_TIMEOUT=1s run_task build m_b synthetic '{"tables":3,"columns":2}' 0)
ms=$((($(date +%s%N) - start) / 1000000))
diag "the member's rebuild under a running query took $ms ms"
check_eq "a member rebuilt while a query on the aggregator runs: no error, no wait" ok "$out"
start=$(date +%s%N)
out=$(CONNSTATE_LOCK_TIMEOUT=1s run_task aggregate agg synthetic "$(members m_a m_b)" 0)
ms=$((($(date +%s%N) - start) / 1000000))
diag "the aggregate behind the running query was answered in $ms ms: $out"
check "the aggregate behind that query waits lock_timeout at most and is answered retry" \
    grep -Eq '^retry: waiting for a lock on agg\.table_1 held by pid [0-9]+ \(application_name "user-session"' <<<"$out"
check_eq "... and the user's query goes on" "m_a|10 m_b|10" "$(rows agg table_1)"
sql "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'user-session'" >/dev/null
wait "$user"
out=$(run_task aggregate agg synthetic "$(members m_a m_b)" 0)
check_eq "once the query is done the aggregate runs, its leftover gone" "ok|_connection,id,col_2,col_3,col_4||" \
    "$out|$(columns agg.table_1)|$(old_of m_b)|$(old_of m_a)"

# ---- a user's objects on an aggregator; a member's delete under its views ----
sql "$db" "CREATE VIEW public.mine AS SELECT _connection, id FROM agg.table_2" >/dev/null
out=$(run_task delete agg synthetic '{}' 0)
check "the aggregator's delete is refused while a user's view reads its views, naming it" \
    grep -q '^error: objects that connstate did not create depend on schema "agg" or live in it (view public.mine)' <<<"$out"
out=$(run_task aggregate agg synthetic "$(members m_a m_b)" 0)
check "... and so is its rebuild" grep -q 'depend on schema "agg" or live in it (view public.mine)' <<<"$out"
sql "$db" "DROP VIEW public.mine" >/dev/null
out=$(run_task delete m_b synthetic '{}' 0)
check_eq "a member's delete while the aggregator reads it: renamed away, not dropped" "ok||1" \
    "$out|$(schema_oid "$db" m_b)|$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = '$(old_of m_b)'")"
check_eq "... the aggregator's views still answer" "m_a|10 m_b|10" "$(rows agg table_1)"
out=$(run_task build m_b synthetic '{"tables":1,"columns":2}' 0)
check_eq "a new update of that member drops the aggregator's views that read its leftover (here all), and the leftover" \
    "ok||" "$out|$(sql "$db" "SELECT string_agg(table_name, ' ') FROM information_schema.views WHERE table_schema = 'agg'")|$(old_of m_b)"
check "... and the aggregator's marker is stale, so that no plan takes it for built" \
    grep -q '^connstate marker v1; fingerprint=0000000000000000; plugin=synthetic; .*; kind=aggregator$' \
    <<<"$(agg_marker)"
check "... saying so" grep -q "dropping the views of aggregator agg that read it: the aggregator is built again after this update" "$T_DIR/worker.log"
out=$(run_task aggregate agg synthetic "$(members m_a m_b)" 0)
check_eq "the aggregate again gives them back" "ok|m_a|10 m_b|10|$marker" \
    "$out|$(rows agg table_1)|$(sql "$db" "SELECT regexp_replace(obj_description('agg'::regnamespace, 'pg_namespace'), 'schema_hash=[0-9a-f]+', 'schema_hash=$(sed -E 's/.*schema_hash=([0-9a-f]+).*/\1/' <<<"$marker")')")"
out=$(run_task delete m_b synthetic '{}' 0 aggregate agg synthetic "$(members m_a)" 0)
check_eq "a member deleted, then the aggregate without it: its previous schema goes" \
    "m_b ok|agg ok|m_a|10|" "$(paste -sd'|' <<<"$out")|$(rows agg table_1)|$(old_of m_b)"
out=$(run_task build m_b synthetic '{"tables":3,"columns":2}' 1)
out=$(run_task aggregate agg synthetic "$(members m_a m_b)" 0 build m_a synthetic '{"tables":2,"columns":3}' 0)
check_eq "the aggregate with it again, then a member rebuilt under it" "agg ok|m_a ok|1" \
    "$(paste -sd'|' <<<"$out")|$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = '$(old_of m_a)'")"
out=$(run_task delete agg synthetic '{}' 0)
check_eq "the aggregator's delete drops its views and schema, not its members, and the previous schema they read" "ok||2|" \
    "$out|$(schema_oid "$db" agg)|$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname IN ('m_a', 'm_b')")|$(old_of m_a)"

# ---- big updates, in batches of tables (here 2 per transaction) ----
out=$(run_task build m_big synthetic '{"tables":3,"columns":2}' 1)
out=$(run_task aggregate aggb synthetic "$(members m_big m_a)" 0)
check_eq "an aggregator over a big member" "ok|m_a|10 m_big|10" "$out|$(rows aggb table_1)"
out=$(CONNSTATE_TABLES_PER_TRANSACTION=2 run_task build m_big synthetic '{"tables":3,"columns":3}' 0)
check_eq "the member's batched rebuild (swapped in) keeps its previous schema for the views" \
    "ok|m_a|10 m_big|10|_connection,id,col_2,col_3|1" \
    "$out|$(rows aggb table_1)|$(columns aggb.table_1)|$(sql "$db" "SELECT count(*) FROM information_schema.foreign_tables WHERE foreign_table_schema = '$(old_of m_big)'" | grep -c '^3$')"
check "... and makes the aggregator's marker stale" grep -q "fingerprint=0000000000000000" <<<"$(agg_marker aggb)"
out=$(CONNSTATE_TABLES_PER_TRANSACTION=2 run_task aggregate aggb synthetic "$(members m_big m_a)" 0)
check_eq "the aggregate again reads the new schema and drops the previous one (in batches)" "ok|_connection,id,col_2,col_3|" \
    "$out|$(columns aggb.table_1)|$(old_of m_big)"
check "... its views too many for one transaction's locks (3 views of 5 member tables > 3 x 2): built under its temporary name in 2 transactions and swapped in" \
    grep -Eq '\[aggb\] too big for one transaction: its 3 views were built under cs\$new\$[0-9a-f]{16} in 2 transactions' "$T_DIR/worker.log"
check_eq "... the previous views dropped, the aggregator's marker the task's, nothing left" "ok|0123456789abcdef|0" \
    "$out|$(agg_marker aggb | sed -E 's/.*fingerprint=([0-9a-f]+).*/\1/')|$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\$%'")"
view_oid=$(sql "$db" "SELECT 'aggb.table_1'::regclass::oid")
out=$(CONNSTATE_TABLES_PER_TRANSACTION=2 run_task aggregate aggb synthetic "$(members m_big m_a)" 0)
check_eq "... and the same big aggregate again changes nothing" "ok|$view_oid" "$out|$(sql "$db" "SELECT 'aggb.table_1'::regclass::oid")"
sql "$db" "CREATE VIEW public.mine_b AS SELECT id FROM aggb.table_3" >/dev/null
out=$(CONNSTATE_TABLES_PER_TRANSACTION=2 run_task aggregate aggb synthetic "$(members m_a m_big)" 0)
check_eq "a big aggregate of an aggregator that a user's view reads is refused, naming it, the views as they were, nothing left" \
    "error: objects that connstate did not create depend on schema \"aggb\" or live in it (view public.mine_b); it was left as it was: move or drop them (or drop the schema yourself), then refresh|$view_oid|0" \
    "$out|$(sql "$db" "SELECT 'aggb.table_1'::regclass::oid")|$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\$%'")"
sql "$db" "DROP VIEW public.mine_b" >/dev/null
out=$(CONNSTATE_TABLES_PER_TRANSACTION=2 run_task aggregate aggc synthetic "$(members m_a m_big)" 0)
check_eq "a new aggregator too big for one transaction is built under its temporary name and renamed into place" \
    "ok|m_a|10 m_big|10|0" \
    "$out|$(rows aggc table_1)|$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\$%'")"
out=$(run_task delete aggc synthetic '{}' 0)
out=$(CONNSTATE_TABLES_PER_TRANSACTION=2 run_task delete aggb synthetic '{}' 0)
check_eq "an aggregator's delete drops its views in batches, then its schema" "ok|" "$out|$(schema_oid "$db" aggb)"

# ---- no deadlock: two aggregates over overlapping members, an aggregate and a build ----
out=$(run_task build m_c synthetic '{"tables":3,"columns":2}' 1)
out=$(run_task aggregate agg1 synthetic "$(members m_a m_b)" 0 aggregate agg2 synthetic "$(members m_b m_c)" 0)
check_eq "two aggregators over overlapping members" "agg1 ok|agg2 ok" "$(paste -sd'|' <<<"$out")"
# at_once OUT1 (TASK...) -- OUT2 (TASK...): two workers run them at the same time.
at_once() {
    local out1=$1 out2 args1=() args2=() w1 w2 d1 d2
    shift
    while [ "$1" != -- ]; do args1+=("$1"); shift; done
    shift
    out2=$1
    shift
    args2=("$@")
    CONNSTATE_DB=$db spawn "$T_DIR/worker1.log" connstate-worker --connect "$ep.1" \
        --plugin-dir "$(plugin_dir)" --name worker-1
    w1=$SPAWNED
    CONNSTATE_DB=$db spawn "$T_DIR/worker2.log" connstate-worker --connect "$ep.2" \
        --plugin-dir "$(plugin_dir)" --name worker-2
    w2=$SPAWNED
    "$drivers/task_check" "$ep.1" "${args1[@]}" >"$out1" &
    d1=$!
    "$drivers/task_check" "$ep.2" "${args2[@]}" >"$out2" &
    d2=$!
    wait "$d1"
    wait "$d2"
    kill -TERM "$w1" "$w2"
    wait "$w1" || echo "worker-1 exited $?" >>"$T_DIR/exits"
    wait "$w2" || echo "worker-2 exited $?" >>"$T_DIR/exits"
}
# ended FILE REGEX: the file holds exactly one line, and it matches.
ended() { [ "$(wc -l <"$1")" -eq 1 ] && grep -Eq "$2" "$1"; }
retry='^(ok|retry: member "m_[abc]" (is being updated|changed since the plan); try again)$'
member_retry='^(ok|retry: aggregator "agg1", whose views read this schema, is being built; try again)$'
bad=0
for round in 1 2 3 4 5; do
    cols=$((round + 1))
    at_once "$T_DIR/r1" aggregate agg1 synthetic "$(members m_a m_b)" 0 -- \
        "$T_DIR/r2" aggregate agg2 synthetic "$(members m_b m_c)" 0
    diag "round $round, two aggregates: $(cat "$T_DIR/r1") / $(cat "$T_DIR/r2")"
    ended "$T_DIR/r1" "$retry" && ended "$T_DIR/r2" "$retry" || bad=$((bad + 1))
    at_once "$T_DIR/r1" aggregate agg1 synthetic "$(members m_a m_b)" 0 -- \
        "$T_DIR/r2" build m_b synthetic "{\"tables\":3,\"columns\":$cols}" 0
    diag "round $round, an aggregate and a member's build: $(cat "$T_DIR/r1") / $(cat "$T_DIR/r2")"
    # (the member's build meets the aggregate's transaction when their timing overlaps: it is
    # then answered retry, never left waiting)
    ended "$T_DIR/r1" "$retry" && ended "$T_DIR/r2" "$member_retry" || bad=$((bad + 1))
done
check_eq "no deadlock: every task ended, ok or retry, the member's builds ok or retry (5 rounds of each)" 0 "$bad"
out=$(run_task aggregate agg1 synthetic "$(members m_a m_b)" 0 aggregate agg2 synthetic "$(members m_b m_c)" 0)
check_eq "after them both aggregators read the members' last schemas" "agg1 ok|agg2 ok|m_a|10 m_b|10|m_b|10 m_c|10" \
    "$(paste -sd'|' <<<"$out")|$(rows agg1 table_1)|$(rows agg2 table_1)"
check_eq "... and no previous schema is left" 0 "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\$%'")"
check_eq "every worker exited 0 on SIGTERM" "" "$(cat "$T_DIR/exits" 2>/dev/null)"

# ---- a member whose name array input would read as NULL ----
out=$(run_task build null synthetic '{"tables":1,"columns":2}' 1)
check_eq "a member named null is built" "ok" "$out"
out=$(run_task aggregate agg_null synthetic "$(members null)" 0)
check_eq "... and an aggregate over it is built (its name is not taken for NULL)" ok "$out"
check_eq "... reading it" "null|10" "$(rows agg_null table_1)"

done_testing
