/* The supervisor's database session and what it reads of the catalog: the advisory lock that
 * makes one supervisor active per database, connstate_internal's setup (the state table, its
 * grants, the file_fdw server that workers' foreign tables use, the schema journal), the state
 * table's rows at startup, and the schemas with their markers: all of them, or what the
 * journal and the names in doubt say changed. The batch writer writes on this session. */
#include "supervisor.h"

#include <stdio.h>
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
    /* The database's default search path (the batch's statement calls it, see
     * cs_table_upsert_sql): set to the schemas given, quoted, unless it is that already, the
     * way ALTER DATABASE stores it ("search_path=a, \"AwsProd\", public"). A failure (a
     * session that does not own the database) is the answer, never the statement's error. */
    "CREATE OR REPLACE FUNCTION connstate_internal.set_search_path(path text[]) RETURNS text\n"
    "LANGUAGE plpgsql AS $f$\n"
    "DECLARE\n"
    "    wanted text;\n"
    "    in_force text;\n"
    "BEGIN\n"
    "    SELECT coalesce(string_agg(quote_ident(p), ', ' ORDER BY i), '\"\"') INTO wanted\n"
    "        FROM unnest(path) WITH ORDINALITY AS u(p, i);\n"
    "    SELECT substr(c, 13) INTO in_force FROM pg_db_role_setting s, unnest(s.setconfig) AS c\n"
    "        WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = "
    "current_database())\n"
    "        AND s.setrole = 0 AND c LIKE 'search\\_path=%';\n"
    "    IF in_force IS NOT DISTINCT FROM wanted THEN\n"
    "        RETURN 'same';\n"
    "    END IF;\n"
    "    EXECUTE format('ALTER DATABASE %I SET search_path TO %s', current_database(),\n"
    "        CASE WHEN wanted = '\"\"' THEN '''''' ELSE wanted END);\n"
    "    RETURN 'set: ' || wanted;\n"
    "EXCEPTION WHEN OTHERS THEN\n"
    "    RETURN 'failed: ' || SQLERRM;\n"
    "END $f$;\n"
    "REVOKE ALL ON FUNCTION connstate_internal.set_search_path(text[]) FROM PUBLIC;\n"
    /* The status form of the batch (cs_table_upsert_status_sql) updates rows by their key: a
     * row the table no longer has fails the statement, which is then written again in full. */
    "CREATE OR REPLACE FUNCTION connstate_internal.rows_written(written bigint, rows bigint)\n"
    "RETURNS bigint LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    "    IF written < rows THEN\n"
    "        RAISE EXCEPTION '% of the % rows written are not in the state table', rows - "
    "written,\n"
    "            rows USING ERRCODE = 'no_data_found', HINT = 'they are written again in full';\n"
    "    END IF;\n"
    "    RETURN written;\n"
    "END $f$;\n"
    "REVOKE ALL ON FUNCTION connstate_internal.rows_written(bigint, bigint) FROM PUBLIC;\n"
    /* the server of every foreign table that workers create */
    "CREATE EXTENSION IF NOT EXISTS file_fdw;\n"
    "CREATE SERVER IF NOT EXISTS connstate_file FOREIGN DATA WRAPPER file_fdw;\n";

/* The schema journal (a session that may create event triggers: a superuser's): every schema
 * created, renamed, commented on or dropped by anyone's DDL leaves its oid in
 * connstate_internal.schema_journal, so that a read of the schemas reads only those (and the
 * names in doubt) instead of every schema and its marker. The functions never fail a user's
 * DDL (a failure to record is a WARNING; the periodic full read sees what it missed), and any
 * role's DDL writes through them (SECURITY DEFINER, a fixed search_path). Connstate's own
 * workers set session_replication_role = replica, in which these triggers do not fire. */
#define S_JOURNAL_DDL_TRIGGER  "connstate_schema_ddl"
#define S_JOURNAL_DROP_TRIGGER "connstate_schema_drop"
#define S_JOURNAL_MAX          100000 /* oids in one read of the journal; more: a full read */
#define S_JOURNAL_ROWS_SIZE    64     /* the triggers' rows as a read saw them ("oid:xmin,...") */
#define S_TEXT_OF(x)           #x
#define S_TEXT(x)              S_TEXT_OF(x)

/* The journal's functions run as this role and write into its table: they are made and kept
 * only while connstate_internal, the table (an ordinary one, no triggers, no rules) and the
 * functions (SECURITY DEFINER) are this role's own. Another role owning connstate_internal
 * could put a table with a trigger of its own in the journal's place, run as this role by
 * anyone's CREATE SCHEMA. */
#define S_ME "(SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user)"
#define S_JOURNAL_SCHEMA_OURS                                                                      \
    "EXISTS (SELECT FROM pg_namespace s WHERE s.nspname = 'connstate_internal'"                    \
    " AND s.nspowner = " S_ME ")"
#define S_JOURNAL_TABLE_OURS                                                                       \
    "EXISTS (SELECT FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"                 \
    " WHERE s.nspname = 'connstate_internal' AND c.relname = 'schema_journal'"                     \
    " AND c.relowner = " S_ME " AND c.relkind = 'r' AND NOT c.relhastriggers"                      \
    " AND NOT c.relhasrules)"
#define S_JOURNAL_FUNCTIONS_OURS                                                                   \
    "(SELECT count(*) = 2 FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace"            \
    " WHERE s.nspname = 'connstate_internal' AND p.proname IN ('journal_ddl', 'journal_drop')"     \
    " AND p.pronargs = 0 AND p.proowner = " S_ME " AND p.prosecdef)"
