/* The supervisor's database session and what it reads of the catalog: the advisory lock that
 * makes one supervisor active per database, connstate_internal's setup (the state table, its
 * grants, the file_fdw server that workers' foreign tables use), the state table's rows at
 * startup, and the schemas with their markers. The batch writer writes on this session. */
#include "supervisor.h"

#include <stdlib.h>
#include <string.h>

/* The advisory lock key that makes one supervisor active per database ("connst"). */
#define S_LOCK_KEY "109304925990004"

/* What the state table (cs_table_create_sql) needs around it. */
static const char *const s_setup_sql =
    "CREATE TABLE IF NOT EXISTS connstate_internal.meta (\n"
    "    key   text PRIMARY KEY,\n"
    "    value bigint NOT NULL\n"
    ");\n"
    "INSERT INTO connstate_internal.meta VALUES ('last_seq', 0) ON CONFLICT DO NOTHING;\n"
    /* Readable by the role connstate_reader (granted to whoever needs it), by nobody else
     * but its owner: PUBLIC gets nothing. A supervisor without CREATEROLE leaves the role to
     * the operator (cs_catalog_setup says so). */
    "REVOKE ALL ON SCHEMA connstate_internal FROM PUBLIC;\n"
    "REVOKE ALL ON ALL TABLES IN SCHEMA connstate_internal FROM PUBLIC;\n"
    "DO $$ BEGIN\n"
    "    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'connstate_reader') THEN\n"
    "        BEGIN\n"
    "            CREATE ROLE connstate_reader NOLOGIN;\n"
    "        EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege\n"
    "            THEN NULL;\n"
    "        END;\n"
    "    END IF;\n"
    "    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'connstate_reader') THEN\n"
    "        GRANT USAGE ON SCHEMA connstate_internal TO connstate_reader;\n"
    "        GRANT SELECT ON connstate_internal.connection_state TO connstate_reader;\n"
    "    END IF;\n"
    "END $$;\n"
    /* the server of every foreign table that workers create */
    "CREATE EXTENSION IF NOT EXISTS file_fdw;\n"
    "CREATE SERVER IF NOT EXISTS connstate_file FOREIGN DATA WRAPPER file_fdw;\n";

struct cs_catalog {
    PGconn *pg;
};

cs_catalog_t *cs_catalog_new(const char *conninfo)
{
    cs_catalog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char err[512];
    self->pg = cs_pg_connect(conninfo, "connstate-supervisor", err, sizeof err);
    if (!self->pg) {
        cs_log_error("database: %s", err);
        free(self);
        return NULL;
    }
    return self;
}

void cs_catalog_destroy(cs_catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    PQfinish((*self_p)->pg); /* releases the lock: a standby takes over */
    free(*self_p);
    *self_p = NULL;
}

PGconn *cs_catalog_session(cs_catalog_t *self)
{
    return self->pg;
}

bool cs_catalog_lost(const cs_catalog_t *self)
{
    return PQstatus(self->pg) != CONNECTION_OK;
}

int cs_catalog_lock(cs_catalog_t *self, volatile sig_atomic_t *stop)
{
    bool said = false;
    while (!*stop) {
        PGresult *res = cs_pg_query(self->pg, "taking the supervisor lock",
                                    "SELECT pg_try_advisory_lock(" S_LOCK_KEY ")", 0, NULL);
        if (!res)
            return -1;
        bool held = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (held) {
            if (said)
                cs_log_info("the other supervisor is gone: taking over");
            return 0;
        }
        if (!said)
            cs_log_info("another supervisor is active on this database; standing by");
        said = true;
        for (int i = 0; i < 10 && !*stop; i++)
            zclock_sleep(100);
    }
    return -1;
}

int cs_catalog_setup(cs_catalog_t *self)
{
    cs_buf_t sql = {0};
    cs_buf_puts(&sql, "CREATE SCHEMA IF NOT EXISTS connstate_internal;\n");
    cs_buf_puts(&sql, cs_table_create_sql());
    cs_buf_puts(&sql, s_setup_sql);
    int rc =
        sql.failed ? -1 : cs_pg_exec(self->pg, "creating connstate_internal", cs_buf_str(&sql));
    cs_buf_free(&sql);
    if (rc != 0)
        return -1;
    PGresult *role =
        cs_pg_query(self->pg, "looking for the role connstate_reader",
                    "SELECT count(*) FROM pg_roles WHERE rolname = 'connstate_reader'", 0, NULL);
    if (role && strcmp(PQgetvalue(role, 0, 0), "0") == 0)
        cs_log_warn("the role connstate_reader does not exist and this session may not create "
                    "it: only the table's owner can read connstate_internal.connection_state "
                    "(CREATE ROLE connstate_reader NOLOGIN, then restart the supervisor)");
    PQclear(role);
    return 0;
}

int cs_catalog_load(cs_catalog_t *self, cs_store_t *store, uint64_t *last_seq)
{
    PGresult *res =
        cs_pg_query(self->pg, "loading the state table", cs_table_select_sql(), 0, NULL);
    if (!res)
        return -1;
    uint64_t seq = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        cs_row_values_t values;
        int rc = cs_table_parse_row(res, i, &values);
        if (rc == 0)
            rc = cs_store_load(store, &values);
        if (values.seq > seq)
            seq = values.seq;
        cs_row_values_clear(&values);
        if (rc != 0) {
            cs_log_error("loading the state table: row %d could not be read", i + 1);
            PQclear(res);
            return -1;
        }
    }
    PQclear(res);
    res = cs_pg_query(self->pg, "reading the last sequence number",
                      "SELECT value FROM connstate_internal.meta WHERE key = 'last_seq'", 0, NULL);
    if (!res)
        return -1;
    uint64_t meta = PQntuples(res) ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    *last_seq = meta > seq ? meta : seq;
    if (PQsetnonblocking(self->pg, 1) != 0) { /* the batch writer never waits on the server */
        cs_log_error("database: cannot switch to non-blocking mode");
        return -1;
    }
    return 0;
}

zhashx_t *cs_catalog_schemas(cs_catalog_t *self)
{
    PGresult *res = cs_pg_query(
        self->pg, "reading the schemas",
        "SELECT n.nspname, d.description FROM pg_namespace n LEFT JOIN pg_description d"
        " ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0"
        " WHERE n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema',"
        " 'connstate_internal')",
        0, NULL);
    if (!res)
        return NULL;
    zhashx_t *schemas = zhashx_new();
    zhashx_set_destructor(schemas, (zhashx_destructor_fn *)zstr_free);
    for (int i = 0; i < PQntuples(res); i++) {
        cs_schema_info_t *info = calloc(1, sizeof *info);
        if (!info)
            break;
        const char *comment = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
        info->managed = cs_marker_parse(comment, &info->marker) == 0;
        zhashx_insert(schemas, PQgetvalue(res, i, 0), info);
    }
    PQclear(res);
    return schemas;
}
