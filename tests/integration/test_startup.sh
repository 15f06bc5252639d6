# Service startup with many rows: every row is set pending by one statement, in one
# transaction with the meta's last_seq and its pg_notify, as cs_store_set (pending) would
# set each (a row pending already is left alone); the restart's burst of every row back to
# ready reaches a subscriber that keeps up without a loss, past the publish high-water mark;
# a subscriber that stops reading holds the others up for a bounded time only.
. "$(dirname "$0")/../lib.sh"

N=3000
db=$(new_db startup)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 $N 1

sup_start first "$db" "$cfg"
check "$N connections ready" wait_sql 120 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" $N
check "the first supervisor exits 0" sup_stop "$SUP_PID"

# Rows as a crash may leave them: one in error with a detail, one pending already.
sql "$db" "UPDATE connstate_internal.connection_state SET status = 'error', error = 'boom',
           detail = 'why' WHERE connection_name = 'syn_2';
           UPDATE connstate_internal.connection_state SET status = 'pending', error = NULL,
           detail = NULL WHERE connection_name = 'syn_3'" >/dev/null
last=$(sql "$db" "SELECT value FROM connstate_internal.meta WHERE key = 'last_seq'")
# What the next startup does to the table, row by row and statement by statement.
sql "$db" "CREATE TABLE public.t_log (xid bigint, what text, name text, old_status text,
               status text, seq bigint, moved boolean, error text, detail text);
           CREATE FUNCTION public.t_row() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
               INSERT INTO public.t_log VALUES (txid_current(), 'row', NEW.connection_name,
                   OLD.status, NEW.status, NEW.seq, NEW.time_changed <> OLD.time_changed,
                   NEW.error, NEW.detail);
               RETURN NEW; END \$\$;
           CREATE FUNCTION public.t_stmt() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
               INSERT INTO public.t_log (xid, what) VALUES (txid_current(), TG_TABLE_NAME);
               RETURN NULL; END \$\$;
           CREATE TRIGGER t_row AFTER UPDATE ON connstate_internal.connection_state
               FOR EACH ROW EXECUTE FUNCTION public.t_row();
           CREATE TRIGGER t_stmt AFTER UPDATE ON connstate_internal.connection_state
               FOR EACH STATEMENT EXECUTE FUNCTION public.t_stmt();
           CREATE TRIGGER t_meta AFTER UPDATE ON connstate_internal.meta
               FOR EACH STATEMENT EXECUTE FUNCTION public.t_stmt();" >/dev/null

# A subscriber that keeps up, the high-water mark far below the burst. Its connection is
# made some time after the supervisor binds (a reconnect interval, longer on a loaded
# machine), and the burst follows the bind at once: a session holds the lock of the row left
# pending, which the startup's pending statement does not touch and its first batch does,
# until the subscriber has had a heartbeat.
until=$T_DIR/until
spawn "$T_DIR/rec.log" "$BUILD/tests/drivers/pub_record" "ipc://$T_DIR/main.publish" \
    "$T_DIR/rec.out" "$until"
wait_until 10 grep -q started "$T_DIR/rec.out"
spawn "$T_DIR/hold.log" psql -X -q "$db" -c "BEGIN" \
    -c "SELECT 1 FROM connstate_internal.connection_state WHERE connection_name = 'syn_3'
        FOR UPDATE" -c "SELECT pg_sleep(60)" -c "ROLLBACK"
holder="SELECT pid FROM pg_stat_activity WHERE datname = current_database()
        AND query LIKE '%pg_sleep(60)%'
        AND pid <> pg_backend_pid()"
wait_sql 10 "$db" "SELECT count(*) FROM ($holder) h" 1 >/dev/null
sup_spawn main "$db" "$cfg" --publish-hwm 100
check "the subscriber has joined while the first batch waits for its row" \
    wait_log "$T_DIR/rec.out" "^hb" 30
check_eq "... and nothing was ready yet" "" "$(grep "^state .* 3$" "$T_DIR/rec.out")"
sql "$db" "SELECT pg_terminate_backend(pid) FROM ($holder) h" >/dev/null
check "the first refresh is done" \
    wait_log "$T_DIR/main.log" "^sup\\[$SUP_PID\\] info: refresh 1 done" 60