#define S_JOURNAL_OURS                                                                             \
    "(" S_JOURNAL_SCHEMA_OURS " AND " S_JOURNAL_TABLE_OURS " AND " S_JOURNAL_FUNCTIONS_OURS ")"
#define S_JOURNAL_DROP_TRIGGERS                                                                    \
    "DROP EVENT TRIGGER IF EXISTS " S_JOURNAL_DDL_TRIGGER ";"                                      \
    " DROP EVENT TRIGGER IF EXISTS " S_JOURNAL_DROP_TRIGGER ";"
/* The two triggers' rows as they are now ("oid:xmin,oid:xmin", "" if none): any ALTER EVENT
 * TRIGGER (a DISABLE, then an ENABLE) gives a row a new xmin, and the journal may have missed
 * what happened in between. */
#define S_JOURNAL_TRIGGER_ROWS                                                                     \
    "(SELECT coalesce(string_agg(t.oid::text || ':' || t.xmin::text, ',' ORDER BY t.evtname),"     \
    " '') FROM pg_event_trigger t WHERE t.evtname IN ('" S_JOURNAL_DDL_TRIGGER                     \
    "', '" S_JOURNAL_DROP_TRIGGER "'))"

static const char *const s_journal_sql =
    "CREATE TABLE IF NOT EXISTS connstate_internal.schema_journal (nsp oid NOT NULL);\n"
    "REVOKE ALL ON connstate_internal.schema_journal FROM PUBLIC;\n"
    "CREATE OR REPLACE FUNCTION connstate_internal.journal_ddl() RETURNS event_trigger\n"
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$\n"
    "BEGIN\n"
    "    INSERT INTO connstate_internal.schema_journal (nsp)\n"
    "        SELECT DISTINCT objid FROM pg_event_trigger_ddl_commands()\n"
    "        WHERE object_type = 'schema';\n"
    "EXCEPTION WHEN OTHERS THEN\n"
    "    RAISE WARNING 'connstate: a schema change was not recorded in the schema journal "
    "(%), connstate''s next full read of the catalog sees it', SQLERRM;\n"
    "END $f$;\n"
    "CREATE OR REPLACE FUNCTION connstate_internal.journal_drop() RETURNS event_trigger\n"
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$\n"
    "BEGIN\n"
    "    INSERT INTO connstate_internal.schema_journal (nsp)\n"
    "        SELECT DISTINCT objid FROM pg_event_trigger_dropped_objects()\n"
    "        WHERE object_type = 'schema';\n"
    "EXCEPTION WHEN OTHERS THEN\n"
    "    RAISE WARNING 'connstate: a schema drop was not recorded in the schema journal "
    "(%), connstate''s next full read of the catalog sees it', SQLERRM;\n"
    "END $f$;\n"
    "REVOKE ALL ON FUNCTION connstate_internal.journal_ddl() FROM PUBLIC;\n"
    "REVOKE ALL ON FUNCTION connstate_internal.journal_drop() FROM PUBLIC;\n"
    /* what can create a schema, rename it or change its comment; what can drop one */
    "DO $$ BEGIN\n"
    "    IF NOT " S_JOURNAL_OURS " THEN\n"
    "        " S_JOURNAL_DROP_TRIGGERS "\n"
    "        RETURN;\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT FROM pg_event_trigger WHERE evtname = '" S_JOURNAL_DDL_TRIGGER
    "') THEN\n"
    "        CREATE EVENT TRIGGER " S_JOURNAL_DDL_TRIGGER " ON ddl_command_end\n"
    "            WHEN TAG IN ('CREATE SCHEMA', 'ALTER SCHEMA', 'COMMENT', 'CREATE EXTENSION')\n"
    "            EXECUTE FUNCTION connstate_internal.journal_ddl();\n"
    "    END IF;\n"
    "    IF NOT EXISTS (SELECT FROM pg_event_trigger WHERE evtname = '" S_JOURNAL_DROP_TRIGGER
    "') THEN\n"
    "        CREATE EVENT TRIGGER " S_JOURNAL_DROP_TRIGGER " ON sql_drop\n"
    "            WHEN TAG IN ('DROP SCHEMA', 'DROP OWNED', 'DROP EXTENSION')\n"
    "            EXECUTE FUNCTION connstate_internal.journal_drop();\n"
    "    END IF;\n"
    "END $$;\n";

/* The journal can be trusted while both triggers exist, fire for ordinary sessions (enabled
 * as origin or always; not disabled, not replica only) and call its functions. */
#define S_JOURNAL_TRIGGERS_OK                                                                      \
    "(SELECT count(*) FROM pg_event_trigger t JOIN pg_proc p ON p.oid = t.evtfoid"                 \
    " JOIN pg_namespace pn ON pn.oid = p.pronamespace AND pn.nspname = 'connstate_internal'"       \
    " WHERE t.evtenabled IN ('O', 'A') AND ((t.evtname = '" S_JOURNAL_DDL_TRIGGER "'"              \
    " AND t.evtevent = 'ddl_command_end' AND p.proname = 'journal_ddl') OR (t.evtname = "          \
    "'" S_JOURNAL_DROP_TRIGGER "' AND t.evtevent = 'sql_drop' AND p.proname = 'journal_drop')))"

/* The schemas a read keeps, n (a schema under another name is not one of them: as if
 * dropped), and d, the description of n. */
#define S_VISIBLE                                                                                  \
    "n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', 'connstate_internal')"
#define S_DESCRIPTION                                                                              \
    "LEFT JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass"     \
    " AND d.objsubid = 0"

/* Every schema with its description; with the journal, emptied in the same statement (what
 * it held is what this read sees). */
