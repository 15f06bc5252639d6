# A worker's word is not enough: a fake worker (tests/drivers/fake_worker.c, written from
# PROTOCOL.md alone) answers every TASK with ok and builds nothing. The state table still
# says `ready` only for a schema that exists with the marker of its fingerprint, and removes
# a deleted connection's row only once its schema is gone; a real worker then makes it all so.
. "$(dirname "$0")/../lib.sh"

NEW=27 CHANGED=37 DELETED=11 DISABLED=5
FAKE=$BUILD/tests/drivers/fake_worker
STATE=connstate_internal.connection_state
REFUSED="worker reported success but the schema's marker does not match"
STILL="worker reported success but the schema still exists"
# the marker of a schema, by name
MARKER="(SELECT d.description FROM pg_namespace n JOIN pg_description d ON d.objoid = n.oid
    AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0 WHERE n.nspname = s.connection_name)"

db=$(new_db fake_worker)
cfg=$T_DIR/config
mkdir -p "$cfg"
synthetic_conns "$cfg/changed.spc" 1 $CHANGED 2 chg_
synthetic_conns "$cfg/deleted.spc" 1 $DELETED 2 del_
synthetic_conns "$cfg/disabled.spc" 1 $DISABLED 2 dis_
ep=ipc://$T_DIR/fake.workers

# ---- a real worker builds the connections that will change and go ---------------------------
spawn "$T_DIR/real-0.log" env CONNSTATE_DB="$db" connstate-worker --connect "$ep" \
    --plugin-dir "$(plugin_dir)" --name real-0
real=$SPAWNED
BUILT=$((CHANGED + DELETED + DISABLED))
check "the supervisor (no local worker) and a real worker build $BUILT connections" \
    sup_start fake "$db" "$cfg" --workers 0
sup=$SUP_PID
check_eq "all of them ready" $BUILT "$(count_status "$db" ready)"
kill -TERM "$real"
wait "$real"
check "the real worker said goodbye" wait_log "$T_DIR/fake.log" "worker real-0 disconnected" 10

# ---- only the fake worker: new, changed and deleted connections -------------------------------
spawn "$T_DIR/fake.out" "$FAKE" "$ep" --name fake
fake=$SPAWNED
check "the fake worker is taken as a worker" wait_log "$T_DIR/fake.log" "worker fake ready" 10
synthetic_conns "$cfg/new.spc" 1 $NEW 2 new_
synthetic_conns "$cfg/changed.spc" 1 $CHANGED 3 chg_
rm "$cfg/deleted.spc"
sed -i 's/plugin = "synthetic"/plugin = "synthetic"\n  import_schema = "disabled"/' "$cfg/disabled.spc"
connstate refresh --control "$(control fake)" --timeout 60 >"$T_DIR/refresh-fake.out" 2>&1
check "the refresh completes" grep -q "^refresh [0-9]* done" "$T_DIR/refresh-fake.out"
check "the fake worker answered ok for every build and delete" \
    wait_until 5 grep -q "answered delete del_$DELETED" "$T_DIR/fake.out"

check_eq "no new connection is ready without its schema" 0 \
    "$(sql "$db" "SELECT count(*) FROM $STATE WHERE connection_name LIKE 'new\_%' AND status = 'ready'")"
check_eq "no changed connection is ready with its old schema" 0 \
    "$(sql "$db" "SELECT count(*) FROM $STATE s WHERE connection_name LIKE 'chg\_%' AND status = 'ready'
        AND $MARKER NOT LIKE '%fingerprint=' || s.config_hash || ';%'")"
check_eq "no deleted connection is reported deleted while its schema exists" $DELETED \
    "$(sql "$db" "SELECT count(*) FROM pg_namespace n JOIN $STATE s ON s.connection_name = n.nspname
        WHERE n.nspname LIKE 'del\_%'")"
check_eq "no connection whose import was disabled is disabled while its schema exists" 0 \
    "$(sql "$db" "SELECT count(*) FROM $STATE s WHERE connection_name LIKE 'dis\_%' AND status = 'disabled'
        AND $MARKER IS NOT NULL")"
check_eq "the new and changed ones say why: error, the marker does not match" $((NEW + CHANGED)) \
    "$(sql "$db" "SELECT count(*) FROM $STATE WHERE connection_name ~ '^(new|chg)_' AND status = 'error'
        AND starts_with(error, \$\$$REFUSED\$\$)")"
