# Workers that cannot do the work: one whose plugin is missing or not executable fails fast,
# and must not swallow the updates (they go to another worker, it is quarantined, `connstate
# status --workers` and the log say so; with no other worker the updates wait, saying why);
# one whose task hangs past its lease keeps holding its place, and is not handed ever more.
. "$(dirname "$0")/../lib.sh"

# error_sampler DB FILE: writes the rows in `error` to FILE every 100 ms, until sampler_stop.
error_sampler() {
    spawn "$2" bash -c 'while :; do psql -X -q -A -t "$1" -c "$2"; sleep 0.1; done' _ "$1" \
        "SELECT connection_name || ': ' || coalesce(error, '') FROM connstate_internal.connection_state WHERE status = 'error'"
    SAMPLER=$SPAWNED
}
sampler_stop() {
    kill -TERM "$SAMPLER"
    wait "$SAMPLER" 2>/dev/null
}

# supervisor NAME DB CONFIG_DIR [ARGS...]: a supervisor without local workers; pid in SUP_PID.
supervisor() {
    local name=$1 db=$2 cfg=$3
    shift 3
    spawn "$T_DIR/$name.log" connstate-supervisor --db "$db" --config-dir "$cfg" \
        --plugin-dir "$(plugin_dir)" --bind-workers "ipc://$T_DIR/$name.workers" \
        --bind-publish "ipc://$T_DIR/$name.publish" --bind-control "ipc://$T_DIR/$name.control" \
        --workers 0 "$@"
    SUP_PID=$SPAWNED
}

# worker SUPERVISOR NAME PLUGIN_DIR [ARGS...]: a remote worker of that supervisor, logging into
# its log; waits until the supervisor has it. Its pid in WORKER_PID.
worker() {
    local sup=$1 name=$2 dir=$3
    shift 3
    spawn "$T_DIR/$sup.log" env CONNSTATE_DB="$db" connstate-worker \
        --connect "ipc://$T_DIR/$sup.workers" --plugin-dir "$dir" --name "$name" "$@"
    WORKER_PID=$SPAWNED
    wait_log "$T_DIR/$sup.log" "info: worker $name ready" 15
}

count_where() { sql "$1" "SELECT count(*) FROM connstate_internal.connection_state WHERE $2"; }

# ---- a worker without the plugin beside one with it: every update goes through the good one ----
db=$(new_db worker_faults)
cfg=$T_DIR/config
mkdir -p "$cfg" "$T_DIR/no-plugins"
supervisor q "$db" "$cfg"
sup=$SUP_PID
check "the supervisor is up" wait_log "$T_DIR/q.log" "info: refresh 1 done" 30
check "a worker whose plugin directory lacks the plugin connects" worker q bad "$T_DIR/no-plugins"
check "... and one that has it" worker q good "$(plugin_dir)"
error_sampler "$db" "$T_DIR/errors-q.log"
synthetic_conns "$cfg/q.spc" 1 30 2 q_
check "every connection becomes ready" wait_sql 60 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 30
sampler_stop
check_eq "no connection was ever error (sampled every 100 ms)" "" "$(cat "$T_DIR/errors-q.log")"
check_eq "the good worker built every one" 30 "$(count_where "$db" "worker = 'good'")"
check "the bad worker said it cannot run them" grep -Eq \
    '^bad\[[0-9]+\] warn: \[q_[0-9]+\] (build|comments) not done: this worker cannot run it \(the supervisor gives it to another\): plugin "synthetic" is not installed on this worker' \
    "$T_DIR/q.log"
check "the supervisor sent each of those to another worker, costing no attempt" grep -Eq \
    "^sup\\[$sup\\] info: \\[q_[0-9]+\\] worker bad could not run it: plugin \"synthetic\" is not installed on this worker \\(not found in $T_DIR/no-plugins\\); dispatching it again" \
    "$T_DIR/q.log"