#define S_FULL_SELECT "SELECT n.nspname, n.oid, d.description FROM pg_namespace n "
static const char *const s_full_sql = S_FULL_SELECT S_DESCRIPTION " WHERE " S_VISIBLE;
static const char *const s_full_journal_sql =
    "WITH j AS (DELETE FROM connstate_internal.schema_journal) SELECT n.nspname, n.oid,"
    " d.description, " S_JOURNAL_TRIGGER_ROWS " FROM pg_namespace n " S_DESCRIPTION
    " WHERE " S_VISIBLE;

/* What changed (prepared once per session: a no-op read is then about its round trip): the
 * journal's rows taken (those of transactions that did not commit yet stay
 * for the next read), each oid's name and description now (NULL: gone), each name in doubt
 * ($1) with its oid and description (NULL: none), and one row 't' with how many oids the
 * journal held (up to $2 + 1), its triggers' rows (NULL: the journal is not this role's own)
 * and how many of its triggers are in force. One statement: one
 * snapshot of the journal and the catalog. Columns: kind, oid, name, description. */
#define S_DELTA_STATEMENT "cs_schema_delta"
static const char *const s_delta_sql =
    "WITH j AS (DELETE FROM connstate_internal.schema_journal RETURNING nsp),"
    " o AS (SELECT DISTINCT nsp FROM j LIMIT $2::int + 1),"
    " q AS (SELECT DISTINCT unnest($1::text[]) AS name)"
    " SELECT 't', (SELECT count(*) FROM o)::text,"
    " CASE WHEN " S_JOURNAL_OURS " THEN " S_JOURNAL_TRIGGER_ROWS " END, " S_JOURNAL_TRIGGERS_OK
    "::text"
    " UNION ALL SELECT 'o', o.nsp::text, n.nspname, d.description FROM o"
    " LEFT JOIN pg_namespace n ON n.oid = o.nsp AND " S_VISIBLE " " S_DESCRIPTION
    " UNION ALL SELECT 'n', n.oid::text, q.name, d.description FROM q"
    " LEFT JOIN pg_namespace n ON n.nspname = q.name AND " S_VISIBLE " " S_DESCRIPTION;

#define S_RETRY_FIRST_MS         100 /* the first reconnection's wait, doubled after each failure ... */
#define S_RETRY_MAX_MS           5000  /* ... up to this */
#define S_LOCK_EVERY_MS          1000  /* how often a standby asks for the lock */
#define S_JOURNAL_RETRY_FIRST_MS 1000  /* the journal set up again after a failed read ... */
#define S_JOURNAL_RETRY_MAX_MS   60000 /* ... doubled after each failure, up to this */

struct cs_catalog {
    char *conninfo;
    int lease_s; /* written to the meta as task_timeout_s (0: not) */
    PGconn *pg;
    cs_db_state_t state;
    bool want_write;       /* connecting: libpq waits to write, not to read */
    int64_t retry_at;      /* down: the next attempt; standby: the next lock try (mono ms) */
    int retry_ms;          /* down: the wait after the next failure */
    int64_t down_since_us; /* wall clock; 0 while the session is up */
    int64_t down_at;       /* the same, monotonic, for the log */
    bool ever_active;
    /* The server said it ends the session (a FATAL message outside a query: an
     * administrator's pg_terminate_backend, a shutdown, idle_session_timeout). libpq hands
     * such a message to the notice receiver and keeps the connection "OK" until it reads the
     * end of the stream, which may be one read later: the session is taken as lost at once,
     * so that no answer in between says "active" for a lock that is gone. */
    bool ending;
    char ending_why[256];
    PQnoticeReceiver notice_next; /* libpq's own receiver: the notice still reaches the log */
    char error[512];              /* why the database is unavailable */
    bool journal;                 /* the schema journal is in force (cs_catalog_setup) */
    char no_journal[256];         /* why not, as last said in the log ("": not said) */
    /* its triggers' rows at the last read ("": not known) */
    char journal_rows[S_JOURNAL_ROWS_SIZE];
    int64_t journal_retry_at; /* no journal: when a read sets it up again (mono ms; 0: not) */
    int journal_retry_ms;     /* the wait after the next failure */
};

void cs_catalog_set_lease(cs_catalog_t *self, int seconds)
{
    self->lease_s = seconds;
}

cs_catalog_t *cs_catalog_new(const char *conninfo)
{
    cs_catalog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conninfo = strdup(conninfo);
    if (!self->conninfo) {
        free(self);
        return NULL;
    }
    self->state = CS_DB_DOWN;
    self->down_since_us = cs_clock_wall_us();
    self->down_at = cs_clock_mono_ms();
    snprintf(self->error, sizeof self->error, "not connected yet");
    return self;
}

cs_catalog_t *cs_catalog_reader(PGconn *pg)
{
    cs_catalog_t *self = calloc(1, sizeof *self);
    if (!self) {
        PQfinish(pg);
        return NULL;
    }
    self->pg = pg;
    self->state = CS_DB_STANDBY; /* connected, and not the active one */
    return self;
}

void cs_catalog_destroy(cs_catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    PQfinish((*self_p)->pg); /* releases the lock: a standby takes over */
    free((*self_p)->conninfo);
    free(*self_p);
    *self_p = NULL;
}

PGconn *cs_catalog_session(cs_catalog_t *self)
{
    return self->state == CS_DB_ACTIVE ? self->pg : NULL;
}

bool cs_catalog_session_bad(const cs_catalog_t *self)
{
    return !self->pg || PQstatus(self->pg) != CONNECTION_OK || self->ending;
}