check "every row is ready again" wait_sql 60 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" $N

# ---- the pending: one statement, one transaction ------------------------------------------
pending_xid=$(sql "$db" "SELECT DISTINCT xid FROM public.t_log WHERE status = 'pending'")
check_eq "every row but the one pending already went pending, in one transaction" \
    "1|$((N - 1))" "$(sql "$db" "SELECT count(DISTINCT xid), count(*) FROM public.t_log
                                 WHERE status = 'pending'")"
check_eq "... by one statement of the state table, and the meta's last_seq moved in it" \
    "1|1" "$(sql "$db" "SELECT count(*) FILTER (WHERE what = 'connection_state'),
                               count(*) FILTER (WHERE what = 'meta')
                        FROM public.t_log WHERE xid = '$pending_xid'")"
check_eq "... each with a sequence number of its own after the last one" \
    "$((last + 1))|$((last + N - 1))|$((N - 1))" \
    "$(sql "$db" "SELECT min(seq), max(seq), count(DISTINCT seq) FROM public.t_log
                  WHERE xid = '$pending_xid' AND what = 'row'")"
check_eq "the row pending already was left as it was" "" \
    "$(sql "$db" "SELECT seq FROM public.t_log WHERE xid = '$pending_xid' AND name = 'syn_3'")"
check_eq "the error and its detail are cleared, time_changed moved" "ready|error|t||" \
    "$(sql "$db" "SELECT (SELECT status FROM connstate_internal.connection_state
                          WHERE connection_name = 'syn_2'), old_status, moved, error, detail
                  FROM public.t_log WHERE xid = '$pending_xid' AND name = 'syn_2'")"
check_eq "... and a ready row's too" "t" \
    "$(sql "$db" "SELECT moved FROM public.t_log WHERE xid = '$pending_xid' AND name = 'syn_1'")"
check "the log says how many rows the statement set pending" \
    wait_log "$T_DIR/main.log" "state table: $((N - 1)) rows set pending in one statement \(" 1
check "the startup wrote no batch of pending rows: one state write, the ready ones" \
    grep -Eq "refresh 1 done .* since start: .* 1 state writes of $N rows" "$T_DIR/main.log"

# ---- the burst, to a subscriber that keeps up ---------------------------------------------
ready_seqs() { awk '$1 == "state" && $4 == 3 { print $2 }' "$T_DIR/rec.out"; }
check "the subscriber received every row's ready" \
    wait_until 30 bash -c "[ \$(awk '\$1 == \"state\" && \$4 == 3' '$T_DIR/rec.out' | wc -l) -ge $N ]"
check_eq "... once each, with no gap in their sequence numbers" "$N|$N" \
    "$(ready_seqs | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1; n++ } END { print n "|" hi - lo + 1 }')"
check_eq "... and in order" "" "$(ready_seqs | sort -c -n 2>&1)"
check "no heartbeat overtook the changes it counts" awk '
    $1 == "state" { seen = $2 } $1 == "hb" && $2 > seen && seen { bad = 1 }
    END { exit bad }' "$T_DIR/rec.out"

# ---- a subscriber that stops reading ------------------------------------------------------
spawn "$T_DIR/stall.log" "$BUILD/tests/drivers/sub_stall" "ipc://$T_DIR/main.publish" \
    "$T_DIR/stall.out" "$until"
wait_until 10 grep -q started "$T_DIR/stall.out"
wait_log "$T_DIR/rec.out" "^hb" 5 >/dev/null # it has joined by the next heartbeat
before=$(wc -l <"$T_DIR/rec.out")
synthetic_conns "$cfg/a.spc" 1 $N 2 # every connection changes: a burst of updating, then ready
kill -HUP "$SUP_PID"
check "the held-up changes go out, lossy, within the bound, said in the log" \
    wait_log "$T_DIR/main.log" "publish: a subscriber took nothing for [0-9]+ ms" 30
check "every row is ready again, the supervisor unharmed" wait_sql 120 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state
     WHERE status = 'ready' AND schema_hash IS NOT NULL" $N
