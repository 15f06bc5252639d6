# A plugin instance's settings, as a worker applies them (driven by a stand-in supervisor):
# env reaches the plugin's environment and no log; memory_max_mb limits its schema run (the
# error names the limit) and its rows (run by the database server), while an instance
# without the limit runs the same plugin to the end; two instances of one plugin with the
# same config never share a cached schema.
. "$(dirname "$0")/../lib.sh"

db=$(new_db instances)
sql "$db" "CREATE EXTENSION file_fdw; CREATE SERVER connstate_file FOREIGN DATA WRAPPER file_fdw" >/dev/null
drivers=$BUILD/tests/drivers
ep=ipc://$T_DIR/workers
token=tok-Secret-4711-value

# One worker runs every task given (TASK arguments of task_check), so that they share its
# schema cache.
run_tasks() {
    CONNSTATE_DB=$db spawn "$T_DIR/worker.log" connstate-worker --connect "$ep" \
        --plugin-dir "$(plugin_dir)" --name test-worker
    local worker=$SPAWNED out
    out=$("$drivers/task_check" "$ep" "$@")
    kill -TERM "$worker"
    wait "$worker"
    echo "$out"
}
tables_of() { sql "$db" "SELECT string_agg(foreign_table_name, ',') FROM information_schema.foreign_tables WHERE foreign_table_schema = '$1'"; }

out=$(run_tasks \
    build env_a "memenv;MEMENV_TABLE=from_a;MEMENV_TOKEN=$token" '{}' 1 \
    build env_b "memenv;MEMENV_TABLE=from_b" '{}' 1 \
    build plain memenv '{}' 1 \
    build low "memenv;memory_max_mb=48;MEMENV_ALLOC_MB=100;MEMENV_TOKEN=$token" '{}' 1 \
    build unlimited "memenv;MEMENV_ALLOC_MB=100" '{}' 1 \
    build rows_low "memenv;memory_max_mb=48;MEMENV_ROWS_ALLOC_MB=100" '{}' 1 \
    build rows_unlimited "memenv;MEMENV_ROWS_ALLOC_MB=100" '{}' 1)
diag "$out"
check_eq "the instances' builds: every one ready but the one over its memory limit" \
    "env_a ok|env_b ok|plain ok|unlimited ok|rows_low ok|rows_unlimited ok" \
    "$(grep -v '^low ' <<<"$out" | paste -sd'|')"
check_eq "env reaches the plugin: each instance's schema has the table its env names" \
    "from_a|from_b|t" "$(tables_of env_a)|$(tables_of env_b)|$(tables_of plain)"
check "the schema run over its memory limit fails with an error that names the limit" \
    grep -q "^low error: plugin memenv schema was killed by signal 11 under its memory limit (memory_max_mb = 48 MiB)" <<<"$out"
check "... in which the env's value that the plugin printed is masked" \
    grep -q "^low error: .*: memenv holds token \*\*\*$" <<<"$out"
check_eq "... and no schema was made for it" "" "$(schema_oid "$db" low)"
check "the same plugin taking the same memory without a limit is ready" \
    test "$(tables_of unlimited)" = t
check_eq "rows under the instance's limit fail in the database, the limit in the program run" \
    "ulimit -v 49152" \
    "$(sql "$db" "SELECT * FROM rows_low.t" 2>&1 | grep -o 'ulimit -v [0-9]*' | head -1)"
check_eq "... and the same rows without a limit are read" 104857600 \
    "$(sql "$db" "SELECT held FROM rows_unlimited.t")"
check_eq "the env's values are in no log of the worker" 0 "$(grep -c "$token" "$T_DIR/worker.log")"
check_eq "... nor in the catalog (the foreign tables' programs)" 0 \
    "$(sql "$db" "SELECT count(*) FROM pg_foreign_table WHERE array_to_string(ftoptions, ',') LIKE '%$token%'")"

done_testing
