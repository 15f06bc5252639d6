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
check "... and, under its file, the members it matches as configured" grep -q \
    '^  all_aws: plugin = "aws" -> aws; members (as configured: only the ready ones are read): aws_prod$' \
    "$T_DIR/out"
check "summary line counts connections, files and errors" \
    grep -q "^3 connections in 2 files, 0 errors$" "$T_DIR/out"

out=$(connstate config check --config-dir "$cfg" --format json)
check "json: exit 0" test $? -eq 0
check_eq "json: three connections" 3 "$(json_query "$out" "jsonb_array_length(j->'connections')")"
check_eq "json: no errors" 0 "$(json_query "$out" "jsonb_array_length(j->'errors')")"
check_eq "json: the aggregator's members" '["aws_prod"]' \
    "$(json_query "$out" "j->'connections'->2->'members'")"
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

# A Steampipe directory: per file, what was used, how each plugin reference resolved, the
# plugin instances, what is ignored (with its line), and the failed file; JSON the same.
sp=$T_DIR/steampipe
mkdir -p "$sp"
cat >"$sp/aws.spc" <<'SPC'
plugin "aws_high" {
  source        = "turbot/aws@^0.5"
  memory_max_mb = 4096
  env           = { AWS_PROFILE = "prod" }
  limiter "aws_global" {
    max_concurrency = 200
  }
}

options "connection" {
  cache = true
}

connection "aws_prod" {
  plugin = plugin.aws_high
}
SPC
cat >"$sp/gitlab.spc" <<'SPC'
connection "gitlab" {
  plugin = "theapsgroup/gitlab"
  token  = "glpat-secret"
}

connection "csv" {
  plugin = "csv@0.5.0"
}
SPC
printf 'connection "lost" {\n  plugin = plugin.nope\n}\n' >"$sp/z.spc"
connstate config check --config-dir "$sp" >"$T_DIR/out"
check "a Steampipe directory with an unknown instance: exit 1" test $? -eq 1
check "per file: the file's heading" grep -q "^FILE $sp/aws.spc$" "$T_DIR/out"
check "resolved: an instance reference, its short name, instance and constraint" \
    grep -q "^  aws_prod: plugin = plugin.aws_high -> aws, instance aws_high ($sp/aws.spc:1), version ^0.5$" "$T_DIR/out"
check "resolved: an org/name reference" \
    grep -q '^  gitlab: plugin = "theapsgroup/gitlab" -> gitlab$' "$T_DIR/out"
check "resolved: an exact version" grep -q '^  csv: plugin = "csv@0.5.0" -> csv, version 0.5.0$' "$T_DIR/out"
check "the instance with its settings (env names, not values)" \
    grep -q '^  plugin "aws_high" (line 1): source "turbot/aws@^0.5" -> aws, version ^0.5, memory_max_mb 4096, env AWS_PROFILE$' "$T_DIR/out"
check "ignored, with its line: a limiter" grep -q '^  ignored (line 5): plugin "aws_high": limiter "aws_global"$' "$T_DIR/out"
check "ignored, with its line: options" grep -q '^  ignored (line 10): options "connection"$' "$T_DIR/out"
check "the failed file keeps its names" grep -q "^  failed (1 error): .*: lost$" "$T_DIR/out"
check "... and its error reads FILE:LINE:COL" \
    grep -q "^$sp/z.spc:2:12: connection \"lost\": plugin.nope is not defined" "$T_DIR/out"
check "no secret in the output" bash -c "! grep -q 'glpat-secret\|prod\"' '$T_DIR/out'"
out=$(connstate config check --config-dir "$sp" --format json)
check_eq "json: the resolution of a connection" "plugin.aws_high|aws|^0.5|aws_high" \
    "$(json_query "$out" "j->'connections'->0->>'plugin_written', j->'connections'->0->>'plugin',
        j->'connections'->0->>'plugin_constraint', j->'connections'->0->>'instance'")"
check_eq "json: no constraint, no instance are null" "t|t" \
    "$(json_query "$out" "j->'connections'->1->'plugin_constraint' = 'null'::jsonb,
        j->'connections'->1->'instance' = 'null'::jsonb")"
check_eq "json: the instance" "aws_high|$sp/aws.spc|1|aws|4096|[\"AWS_PROFILE\"]" \
    "$(json_query "$out" "j->'plugins'->0->>'label', j->'plugins'->0->>'file', j->'plugins'->0->>'line',
        j->'plugins'->0->>'plugin', j->'plugins'->0->>'memory_max_mb', j->'plugins'->0->>'env'")"
check_eq "json: ignored with file and line" "2|$sp/aws.spc|5|plugin \"aws_high\": limiter \"aws_global\"" \
    "$(json_query "$out" "jsonb_array_length(j->'ignored'), j->'ignored'->0->>'file',
        j->'ignored'->0->>'line', j->'ignored'->0->>'what'")"
check_eq "json: per file, used, failed and kept" '["aws_prod"]|false|true|["lost"]|1' \
    "$(json_query "$out" "j->'files'->0->>'connections', j->'files'->0->>'failed',
        j->'files'->2->>'failed', j->'files'->2->>'kept', j->'files'->2->>'errors'")"

done_testing