cs_db_state_t cs_catalog_state(const cs_catalog_t *self)
{
    return self->state;
}

int64_t cs_catalog_down_since(const cs_catalog_t *self)
{
    return self->state == CS_DB_ACTIVE || self->state == CS_DB_STANDBY ? 0 : self->down_since_us;
}

const char *cs_catalog_error(const cs_catalog_t *self)
{
    return self->error;
}

/* The attempt failed, or the session went away: down, the next attempt after a backoff. */
static void s_down(cs_catalog_t *self, const char *why)
{
    bool was_up = self->state == CS_DB_ACTIVE || self->state == CS_DB_STANDBY;
    PQfinish(self->pg);
    self->pg = NULL;
    self->ending = false;
    if (was_up) {
        self->down_since_us = cs_clock_wall_us();
        self->down_at = cs_clock_mono_ms();
        self->retry_ms = 0;
    }
    char line[sizeof self->error]; /* STATUS says it on one line */
    snprintf(line, sizeof line, "%s", why);
    for (char *nl = line; (nl = strchr(nl, '\n')) != NULL;)
        *nl = ' ';
    snprintf(self->error, sizeof self->error, "%s", line);
    if (was_up)
        cs_log_error("database unavailable, reconnecting (every %d s at most; no state is "
                     "written and no refresh completes until it is back): %s",
                     S_RETRY_MAX_MS / 1000, why);
    else if (!self->ever_active && !self->retry_ms) /* the first attempt at startup */
        cs_log_warn("database unavailable, waiting for it: %s", why);
    self->state = CS_DB_DOWN;
    self->retry_ms = self->retry_ms ? self->retry_ms * 2 : S_RETRY_FIRST_MS;
    if (self->retry_ms > S_RETRY_MAX_MS)
        self->retry_ms = S_RETRY_MAX_MS;
    self->retry_at = cs_clock_mono_ms() + self->retry_ms;
}

/* The first line of the session's error, or fallback when it has none. */
static void s_session_error(const cs_catalog_t *self, const char *fallback, char *buf, size_t size)
{
    const char *message = self->pg ? PQerrorMessage(self->pg) : "";
    snprintf(buf, size, "%.*s", (int)strcspn(message, "\n"), message);
    if (!*buf)
        snprintf(buf, size, "%s", fallback);
}

void cs_catalog_lost(cs_catalog_t *self, const char *why)
{
    char text[512];
    if (why)
        snprintf(text, sizeof text, "%s", why);
    else
        s_session_error(self, "the session was lost", text, sizeof text);
    if (self->state == CS_DB_ACTIVE || self->state == CS_DB_STANDBY)
        s_down(self, text);
}

/* Asks for the advisory lock: active when granted, else standby. -1: the session failed. */
static int s_try_lock(cs_catalog_t *self)
{
    PGresult *res = PQexec(self->pg, "SELECT pg_try_advisory_lock(" S_LOCK_KEY ")");
    bool ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    bool held = ok && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!ok)
        return -1;
    self->retry_at = cs_clock_mono_ms() + S_LOCK_EVERY_MS;
    int64_t away_ms = cs_clock_mono_ms() - self->down_at;
    if (held) {
        if (self->state == CS_DB_STANDBY)
            cs_log_info("the other supervisor is gone: taking over");
        else if (self->ever_active)
            cs_log_info("database available again after %.1f s: this supervisor is active",
                        away_ms / 1000.0);
        else if (self->retry_ms)
            cs_log_info("database available after %.1f s", away_ms / 1000.0);
        self->state = CS_DB_ACTIVE;
        self->ever_active = true;
        self->down_since_us = 0;
        self->retry_ms = 0;
        return 0;
    }
    if (self->state != CS_DB_STANDBY)
        cs_log_info("another supervisor is active on this database; standing by");
    self->state = CS_DB_STANDBY;
    self->down_since_us = 0;
    self->retry_ms = 0;
    return 0;
}

/* The session's notices: a FATAL or PANIC one marks the session as ending (see ending);
 * every one goes on to libpq's receiver, which logs it (cs_pg's notice processor). */
static void s_on_notice(void *arg, const PGresult *res)
{
    cs_catalog_t *self = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0) &&
        !self->ending) {
        const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        snprintf(self->ending_why, sizeof self->ending_why, "the server ends the session: %s",
                 message ? message : severity);
        self->ending = true;
    }
    if (self->notice_next) /* libpq's default receiver reads only res, never its arg */
        self->notice_next(NULL, res);
}

/* Connected: the session as the supervisor uses it, then the lock. */
static void s_connected(cs_catalog_t *self)
{
    self->ending = false;
    self->notice_next = PQsetNoticeReceiver(self->pg, s_on_notice, self);
    if (PQsetnonblocking(self->pg, 0) != 0 || s_try_lock(self) != 0) {
        char why[512];
        s_session_error(self, "the session failed at once", why, sizeof why);
        self->state = CS_DB_CONNECTING;
        s_down(self, why);
    }
}

