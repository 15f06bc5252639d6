# A plugin reference's version constraint is checked against the installed plugin's version
# (what its `info` says; the test plugin counted is 1.0.0): unsatisfied, the connection is in
# error naming both versions, and the other connections of the same file are ready.
. "$(dirname "$0")/../lib.sh"

db=$(new_db plugin_versions)
cfg=$T_DIR/config
mkdir -p "$cfg"
cat >"$cfg/a.spc" <<'EOF'
plugin "counted_pinned" {
  source        = "counted@~0.9"
  memory_max_mb = 256
}

connection "wants_old" {
  plugin = "turbot/counted@^0.5"
}

connection "by_instance" {
  plugin = plugin.counted_pinned
}

connection "by_range" {
  plugin = "counted@>=1.0, <2"
}

connection "latest" {
  plugin = "hub.steampipe.io/plugins/turbot/counted@latest"
}
EOF
sup_start main "$db" "$cfg"
check_eq "a constraint the installed version misses: the connection is in error" \
    error "$(status_of "$db" wants_old)"
check_eq "... naming both versions and the reference" \
    "plugin counted 1.0.0 does not satisfy @^0.5 (turbot/counted@^0.5)" "$(error_of "$db" wants_old)"
check_eq "an instance's constraint is checked the same way" \
    "plugin counted 1.0.0 does not satisfy @~0.9 (plugin.counted_pinned, source \"counted@~0.9\")" \
    "$(error_of "$db" by_instance)"
check_eq "a satisfied range in the same file: ready" ready "$(status_of "$db" by_range)"
check_eq "@latest always matches: ready" ready "$(status_of "$db" latest)"
check_eq "... and its schema was built" 1 "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = 'latest'")"
check_eq "no schema for the unsatisfied connection" 0 \
    "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = 'wants_old'")"

# Fixed in the file: the connection is built at the next refresh.
sed -i 's/counted@\^0.5/counted@^1.0/' "$cfg/a.spc"
kill -HUP "$SUP_PID"
check "the corrected constraint: the connection becomes ready" \
    wait_sql 30 "$db" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'wants_old'" ready
sup_stop "$SUP_PID"

done_testing