check_eq "the deleted and disabled ones say why: error, the schema still exists" \
    $((DELETED + DISABLED)) \
    "$(sql "$db" "SELECT count(*) FROM $STATE WHERE connection_name ~ '^(del|dis)_' AND status = 'error'
        AND starts_with(error, \$\$$STILL\$\$)")"
check "each refusal is logged, and the update dispatched again like a lost one" \
    grep -q "new_1.*$REFUSED; dispatching it again (attempt 3 of 3)" "$T_DIR/fake.log"
check "... also a deletion's" \
    grep -q "del_1.*$STILL; dispatching it again (attempt 2 of 3)" "$T_DIR/fake.log"
check_eq "after 3 attempts the error is final and says so" \
    "error|3|$REFUSED (attempted 3 times; the last by worker fake)" \
    "$(sql "$db" "SELECT status, attempts, error FROM $STATE WHERE connection_name = 'new_1'")"
check_eq "no row is left updating or deleting" 0 \
    "$(sql "$db" "SELECT count(*) FROM $STATE WHERE status IN ('updating', 'deleting')")"

# ---- the fake worker goes, a real one comes: everything as it should be ------------------------
kill -TERM "$fake"
wait "$fake"
check "the fake worker said goodbye" wait_log "$T_DIR/fake.log" "worker fake disconnected" 10
spawn "$T_DIR/real-1.log" env CONNSTATE_DB="$db" connstate-worker --connect "$ep" \
    --plugin-dir "$(plugin_dir)" --name real-1
check "a real worker is taken" wait_log "$T_DIR/fake.log" "worker real-1 ready" 10
check "a refresh with the real worker ends with no connection in error" \
    connstate refresh --control "$(control fake)" --timeout 60
check_eq "every configured connection is ready" $((NEW + CHANGED)) "$(count_status "$db" ready)"
check_eq "... each with its schema and the marker of its fingerprint" $((NEW + CHANGED)) \
    "$(sql "$db" "SELECT count(*) FROM $STATE s WHERE status = 'ready'
        AND $MARKER LIKE 'connstate marker v1;%fingerprint=' || s.config_hash || ';%'")"
check_eq "the deleted connections' rows and schemas are gone" "0 0" \
    "$(sql "$db" "SELECT count(*) FROM $STATE WHERE connection_name LIKE 'del\_%'") $(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'del\_%'")"
check_eq "the disabled ones are disabled, their schemas gone" "$DISABLED 0" \
    "$(sql "$db" "SELECT count(*) FROM $STATE WHERE connection_name LIKE 'dis\_%' AND status = 'disabled'") $(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'dis\_%'")"
check_eq "nothing is left error, updating or deleting" 0 \
    "$(sql "$db" "SELECT count(*) FROM $STATE WHERE status IN ('error', 'updating', 'deleting')")"
check "the supervisor stops cleanly" sup_stop "$sup"

# ---- with CURVE the fake worker, given a worker key, is a worker like any other ----------------
keys=$T_DIR/keys
mkdir -p "$keys" "$T_DIR/workers.d"
connstate keygen "$keys/sup" >/dev/null && connstate keygen "$keys/w" >/dev/null
cp "$keys/w" "$T_DIR/workers.d/"
db=$(new_db fake_worker_curve)
cfg=$T_DIR/config-curve
mkdir -p "$cfg"
synthetic_conns "$cfg/a.spc" 1 3 2 cur_
spawn "$T_DIR/curve.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
    --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/curve.workers" \
    --bind-publish "ipc://$T_DIR/curve.publish" --bind-control "ipc://$T_DIR/curve.control" \
    --workers 0 --curve-cert "$keys/sup" --curve-workers "$T_DIR/workers.d"
"$FAKE" "ipc://$T_DIR/curve.workers" --curve-cert "$keys/w" >/dev/null 2>&1
check_eq "the fake worker wants both CURVE files or neither (exit 2)" 2 "$?"
spawn "$T_DIR/fake-curve.out" "$FAKE" "ipc://$T_DIR/curve.workers" --name fake-curve \
    --curve-cert "$keys/w" --curve-server "$keys/sup"
check "with its key it is admitted" wait_log "$T_DIR/curve.log" "worker fake-curve ready" 15
check "... and still makes nothing ready: its builds end in error" wait_sql 20 "$db" \
    "SELECT count(*) FROM $STATE WHERE status = 'error' AND starts_with(error, \$\$$REFUSED\$\$)" 3

done_testing