cs_db_state_t cs_catalog_step(cs_catalog_t *self, bool readable)
{
    int64_t now = cs_clock_mono_ms();
    char why[512];
    switch (self->state) {
        case CS_DB_DOWN:
            if (now < self->retry_at)
                break;
            self->pg = cs_pg_connect_start(self->conninfo, "connstate-supervisor", why, sizeof why);
            if (!self->pg) {
                s_down(self, why);
                break;
            }
            self->state = CS_DB_CONNECTING;
            self->want_write = true;
            readable = true; /* its first step at once */
            __attribute__((fallthrough));
        case CS_DB_CONNECTING:
            if (!readable)
                break;
            switch (cs_pg_connect_poll(self->pg, why, sizeof why)) {
                case 0:
                    s_connected(self);
                    break;
                case 1:
                    self->want_write = false;
                    break;
                case 2:
                    self->want_write = true;
                    break;
                default:
                    s_down(self, why);
            }
            break;
        case CS_DB_STANDBY:
        case CS_DB_ACTIVE: {
            bool failed = false;
            if (readable) {
                /* Nothing is expected on an idle session: what came is parsed (PQnotifies
                 * does it; a FATAL message reaches s_on_notice) and dropped. */
                failed = !PQconsumeInput(self->pg);
                PGnotify *notify;
                while (!failed && (notify = PQnotifies(self->pg)) != NULL)
                    PQfreemem(notify);
            }
            /* ending: also when the batch writer's reads brought the message in */
            if (failed || PQstatus(self->pg) != CONNECTION_OK || self->ending) {
                cs_catalog_lost(self, self->ending ? self->ending_why : NULL);
                break;
            }
            if (self->state == CS_DB_STANDBY && now >= self->retry_at && s_try_lock(self) != 0)
                cs_catalog_lost(self, NULL);
            break;
        }
    }
    return self->state;
}

bool cs_catalog_pollitem(const cs_catalog_t *self, zmq_pollitem_t *item)
{
    if (!self->pg)
        return false;
    short events = self->state == CS_DB_CONNECTING && self->want_write ? ZMQ_POLLOUT : ZMQ_POLLIN;
    *item = (zmq_pollitem_t){NULL, PQsocket(self->pg), events, 0};
    return item->fd >= 0;
}

int64_t cs_catalog_next_ms(const cs_catalog_t *self)
{
    if (self->state != CS_DB_DOWN && self->state != CS_DB_STANDBY)
        return -1;
    int64_t wait = self->retry_at - cs_clock_mono_ms();
    return wait > 0 ? wait : 0;
}

/* No journal (why): every read of the schemas is a full one; said once per reason. */
static void s_no_journal(cs_catalog_t *self, const char *why)
{
    self->journal = false;
    if (strcmp(self->no_journal, why) != 0)
        cs_log_info("no schema journal (%s): every refresh reads every schema and its marker", why);
    snprintf(self->no_journal, sizeof self->no_journal, "%s", why);
}

/* No journal after a failed read of it (or one that found it not ours): a later read sets it
 * up again, after a wait doubled each time. */
static void s_journal_retry_later(cs_catalog_t *self)
{
    if (self->journal_retry_ms < S_JOURNAL_RETRY_FIRST_MS)
        self->journal_retry_ms = S_JOURNAL_RETRY_FIRST_MS;
    self->journal_retry_at = cs_clock_mono_ms() + self->journal_retry_ms;
    self->journal_retry_ms = self->journal_retry_ms * 2 > S_JOURNAL_RETRY_MAX_MS
                                 ? S_JOURNAL_RETRY_MAX_MS
                                 : self->journal_retry_ms * 2;
}