quarantined='^sup\['$sup'\] warn: worker bad quarantined for 30 s \(until [0-9:]{8} UTC\) after 3 worker-side failures in a row: it gets no task meanwhile \(last: plugin "synthetic" is not installed on this worker'
check_eq "the log says once that the bad worker is quarantined" 1 \
    "$(grep -Ec "$quarantined" "$T_DIR/q.log")"
out=$(connstate status --workers --control "$(control q)")
sed 's/^/# /' <<<"$out"
check "connstate status --workers shows the bad worker quarantined" grep -Eq \
    '^bad +[0-9]+ +16 +0 +0 +([3-9]|[1-9][0-9]) +20[0-9-]{8}T[0-9:]{8}Z +plugin "synthetic" is not installed on this worker' <<<"$out"
check "... and the good one not" grep -Eq '^good +[0-9]+ +16 +[0-9]+ +0 +0 +-$' <<<"$out"
check "... and a summary line" grep -q '^2 workers connected: 1 quarantined$' <<<"$out"
json=$(connstate status --workers --control "$(control q)" --format json)
check "its json says the same" grep -Eq \
    '"name":"bad","pid":[0-9]+,"capacity":16,"in_flight":0,"expired":0,"failures":([3-9]|[1-9][0-9]),"quarantined_until":"20[0-9-]{8}T[0-9:]{8}Z","last_failure":"plugin \\"synthetic\\" is not installed' <<<"$json"
check "... with the good one not quarantined" grep -Eq \
    '"name":"good",.*"failures":0,"quarantined_until":null,"last_failure":null' <<<"$json"
sup_stop "$sup"

# ---- a worker whose plugin has another version than the supervisor's ---------------------------
db=$(new_db worker_faults_version)
cfg=$T_DIR/config-v
mkdir -p "$cfg" "$T_DIR/other-version"
real=$(readlink -f "$(plugin_dir)/synthetic")
printf '#!/bin/sh\n[ "$1" = info ] && exec echo %s\nexec %s "$@"\n' \
    "'{\"name\":\"synthetic\",\"version\":\"9.9.9\",\"schema_mode\":\"config\"}'" "$real" \
    >"$T_DIR/other-version/synthetic"
chmod 755 "$T_DIR/other-version/synthetic"
supervisor v "$db" "$cfg"
sup=$SUP_PID
check "a worker whose plugin is another version connects" worker v other "$T_DIR/other-version"
check "... and one whose plugin is the supervisor's" worker v same "$(plugin_dir)"
synthetic_conns "$cfg/v.spc" 1 10 2 v_
check "every connection becomes ready" wait_sql 60 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready'" 10
check_eq "... built by the worker with the planned version, none error" "10|0" \
    "$(count_where "$db" "worker = 'same'")|$(count_where "$db" "status = 'error'")"
check_eq "... and every marker says the planned version" 10 "$(sql "$db" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'v\_%' AND obj_description(oid, 'pg_namespace') LIKE '%plugin_version=1.0.0;%'")"
check "the other worker said why it cannot run them" grep -Eq \
    '^other\[[0-9]+\] warn: \[v_[0-9]+\] (build|comments) not done: this worker cannot run it \(the supervisor gives it to another\): plugin "synthetic" is version 9.9.9 on this worker, not 1.0.0 as the supervisor planned' \
    "$T_DIR/v.log"
check "the supervisor planned again, looking at its plugins again" grep -Eq \
    "^sup\\[$sup\\] info: \\[v_[0-9]+\\] a worker has another version of its plugin than planned with: planning again" \
    "$T_DIR/v.log"
sup_stop "$sup"

