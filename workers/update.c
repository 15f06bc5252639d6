/* A connection update's DDL within the lock table: what a schema holds (connstate's tables
 * and aggregators' views, a user's objects, the aggregators that read it), and the update in
 * one transaction when it is small, in batches over several transactions when it is not;
 * an aggregator's views over its members' schemas, under their locks. */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The advisory lock class of connection updates ("csch"). The second key comes from the
 * hash in the connection's temporary schema names, so that a connection and its temporary
 * schemas share one lock; two-key advisory locks never meet the supervisor's one-key lock. */
#define S_LOCK_CLASS "1668506472"
/* How long an update waits for another session's update of the same connection (a task
 * whose lease expired at a slow worker and went to this one), and how often it asks. */
#define S_LOCK_WAIT_MS 60000
#define S_LOCK_POLL_MS 100
/* How many of a user's objects an error names before "and N more". */
#define S_OBJECTS_NAMED 8
/* An aggregator's schema: its marker ends with "; kind=aggregator" (cs_marker_format), and
 * each of its views is commented "aggregator NAME: ..." (cs_aggregate_sql). */
#define S_AGGREGATOR_RE "'^connstate marker v1;(.*;)? *kind=aggregator *(;|$)'"
#define S_VIEW_LIKE     "'aggregator %%'"

/* ---- errors and statements ----------------------------------------------------------------- */

void cs_update_error(char *why, size_t why_size, PGconn *conn, const PGresult *res)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    cs_buf_t text = {0};
    if (primary) {
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
        cs_buf_puts(&text, primary);
        if (detail || hint)
            cs_buf_printf(&text, " (%s%s%s%s%s)", detail ? "DETAIL: " : "", detail ? detail : "",
                          detail && hint ? "; " : "", hint ? "HINT: " : "", hint ? hint : "");
    } else {
        /* libpq's own errors (a lost connection) have no fields */
        const char *message = res ? PQresultErrorMessage(res) : "";
        cs_buf_puts(&text, *message ? message : PQerrorMessage(conn));
    }
    /* One line: a DETAIL may have several (one per object), a libpq message ends with one. */
    cs_buf_t line = {0};
    const char *p = cs_buf_str(&text);
    if (strncmp(p, "ERROR:  ", 8) == 0 || strncmp(p, "FATAL:  ", 8) == 0)
        p += 8;
    for (; *p; p++) {
        if (*p != '\n') {
            cs_buf_putc(&line, *p);
            continue;
        }
        p += strspn(p + 1, " \t"); /* libpq indents its continuation lines */
        if (p[1] && p[1] != '\n')
            cs_buf_puts(&line, "; ");
    }
    while (line.len && (line.data[line.len - 1] == ' ' || line.data[line.len - 1] == '\t'))
        line.data[--line.len] = '\0';
    snprintf(why, why_size, "database: %s", line.failed ? "out of memory" : cs_buf_str(&line));
    cs_buf_free(&line);
    cs_buf_free(&text);
}

cs_fault_t cs_update_fault(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return CS_FAULT_SESSION;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return CS_FAULT_NONE;
    if (strcmp(state, "55P03") == 0) /* lock_not_available: lock_timeout */
        return CS_FAULT_LOCK;
    if (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0) /* deadlock, serialization */
        return CS_FAULT_CONFLICT;
    /* connection exceptions; admin or crash shutdown, cannot connect now, database dropped,
     * idle session timeout; a read-only session (a standby: another may be the primary) */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0 ||
        strcmp(state, "25006") == 0)
        return CS_FAULT_SESSION;
    return CS_FAULT_NONE;
}

/* Benchmarks replay the exact DDL connstate issued: with CONNSTATE_DDL_CAPTURE=DIR each
 * worker appends every committed build's statements to DIR/ddl.PID.sql, and with
 * CONNSTATE_COMMENT_CAPTURE=DIR every committed comment transaction's to
 * DIR/comments.PID.sql, one transaction per block, each block ending with the line "-- end". */
typedef struct {
    const char *variable; /* the environment variable naming the directory */
    const char *prefix;   /* of the file's name */
    bool tried;
    FILE *file;
} s_capture_t;

static s_capture_t s_ddl_capture = {"CONNSTATE_DDL_CAPTURE", "ddl", false, NULL};
static s_capture_t s_comment_capture = {"CONNSTATE_COMMENT_CAPTURE", "comments", false, NULL};

static void s_capture(s_capture_t *capture, const char *sql)
{
    if (!capture->tried) {
        capture->tried = true;
        const char *dir = getenv(capture->variable);
        if (dir && *dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.%d.sql", dir, capture->prefix, (int)getpid());
            capture->file = fopen(path, "a");
            if (!capture->file)
                cs_log_warn("cannot capture DDL in %s", path);
            else /* flushed when idle, not per update */
                setvbuf(capture->file, NULL, _IOFBF, 1 << 20);
        }
    }
    if (capture->file)
        fprintf(capture->file, "%s\n-- end\n", sql);
}

void cs_update_capture(const char *sql)
{
    s_capture(&s_ddl_capture, sql);
}

void cs_update_capture_comments(const char *sql)
{
    s_capture(&s_comment_capture, sql);
}

void cs_update_flush_capture(void)
{
    if (s_ddl_capture.file)
        fflush(s_ddl_capture.file);
    if (s_comment_capture.file)
        fflush(s_comment_capture.file);
}

static void s_rollback(cs_update_t *u)
{
    PQclear(PQexec(u->conn, "ROLLBACK"));
}

/* Puts res's error (or the session's) in why, and whose fault it is in fault. */
static void s_error(cs_update_t *u, const PGresult *res)
{
    cs_update_error(u->why, u->why_size, u->conn, res);
    u->fault = cs_update_fault(u->conn, res);
}

/* How often a statement that runs long lets the worker heartbeat (it heartbeats at most
 * every S_HEARTBEAT_MS of its own). */
#define S_STATEMENT_TICK_MS 500

/* PQexec's (or, with params, PQexecParams') answer -- the last result, or the first error --
 * while the worker heartbeats: a statement may run for longer than the supervisor's lease on
 * a silent worker (an aggregate of many members, a big batch of tables). NULL when the
 * session is lost. */
static PGresult *s_ticking(cs_update_t *u, const char *sql, int count, const char *const *params)
{
    if (!u->tick)
        return count ? PQexecParams(u->conn, sql, count, NULL, params, NULL, NULL, 0)
                     : PQexec(u->conn, sql);
    if (!(count ? PQsendQueryParams(u->conn, sql, count, NULL, params, NULL, NULL, 0)
                : PQsendQuery(u->conn, sql)))
        return NULL;
    struct pollfd fd = {.fd = PQsocket(u->conn), .events = POLLIN};
    while (PQisBusy(u->conn)) {
        int ready = poll(&fd, 1, S_STATEMENT_TICK_MS);
        if (ready == 0)
            (void)u->tick(u->tick_arg); /* a statement runs to its end: the worker stops after */
        if ((ready > 0 && !PQconsumeInput(u->conn)) || (ready < 0 && errno != EINTR))
            break; /* the session is lost: PQgetResult says so */
    }
    PGresult *kept = NULL, *res;
    bool failed = false;
    while ((res = PQgetResult(u->conn)) != NULL) {
        if (failed) { /* the first error is the answer */
            PQclear(res);
            continue;
        }
        ExecStatusType status = PQresultStatus(res);
        failed = status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK;
        PQclear(kept);
        kept = res;
    }
    return kept;
}

/* Runs sql (which may end the transaction); on failure rolls back and puts the database's
 * error in why. */
static int s_exec(cs_update_t *u, const char *sql)
{
    PGresult *res = s_ticking(u, sql, 0, NULL);
    ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    s_error(u, res);
    PQclear(res);
    s_rollback(u);
    return -1;
}

/* Commits the transaction with sql's `statements` statements, opening it first when `begin`.
 * A build's statements are captured for the benchmarks. */
static int s_commit(cs_update_t *u, bool begin, cs_buf_t *sql, int statements, bool build)
{
    cs_buf_puts(sql, "COMMIT;");
    cs_buf_t full = {0};
    if (begin)
        cs_buf_puts(&full, "BEGIN;\n");
    cs_buf_append(&full, cs_buf_str(sql), sql->len);
    int rc = -1;
    if (full.failed || sql->failed) {
        snprintf(u->why, u->why_size, "out of memory building the DDL");
        if (!begin)
            s_rollback(u);
    } else if (s_exec(u, cs_buf_str(&full)) == 0) {
        u->statements += (uint32_t)statements;
        if (build)
            cs_update_capture(cs_buf_str(sql));
        rc = 0;
    }
    cs_buf_free(&full);
    return rc;
}

/* res when it holds rows; else NULL with the error in why (res cleared, rolled back). */
static PGresult *s_rows(cs_update_t *u, PGresult *res)
{
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    s_error(u, res);
    PQclear(res);
    s_rollback(u);
    return NULL;
}

