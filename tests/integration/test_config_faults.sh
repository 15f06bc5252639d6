# A config file that fails to load, in any way, keeps every connection the state table
# attributes to it, and its schemas, until it loads cleanly again; the directory too.
. "$(dirname "$0")/../lib.sh"

db=$(new_db config_faults)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 10 1 a_
synthetic_conns "$cfg/b.spc" 1 100 1 b_
cp "$cfg/b.spc" "$T_DIR/b.good"

sup_start main "$db" "$cfg"
check_eq "110 connections ready" 110 "$(count_status "$db" ready)"
oids() { sql "$db" "SELECT string_agg(oid::text, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'b\_%'"; }
b_oids=$(oids)
refresh() { connstate refresh --control "$(control main)" >/dev/null; }
b_count() { sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'b\_%'"; }
b_status() {
    sql "$db" "SELECT status || ' ' || count(*) FROM connstate_internal.connection_state
               WHERE connection_name LIKE 'b\_%' GROUP BY status ORDER BY status"
}

# restore: b.spc as it was; every b_ connection is ready again with the same schema (no DDL)
restore() {
    rm -rf "$cfg/b.spc"
    cp "$T_DIR/b.good" "$cfg/b.spc"
    refresh
    check_eq "$1: restored, all 100 ready again" "ready 100" "$(b_status)"
    check_eq "$1: restored, with the very same schemas (no DDL)" "$b_oids" "$(oids)"
}

# ---- the file cut mid-block (a half-written file) -------------------------------------------
head -c 2000 "$T_DIR/b.good" >"$cfg/.t" && mv "$cfg/.t" "$cfg/b.spc"
refresh
check_eq "cut file: all 100 schemas kept" 100 "$(b_count)"
check_eq "cut file: all 100 rows in error" "error 100" "$(b_status)"
check "cut file: a connection the parser never reached names the file's error" \
    grep -Eq "^$cfg/b.spc:[0-9]+:[0-9]+: " <<<"$(error_of "$db" b_100)"
check_eq "cut file: the other file's connections are ready" 10 \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'a\_%' AND status = 'ready'")"
restore "cut file"

# ---- an unclosed { at line 251 -----------------------------------------------------------------
sed '251s/{/{ x = {/' "$T_DIR/b.good" >"$cfg/.t" && mv "$cfg/.t" "$cfg/b.spc"
refresh
check_eq "unclosed brace: all 100 schemas kept" 100 "$(b_count)"
check_eq "unclosed brace: all 100 rows in error" "error 100" "$(b_status)"
restore "unclosed brace"

# ---- the file replaced by a directory of the same name ----------------------------------------
rm "$cfg/b.spc" && mkdir "$cfg/b.spc"
refresh
check_eq "directory: all 100 schemas kept" 100 "$(b_count)"
check_eq "directory: all 100 rows in error" "error 100" "$(b_status)"
check_eq "directory: the error says why" "$cfg/b.spc: not a regular file (a directory)" "$(error_of "$db" b_1)"
restore "directory"

# ---- the file replaced by a FIFO: the refresh never waits for a writer -------------------------
rm "$cfg/b.spc" && mkfifo "$cfg/b.spc"
refresh
check_eq "FIFO: all 100 schemas kept" 100 "$(b_count)"
check_eq "FIFO: all 100 rows in error" "error 100" "$(b_status)"
check_eq "FIFO: the error says why" "$cfg/b.spc: not a regular file (a FIFO)" "$(error_of "$db" b_1)"
restore "FIFO"

# ---- the file unreadable (root reads everything, so only when not root) -----------------------
if [ "$(id -u)" -ne 0 ]; then
    chmod 000 "$cfg/b.spc"
    refresh
    check_eq "unreadable: all 100 schemas kept" 100 "$(b_count)"
    chmod 644 "$cfg/b.spc"
    restore "unreadable"
fi

# ---- the whole directory gone for a moment ---------------------------------------------------
mv "$cfg" "$T_DIR/config.away"
refresh
check_eq "directory gone: every schema kept" 110 \
    "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname ~ '^[ab]_'")"
check_eq "directory gone: every row in error" 110 "$(count_status "$db" error)"
check "directory gone: the error names the directory" \
    grep -q "cannot open the config directory" <<<"$(error_of "$db" a_1)"
mv "$T_DIR/config.away" "$cfg"
check "directory back: noticed without being asked, all 110 ready" \
    wait_sql 10 "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 110
check_eq "directory back: the same schemas" "$b_oids" "$(oids)"
printf 'connection "c_new" {\n  plugin = "synthetic"\n}\n' >"$cfg/c.spc"
check "directory back: it is watched again (a new file is picked up)" \
    wait_sql 10 "$db" "SELECT status FROM connstate_internal.connection_state WHERE connection_name = 'c_new'" ready
rm "$cfg/c.spc"

# ---- a file that loads cleanly without some connections does delete them ----------------------
synthetic_conns "$cfg/b.spc" 1 60 1 b_
refresh
check_eq "clean load: the 40 removed connections are deleted" 60 "$(b_count)"
check_eq "clean load: their rows are gone" "ready 60" "$(b_status)"
# An editor that renames the file away and writes it again, or rm and cp: the file is gone
# for a moment, and nothing is deleted.
b60=$(oids)
plans=$(grep -c 'info: refresh [0-9]*:' "$T_DIR/main.log")
mv "$cfg/b.spc" "$T_DIR/b.moment"
check "file gone for a moment: a plan saw the directory without it" wait_until 5 \
    bash -c "[ \$(grep -c 'info: refresh [0-9]*:' '$T_DIR/main.log') -gt $plans ]"
check_eq "... its schemas are kept meanwhile" 60 "$(b_count)"
mv "$T_DIR/b.moment" "$cfg/b.spc"
refresh
check_eq "... and once it is back, they are the same schemas" "$b60" "$(oids)"
rm "$cfg/b.spc"
check "file removed: its connections are deleted (after a second's grace)" \
    wait_sql 10 "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'b\_%'" 0
check_eq "... and their rows" 0 \
    "$(sql "$db" "SELECT count(*) FROM connstate_internal.connection_state WHERE connection_name LIKE 'b\_%'")"
check "the supervisor is still running" kill -0 "$SUP_PID"
sup_stop "$SUP_PID"

done_testing