# ---- only a worker whose plugin is not executable: the updates wait, saying why -------------
db=$(new_db worker_faults_only)
cfg=$T_DIR/config-w
mkdir -p "$cfg" "$T_DIR/noexec"
cp "$(plugin_dir)/synthetic" "$T_DIR/noexec/synthetic"
chmod 644 "$T_DIR/noexec/synthetic"
synthetic_conns "$cfg/w.spc" 1 5 2 w_
supervisor w "$db" "$cfg"
sup=$SUP_PID
check "a worker whose plugin is not executable connects" worker w noexec "$T_DIR/noexec"
error_sampler "$db" "$T_DIR/errors-w.log" # the state table exists once a worker is taken in
check "it is quarantined, and the log says so" wait_log "$T_DIR/w.log" \
    'warn: worker noexec quarantined for 30 s \(until [0-9:]{8} UTC\) after 3 worker-side failures in a row: it gets no task meanwhile \(last: plugin "synthetic" is not executable on this worker' 20
check "the supervisor says no worker is available, and why" wait_log "$T_DIR/w.log" \
    "warn: no worker is available: 5 updates wait; every connected worker is quarantined: noexec until [0-9:]{8} UTC" 15
check "every row waits, pending, saying why" wait_sql 15 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'pending' AND detail LIKE 'waiting for a worker to build it: every connected worker is quarantined: noexec until % UTC, after % worker-side failures in a row (last: plugin \"synthetic\" is not executable on this worker%'" 5
out=$(connstate status --workers --control "$(control w)")
check "connstate status --workers shows it quarantined" grep -Eq \
    '^noexec +[0-9]+ +16 +0 +0 +([3-9]|[1-9][0-9]) +20[0-9-]{8}T[0-9:]{8}Z +plugin "synthetic" is not executable on this worker' <<<"$out"
check "a worker that can run them, connecting, does every update" worker w late "$(plugin_dir)"
check "... every connection ready" wait_sql 30 "$db" \
    "SELECT count(*) FROM connstate_internal.connection_state WHERE status = 'ready' AND detail IS NULL" 5
check "... and the log says a worker is available again" \
    wait_log "$T_DIR/w.log" "info: a worker is available again" 5
sampler_stop
check_eq "no connection was ever error (sampled every 100 ms)" "" "$(cat "$T_DIR/errors-w.log")"
sup_stop "$sup"

# ---- a worker whose tasks hang past their lease: they keep its places ---------------------------
db=$(new_db worker_faults_stuck)
cfg=$T_DIR/config-h
mkdir -p "$cfg"
for i in $(seq 1 20); do printf 'connection "h_%d" {\n  plugin = "hangs"\n}\n' "$i"; done >"$cfg/h.spc"
supervisor h "$db" "$cfg" --task-timeout 1
sup=$SUP_PID
check "a worker connects" worker h stuck "$(plugin_dir)" --plugin-timeout 8
stuck=$WORKER_PID
check "the leases of its tasks expire after 1 s" wait_log "$T_DIR/h.log" \
    "its lease expired after 1 s at worker stuck; dispatching it again \\(attempt 2 of 3\\)" 15
held() { connstate status --workers --control "$(control h)" --format json | grep -q '"name":"stuck",.*"in_flight":16,"expired":16,'; }
check "the worker still holds its 16 expired tasks (its capacity): none more is sent to it" \
    wait_until 6 held
check "its first hung plugin is killed at its timeout" wait_log "$T_DIR/h.log" \
    "stuck\\[$stuck\\] warn: \\[h_[0-9]+\\] build failed: plugin hangs schema timed out after 8 s" 30
killed_at=$(grep -n -m1 "build failed: plugin hangs schema timed out" "$T_DIR/h.log" | cut -d: -f1)
third_at=$(grep -n -m1 "attempt 3 of 3" "$T_DIR/h.log" | cut -d: -f1)
check "no attempt ran out while the worker was stuck (a third attempt only after it let go of one)" \
    test "${third_at:-999999}" -gt "$killed_at"
sup_stop "$sup"
# The worker stops after the plugin it runs: it is killed (by pid, its child) rather than waited for.
kill -TERM "$stuck"
stuck_gone() {
    local child
    for child in $(pgrep -P "$stuck"); do kill -KILL -- "-$child" 2>/dev/null || kill -KILL "$child"; done
    ! kill -0 "$stuck" 2>/dev/null
}
check "the stuck worker stops" wait_until 15 stuck_gone

done_testing