/* Runs sql (freeing it), which opens the transaction and ends with a query. Returns its
 * rows (the caller PQclear()s them), or NULL with the error in why (rolled back). */
static PGresult *s_select(cs_update_t *u, cs_buf_t *sql)
{
    PGresult *res = sql->failed ? NULL : s_ticking(u, cs_buf_str(sql), 0, NULL);
    cs_buf_free(sql);
    return s_rows(u, res);
}

/* Between two transactions of one update: the worker heartbeats. */
static void s_between(cs_update_t *u)
{
    if (u->tick)
        (void)u->tick(u->tick_arg);
}

static int s_unmanaged(cs_update_t *u, const char *name)
{
    snprintf(u->why, u->why_size,
             "schema \"%s\" exists and is not managed by connstate (it has no connstate "
             "marker); it was left untouched: rename or drop it, or rename the connection",
             name);
    return -1;
}

/* ---- locks ----------------------------------------------------------------------------- */

/* The names of a connection's temporary schemas (each CS_MARKER_TEMP_NAME_SIZE bytes). */
static void s_temp_names(const char *name, char *fresh, char *old)
{
    if (cs_marker_temp_name(name, CS_MARKER_TEMP_NEW, fresh, CS_MARKER_TEMP_NAME_SIZE) != 0 ||
        cs_marker_temp_name(name, CS_MARKER_TEMP_OLD, old, CS_MARKER_TEMP_NAME_SIZE) != 0)
        *fresh = *old = '\0'; /* cannot happen: the buffers are big enough */
}

/* The second key of the lock of a connection, or of the connection a temporary schema
 * belongs to: the first 8 of the hex digits of its temporary names, as an int4. */
static long s_key(const char *name)
{
    char fresh[CS_MARKER_TEMP_NAME_SIZE], old[CS_MARKER_TEMP_NAME_SIZE];
    const char *hex = name + CS_MARKER_TEMP_HASH_AT;
    if (!cs_marker_is_temp_name(name)) {
        s_temp_names(name, fresh, old);
        hex = fresh + CS_MARKER_TEMP_HASH_AT;
    }
    char first[9];
    memcpy(first, hex, 8);
    first[8] = '\0';
    return (long)(int32_t)(uint32_t)strtoul(first, NULL, 16);
}

/* Takes the connection's session-level lock, held across the transactions of a batched
 * update (and released when the session ends, should the worker die). Returns 1 when taken
 * (or held already), 0 when another session holds it, -1 with why. */
static int s_lock(cs_update_t *u, long key)
{
    if (u->locked)
        return 1;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(" S_LOCK_CLASS ", %ld)", key);
    PGresult *res = PQexec(u->conn, sql);
    int rc = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    else
        s_error(u, res);
    PQclear(res);
    if (rc == 1) {
        u->locked = true;
        u->key = key;
    }
    return rc;
}

static void s_unlock(cs_update_t *u)
{
    if (!u->locked)
        return;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(" S_LOCK_CLASS ", %ld)", u->key);
    PQclear(PQexec(u->conn, sql));
    u->locked = false;
}

static int s_busy(cs_update_t *u, const char *name)
{
    snprintf(u->why, u->why_size,
             "another session is updating connection \"%s\" (it holds its lock); try again", name);
    return -1;
}

/* Waits (heartbeating) until the other session's update of the connection ends, then holds
 * its session lock. Returns 0, or -1 with why when it did not end within S_LOCK_WAIT_MS. */
static int s_wait_lock(cs_update_t *u, const char *name)
{
    cs_log_conn_info(name, "waiting for another session's update of it to end");
    for (int waited = 0;; waited += S_LOCK_POLL_MS) {
        int locked = s_lock(u, s_key(name));
        if (locked != 0)
            return locked > 0 ? 0 : -1;
        if (waited >= S_LOCK_WAIT_MS) {
            snprintf(u->why, u->why_size,
                     "another session has been updating connection \"%s\" for more than %d s "
                     "(it holds its lock); try again",
                     name, S_LOCK_WAIT_MS / 1000);
            return -1;
        }
        s_between(u);
        zclock_sleep(S_LOCK_POLL_MS);
    }
}

/* ---- what a schema holds ------------------------------------------------------------------ */

/* A schema as the database holds it, read in the transaction of the update. */
typedef struct {
    PGresult *res;
    bool locked;  /* the transaction holds the connection's lock */
    bool exists;  /* the schema exists */
    bool managed; /* ... with a connstate marker */
    cs_marker_t marker;
    const char **tables; /* connstate's foreign tables in it (pointing into res) */
    size_t table_count;
    const char **views; /* an aggregator's schema: its views (pointing into res) */
    size_t view_count;
    int readers_at; /* the rows of the aggregators' views that read its tables: schema, view */
    size_t reader_count;
    const char *leftovers[2]; /* the connection's temporary schemas that exist */
    size_t leftover_count;
    int objects_at; /* the rows of a user's objects that dropping the schema would drop */
    size_t object_count;
} s_found_t;

static void s_found_free(s_found_t *found)
{
    PQclear(found->res);
    free(found->tables);
    free(found->views);
    memset(found, 0, sizeof *found);
}

/* Opens the update's transaction, takes the connection's lock for it, and reads what
 * schema `name` holds. Returns 0 with found filled (the caller frees it), or -1 with the
 * database's error in why (the transaction rolled back).
 *
 * connstate creates exactly these dependencies (pg_depend):
 * each foreign table on the schema ('n') and on server connstate_file ('n'), the table's
 * row type on the table ('i'), the row type's array type on the row type ('i'); columns
 * have built-in types, which record none. Anything else that depends on the schema, on
 * connstate's tables or on their types is a user's object: a table or function in the
 * schema, a view's rule, a trigger, a function taking a row type, a column of that type. A
 * view is named by itself rather than by the rule that depends on the tables.
 *
 * An aggregator's schema (its marker says kind=aggregator) holds connstate's views, each
 * commented "aggregator ..." (aggregate.c): they, their row types and their _RETURN rules
 * are connstate's too. Such a view's rule depending on the tables of the schema inspected
 * (a member's, or a member's previous one renamed away) is an aggregator's dependency, not a
 * user's object: listed apart (found->readers), so that an update can keep what it reads. */
