# A Steampipe user's config directory, as it is (tests/fixtures/steampipe), run by a real
# supervisor with plugins of those names installed: every connection the files declare is
# built from its plugin reference (org/name, registry path, local/, @version, plugin.LABEL),
# the instance's and options "plugin"'s memory limits reach the rows programs, a mixed-case
# name is its schema, the aggregator reads its members, the database's search path starts
# with the prefix, and `connstate config check` accepts the directory.
. "$(dirname "$0")/../lib.sh"

db=$(new_db steampipe_dir)
cfg=$T_DIR/config
cp -r "$ROOT/tests/fixtures/steampipe" "$cfg"

# Plugins of the fixtures' names, at versions that satisfy their constraints.
plugins=$T_DIR/steampipe_plugins
mkdir -p "$plugins"
for p in aws:0.118.0 gcp:1.2.0 gitlab:0.5.1 kubernetes:0.30.0 csv:0.12.0 oci:0.40.0 \
    github:0.40.3 azure:1.0.0; do
    name=${p%%:*} version=${p#*:}
    cat >"$plugins/$name" <<PLUGIN
#!/bin/sh
case "\$1" in
    info) echo '{"name":"$name","version":"$version","schema_mode":"static"}' ;;
    schema) cat >/dev/null
            echo '{"tables":[{"name":"${name}_thing","columns":[{"name":"id","type":"bigint"}]}]}' ;;
    rows) echo 1 ;;
    *) exit 2 ;;
esac
PLUGIN
    chmod 755 "$plugins/$name"
done

connstate config check --config-dir "$cfg" >"$T_DIR/check.out" 2>&1
check "config check accepts the whole directory (exit 0)" test $? -eq 0
check "... 10 connections in 8 files, no error" grep -q "^10 connections in 8 files, 0 errors$" \
    "$T_DIR/check.out"

spawn "$T_DIR/main.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$plugins" --bind-workers "ipc://$T_DIR/main.workers" \
    --bind-publish "ipc://$T_DIR/main.publish" --bind-control "ipc://$T_DIR/main.control" \
    --workers 2
SUP_PID=$SPAWNED
wait_log "$T_DIR/main.log" "^sup\\[$SUP_PID\\] info: refresh 1 done" 60

check_eq "every connection is ready, the aggregator too" \
    "Azure_Prod aws_all aws_dev aws_prod csv gcp_prod github gitlab kubernetes oci_tenant" \
    "$(sql "$db" "SELECT string_agg(connection_name, ' ' ORDER BY connection_name COLLATE \"C\")
                  FROM connstate_internal.connection_state WHERE status = 'ready'")"
check_eq "aws_all reads both accounts (plugin = \"aws\" is the instance aws_high, as theirs)" \
    "aws_dev aws_prod" \
    "$(sql "$db" "SELECT string_agg(_connection, ' ' ORDER BY _connection) FROM aws_all.aws_thing")"
check_eq "each schema holds its plugin's table (theapsgroup/gitlab is gitlab)" 1 \
    "$(sql "$db" "SELECT count(*) FROM gitlab.gitlab_thing")"
check_eq "a mixed-case name is its schema, quoted" 1 \
    "$(sql "$db" "SELECT count(*) FROM \"Azure_Prod\".azure_thing")"
limit_of() { # the rows program's address-space limit of a foreign table, in KiB
    sql "$db" "SELECT substring(ftoptions::text from 'ulimit -v ([0-9]+)') FROM pg_foreign_table
               WHERE ftrelid = '$1'::regclass"
}
check_eq "plugin.aws_high's memory_max_mb (4096 MiB) limits aws_prod's rows" 4194304 \
    "$(limit_of aws_prod.aws_thing)"
check_eq "aws_dev (plugin = \"aws\": the one instance of that source) has aws_high's limit" \
    4194304 "$(limit_of aws_dev.aws_thing)"
check_eq "options \"plugin\" memory_max_mb (2048 MiB) limits a connection without an instance" \
    2097152 "$(limit_of gcp_prod.gcp_thing)"
check "the database's search path starts with search_path_prefix" \
    wait_sql 30 "$db" "SELECT (regexp_split_to_array(setconfig[1], '[=,]'))[2]
        FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database
        WHERE datname = current_database()) AND setrole = 0" aws_prod

# A version the constraint does not allow (^0.40 is 0.40.x): the connection says both.
sed -i 's/"version":"0.40.3"/"version":"0.41.0"/' "$plugins/github"
touch "$cfg/hub.spc"
kill -HUP "$SUP_PID"
check "an installed version that misses the constraint: github in error" \
    wait_sql 30 "$db" "SELECT status FROM connstate_internal.connection_state
                       WHERE connection_name = 'github'" error
check_eq "... naming both versions and the reference" \
    "plugin github 0.41.0 does not satisfy @^0.40 (turbot/github@^0.40)" "$(error_of "$db" github)"
check_eq "... and its schema is left as it was, not dropped" 1 \
    "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = 'github'")"

sup_stop "$SUP_PID"
check "the supervisor exits 0" test $? -eq 0
done_testing