/* Whether column col of res's only row is "t". */
static bool s_true(const PGresult *res, int col)
{
    return res && PQntuples(res) == 1 && PQnfields(res) > col &&
           strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

/* The schema journal: its table, functions and event triggers made when this session may
 * create event triggers (a superuser) and connstate_internal is this role's own, then whether
 * it is in force (its triggers enabled; its schema, table and functions this role's own; its
 * table ours to empty). A superuser's session drops the triggers of a journal that is not its
 * own. A failure is no journal, never a failed setup. */
static void s_journal_setup(cs_catalog_t *self)
{
    self->journal_rows[0] = '\0';
    PGresult *res = cs_pg_query(
        self->pg, "looking at the session's privileges",
        "SELECT current_setting('is_superuser') = 'on', " S_JOURNAL_SCHEMA_OURS, 0, NULL);
    bool superuser = s_true(res, 0);
    bool schema_ours = s_true(res, 1);
    PQclear(res);
    if (superuser && !schema_ours) {
        if (cs_pg_exec(self->pg, "dropping the schema journal's event triggers",
                       S_JOURNAL_DROP_TRIGGERS) != 0)
            s_no_journal(self, "connstate_internal is not this role's own, and its event "
                               "triggers could not be dropped: see the error above");
        else
            s_no_journal(self, "connstate_internal is not this role's own");
        return;
    }
    if (superuser && cs_pg_exec(self->pg, "creating the schema journal", s_journal_sql) != 0) {
        s_no_journal(self, "it could not be created: see the error above");
        return;
    }
    res = cs_pg_query(
        self->pg, "looking at the schema journal",
        "SELECT " S_JOURNAL_TRIGGERS_OK " = 2, coalesce(has_table_privilege(to_regclass("
        "'connstate_internal.schema_journal'), 'SELECT') AND has_table_privilege("
        "to_regclass('connstate_internal.schema_journal'), 'DELETE'), "
        "false), " S_JOURNAL_SCHEMA_OURS ", " S_JOURNAL_TABLE_OURS ", " S_JOURNAL_FUNCTIONS_OURS
        ", EXISTS (SELECT FROM pg_prepared_statements WHERE name = '" S_DELTA_STATEMENT "')",
        0, NULL);
    bool triggers = s_true(res, 0), table = s_true(res, 1);
    bool table_ours = s_true(res, 3), functions_ours = s_true(res, 4);
    bool prepared = s_true(res, 5);
    schema_ours = s_true(res, 2);
    PQclear(res);
    res = NULL;
    if (!superuser && (!triggers || !table))
        s_no_journal(self, "this session is not a superuser's: it may not create event triggers");
    else if (!schema_ours)
        s_no_journal(self, "connstate_internal is not this role's own");
    else if (!table_ours)
        s_no_journal(self, "connstate_internal.schema_journal is not this role's own ordinary "
                           "table without triggers or rules");
    else if (!functions_ours)
        s_no_journal(self, "its functions are not this role's own SECURITY DEFINER functions");
    else if (!table)
        s_no_journal(self, "connstate_internal.schema_journal is not this session's to read");
    else if (!triggers)
        s_no_journal(self, "its event triggers " S_JOURNAL_DDL_TRIGGER
                           " and " S_JOURNAL_DROP_TRIGGER " are not both enabled");
    else if (!prepared && (!(res = PQprepare(self->pg, S_DELTA_STATEMENT, s_delta_sql, 2, NULL)) ||
                           PQresultStatus(res) != PGRES_COMMAND_OK)) {
        char why[512];
        cs_pg_error_text(res, why, sizeof why);
        cs_log_error("preparing the read of the schema journal: %s", why);
        s_no_journal(self, "its read could not be prepared: see the error above");
    } else {
        if (self->no_journal[0] || !self->journal)
            cs_log_info("schema journal in force (event triggers " S_JOURNAL_DDL_TRIGGER
                        " and " S_JOURNAL_DROP_TRIGGER "): a refresh reads only the schemas "
                        "that changed");
        self->journal = true;
        self->no_journal[0] = '\0';
        self->journal_retry_at = 0; /* its wait doubles until a read of it succeeds */
    }
    PQclear(res);
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
    if (self->lease_s > 0) { /* what `connstate status --stuck` takes by default */
        char lease[16];
        snprintf(lease, sizeof lease, "%d", self->lease_s);
        const char *params[] = {lease};
        PGresult *res = cs_pg_query(self->pg, "writing the lease to connstate_internal.meta",
                                    "INSERT INTO connstate_internal.meta VALUES ('task_timeout_s', "
                                    "$1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value "
                                    "WHERE meta.value <> EXCLUDED.value",
                                    1, params);
        if (!res)
            return -1;
        PQclear(res);
    }
    self->journal_retry_at = 0;
    self->journal_retry_ms = 0;
    s_journal_setup(self);
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

/* The results of a statement sent in single-row mode, read until the statement is over:
 * each row to fn (borrowed for the call) until fn or the statement fails. Returns 0, or -1
 * with the error logged (fn logs its own). */
static int s_each_row(cs_catalog_t *self, const char *what,
                      int (*fn)(void *arg, const PGresult *row), void *arg)
{
    bool failed = false;
    PGresult *res;
    while ((res = PQgetResult(self->pg)) != NULL) {
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_SINGLE_TUPLE && !failed) {
            failed = fn(arg, res) != 0;
        } else if (status != PGRES_TUPLES_OK && status != PGRES_SINGLE_TUPLE && !failed) {
            char error[CS_PROTO_MAX_ERROR];
            cs_pg_error_text(res, error, sizeof error);
            cs_log_error("%s: %s", what, error);
            failed = true;
        }
        PQclear(res);
    }
    return failed ? -1 : 0;
}

/* What s_load_row fills: the rows into store, the highest seq in *max_seq; with pending, the
 * rows the statement changed (its "changed" column) appended to *changed. */
typedef struct {
    cs_store_t *store;
    const char *what;
    bool pending;
    uint64_t *max_seq;
    cs_record_t ***changed;
    size_t *count;
    size_t cap;  /* of *changed */
    size_t rows; /* read so far */
} s_load_t;

static int s_load_row(void *arg, const PGresult *res)
{
    s_load_t *load = arg;
    cs_row_values_t values;
    load->rows++;
    int rc = cs_table_read_row(res, 0, &values); /* borrowed: the store copies */
    if (rc == 0)
        rc = cs_store_load(load->store, &values);
    if (rc == 0 && values.seq > *load->max_seq)
        *load->max_seq = values.seq;
    if (rc == 0 && load->pending && PQnfields(res) > CS_TABLE_COLUMNS &&
        strcmp(PQgetvalue(res, 0, CS_TABLE_COLUMNS), "t") == 0) {
        if (*load->count == load->cap) {
            load->cap = load->cap ? load->cap * 2 : 1024;
            cs_record_t **more = realloc(*load->changed, load->cap * sizeof *more);
            if (!more)
                rc = -1;
            else
                *load->changed = more;
        }
        if (rc == 0 &&
            !((*load->changed)[(*load->count)++] = cs_store_get(load->store, values.name)))
            rc = -1;
    }
    if (rc != 0)
        cs_log_error("%s: row %zu could not be read", load->what, load->rows);
    return rc;
}

/* Sends a statement in single-row mode. Returns 0, or -1 with the error logged. */
static int s_send_rows(cs_catalog_t *self, const char *what, const char *sql, int nparams,
                       const char *const *params)
{
    if (!PQsendQueryParams(self->pg, sql, nparams, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(self->pg)) {
        cs_log_error("%s: %s", what, PQerrorMessage(self->pg));
        PGresult *res;
        while ((res = PQgetResult(self->pg)) != NULL)
            PQclear(res);
        return -1;
    }
    return 0;
}

int cs_catalog_load(cs_catalog_t *self, cs_store_t *store, bool pending, uint64_t *last_seq,
                    cs_batch_commit_fn *on_commit, void (*meanwhile)(void *arg), void *arg)
{
    PGresult *res =
        cs_pg_query(self->pg, "reading the last sequence number",
                    "SELECT value FROM connstate_internal.meta WHERE key = 'last_seq'", 0, NULL);
    if (!res)
        return -1;
    uint64_t meta = PQntuples(res) ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    const char *what = pending ? "setting every row pending" : "loading the state table";
    int64_t started = cs_clock_mono_ms();
    char meta_text[32], now_text[32];
    snprintf(meta_text, sizeof meta_text, "%llu", (unsigned long long)meta);
    snprintf(now_text, sizeof now_text, "%lld", (long long)cs_clock_wall_us());
    const char *params[] = {meta_text, now_text};
    uint64_t seq = meta;
    cs_record_t **changed = NULL;
    size_t count = 0;
    int rc = pending ? cs_pg_exec(self->pg, what, "BEGIN") : 0;
    if (rc == 0)
        rc = pending ? s_send_rows(self, what, cs_table_pending_sql(), 2, params)
                     : s_send_rows(self, what, cs_table_select_sql(), 0, NULL);
    if (rc == 0 && meanwhile)
        meanwhile(arg);
    s_load_t load = {store, what, pending, &seq, &changed, &count, 0, 0};
    if (rc == 0)
        rc = s_each_row(self, what, s_load_row, &load);
    /* The changed rows hold the highest seqs, one each: put in seq order by seq - first. */
    cs_record_t **ordered = rc == 0 && count ? calloc(count, sizeof *ordered) : NULL;
    if (rc == 0 && count && !ordered) {
        cs_log_error("%s: out of memory", what);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < count; i++) {
        uint64_t at = cs_record_committed(changed[i])->seq - (seq - count + 1);
        if (at >= count || ordered[at]) {
            cs_log_error("%s: the changed rows' sequence numbers are not %llu to %llu", what,
                         (unsigned long long)(seq - count + 1), (unsigned long long)seq);
            rc = -1;
        } else {
            ordered[at] = changed[i];
        }
    }
    free(changed);
    changed = ordered;
    if (rc == 0 && count) {
        char seq_text[32], payload[64];
        snprintf(seq_text, sizeof seq_text, "%llu", (unsigned long long)seq);
        /* {"seq":N,"rows":n,"xid":X}, as a batch's: the statement appends the transaction id */
        snprintf(payload, sizeof payload, "{\"seq\":%llu,\"rows\":%zu", (unsigned long long)seq,
                 count);
        const char *end_params[] = {seq_text, payload};
        res = cs_pg_query(self->pg, what, cs_table_pending_end_sql(), 2, end_params);
        rc = res ? 0 : -1;
        PQclear(res);
    }
    if (pending && rc == 0)
        rc = cs_pg_exec(self->pg, what, "COMMIT");
    else if (pending && PQstatus(self->pg) == CONNECTION_OK &&
             cs_pg_exec(self->pg, what, "ROLLBACK") != 0)
        rc = -1;
    if (rc == 0 && on_commit)
        for (size_t i = 0; i < count; i++)
            on_commit(arg, cs_record_name(changed[i]), cs_record_committed(changed[i]));
    free(changed);
    if (rc != 0)
        return -1;
    if (count)
        cs_log_info("state table: %zu rows set pending in one statement (%.3f s)", count,
                    (double)(cs_clock_mono_ms() - started) / 1000);
    *last_seq = seq;
    if (PQsetnonblocking(self->pg, 1) != 0) { /* the batch writer never waits on the server */
        cs_log_error("database: cannot switch to non-blocking mode");
        return -1;
    }
    return 0;
}

/* Text of a PostgreSQL array of the names in doubt ("{\"a\",\"b\"}"), into sql. */
static void s_doubt_array(const cs_schemas_t *schemas, cs_buf_t *sql)
{
    cs_buf_puts(sql, "{");
    const char *sep = "";
    for (const char *name = cs_schemas_doubt_first(schemas); name;
         name = cs_schemas_doubt_next(schemas)) {
        cs_buf_puts(sql, sep);
        cs_table_array_text(sql, name);
        sep = ",";
    }
    cs_buf_puts(sql, "}");
}

static uint32_t s_oid(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : (uint32_t)strtoul(PQgetvalue(res, row, col), NULL, 10);
}

/* A read of what changed (the journal's oids, the names in doubt). Returns 0 when applied to
 * the cache, 1 when only a full read will do (*why says why; a journal found not this role's
 * own is set up again at once, which drops its triggers, and again at later reads), -1 when
 * the statement failed
 * (logged). */
static int s_read_delta(cs_catalog_t *self, cs_schemas_t *schemas, const char **why)
{
    int64_t t0 = cs_clock_mono_ms();
    cs_buf_t doubts = {0};
    s_doubt_array(schemas, &doubts);
    if (doubts.failed) {
        cs_buf_free(&doubts);
        *why = "out of memory";
        return 1;
    }
    char bound[16];
    snprintf(bound, sizeof bound, "%d", S_JOURNAL_MAX);
    const char *params[] = {cs_buf_str(&doubts), bound};
    PGresult *res = PQexecPrepared(self->pg, S_DELTA_STATEMENT, 2, params, NULL, NULL, 0);
    cs_buf_free(&doubts);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char error[512];
        cs_pg_error_text(res, error, sizeof error);
        cs_log_error("reading the schema journal: %s", error);
        PQclear(res);
        return -1;
    }
    long journaled = -1, triggers = 0;
    const char *trigger_rows = NULL; /* NULL: the journal is not this role's own */
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++)
        if (strcmp(PQgetvalue(res, i, 0), "t") == 0) {
            journaled = strtol(PQgetvalue(res, i, 1), NULL, 10);
            trigger_rows = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2);
            triggers = strtol(PQgetvalue(res, i, 3), NULL, 10);
        }
    if (journaled >= 0 && !trigger_rows) {
        PQclear(res);
        s_journal_setup(self); /* says why, and drops the triggers now (a superuser's session) */
        if (!self->journal)
            s_journal_retry_later(self);
        *why = "the schema journal is not this role's own";
        return 1;
    }
    bool altered = trigger_rows && strcmp(trigger_rows, self->journal_rows) != 0;
    if (trigger_rows)
        snprintf(self->journal_rows, sizeof self->journal_rows, "%s", trigger_rows);
    if (journaled < 0 || triggers != 2 || journaled > S_JOURNAL_MAX || altered) {
        PQclear(res);
        *why = journaled > S_JOURNAL_MAX
                   ? "the schema journal holds more than " S_TEXT(S_JOURNAL_MAX) " schemas"
               : triggers != 2 || journaled < 0
                   ? "the schema journal's event triggers are not both enabled"
                   : "the schema journal's event triggers were altered or made since the last "
                     "read";
        return 1;
    }
    size_t doubted = cs_schemas_doubt_count(schemas);
    for (int i = 0; i < rows; i++) {
        const char *kind = PQgetvalue(res, i, 0);
        const char *name = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2);
        const char *comment = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
        uint32_t oid = s_oid(res, i, 1);
        if (strcmp(kind, "o") == 0 && !name)
            cs_schemas_drop_oid(schemas, oid); /* gone (or under a name a read does not keep) */
        else if (strcmp(kind, "o") == 0)
            cs_schemas_set_oid(schemas, oid, name, comment);
        else if (strcmp(kind, "n") == 0 && !oid)
            cs_schemas_drop(schemas, name);
        else if (strcmp(kind, "n") == 0)
            cs_schemas_set(schemas, name, oid, comment);
    }
    PQclear(res);
    self->journal_retry_ms = 0;
    cs_schemas_doubts_read(schemas);
    cs_log_debug("catalog: %ld schemas read (%ld journaled, %zu in doubt) in %lld ms",
                 journaled + (long)doubted, journaled, doubted,
                 (long long)(cs_clock_mono_ms() - t0));
    return 0;
}