static int s_inspect(cs_update_t *u, const char *name, s_found_t *found)
{
    memset(found, 0, sizeof *found);
    char *literal = PQescapeLiteral(u->conn, name, strlen(name));
    if (!literal) {
        s_error(u, NULL);
        return -1;
    }
    /* a temporary schema has none of its own; their names are [a-z0-9$]: plain literals */
    char fresh[CS_MARKER_TEMP_NAME_SIZE] = "", old[CS_MARKER_TEMP_NAME_SIZE] = "";
    if (!cs_marker_is_temp_name(name))
        s_temp_names(name, fresh, old);
    char fresh_literal[CS_MARKER_TEMP_NAME_SIZE + 2], old_literal[CS_MARKER_TEMP_NAME_SIZE + 2];
    snprintf(fresh_literal, sizeof fresh_literal, "'%s'", fresh);
    snprintf(old_literal, sizeof old_literal, "'%s'", old);
    cs_buf_t sql = {0};
    cs_buf_printf(
        &sql,
        "BEGIN;\n"
        "WITH s AS (SELECT n.oid, d.description FROM pg_namespace n LEFT JOIN pg_description d"
        " ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0"
        " WHERE n.nspname = %s),\n"
        "own AS (SELECT c.oid, c.relname, c.reltype, t.typarray, c.relkind FROM pg_depend d"
        " JOIN pg_class c ON c.oid = d.objid JOIN pg_foreign_table f ON f.ftrelid = c.oid"
        " JOIN pg_foreign_server v ON v.oid = f.ftserver JOIN pg_type t ON t.oid = c.reltype"
        " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_namespace'::regclass"
        " AND d.refobjid IN (SELECT oid FROM s) AND c.relkind = 'f'"
        " AND v.srvname = 'connstate_file'"
        " UNION ALL SELECT c.oid, c.relname, c.reltype, t.typarray, c.relkind FROM s"
        " JOIN pg_depend d ON d.refclassid = 'pg_namespace'::regclass AND d.refobjid = s.oid"
        " AND d.classid = 'pg_class'::regclass"
        " JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'v'"
        " JOIN pg_type t ON t.oid = c.reltype JOIN pg_description vd ON vd.objoid = c.oid"
        " AND vd.classoid = 'pg_class'::regclass AND vd.objsubid = 0"
        " WHERE s.description ~ " S_AGGREGATOR_RE " AND vd.description LIKE " S_VIEW_LIKE "),\n"
        "theirs AS (SELECT classid, objid FROM pg_depend WHERE refclassid = "
        "'pg_namespace'::regclass"
        " AND refobjid IN (SELECT oid FROM s)"
        " AND NOT (classid = 'pg_class'::regclass AND objid IN (SELECT oid FROM own))"
        " UNION SELECT classid, objid FROM pg_depend WHERE refclassid = 'pg_class'::regclass"
        " AND refobjid IN (SELECT oid FROM own)"
        " AND NOT (classid = 'pg_type'::regclass AND objid IN (SELECT reltype FROM own))"
        " AND NOT (classid = 'pg_rewrite'::regclass AND objid IN (SELECT r.oid FROM pg_rewrite r"
        " WHERE r.ev_class IN (SELECT oid FROM own) AND r.rulename = '_RETURN'))"
        " UNION SELECT classid, objid FROM pg_depend WHERE refclassid = 'pg_type'::regclass"
        " AND refobjid IN (SELECT reltype FROM own UNION ALL SELECT typarray FROM own)"
        " AND NOT (classid = 'pg_type'::regclass AND objid IN (SELECT typarray FROM own))),\n"
        "named AS (SELECT DISTINCT CASE WHEN a.nspname IS NULL THEN 'u' ELSE 'a' END AS kind,"
        " coalesce(a.nspname::text, i.type || ' ' || i.identity) AS what, a.relname::text AS view"
        " FROM theirs o"
        " LEFT JOIN pg_rewrite r ON o.classid = 'pg_rewrite'::regclass AND r.oid = o.objid"
        " AND r.rulename = '_RETURN'"
        " LEFT JOIN LATERAL (SELECT an.nspname, ac.relname FROM pg_class ac"
        " JOIN pg_namespace an ON an.oid = ac.relnamespace JOIN pg_description ad"
        " ON ad.objoid = an.oid AND ad.classoid = 'pg_namespace'::regclass AND ad.objsubid = 0"
        " JOIN pg_description avd ON avd.objoid = ac.oid AND avd.classoid = 'pg_class'::regclass"
        " AND avd.objsubid = 0 WHERE ac.oid = r.ev_class AND ac.relkind = 'v'"
        " AND ad.description ~ " S_AGGREGATOR_RE " AND avd.description LIKE " S_VIEW_LIKE
        ") a ON true,"
        " LATERAL pg_identify_object(CASE WHEN r.oid IS NULL THEN o.classid"
        " ELSE 'pg_class'::regclass END, coalesce(r.ev_class, o.objid), 0) i)\n"
        "SELECT kind, what, view FROM ("
        "SELECT 'k' AS kind, pg_try_advisory_xact_lock(" S_LOCK_CLASS ", %ld)::text AS what,"
        " NULL::text AS view"
        " UNION ALL SELECT 'l', nspname::text, NULL FROM pg_namespace WHERE nspname IN (%s, %s)"
        " UNION ALL SELECT 'm', description, NULL FROM s"
        " UNION ALL SELECT CASE relkind WHEN 'f' THEN 't' ELSE 'v' END, relname::text, NULL"
        " FROM own"
        " UNION ALL SELECT kind, what, view FROM named) rows"
        " ORDER BY kind, what COLLATE \"C\", view COLLATE \"C\"",
        literal, s_key(name), fresh_literal, old_literal);
    PQfreemem(literal);
    PGresult *res = s_select(u, &sql);
    if (!res)
        return -1;
    found->res = res;
    int rows = PQntuples(res);
    found->tables = calloc((size_t)rows + 1, sizeof *found->tables);
    found->views = calloc((size_t)rows + 1, sizeof *found->views);
    if (!found->tables || !found->views) {
        snprintf(u->why, u->why_size, "out of memory");
        s_found_free(found);
        s_rollback(u);
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        const char *what = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
        switch (PQgetvalue(res, i, 0)[0]) {
            case 'k':
                found->locked = what && strcmp(what, "true") == 0;
                break;
            case 'l':
                if (found->leftover_count < 2)
                    found->leftovers[found->leftover_count++] = what;
                break;
            case 'm':
                found->exists = true;
                found->managed = cs_marker_parse(what, &found->marker) == 0;
                break;
            case 't':
                found->tables[found->table_count++] = what;
                break;
            case 'v':
                found->views[found->view_count++] = what;
                break;
            case 'a':
                if (!found->reader_count++)
                    found->readers_at = i;
                break;
            case 'u':
                if (!found->object_count++)
                    found->objects_at = i;
                break;
        }
    }
    return 0;
}

/* The error of a schema that a user's objects depend on or live in. */
static int s_objects_error(cs_update_t *u, const char *name, const s_found_t *found)
{
    cs_buf_t list = {0};
    size_t named = found->object_count < S_OBJECTS_NAMED ? found->object_count : S_OBJECTS_NAMED;
    for (size_t i = 0; i < named; i++)
        cs_buf_printf(&list, "%s%s", i ? ", " : "",
                      PQgetvalue(found->res, found->objects_at + (int)i, 1));
    if (found->object_count > named)
        cs_buf_printf(&list, " and %zu more", found->object_count - named);
    snprintf(u->why, u->why_size,
             "objects that connstate did not create depend on schema \"%s\" or live in it "
             "(%s); it was left as it was: move or drop them (or drop the schema yourself), "
             "then refresh",
             name, list.failed ? "too many to list" : cs_buf_str(&list));
    cs_buf_free(&list);
    return -1;
}

/* The names of the aggregators whose views read the inspected schema, each once. */
static void s_readers(const s_found_t *found, cs_buf_t *list)
{
    const char *last = NULL;
    for (size_t i = 0; i < found->reader_count; i++) {
        const char *agg = PQgetvalue(found->res, found->readers_at + (int)i, 1);
        if (!last || strcmp(last, agg) != 0)
            cs_buf_printf(list, "%s%s", last ? ", " : "", agg);
        last = agg;
    }
}

/* ---- dropping --------------------------------------------------------------------------- */

/* Drops the inspected schema `name` (its transaction open) unless it is not ours or holds a
 * user's objects: its views (an aggregator's), then its tables, a batch per transaction (the
 * first in the open one), and the schema in the last. A schema of more than one batch needs
 * the connection's session lock: the caller holds it. The caller has dealt with the
 * aggregators that read it (an aggregator's view on a table stops the drop: RESTRICT). */
static int s_drop(cs_update_t *u, const char *name, const s_found_t *found)
{
    if (!found->exists) {
        s_rollback(u);
        return 0; /* already gone: dropping is idempotent */
    }
    if (!found->managed) {
        s_rollback(u);
        return s_unmanaged(u, name);
    }
    if (found->object_count) {
        s_rollback(u);
        return s_objects_error(u, name, found);
    }
    size_t views = found->view_count, total = views + found->table_count, done = 0;
    do {
        size_t count = total - done;
        count = count > u->batch ? u->batch : count;
        /* items [done, done + count): views first, then tables */
        size_t view_to = done + count < views ? done + count : views;
        size_t view_from = done < views ? done : views;
        size_t table_from = done > views ? done - views : 0;
        size_t table_to = done + count > views ? done + count - views : 0;
        cs_buf_t sql = {0};
        int put = cs_ddl_drop_relations(u->conn, true, name, found->views + view_from,
                                        view_to - view_from, &sql, u->why, u->why_size);
        int statements = put < 0
                             ? -1
                             : cs_ddl_drop_tables(u->conn, name, found->tables + table_from,
                                                  table_to - table_from, &sql, u->why, u->why_size);
        bool last = done + count == total;
        int dropped = statements < 0 || !last ? 0
                                              : cs_ddl_schema(u->conn, CS_DDL_DROP, name, NULL,
                                                              &sql, u->why, u->why_size);
        int rc = -1;
        if (statements < 0 || dropped < 0) {
            if (!done)
                s_rollback(u);
        } else {
            rc = s_commit(u, done > 0, &sql, put + statements + dropped, false);
        }
        cs_buf_free(&sql);
        if (rc != 0)
            return -1;
        done += count;
        if (!last)
            s_between(u);
    } while (done < total);
    return 0;
}

/* The fingerprint an aggregator's marker carries once a member's update dropped views of it:
 * no config has it, so that the next plan builds the aggregator again. */
#define S_STALE_FINGERPRINT "0000000000000000"

/* Appends to sql the marker of aggregator schema `agg` with its fingerprint made stale,
 * after taking the aggregator's lock for this transaction, trying only: an aggregate of it
 * that runs now (which may be replacing the very views this update deals with) fails the
 * update with a retry instead (no wait, so no deadlock with that aggregate, which tries the
 * members' locks the same way). Returns 0, or -1 with why (the transaction still open). */
