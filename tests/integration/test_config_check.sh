# connstate config check as a user runs it: table and JSON output, exit codes, default dir.
. "$(dirname "$0")/../lib.sh"

db=$(new_db config_check)
cfg=$T_DIR/config
mkdir -p "$cfg"
cat >"$cfg/a.spc" <<'SPC'
connection "aws_prod" {
  plugin  = "aws"
  regions = ["us-east-1", "eu-west-1"]
  options "rate" { max_rps = 10 }
}

connection "archive" {
  plugin        = "csv"
  import_schema = "disabled"
  header        = <<EOT
id,name
EOT
}
SPC
cat >"$cfg/b.spc" <<'SPC'
connection "all_aws" {
  plugin      = "aws"
  type        = "aggregator"
  connections = ["aws_*"]
}
SPC

# jq-free JSON checks: PostgreSQL parses the output (it fails on invalid JSON).
json_query() { sql "$db" "SELECT $2 FROM (SELECT \$j\$$1\$j\$::jsonb AS j) AS t"; }

connstate config check --config-dir "$cfg" >"$T_DIR/out" 2>"$T_DIR/err"
check "valid config: exit 0" test $? -eq 0
check "table lists aws_prod with its plugin, type, import and lines" \
    grep -Eq "^aws_prod +aws +plugin +enabled +$cfg/a.spc +1-5 +[0-9a-f]{16}$" "$T_DIR/out"
check "table lists the disabled csv connection" grep -Eq "^archive +csv +plugin +disabled" "$T_DIR/out"
check "table lists the aggregator" grep -Eq "^all_aws +aws +aggregator" "$T_DIR/out"
check "summary line counts connections, files and errors" \
    grep -q "^3 connections in 2 files, 0 errors$" "$T_DIR/out"

out=$(connstate config check --config-dir "$cfg" --format json)
check "json: exit 0" test $? -eq 0
check_eq "json: three connections" 3 "$(json_query "$out" "jsonb_array_length(j->'connections')")"
check_eq "json: no errors" 0 "$(json_query "$out" "jsonb_array_length(j->'errors')")"
check_eq "json: fields of the first connection" \
    "aws_prod|aws|plugin|enabled|$cfg/a.spc|1|5|16" \
    "$(json_query "$out" "j->'connections'->0->>'name', j->'connections'->0->>'plugin',
        j->'connections'->0->>'type', j->'connections'->0->>'import_schema',
        j->'connections'->0->>'file', j->'connections'->0->>'start_line',
        j->'connections'->0->>'end_line', length(j->'connections'->0->>'fingerprint')")"

# A broken file: its error is reported with file:line:col, the good file still loads.
printf 'connection "broken" {\n  plugin = "aws"\n  regions = ["a" "b"]\n}\n' >"$cfg/c.spc"
connstate config check --config-dir "$cfg" >"$T_DIR/out"
check "an error: exit 1" test $? -eq 1
check "the error reads FILE:LINE:COL: message" \
    grep -q "^$cfg/c.spc:3:18: expected ',' or ']' in the list" "$T_DIR/out"
check "the other files still load" grep -q "^3 connections in 3 files, 1 error$" "$T_DIR/out"
out=$(connstate config check --config-dir "$cfg" --format json)
check_eq "json error: file, line, column" "$cfg/c.spc|3|18" \
    "$(json_query "$out" "j->'errors'->0->>'file', j->'errors'->0->>'line', j->'errors'->0->>'column'")"

# Defaults: $CONNSTATE_CONFIG_DIR, else ~/.connstate/config.
out=$(CONNSTATE_CONFIG_DIR=$cfg connstate config check --format json)
check_eq "CONNSTATE_CONFIG_DIR is the default directory" 3 \
    "$(json_query "$out" "jsonb_array_length(j->'connections')")"
mkdir -p "$T_DIR/home/.connstate/config"
cp "$cfg/b.spc" "$T_DIR/home/.connstate/config/"
out=$(env -u CONNSTATE_CONFIG_DIR HOME=$T_DIR/home connstate config check --format json)
check_eq "~/.connstate/config is the fallback" all_aws \
    "$(json_query "$out" "j->'connections'->0->>'name'")"
env -u CONNSTATE_CONFIG_DIR HOME=$T_DIR/nowhere connstate config check >"$T_DIR/out"
check "a missing directory is an error (exit 1)" test $? -eq 1
check "a missing directory is named" grep -q "cannot open the config directory" "$T_DIR/out"

# Usage errors: exit 2.
connstate config check --format yaml --config-dir "$cfg" 2>/dev/null
check "an unknown format: exit 2" test $? -eq 2
connstate config check --bogus 2>/dev/null
check "an unknown flag: exit 2" test $? -eq 2
connstate config 2>/dev/null
check "config without check: exit 2" test $? -eq 2
connstate config check --help | grep -q "Usage: connstate config check"
check "config check --help" test $? -eq 0

done_testing