/* What s_schema_row fills: the schemas of a full read, and the triggers' rows as the read
 * saw them ("": not known). */
typedef struct {
    cs_schemas_t *schemas;
    int rows;
    char journal_rows[S_JOURNAL_ROWS_SIZE];
} s_schemas_read_t;

static int s_schema_row(void *arg, const PGresult *res)
{
    s_schemas_read_t *read = arg;
    if (read->rows++ == 0 && PQnfields(res) > 3)
        snprintf(read->journal_rows, sizeof read->journal_rows, "%s", PQgetvalue(res, 0, 3));
    cs_schemas_set(read->schemas, PQgetvalue(res, 0, 0), s_oid(res, 0, 1),
                   PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2));
    return 0;
}

int cs_catalog_read_schemas(cs_catalog_t *self, cs_schemas_t *schemas, bool full)
{
    const char *why = full ? "asked for" : cs_schemas_full_wanted(schemas);
    if (!self->journal && self->journal_retry_at && !cs_catalog_session_bad(self) &&
        cs_clock_mono_ms() >= self->journal_retry_at) {
        s_journal_setup(self);
        if (!self->journal)
            s_journal_retry_later(self);
        else if (!why)
            why = "the schema journal is in force again";
    }
    if (!why && self->journal) {
        int rc = s_read_delta(self, schemas, &why);
        if (rc == 0)
            return 0;
        if (rc < 0 && cs_catalog_session_bad(self)) {
            cs_schemas_invalidate(schemas);
            return -1;
        }
        if (rc < 0) { /* dropped by hand? a statement_timeout? set up again at a later read */
            why = "the schema journal could not be read";
            s_no_journal(self, "it could not be read: see the error above; set up again at a "
                               "later read");
            s_journal_retry_later(self);
        }
    }
    bool quiet = !why; /* no journal: every read is a full one, said once at setup */
    if (!why)
        why = "no schema journal";
    int64_t t0 = cs_clock_mono_ms();
    uint64_t changes = cs_schemas_changes(schemas);
    /* Row by row (single-row mode): a whole result of 100,000 schemas held ~13 MB of libpq's
     * at once, beside the rows and the config. */
    const char *what = "reading the schemas";
    if (s_send_rows(self, what, self->journal ? s_full_journal_sql : s_full_sql, 0, NULL) != 0) {
        cs_schemas_invalidate(schemas);
        return -1;
    }
    cs_schemas_full_begin(schemas);
    s_schemas_read_t read = {schemas, 0, ""};
    if (s_each_row(self, what, s_schema_row, &read) != 0) {
        cs_schemas_invalidate(schemas); /* what was read stays; the next read is a full one */
        return -1;
    }
    cs_schemas_full_end(schemas);
    if (self->journal)
        snprintf(self->journal_rows, sizeof self->journal_rows, "%s", read.journal_rows);
    unsigned long long changed = (unsigned long long)(cs_schemas_changes(schemas) - changes);
    if (quiet)
        cs_log_debug("catalog: %d schemas read (a full read: no schema journal) in %lld ms, %llu "
                     "changed",
                     read.rows, (long long)(cs_clock_mono_ms() - t0), changed);
    else
        cs_log_info("catalog: a full read (%s): %d schemas in %lld ms, %llu changed since the "
                    "last read",
                    why, read.rows, (long long)(cs_clock_mono_ms() - t0), changed);
    return 0;
}