static int s_stale_marker(cs_update_t *u, const char *agg, cs_buf_t *sql)
{
    static const char *const query =
        "SELECT pg_try_advisory_xact_lock(" S_LOCK_CLASS ", $2::int), d.description"
        " FROM pg_namespace n JOIN pg_description d ON d.objoid = n.oid"
        " AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0 WHERE n.nspname = $1";
    char key[16];
    snprintf(key, sizeof key, "%ld", s_key(agg));
    const char *params[] = {agg, key};
    PGresult *res = PQexecParams(u->conn, query, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_error(u, res);
        PQclear(res);
        return -1;
    }
    cs_marker_t marker;
    int rc = 0;
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        snprintf(u->why, u->why_size,
                 "aggregator \"%s\", whose views read this schema, is being built; try again", agg);
        u->fault = CS_FAULT_CONFLICT;
        rc = -1;
    } else if (PQntuples(res) == 1 && cs_marker_parse(PQgetvalue(res, 0, 1), &marker) == 0) {
        char text[512];
        snprintf(marker.fingerprint, sizeof marker.fingerprint, S_STALE_FINGERPRINT);
        rc = cs_marker_format(&marker, text, sizeof text) != 0 ||
                     cs_ddl_schema(u->conn, CS_DDL_MARKER, agg, text, sql, u->why, u->why_size) < 0
                 ? -1
                 : 0;
    }
    PQclear(res);
    return rc;
}

/* Appends the stale markers (s_stale_marker) of every aggregator whose views read the
 * inspected schema, in its open transaction: whatever the plan computes for them next,
 * they are built again, and stop reading what this update moves away. Returns how many
 * statements, or -1 with why (the transaction still open: the caller rolls back). */
static int s_stale_readers(cs_update_t *u, const s_found_t *found, cs_buf_t *sql)
{
    int statements = 0;
    const char *last = NULL;
    for (size_t i = 0; i < found->reader_count; i++) {
        const char *agg = PQgetvalue(found->res, found->readers_at + (int)i, 1);
        if (last && strcmp(last, agg) == 0)
            continue;
        if (s_stale_marker(u, agg, sql) != 0)
            return -1;
        statements++;
        last = agg;
    }
    return statements;
}

/* Drops, in the transaction of the inspection (committed), the aggregators' views that read
 * the inspected schema `name` (a member's previous schema that a new update of the member
 * must drop: those aggregators are built again after it), and makes their markers'
 * fingerprint stale, so that no plan takes them for built. Returns 0, or -1 with why
 * (rolled back): a user's object that depends on such a view stops it. */
static int s_drop_readers(cs_update_t *u, const char *name, const s_found_t *found)
{
    cs_buf_t list = {0}, sql = {0};
    s_readers(found, &list);
    cs_log_conn_info(name,
                     "dropping the views of aggregator %s that read it: the aggregator is built "
                     "again after this update",
                     cs_buf_str(&list));
    int rc = 0, statements = 0;
    for (size_t i = 0; i < found->reader_count && rc == 0; i++) {
        int row = found->readers_at + (int)i;
        const char *view = PQgetvalue(found->res, row, 2);
        rc = cs_ddl_drop_relations(u->conn, true, PQgetvalue(found->res, row, 1), &view, 1, &sql,
                                   u->why, u->why_size) < 0
                 ? -1
                 : 0;
        statements++;
    }
    int stale = rc < 0 ? -1 : s_stale_readers(u, found, &sql);
    rc = stale < 0 ? -1 : 0;
    statements += stale;
    if (rc == 0)
        rc = s_commit(u, false, &sql, statements, false);
    else
        s_rollback(u);
    cs_buf_free(&list);
    cs_buf_free(&sql);
    return rc;
}

/* Inspects schema `name` and drops it (s_drop); the caller holds the session lock. When
 * aggregators' views read it: with evict those views are dropped first, else it is kept
 * ("kept: aggregator X still reads it", 0: the aggregate task drops it once they do not). */
static int s_drop_named(cs_update_t *u, const char *name, bool evict)
{
    s_found_t found;
    if (s_inspect(u, name, &found) != 0)
        return -1;
    int rc = 0;
    if (found.reader_count && !found.object_count && found.managed && !evict) {
        s_rollback(u);
        cs_buf_t list = {0};
        s_readers(&found, &list);
        cs_log_conn_info(name, "kept: aggregator %s still reads it", cs_buf_str(&list));
        cs_buf_free(&list);
    } else if (found.reader_count && !found.object_count && found.managed) {
        rc = s_drop_readers(u, name, &found);
        if (rc == 0) {
            s_found_free(&found); /* then the schema, in a transaction of its own */
            rc = s_inspect(u, name, &found) != 0 ? -1 : s_drop(u, name, &found);
        }
    } else {
        rc = s_drop(u, name, &found);
    }
    s_found_free(&found);
    return rc;
}

/* Inspects the connection `name` for an update (s_inspect), after waiting for another
 * session's update of it to end and dropping the temporary schemas that an interrupted
 * update of it left behind. Returns 0 with the transaction open and found filled, or -1
 * with why (no transaction open). */
static int s_inspect_connection(cs_update_t *u, const char *name, s_found_t *found)
{
    if (s_inspect(u, name, found) != 0)
        return -1;
    if (found->locked && !found->leftover_count)
        return 0;
    s_rollback(u);
    if (!found->locked) { /* what it read may be changing: read again once that is done */
        s_found_free(found);
        if (s_wait_lock(u, name) != 0 || s_inspect(u, name, found) != 0)
            return -1;
        if (!found->leftover_count)
            return 0;
        s_rollback(u);
    }
    int locked = s_lock(u, s_key(name));
    if (locked <= 0)
        return locked == 0 ? s_busy(u, name) : -1;
    for (size_t i = 0; i < found->leftover_count; i++) {
        cs_log_conn_info(name,
                         "dropping the temporary schema %s that an interrupted update "
                         "left behind",
                         found->leftovers[i]);
        if (s_drop_named(u, found->leftovers[i], true) != 0)
            return -1;
    }
    s_found_free(found);
    if (s_inspect(u, name, found) != 0)
        return -1;
    if (found->leftover_count) { /* another session made them again: it holds no lock */
        s_rollback(u);
        return s_busy(u, name);
    }
    return 0;
}

static int s_read_previous(cs_update_t *u, const char *name, cs_buf_t *list);
static void s_drop_previous(cs_update_t *u, const char *name, const char *list);

int cs_update_delete(cs_update_t *u, const char *name)
{
    u->statements = 0;
    if (cs_marker_is_temp_name(name)) {
        /* A leftover: unless the update that made it is still under way. */
        int locked = s_lock(u, s_key(name));
        if (locked == 0)
            cs_log_conn_info(name, "left alone: the update that uses it is under way");
        int rc = locked <= 0 ? locked : s_drop_named(u, name, false);
        s_unlock(u);
        return rc;
    }
    s_found_t found = {0};
    cs_buf_t previous = {0}; /* an aggregator's: the previous schemas its views read */
    int rc = -1;
    if (s_inspect_connection(u, name, &found) != 0)
        goto done;
    if (found.exists && found.managed && found.marker.aggregator && !found.object_count &&
        s_read_previous(u, name, &previous) != 0)
        goto done;
    char fresh[CS_MARKER_TEMP_NAME_SIZE], old[CS_MARKER_TEMP_NAME_SIZE];
    s_temp_names(name, fresh, old);
    if (found.exists && found.managed && !found.object_count && found.reader_count) {
        /* Aggregators' views read it: renamed away, not dropped (they bind its tables, not
         * its name); their next build stops reading it and drops it. */
        cs_buf_t sql = {0}, list = {0};
        s_readers(&found, &list);
        int statements =
            cs_ddl_schema(u->conn, CS_DDL_RENAME, name, old, &sql, u->why, u->why_size);
        int stale = statements < 0 ? -1 : s_stale_readers(u, &found, &sql);
        if (stale < 0)
            s_rollback(u);
        else
            rc = s_commit(u, false, &sql, statements + stale, false);
        if (rc == 0)
            cs_log_conn_info(name, "renamed away to %s, not dropped: aggregator %s still reads it",
                             old, cs_buf_str(&list));
        cs_buf_free(&list);
        cs_buf_free(&sql);
        goto done;
    }
    if (!found.exists || !found.managed || found.object_count ||
        found.view_count + found.table_count <= u->batch) {
        rc = s_drop(u, name, &found); /* in this transaction, or refused */
        goto done;
    }
    /* Too big for one transaction: renamed away at once (users see it gone), then dropped
     * in batches. A crash leaves the temporary schema, which the next update drops. */
    int locked = s_lock(u, s_key(name));
    cs_buf_t sql = {0};
    int statements =
        locked <= 0 ? -1
                    : cs_ddl_schema(u->conn, CS_DDL_RENAME, name, old, &sql, u->why, u->why_size);
    if (locked == 0)
        s_busy(u, name);
    if (statements < 0)
        s_rollback(u);
    else if (s_commit(u, false, &sql, statements, false) == 0)
        rc = s_drop_named(u, old, false);
    cs_buf_free(&sql);
done:
    if (rc == 0 && previous.len) { /* nothing reads them now, unless another aggregator */
        s_unlock(u);
        s_drop_previous(u, name, cs_buf_str(&previous));
    }
    cs_buf_free(&previous);
    s_found_free(&found);
    s_unlock(u);
    return rc;
}

/* ---- building --------------------------------------------------------------------------- */

/* Whether the schema is what the marker of the build says (a dynamic plugin's schema that
 * did not change): then the build has nothing to do. */