check "... and answering" connstate refresh --control "$(control main)"
last=$(sql "$db" "SELECT value FROM connstate_internal.meta WHERE key = 'last_seq'")
check "the subscriber that reads kept receiving, up to the latest heartbeat" \
    wait_until 10 bash -c "[ \$(wc -l <'$T_DIR/rec.out') -gt $before ] &&
        awk '\$1 == \"hb\" && \$2 == $last { found = 1 } END { exit !found }' '$T_DIR/rec.out'"
touch "$until"

check "it exits 0 on SIGTERM" sup_stop "$SUP_PID"

# ---- a state table of an earlier version, without a column --------------------------------
sql "$db" "DROP TRIGGER t_row ON connstate_internal.connection_state;
           ALTER TABLE connstate_internal.connection_state DROP COLUMN detail" >/dev/null
sup_start again "$db" "$cfg"
check_eq "a table of an earlier version gets the column it lacks, every row ready again" \
    "1|$N" "$(sql "$db" "SELECT (SELECT count(*) FROM information_schema.columns
                                 WHERE table_schema = 'connstate_internal'
                                 AND table_name = 'connection_state'
                                 AND column_name = 'detail'),
                                (SELECT count(*) FROM connstate_internal.connection_state
                                 WHERE status = 'ready')")"
check "it exits 0 on SIGTERM" sup_stop "$SUP_PID"

# ---- the config is read while the rows are set pending, the directory watched already -------
# A session holds a row that the pending statement sets: the supervisor has read the config
# and waits for the statement; a file written meanwhile is seen by a later refresh.
spawn "$T_DIR/hold2.log" psql -X -q "$db" -c "BEGIN" \
    -c "SELECT 1 FROM connstate_internal.connection_state WHERE connection_name = 'syn_1'
        FOR UPDATE" -c "SELECT pg_sleep(60)" -c "ROLLBACK"
wait_sql 10 "$db" "SELECT count(*) FROM ($holder) h" 1 >/dev/null
sup_spawn third "$db" "$cfg"
check "the config is read while the database sets the rows pending" \
    wait_log "$T_DIR/third.log" "info: config: $N connections in 1 files, read while the rows are set pending" 30
synthetic_conns "$cfg/b.spc" 1 5 1 late_
sql "$db" "SELECT pg_terminate_backend(pid) FROM ($holder) h" >/dev/null
check "the first refresh plans the config as it was read" \
    wait_log "$T_DIR/third.log" "info: refresh 1: $N connections configured" 60
check "the file written meanwhile is seen by a later refresh: its connections ready" \
    wait_sql 60 "$db" "SELECT count(*) FROM connstate_internal.connection_state
                       WHERE connection_name LIKE 'late\_%' AND status = 'ready'" 5
check "it exits 0 on SIGTERM" sup_stop "$SUP_PID"
# ---- a state write carries at most --batch-max-rows rows ------------------------------------
# The restart's ready rows (all of them at once) go out as several statements, one after the
# other, each its own transaction; nothing is lost or written twice.
M=$((N + 5))
sql "$db" "TRUNCATE public.t_log;
           CREATE TRIGGER t_row AFTER UPDATE ON connstate_internal.connection_state
               FOR EACH ROW EXECUTE FUNCTION public.t_row()" >/dev/null
sup_start fourth "$db" "$cfg" --batch-max-rows 1000
check "the first refresh is done, its $M ready rows in 4 state writes" \
    wait_log "$T_DIR/fourth.log" "refresh 1 done .* since start: .* 4 state writes of $M rows" 60
check_eq "... 4 transactions of at most 1000 rows, every row once" "4|1000|$M|$M" \
    "$(sql "$db" "SELECT count(*), max(n), sum(n), (SELECT count(DISTINCT name) FROM public.t_log
                                                WHERE status = 'ready')
                  FROM (SELECT xid, count(*) AS n FROM public.t_log WHERE status = 'ready'
                        GROUP BY xid) x")"
check "every row is ready" wait_sql 10 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" $M
check "it exits 0 on SIGTERM" sup_stop "$SUP_PID"
done_testing
