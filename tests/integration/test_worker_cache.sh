# A worker's schema cache under more distinct schemas than it keeps (256): the cache starts
# over while a job prepared ahead may still use a schema from it (each job holds its own
# reference). Every build and rebuild lands with its own schema; `make asan` runs this suite
# under the sanitizers too. (The path where a job reads its schema after the next job was
# prepared -- a fresh build whose CREATE finds the schema there -- is not forced here.)
. "$(dirname "$0")/../lib.sh"

db=$(new_db worker_cache)
cfg=$T_DIR/config
mkdir -p "$cfg"
# 300 synthetic connections, each of its own config (rows = N): 300 schemas to cache
for i in $(seq 1 300); do
    printf 'connection "c_%d" {\n  plugin = "synthetic"\n  tables = 1\n  columns = 2\n  rows = %d\n}\n' \
        "$i" "$i"
done >"$cfg/many.spc"

sup_start main "$db" "$cfg" --workers 1
check_eq "300 connections of 300 distinct schemas are ready through one worker" "300" \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'")"
check_eq "... each with its own rows" "1|150|300" \
    "$(sql "$db" "SELECT count(*) FROM c_1.table_1")|$(sql "$db" "SELECT count(*) FROM c_150.table_1")|$(sql "$db" "SELECT count(*) FROM c_300.table_1")"
# ... and rebuilt, each with a new config: rebuilds run their DDL after the job is prepared
for i in $(seq 1 300); do
    printf 'connection "c_%d" {\n  plugin = "synthetic"\n  tables = 1\n  columns = 2\n  rows = %d\n}\n' \
        "$i" "$((i + 1000))"
done >"$cfg/many.spc.new"
mv "$cfg/many.spc.new" "$cfg/many.spc"
connstate refresh --control "$(control main)" --timeout 120 >/dev/null
check_eq "... rebuilt with 300 new schemas, all ready again" "300|1001|1300" \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'")|$(sql "$db" "SELECT count(*) FROM c_1.table_1")|$(sql "$db" "SELECT count(*) FROM c_300.table_1")"
check "the worker logged no failure" bash -c "! grep -E 'wrk.*(error|fatal)' '$T_DIR/main.log'"
check "the supervisor and its worker stop cleanly" sup_stop "$SUP_PID"
done_testing