static bool s_current(const s_found_t *found, const cs_marker_t *want)
{
    return found->exists && found->managed &&
           strcmp(found->marker.fingerprint, want->fingerprint) == 0 &&
           strcmp(found->marker.plugin_version, want->plugin_version) == 0 &&
           strcmp(found->marker.schema_hash, want->schema_hash) == 0;
}

/* The swap of a batched build, in the transaction that inspected the connection's schema
 * again: refused as before when it is not ours or holds a user's objects; else the old one
 * is renamed away and the new one into place, with its marker. Commits or rolls back. */
static int s_swap(cs_update_t *u, const char *name, const char *fresh, const char *old,
                  const char *marker, const s_found_t *found)
{
    if (found->exists && !found->managed) {
        s_rollback(u);
        return s_unmanaged(u, name);
    }
    if (found->object_count) {
        s_rollback(u);
        return s_objects_error(u, name, found);
    }
    cs_buf_t sql = {0};
    int away = found->exists
                   ? cs_ddl_schema(u->conn, CS_DDL_RENAME, name, old, &sql, u->why, u->why_size)
                   : 0;
    int in = away < 0
                 ? -1
                 : cs_ddl_schema(u->conn, CS_DDL_RENAME, fresh, name, &sql, u->why, u->why_size);
    int marked =
        in < 0 ? -1
               : cs_ddl_schema(u->conn, CS_DDL_MARKER, name, marker, &sql, u->why, u->why_size);
    int stale = marked < 0 ? -1 : s_stale_readers(u, found, &sql);
    int rc = -1;
    if (stale < 0)
        s_rollback(u);
    else
        rc = s_commit(u, false, &sql, away + in + marked + stale, true);
    cs_buf_free(&sql);
    return rc;
}

/* The first statements of a schema built under its temporary name: the schema and its
 * marker, appended to sql. Returns their count, or -1 with why. */
static int s_create_marked(cs_update_t *u, const char *fresh, const char *marker, cs_buf_t *sql)
{
    int created = cs_ddl_schema(u->conn, CS_DDL_CREATE, fresh, NULL, sql, u->why, u->why_size);
    int marked = created < 0 ? -1
                             : cs_ddl_schema(u->conn, CS_DDL_MARKER, fresh, marker, sql, u->why,
                                             u->why_size);
    return marked < 0 ? -1 : created + marked;
}

/* The end of a batched update whose transactions so far returned rc: the schema built under
 * fresh swapped in for name's (s_swap, in a transaction that inspects it again), or, when
 * that or an earlier step failed, dropped; the previous schema is then as it was, and the
 * first error is the one in why. Sets replaced when name had a schema (now old). Returns 0,
 * or -1 with why. */
static int s_swap_in(cs_update_t *u, const char *name, const char *fresh, const char *old,
                     const char *marker, int rc, bool *replaced)
{
    s_found_t found = {0};
    if (rc == 0)
        rc = s_inspect(u, name, &found);
    if (rc == 0)
        rc = s_swap(u, name, fresh, old, marker, &found);
    *replaced = found.exists;
    s_found_free(&found);
    if (rc != 0) {
        char first[CS_PROTO_MAX_ERROR];
        snprintf(first, sizeof first, "%s", u->why);
        cs_fault_t fault = u->fault;
        if (s_drop_named(u, fresh, false) != 0)
            cs_log_conn_warn(name, "cannot drop the temporary schema %s now: %s", fresh, u->why);
        snprintf(u->why, u->why_size, "%s", first);
        u->fault = fault;
    }
    return rc;
}

/* A build too big for one transaction: the new schema under its temporary name, a batch of
 * tables per transaction (the first also writes its marker, so that a leftover is known to
 * be connstate's); then the swap, in one short transaction; then the old schema dropped in
 * batches. Until the swap commits the previous schema is untouched, and a failure drops the
 * new one. The caller holds the session lock. */
static int s_build_batched(cs_update_t *u, const char *name, const cs_ddl_tables_t *tables,
                           const char *marker)
{
    char fresh[CS_MARKER_TEMP_NAME_SIZE], old[CS_MARKER_TEMP_NAME_SIZE];
    s_temp_names(name, fresh, old);
    size_t count = cs_ddl_tables_count(tables), done = 0;
    int rc = 0;
    while (rc == 0 && done < count) {
        cs_buf_t sql = {0};
        int head = done ? 0 : s_create_marked(u, fresh, marker, &sql);
        size_t to = count - done > u->batch ? done + u->batch : count;
        int put = head < 0 ? -1
                           : cs_ddl_create_tables(u->conn, fresh, tables, done, to, &sql, u->why,
                                                  u->why_size);
        rc = put < 0 ? -1 : s_commit(u, true, &sql, head + put, true);
        cs_buf_free(&sql);
        done = to;
        s_between(u);
    }
    bool replaced = false;
    if (s_swap_in(u, name, fresh, old, marker, rc, &replaced) != 0)
        return -1;
    /* The new schema is in place: the build succeeded even if the old one cannot go now
     * (the next update of the connection drops it), or is kept while aggregators read it. */
    if (replaced && s_drop_named(u, old, false) != 0)
        cs_log_conn_warn(name, "the previous schema stays as %s for now: %s", old, u->why);
    return 0;
}

int cs_update_build(cs_update_t *u, const char *name, const cs_ddl_tables_t *tables,
                    const cs_marker_t *want, const char *marker)
{
    u->statements = 0;
    s_found_t found = {0};
    int rc = -1;
    if (s_inspect_connection(u, name, &found) != 0)
        goto done;
    if (found.exists && !found.managed) {
        s_rollback(u);
        rc = s_unmanaged(u, name);
    } else if (s_current(&found, want)) {
        s_rollback(u);
        rc = 0;
    } else if (found.object_count) {
        s_rollback(u);
        rc = s_objects_error(u, name, &found);
    } else if ((found.reader_count ? 0 : found.table_count) + cs_ddl_tables_count(tables) <=
               u->batch) {
        /* Small: the old schema goes and the new one comes in this one transaction. When
         * aggregators' views read the old one, it is renamed away instead, and kept until
         * they are built again (their views bind its tables, not its name). */
        cs_buf_t sql = {0};
        int dropped = 0, gone = 0;
        if (found.reader_count) {
            char fresh[CS_MARKER_TEMP_NAME_SIZE], old[CS_MARKER_TEMP_NAME_SIZE];
            s_temp_names(name, fresh, old);
            cs_buf_t list = {0};
            s_readers(&found, &list);
            cs_log_conn_info(name, "the previous schema stays as %s: aggregator %s reads it", old,
                             cs_buf_str(&list));
            cs_buf_free(&list);
            gone = cs_ddl_schema(u->conn, CS_DDL_RENAME, name, old, &sql, u->why, u->why_size);
            int stale = gone < 0 ? -1 : s_stale_readers(u, &found, &sql);
            gone = stale < 0 ? -1 : gone + stale;
        } else if (found.exists) {
            dropped = cs_ddl_drop_tables(u->conn, name, found.tables, found.table_count, &sql,
                                         u->why, u->why_size);
            gone = dropped < 0
                       ? -1
                       : cs_ddl_schema(u->conn, CS_DDL_DROP, name, NULL, &sql, u->why, u->why_size);
        }
        int built =
            gone < 0 ? -1 : cs_ddl_build(u->conn, name, tables, marker, &sql, u->why, u->why_size);
        if (built < 0)
            s_rollback(u);
        else
            rc = s_commit(u, false, &sql, dropped + gone + built, true);
        cs_buf_free(&sql);
    } else {
        s_rollback(u);
        int locked = s_lock(u, s_key(name));
        rc = locked <= 0 ? (locked == 0 ? s_busy(u, name) : -1)
                         : s_build_batched(u, name, tables, marker);
    }
done:
    s_found_free(&found);
    s_unlock(u);
    return rc;
}

/* ---- aggregating ------------------------------------------------------------------------- */

/* How long the clean-up after an aggregate waits for a lock on a previous schema it drops:
 * a reader's query still running keeps it, and the plan's drop of leftovers tries again. */
#define S_CLEANUP_LOCK_TIMEOUT "'100ms'"

/* The members' names as a text[] literal and their lock keys as an int[] one (names are
 * [A-Za-z0-9_]: nothing to quote). */
static void s_member_arrays(const cs_agg_line_t *lines, size_t count, cs_buf_t *names,
                            cs_buf_t *keys)
{
    cs_buf_putc(names, '{');
    cs_buf_putc(keys, '{');
    for (size_t i = 0; i < count; i++) {
        cs_buf_printf(names, "%s\"%s\"", i ? "," : "", lines[i].name); /* "null" is a name */
        cs_buf_printf(keys, "%s%ld", i ? "," : "", s_key(lines[i].name));
    }
    cs_buf_putc(names, '}');
    cs_buf_putc(keys, '}');
}

/* Runs a query of the open transaction with params; its rows, or NULL with why (rolled
 * back). */
