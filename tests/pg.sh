# The throwaway PostgreSQL of the test harness (sourced by tests/run.sh and bench/run.sh).
# pg_start: initdb + pg_ctl start in a new temporary directory, unix socket only, run as an
# unprivileged user when we are root; exports CONNSTATE_TEST_DB (conninfo of a superuser
# session) and CONNSTATE_TEST_PGDIR. pg_stop: stops it and removes the directory.

pg_bindir() {
    local dir
    for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
    echo "tests: no PostgreSQL server found (deploy/install-deps.sh installs postgresql-15)" >&2
    return 1
}

# Runs a command as the cluster's owner: ourselves, or an unprivileged user when root.
pg_as_owner() {
    if [ -n "${PG_OWNER:-}" ]; then
        runuser -u "$PG_OWNER" -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    local bindir
    bindir=$(pg_bindir) || return 1
    PG_BINDIR=$bindir
    PG_OWNER=
    if [ "$(id -u)" -eq 0 ]; then
        if id postgres >/dev/null 2>&1; then PG_OWNER=postgres; else PG_OWNER=nobody; fi
    fi
    CONNSTATE_TEST_PGDIR=$(mktemp -d /tmp/connstate-pg.XXXXXX) || return 1
    chmod 755 "$CONNSTATE_TEST_PGDIR"
    [ -n "$PG_OWNER" ] && chown "$PG_OWNER" "$CONNSTATE_TEST_PGDIR"
    if ! pg_as_owner "$bindir/initdb" -D "$CONNSTATE_TEST_PGDIR/data" -U postgres \
            --auth=trust -E UTF8 --locale=C >"$CONNSTATE_TEST_PGDIR/initdb.log" 2>&1; then
        echo "tests: initdb failed:" >&2
        cat "$CONNSTATE_TEST_PGDIR/initdb.log" >&2
        return 1
    fi
    # Throwaway cluster: durability off, enough connections for supervisors and workers.
    if ! pg_as_owner "$bindir/pg_ctl" -D "$CONNSTATE_TEST_PGDIR/data" \
            -l "$CONNSTATE_TEST_PGDIR/postgres.log" -w -t 60 \
            -o "-k $CONNSTATE_TEST_PGDIR -c listen_addresses= -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
                ${PG_EXTRA_OPTS:-}" \
            start >/dev/null; then
        echo "tests: PostgreSQL did not start:" >&2
        tail -20 "$CONNSTATE_TEST_PGDIR/postgres.log" >&2
        return 1
    fi
    export CONNSTATE_TEST_PGDIR PG_BINDIR
    export CONNSTATE_TEST_DB="host=$CONNSTATE_TEST_PGDIR user=postgres dbname=postgres"
}

pg_stop() {
    [ -n "${CONNSTATE_TEST_PGDIR:-}" ] && [ -d "$CONNSTATE_TEST_PGDIR" ] || return 0
    pg_as_owner "$PG_BINDIR/pg_ctl" -D "$CONNSTATE_TEST_PGDIR/data" -m immediate -w stop \
        >/dev/null 2>&1
    rm -rf "$CONNSTATE_TEST_PGDIR"
    CONNSTATE_TEST_PGDIR=
}