static PGresult *s_query(cs_update_t *u, const char *sql, int count, const char *const *params)
{
    return s_rows(u, s_ticking(u, sql, count, params));
}

static int s_retry(cs_update_t *u, const char *member, const char *what)
{
    s_rollback(u);
    snprintf(u->why, u->why_size, "member \"%s\" %s; try again", member, what);
    u->fault = CS_FAULT_CONFLICT;
    return -1;
}

/* Takes each member's lock shared, trying only: a member being updated holds it (then the
 * aggregate is tried again later, never waited for inside this transaction). Returns 0, or
 * -1 with why (rolled back). */
static int s_lock_members(cs_update_t *u, const char *names, const char *keys)
{
    static const char *const sql =
        "SELECT m.name, pg_try_advisory_xact_lock_shared(" S_LOCK_CLASS ", m.key)"
        " FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS m(name, key, ord)"
        " ORDER BY m.ord";
    const char *params[] = {names, keys};
    PGresult *res = s_query(u, sql, 2, params);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        if (strcmp(PQgetvalue(res, i, 1), "t") != 0)
            rc = s_retry(u, PQgetvalue(res, i, 0), "is being updated");
    PQclear(res);
    return rc;
}

/* The members' schemas as the views will read them (connstate's foreign tables in them, as
 * s_inspect knows them), checked against the task: each member's marker must carry its
 * line's schema hash. Fills members (pointing into *res_p
 * and the arrays in *store_p, which the caller frees). Returns 0, or -1 with why (rolled
 * back). */
static int s_read_members(cs_update_t *u, const cs_agg_line_t *lines, size_t count,
                          const char *names, cs_agg_member_t *members, PGresult **res_p,
                          void **store_p)
{
    static const char *const sql =
        "SELECT m.ord, d.description, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)"
        " FROM unnest($1::text[]) WITH ORDINALITY AS m(name, ord)"
        " LEFT JOIN pg_namespace n ON n.nspname = m.name"
        " LEFT JOIN pg_description d ON d.objoid = n.oid"
        " AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0"
        " LEFT JOIN (pg_depend nd JOIN pg_class c ON c.oid = nd.objid AND c.relkind = 'f'"
        " JOIN pg_foreign_table f ON f.ftrelid = c.oid JOIN pg_foreign_server v"
        " ON v.oid = f.ftserver AND v.srvname = 'connstate_file')"
        " ON nd.refclassid = 'pg_namespace'::regclass AND nd.refobjid = n.oid"
        " AND nd.classid = 'pg_class'::regclass"
        " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY m.ord, c.relname COLLATE \"C\", a.attnum";
    const char *params[] = {names};
    PGresult *res = s_query(u, sql, 1, params);
    if (!res)
        return -1;
    size_t rows = (size_t)PQntuples(res);
    /* one block: the tables, then the column names, then their types */
    void *store = calloc(rows + 1, sizeof(cs_agg_table_t) + 2 * sizeof(const char *));
    if (!store) {
        PQclear(res);
        s_rollback(u);
        snprintf(u->why, u->why_size, "out of memory");
        return -1;
    }
    cs_agg_table_t *tables = store;
    const char **columns = (const char **)(tables + rows + 1);
    const char **types = columns + rows + 1;
    size_t table_count = 0, column_count = 0, row = 0;
    for (size_t m = 0; m < count; m++) {
        members[m] = (cs_agg_member_t){lines[m].name, tables + table_count, 0};
        cs_marker_t marker;
        const char *comment = NULL;
        if (row < rows && (size_t)atol(PQgetvalue(res, (int)row, 0)) == m + 1 &&
            !PQgetisnull(res, (int)row, 1))
            comment = PQgetvalue(res, (int)row, 1);
        if (cs_marker_parse(comment, &marker) != 0 ||
            strcmp(marker.schema_hash, lines[m].schema_hash) != 0) {
            PQclear(res);
            free(store);
            return s_retry(u, lines[m].name, "changed since the plan");
        }
        for (; row < rows && (size_t)atol(PQgetvalue(res, (int)row, 0)) == m + 1; row++) {
            if (PQgetisnull(res, (int)row, 2))
                continue; /* a member without tables */
            const char *table = PQgetvalue(res, (int)row, 2);
            if (!members[m].table_count || strcmp(tables[table_count - 1].name, table) != 0) {
                tables[table_count++] =
                    (cs_agg_table_t){table, columns + column_count, types + column_count, 0};
                members[m].table_count++;
            }
            if (PQgetisnull(res, (int)row, 3))
                continue;
            columns[column_count] = PQgetvalue(res, (int)row, 3);
            types[column_count++] = PQgetvalue(res, (int)row, 4);
            tables[table_count - 1].column_count++;
        }
    }
    *res_p = res;
    *store_p = store;
    return 0;
}

/* The previous schemas (cs$old$...) that the aggregator's views read now, before they are
 * replaced: added to list, one name per line. Returns 0, or -1 with why (rolled back). */
static int s_read_previous(cs_update_t *u, const char *name, cs_buf_t *list)
{
    static const char *const sql =
        "SELECT DISTINCT rn.nspname FROM pg_namespace an"
        " JOIN pg_depend vd ON vd.refclassid = 'pg_namespace'::regclass AND vd.refobjid = an.oid"
        " AND vd.classid = 'pg_class'::regclass"
        " JOIN pg_class v ON v.oid = vd.objid AND v.relkind = 'v'"
        " JOIN pg_rewrite r ON r.ev_class = v.oid AND r.rulename = '_RETURN'"
        " JOIN pg_depend dp ON dp.classid = 'pg_rewrite'::regclass AND dp.objid = r.oid"
        " AND dp.refclassid = 'pg_class'::regclass"
        " JOIN pg_class rc ON rc.oid = dp.refobjid"
        " JOIN pg_namespace rn ON rn.oid = rc.relnamespace"
        " WHERE an.nspname = $1 AND rn.nspname LIKE 'cs$old$%'";
    const char *params[] = {name};
    PGresult *res = s_query(u, sql, 1, params);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        cs_buf_printf(list, "%s\n", PQgetvalue(res, i, 0));
    PQclear(res);
    return 0;
}

/* After an aggregate committed: drops each previous schema in list (lines) that nothing
 * reads any more, under its member's lock, trying only (a member being updated, or a reader
 * still running: left to the plan's drop of leftovers). Never fails the aggregate: what
 * stays is logged. */
static void s_drop_previous(cs_update_t *u, const char *name, const char *list)
{
    char first[CS_PROTO_MAX_ERROR];
    snprintf(first, sizeof first, "%s", u->why);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, "\n");
        char old[CS_MARKER_TEMP_NAME_SIZE];
        snprintf(old, sizeof old, "%.*s", (int)(len < sizeof old ? len : sizeof old - 1), p);
        p += len + (p[len] == '\n');
        if (!cs_marker_is_temp_name(old))
            continue;
        int locked = s_lock(u, s_key(old));
        s_found_t found = {0};
        if (locked == 0)
            cs_log_conn_debug(name, "%s is left for later: its member is being updated", old);
        if (locked <= 0 || s_inspect(u, old, &found) != 0) {
            s_unlock(u);
            continue;
        }
        if (!found.exists || found.reader_count || found.object_count || !found.managed) {
            s_rollback(u);
        } else if (s_exec(u, "SET LOCAL lock_timeout = " S_CLEANUP_LOCK_TIMEOUT) != 0 ||
                   s_drop(u, old, &found) != 0) {
            cs_log_conn_info(name, "the previous schema %s stays for now: %s", old, u->why);
        } else {
            cs_log_conn_debug(name, "dropped the previous schema %s that it no longer reads", old);
        }
        s_found_free(&found);
        s_unlock(u);
    }
    snprintf(u->why, u->why_size, "%s", first);
    u->fault = CS_FAULT_NONE;
}

/* Takes (or, with take false, releases) each member's session-level lock shared, held across
 * the transactions of a big aggregate. Returns 0, or -1 with why (none held then). */
static int s_members_session(cs_update_t *u, const char *keys, bool take)
{
    static const char *const lock =
        "SELECT k, pg_try_advisory_lock_shared(" S_LOCK_CLASS ", k) FROM unnest($1::int[]) k";
    static const char *const unlock =
        "SELECT k, pg_advisory_unlock_shared(" S_LOCK_CLASS ", k) FROM unnest($1::int[]) k";
    const char *params[] = {keys};
    PGresult *res = PQexecParams(u->conn, take ? lock : unlock, 1, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        s_error(u, res);
    cs_buf_t granted = {0};
    for (int i = 0; rc == 0 && take && i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 1), "t") == 0)
            cs_buf_printf(&granted, "%s%s", granted.len ? "," : "", PQgetvalue(res, i, 0));
        else
            rc = -1; /* cannot happen: its transaction holds them all shared already */
    }
    PQclear(res);
    if (rc != 0 && take && granted.len) {
        char first[CS_PROTO_MAX_ERROR];
        snprintf(first, sizeof first, "%s", u->why);
        cs_buf_t list = {0};
        cs_buf_printf(&list, "{%s}", cs_buf_str(&granted));
        (void)s_members_session(u, cs_buf_str(&list), false);
        cs_buf_free(&list);
        snprintf(u->why, u->why_size, "%s", first);
    }
    if (rc != 0 && take && !*u->why)
        snprintf(u->why, u->why_size, "a member's lock could not be held for the aggregate");
    cs_buf_free(&granted);
    return rc;
}

/* An aggregate too big for one transaction of the lock table: the views are created under
 * the aggregator's temporary name, a batch per transaction (the first also creates the
 * schema and its marker), while the aggregator's session lock and its members' (shared) keep
 * every one of them as checked; then swapped in (s_swap) and the previous views dropped in
 * batches. Until the swap commits the aggregator is as it was. Called in the transaction that
 * checked the members (rolled back here); views_sql: the views' text for the temporary
 * schema, layout its pieces. */
static int s_aggregate_batched(cs_update_t *u, const char *name, const char *keys,
                               const cs_buf_t *views_sql, const cs_agg_view_t *layout, size_t views,
                               const char *marker)
{
    char fresh[CS_MARKER_TEMP_NAME_SIZE], old[CS_MARKER_TEMP_NAME_SIZE];
    s_temp_names(name, fresh, old);
    int locked = s_lock(u, s_key(name));
    if (locked <= 0) {
        s_rollback(u);
        return locked == 0 ? s_busy(u, name) : -1;
    }
    if (s_members_session(u, keys, true) != 0) {
        s_rollback(u);
        return -1;
    }
    s_rollback(u);
    size_t budget = 3 * u->batch, done = 0, at = 0;
    int rc = 0;
    while (rc == 0 && (done < views || !at)) {
        cs_buf_t sql = {0};
        int statements = at ? 0 : s_create_marked(u, fresh, marker, &sql);
        size_t cost = 0, to = done;
        while (to < views && (to == done || cost + 1 + layout[to].branches <= budget))
            cost += 1 + layout[to++].branches;
        size_t from_byte = done ? layout[done - 1].end : 0, to_byte = to ? layout[to - 1].end : 0;
        cs_buf_append(&sql, cs_buf_str(views_sql) + from_byte, to_byte - from_byte);
        rc = statements < 0 ? -1 : s_commit(u, true, &sql, statements + (int)(to - done), true);
        cs_buf_free(&sql);
        done = to;
        at++;
        s_between(u);
    }
    if (rc == 0)
        cs_log_conn_info(name,
                         "too big for one transaction: its %zu views were built under %s in %zu "
                         "transactions",
                         views, fresh, at);
    bool replaced = false;
    rc = s_swap_in(u, name, fresh, old, marker, rc, &replaced);
    char first[CS_PROTO_MAX_ERROR];
    snprintf(first, sizeof first, "%s", u->why);
    cs_fault_t fault = u->fault;
    if (s_members_session(u, keys, false) != 0)
        cs_log_conn_warn(name, "cannot release its members' locks: %s", u->why);
    snprintf(u->why, u->why_size, "%s", first);
    u->fault = fault;
    if (rc == 0 && replaced && s_drop_named(u, old, false) != 0)
        cs_log_conn_warn(name, "the previous views stay in %s for now: %s", old, u->why);
    return rc;
}

int cs_update_aggregate(cs_update_t *u, const char *name, const cs_agg_line_t *lines, size_t count,
                        cs_marker_t *want, size_t *views)
{
    u->statements = 0;
    *views = 0;
    want->schema_hash[0] = '\0';
    want->aggregator = true;
    s_found_t found = {0};
    cs_buf_t names = {0}, keys = {0}, previous = {0}, sql = {0}, views_sql = {0};
    cs_agg_member_t *members = calloc(count ? count : 1, sizeof *members);
    cs_agg_view_t *layout = NULL;
    PGresult *res = NULL;
    void *store = NULL;
    int rc = -1;
    s_member_arrays(lines, count, &names, &keys);
    if (!members || names.failed || keys.failed) {
        snprintf(u->why, u->why_size, "out of memory");
        goto done;
    }
    /* its own lock (as every update's inspection takes it), then the members' */
    if (s_inspect_connection(u, name, &found) != 0)
        goto done;
    if (found.exists && !found.managed) {
        s_rollback(u);
        rc = s_unmanaged(u, name);
        goto done;
    }
    if (found.object_count) { /* a user's view over its views, a table of theirs in it */
        s_rollback(u);
        rc = s_objects_error(u, name, &found);
        goto done;
    }
    if (s_lock_members(u, cs_buf_str(&names), cs_buf_str(&keys)) != 0 ||
        s_read_members(u, lines, count, cs_buf_str(&names), members, &res, &store) != 0 ||
        (found.exists && s_read_previous(u, name, &previous) != 0))
        goto done;
    /* what the views read now: the members' schemas, and their previous ones to drop after */
    for (size_t m = 0; m < count; m++) {
        char fresh[CS_MARKER_TEMP_NAME_SIZE], old[CS_MARKER_TEMP_NAME_SIZE];
        s_temp_names(lines[m].name, fresh, old);
        cs_buf_printf(&previous, "%s\n", old);
    }
    char marker[512];
    int statements = cs_aggregate_sql_in(name, name, members, count, &views_sql, &layout, views,
                                         want->schema_hash, u->why, u->why_size);
    if (statements >= 0 && cs_marker_format(want, marker, sizeof marker) != 0) {
        snprintf(u->why, u->why_size, "marker too long");
        statements = -1;
    }
    if (statements < 0) {
        s_rollback(u);
        goto done;
    }
    if (s_current(&found, want) && found.marker.aggregator && found.view_count == *views &&
        !found.table_count) {
        s_rollback(u); /* built from these members' schemas already */
        rc = 0;
        goto built;
    }
    /* What the lock table holds for it: each view created, itself and the member tables it
     * reads; each relation dropped, 3 (as a table: itself, its row and array types). */
    size_t cost = 3 * (found.view_count + found.table_count);
    for (size_t v = 0; v < *views; v++)
        cost += 1 + layout[v].branches;
    if (cost > 3 * u->batch) {
        char fresh[CS_MARKER_TEMP_NAME_SIZE], old[CS_MARKER_TEMP_NAME_SIZE];
        s_temp_names(name, fresh, old);
        cs_buf_free(&views_sql);
        free(layout);
        layout = NULL;
        char hash[CS_DIGEST_HEX_SIZE];
        size_t again;
        if (cs_aggregate_sql_in(name, fresh, members, count, &views_sql, &layout, &again, hash,
                                u->why, u->why_size) < 0) {
            s_rollback(u);
            goto done;
        }
        rc = s_aggregate_batched(u, name, cs_buf_str(&keys), &views_sql, layout, again, marker);
        goto built;
    }
    int put = 0;
    if (found.exists) { /* the same schema, its views replaced (and a plugin's tables gone) */
        put = cs_ddl_drop_relations(u->conn, true, name, found.views, found.view_count, &sql,
                                    u->why, u->why_size);
        int dropped = put < 0 ? -1
                              : cs_ddl_drop_tables(u->conn, name, found.tables, found.table_count,
                                                   &sql, u->why, u->why_size);
        put = dropped < 0 ? -1 : put + dropped;
    } else {
        put = cs_ddl_schema(u->conn, CS_DDL_CREATE, name, NULL, &sql, u->why, u->why_size);
    }
    if (put >= 0)
        cs_buf_append(&sql, cs_buf_str(&views_sql), views_sql.len);
    int marked =
        put < 0 ? -1
                : cs_ddl_schema(u->conn, CS_DDL_MARKER, name, marker, &sql, u->why, u->why_size);
    if (marked < 0)
        s_rollback(u);
    else
        rc = s_commit(u, false, &sql, put + statements + marked, true);
built:
    if (rc == 0) {
        s_unlock(u); /* its own; each previous schema is dropped under its member's lock */
        s_drop_previous(u, name, cs_buf_str(&previous));
    }
done:
    PQclear(res);
    free(store);
    free(members);
    free(layout);
    cs_buf_free(&names);
    cs_buf_free(&keys);
    cs_buf_free(&previous);
    cs_buf_free(&sql);
    cs_buf_free(&views_sql);
    s_found_free(&found);
    s_unlock(u);
    return rc;
}

/* ---- comments --------------------------------------------------------------------------- */

/* Opens a transaction and reads the schema's marker. Returns 0 with *exists and *managed
 * set, or -1 with why (rolled back). */
static int s_begin_marker(cs_update_t *u, const char *name, bool *exists, bool *managed,
                          cs_marker_t *marker)
{
    char *literal = PQescapeLiteral(u->conn, name, strlen(name));
    if (!literal) {
        s_error(u, NULL);
        return -1;
    }
    cs_buf_t sql = {0};
    cs_buf_printf(&sql,
                  "BEGIN; SELECT d.description FROM pg_namespace n LEFT JOIN pg_description d "
                  "ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass "
                  "AND d.objsubid = 0 WHERE n.nspname = %s",
                  literal);
    PQfreemem(literal);
    PGresult *res = s_select(u, &sql);
    if (!res)
        return -1;
    *exists = PQntuples(res) > 0;
    const char *comment = *exists && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL;
    *managed = *exists && cs_marker_parse(comment, marker) == 0;
    PQclear(res);
    return 0;
}

int cs_update_comments(cs_update_t *u, const char *name, const cs_schema_t *schema)
{
    u->statements = 0;
    size_t done = 0;
    do {
        bool exists, managed;
        cs_marker_t marker;
        if (s_begin_marker(u, name, &exists, &managed, &marker) != 0)
            return -1;
        if (!exists || !managed || strcmp(marker.schema_hash, schema->hash) != 0) {
            s_rollback(u);
            snprintf(u->why, u->why_size,
                     "schema \"%s\" is missing or changed before its comments were written", name);
            return -1;
        }
        size_t to = done + u->batch < schema->count ? done + u->batch : schema->count;
        cs_buf_t sql = {0};
        int statements =
            cs_ddl_comments(u->conn, name, schema, done, to, &sql, u->why, u->why_size);
        int rc = -1;
        if (statements < 0)
            s_rollback(u);
        else
            rc = s_commit(u, false, &sql, statements, false);
        if (rc == 0)
            s_capture(&s_comment_capture, cs_buf_str(&sql));
        cs_buf_free(&sql);
        if (rc != 0)
            return -1;
        done = to;
        if (done < schema->count)
            s_between(u);
    } while (done < schema->count);
    return 0;
}

/* The check of the comments sent in one round trip: a function of the session's own (in its
 * temporary schema, so that nothing of the database's changes and every session has its
 * own), whose plan PostgreSQL keeps for the session. It fails the transaction unless the
 * schema exists with a connstate marker (its comment starts with the marker's prefix) whose
 * last schema_hash field is the one given, as cs_marker_parse reads it. */
#define S_CHECK_FUNCTION "pg_temp.connstate_comments_check"
#define S_CHECK_STATE    "P0001" /* raise_exception: nothing else in the transaction raises it */

int cs_update_comments_setup(PGconn *conn, char *why, size_t why_size)
{
    static const char *const sql =
        "CREATE OR REPLACE FUNCTION " S_CHECK_FUNCTION "(schema_name text, schema_hash text)"
        " RETURNS void LANGUAGE plpgsql AS $connstate$BEGIN"
        " IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_description d"
        " ON d.objoid = n.oid AND d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass"
        " AND d.objsubid = 0 WHERE n.nspname = schema_name"
        " AND pg_catalog.starts_with(d.description, '" CS_MARKER_PREFIX "')"
        " AND (pg_catalog.regexp_match(d.description, '.*; *schema_hash=([^;]*)(;|$)'))[1]"
        " = schema_hash) THEN RAISE EXCEPTION USING ERRCODE = '" S_CHECK_STATE "', MESSAGE ="
        " pg_catalog.format('schema \"%s\" is missing or changed before its comments were"
        " written', schema_name); END IF; END$connstate$";
    PGresult *res = PQexec(conn, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        cs_update_error(why, why_size, conn, res);
    PQclear(res);
    return rc;
}

int cs_update_comments_sql(PGconn *conn, const char *name, const cs_schema_t *schema, cs_buf_t *sql,
                           size_t *comments_at, char *why, size_t why_size)
{
    char *schema_name = PQescapeLiteral(conn, name, strlen(name));
    char *hash = PQescapeLiteral(conn, schema->hash, strlen(schema->hash));
    int statements = -1;
    if (!schema_name || !hash) {
        snprintf(why, why_size, "cannot escape \"%.63s\": %s", name, PQerrorMessage(conn));
    } else {
        cs_buf_printf(sql, "BEGIN;\nSELECT " S_CHECK_FUNCTION "(%s, %s);\n", schema_name, hash);
        *comments_at = sql->len;
        statements = cs_ddl_comments(conn, name, schema, 0, schema->count, sql, why, why_size);
        cs_buf_puts(sql, "COMMIT;");
        if (statements >= 0 && sql->failed) {
            snprintf(why, why_size, "out of memory building the comments");
            statements = -1;
        }
    }
    PQfreemem(schema_name);
    PQfreemem(hash);
    return statements;
}

cs_comments_end_t cs_update_comments_end(PGconn *conn, const PGresult *failure, char *why,
                                         size_t why_size, cs_fault_t *fault)
{
    *fault = CS_FAULT_NONE;
    if (!failure)
        return CS_COMMENTS_DONE;
    const char *state = PQresultErrorField(failure, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(failure, PG_DIAG_MESSAGE_PRIMARY);
    if (state && strcmp(state, S_CHECK_STATE) == 0 && primary) {
        snprintf(why, why_size, "%s", primary); /* the check's own sentence */
        return CS_COMMENTS_FAILED;
    }
    if (state && strcmp(state, "42883") == 0)
        return CS_COMMENTS_NO_CHECK; /* undefined_function: this session lacks it */
    cs_update_error(why, why_size, conn, failure);
    *fault = cs_update_fault(conn, failure);
    return CS_COMMENTS_FAILED;
}

/* ---- lock waits --------------------------------------------------------------------------- */

/* How many of the sessions holding locks in a connection's schemas a lock wait's text names. */
#define S_HOLDERS_NAMED 3

void cs_update_describe_wait(PGconn *conn, const char *name, char *why, size_t why_size)
{
    char fresh[CS_MARKER_TEMP_NAME_SIZE] = "", old[CS_MARKER_TEMP_NAME_SIZE] = "";
    if (!cs_marker_is_temp_name(name))
        s_temp_names(name, fresh, old);
    /* Other sessions' locks on the relations of the connection's schemas (or on the schemas
     * themselves), oldest transaction first: what the update's DDL would have to wait for.
     * Only what identifies a session is read, never its query (a user's: it may hold
     * secrets). */
    static const char *const sql =
        "SELECT current_setting('lock_timeout'), h.what, h.pid, h.application_name, h.state,"
        " h.seconds, h.holders FROM (SELECT 1) one LEFT JOIN LATERAL ("
        "SELECT d.*, count(*) OVER () AS holders FROM ("
        "SELECT DISTINCT ON (l.pid) coalesce(format('%I.%I', n.nspname, c.relname),"
        " format('schema %I', s.nspname)) AS what, l.pid, a.application_name, a.state,"
        " extract(epoch FROM now() - a.xact_start)::bigint AS seconds, a.xact_start"
        " FROM pg_locks l"
        " LEFT JOIN pg_class c ON l.locktype = 'relation' AND c.oid = l.relation"
        " LEFT JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_namespace s ON l.locktype = 'object'"
        " AND l.classid = 'pg_namespace'::regclass AND s.oid = l.objid"
        " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.granted AND l.pid <> pg_backend_pid()"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND coalesce(n.nspname, s.nspname) IN ($1, $2, $3)"
        " ORDER BY l.pid, c.relname) d"
        " ORDER BY d.xact_start NULLS LAST, d.pid LIMIT $4) h ON true";
    char named[16];
    snprintf(named, sizeof named, "%d", S_HOLDERS_NAMED);
    const char *params[] = {name, fresh, old, named};
    PGresult *res = PQexecParams(conn, sql, 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
        PQclear(res);
        return; /* the database's own text stays */
    }
    cs_buf_t text = {0};
    const char *timeout = PQgetvalue(res, 0, 0);
    if (PQgetisnull(res, 0, 1)) {
        cs_buf_printf(&text,
                      "waiting for a lock: the update waited lock_timeout (%s) and was rolled "
                      "back, its schema as it was (the lock's holder is gone: %s)",
                      timeout, why);
    } else {
        cs_buf_printf(&text, "waiting for a lock on %s held by", PQgetvalue(res, 0, 1));
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            const char *app = PQgetvalue(res, i, 3), *state = PQgetvalue(res, i, 4);
            cs_buf_printf(&text, "%s pid %s (", i ? "," : "", PQgetvalue(res, i, 2));
            if (*app)
                cs_buf_printf(&text, "application_name \"%s\", ", app);
            cs_buf_printf(&text, "%s", *state ? state : "state unknown");
            if (!PQgetisnull(res, i, 5))
                cs_buf_printf(&text, ", in a transaction for %s s", PQgetvalue(res, i, 5));
            cs_buf_puts(&text, ")");
        }
        long holders = atol(PQgetvalue(res, 0, 6));
        if (holders > rows)
            cs_buf_printf(&text, " and %ld more", holders - rows);
        cs_buf_printf(&text,
                      ": the update waited lock_timeout (%s) and was rolled back, its schema as "
                      "it was",
                      timeout);
    }
    if (!text.failed)
        snprintf(why, why_size, "%s", cs_buf_str(&text));
    cs_buf_free(&text);
    PQclear(res);
}
