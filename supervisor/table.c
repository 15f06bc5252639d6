/* The state table, connstate_internal.connection_state: its columns declared once, and from
 * that one list every SQL text (CREATE and its migrations, the startup read and its pending,
 * the batch's arrays and upsert) and the batch's encoding of its rows, one array per column. */
#include "supervisor.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TABLE "connstate_internal.connection_state"

/* S_MS: an int whose 0 is NULL in the table; S_REASON: a cs_reason_intern number, its text
 * in the table. */
typedef enum { S_TEXT, S_INT, S_BIGINT, S_BOOL, S_TIME, S_STATUS, S_MS, S_REASON } s_kind_t;

/* One column: its name, its key in a batch's JSON, its kind (how it is encoded, decoded and
 * typed in the recordset), the rest of its definition, where it lives in a row, and whether
 * it is part of the row's state (what the plan and the results change from write to write:
 * the status form writes only those) rather than of its description. */
typedef struct {
    const char *name;
    const char *key;
    s_kind_t kind;
    const char *definition;
    size_t offset;
    bool state;
} s_column_t;

#define S_AT(field) offsetof(cs_row_values_t, field)

static const s_column_t s_columns[] = {
    {"connection_name", "n", S_TEXT, "text PRIMARY KEY", S_AT(name), true},
    {"status", "s", S_STATUS,
     "text NOT NULL CHECK (status IN ('pending', 'updating', 'deleting', 'ready', 'error', "
     "'disabled'))",
     S_AT(status), true},
    {"error", "e", S_TEXT, "text", S_AT(error), true},
    {"comments_set", "c", S_BOOL, "boolean NOT NULL DEFAULT false", S_AT(comments_set), true},
    {"time_changed", "t", S_TIME, "timestamptz NOT NULL DEFAULT now()", S_AT(time_us), true},
    {"plugin", "p", S_TEXT, "text", S_AT(plugin), false},
    {"plugin_version", "pv", S_TEXT, "text", S_AT(plugin_version), false},
    {"config_hash", "ch", S_TEXT, "text", S_AT(config_hash), false},
    {"schema_hash", "sh", S_TEXT, "text", S_AT(schema_hash), false},
    {"type", "ty", S_TEXT, "text", S_AT(type), false},
    {"file_name", "f", S_TEXT, "text", S_AT(file_name), false},
    {"start_line", "sl", S_INT, "integer", S_AT(start_line), false},
    {"end_line", "el", S_INT, "integer", S_AT(end_line), false},
    {"seq", "q", S_BIGINT, "bigint NOT NULL DEFAULT 0", S_AT(seq), true},
    {"worker", "w", S_TEXT, "text", S_AT(worker), false},
    {"attempts", "a", S_INT, "integer NOT NULL DEFAULT 0", S_AT(attempts), false},
    {"detail", "d", S_TEXT, "text", S_AT(detail), true},
    /* part of the description: they change with a plan's update or a worker's build, whose
     * writes are full ones anyway; a restart's every row back to ready does not carry them */
    {"reason", "r", S_REASON, "text", S_AT(reason), false},
    {"build_ms", "bm", S_MS, "integer", S_AT(build_ms), false},
};

/* The history columns: what each statement that writes a row derives from the change, never
 * sent. The SET expression of an update and the value of a new row, in which {s}, {e}, {t}
 * and {a} stand for the new status, error, time_changed and attempts, and {o} for the row as
 * it was (cs_history_sql substitutes them). */
typedef struct {
    const char *name;
    const char *definition;
    const char *update;
    const char *insert;
} s_history_t;

static const s_history_t s_history[] = {
    {"last_attempt_at", "timestamptz",
     "CASE WHEN {s} IN ('updating', 'deleting') AND ({o}.status IS DISTINCT FROM {s} OR "
     "{o}.attempts IS DISTINCT FROM {a}) THEN now() ELSE {o}.last_attempt_at END",
     "CASE WHEN {s} IN ('updating', 'deleting') THEN now() END"},
    {"last_ready_at", "timestamptz",
     "CASE WHEN {s} = 'ready' AND {o}.status IS DISTINCT FROM 'ready' THEN {t} ELSE "
     "{o}.last_ready_at END",
     "CASE WHEN {s} = 'ready' THEN {t} END"},
    {"last_error_at", "timestamptz",
     "CASE WHEN {s} = 'error' AND ({o}.status IS DISTINCT FROM 'error' OR {o}.error IS "
     "DISTINCT FROM {e}) THEN {t} ELSE {o}.last_error_at END",
     "CASE WHEN {s} = 'error' THEN {t} END"},
    {"last_error", "text", "CASE WHEN {s} = 'error' THEN {e} ELSE {o}.last_error END",
     "CASE WHEN {s} = 'error' THEN {e} END"},
};
#define S_HISTORY (sizeof s_history / sizeof *s_history)

/* The names a history expression's {x} stand for. */
typedef struct {
    const char *status, *error, *time, *attempts, *old;
} s_subst_t;

/* Appends expr with its {x} replaced. */
static void s_history_sql(cs_buf_t *out, const char *expr, const s_subst_t *with)
{
    for (const char *p = expr; *p; p++) {
        const char *by = NULL;
        if (p[0] == '{' && p[1] && p[2] == '}') {
            switch (p[1]) {
                case 's':
                    by = with->status;
                    break;
                case 'e':
                    by = with->error;
                    break;
                case 't':
                    by = with->time;
                    break;
                case 'a':
                    by = with->attempts;
                    break;
                case 'o':
                    by = with->old;
                    break;
            }
        }
        if (by) {
            cs_buf_puts(out, by);
            p += 2;
        } else {
            cs_buf_putc(out, *p);
        }
    }
}
#define S_COLUMNS (sizeof s_columns / sizeof *s_columns)
_Static_assert(S_COLUMNS == CS_TABLE_COLUMNS, "CS_TABLE_COLUMNS is the number of columns");
#define S_FIRST_ARRAY 8 /* the batch's $8 is the first column's array */
_Static_assert(S_FIRST_ARRAY + S_COLUMNS - 1 == CS_TABLE_BATCH_PARAMS, "the batch's parameters");

static char *s_create, *s_select, *s_upsert, *s_plain, *s_status, *s_pending,
    *s_pending_end; /* once */

static char **s_text(const cs_row_values_t *v, const s_column_t *col)
{
    return (char **)((const char *)v + col->offset);
}

#define S_FIELD(type, v, col) (*(type *)((const char *)(v) + (col)->offset))

/* The element type of a column's array in a batch. */
static const char *s_array_type(s_kind_t kind)
{
    switch (kind) {
        case S_INT:
            return "int";
        case S_BIGINT:
        case S_TIME:
            return "bigint";
        case S_BOOL:
            return "boolean";
        case S_MS:
            return "int";
        default:
            return "text";
    }
}

/* The batch's JSON key of the column stored at that offset of cs_row_values_t. */
static const char *s_key(size_t offset)
{
    for (size_t i = 0; i < S_COLUMNS; i++)
        if (s_columns[i].offset == offset)
            return s_columns[i].key;
    return NULL; /* not reached: every field used here is a column */
}

/* A row that setting pending leaves as it is. */
#define S_SETTLED_PENDING "(status = 'pending' AND error IS NULL AND detail IS NULL)"

/* Every column, as cs_table_parse_row reads them (time_changed as microseconds). */
static void s_select_list(cs_buf_t *out)
{
    for (size_t i = 0; i < S_COLUMNS; i++) {
        const s_column_t *col = &s_columns[i];
        if (col->kind == S_TIME)
            cs_buf_printf(out, "%s(extract(epoch FROM %s) * 1000000)::bigint", i ? ", " : "",
                          col->name);
        else
            cs_buf_printf(out, "%s%s", i ? ", " : "", col->name);
    }
}

/* The batch's last column: what becomes of $6, the database's default search path asked for,
 * [{"n": schema, "c": a connection's}]; a connection's schema stays in it only where its row
 * is ready once this statement commits: as the batch writes it (not deleted, its word taken),
 * else as the table holds it (the statement's snapshot: rows the batch does not touch). */
static void s_path_sql(cs_buf_t *out)
{
    const char *name = s_key(S_AT(name)), *status = s_key(S_AT(status));
    cs_buf_printf(
        out,
        ",\n    CASE WHEN $6::jsonb IS NOT NULL THEN connstate_internal.set_search_path(ARRAY(\n"
        "        SELECT p.e->>'n' FROM jsonb_array_elements($6::jsonb) WITH ORDINALITY AS p(e, i)\n"
        "        WHERE NOT (p.e->>'c')::boolean OR CASE\n"
        "            WHEN EXISTS (SELECT FROM v WHERE v.%s = p.e->>'n') THEN EXISTS (SELECT FROM "
        "v\n"
        "                WHERE v.%s = p.e->>'n' AND NOT v.g AND v.ok AND v.%s = 'ready')\n"
        "            ELSE EXISTS (SELECT FROM " S_TABLE " t WHERE t.connection_name = p.e->>'n'\n"
        "                AND t.status = 'ready') END\n"
        "        ORDER BY p.i)) END",
        name, name, status);
}

/* A time column's value in a batch, from its key (prefixed: "v." or ""), into buf. */
static void s_time_sql(char *buf, size_t size, const char *prefix, const char *key)
{
    snprintf(buf, size, "'epoch'::timestamptz + %s%s * interval '1 microsecond'", prefix, key);
}

/* A column's value in a batch, from its key (prefixed: "v." or ""). */
static void s_value_sql(cs_buf_t *out, const s_column_t *col, const char *prefix)
{
    char time[96];
    if (col->kind == S_TIME) {
        s_time_sql(time, sizeof time, prefix, col->key);
        cs_buf_puts(out, time);
    } else {
        cs_buf_printf(out, "%s%s", prefix, col->key);
    }
}

/* The new values as the history reads them from the recordset v: "v.s", "v.e", the time, and
 * the attempts (old_attempts instead where the statement does not carry them). */
typedef struct {
    char status[16], error[16], time[96], attempts[16];
} s_from_v_t;

static s_subst_t s_from_v(s_from_v_t *n, const char *old_attempts)
{
    snprintf(n->status, sizeof n->status, "v.%s", s_key(S_AT(status)));
    snprintf(n->error, sizeof n->error, "v.%s", s_key(S_AT(error)));
    snprintf(n->attempts, sizeof n->attempts, "v.%s", s_key(S_AT(attempts)));
    s_time_sql(n->time, sizeof n->time, "v.", s_key(S_AT(time_us)));
    return (s_subst_t){n->status, n->error, n->time, old_attempts ? old_attempts : n->attempts,
                       "cs"};
}

/* A column a table of an earlier version may lack, added (in the CREATE's DO block). It is not
 * altered when it has the column: ALTER TABLE takes its ACCESS EXCLUSIVE lock before it looks,
 * and would wait for every session that has read the table in a transaction still open (IF
 * NOT EXISTS still: two supervisors may find the same column missing). */
static void s_grow_sql(cs_buf_t *out, const char *name, const char *definition)
{
    cs_buf_printf(out,
                  "    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = '" S_TABLE
                  "'::regclass\n        AND attname = '%s' AND NOT attisdropped) THEN\n"
                  "        ALTER TABLE " S_TABLE " ADD COLUMN IF NOT EXISTS %s %s;\n    END IF;\n",
                  name, name, definition);
}

/* The start of the plain and the status forms: the rows of the batch as a recordset v, every
 * column's array or (state) only the state columns' ones, as $8 onwards in the columns'
 * order, with the flags $1 and $7; then upd, the table's rows updated from v by their key. */
static void s_keyed_update_sql(cs_buf_t *out, bool state)
{
    cs_buf_puts(out, "WITH v AS (\n    SELECT x.*, true AS ok FROM unnest(");
    size_t param = S_FIRST_ARRAY;
    for (size_t i = 0; i < S_COLUMNS; i++)
        if (!state || s_columns[i].state)
            cs_buf_printf(out, "$%zu::%s[], ", param++, s_array_type(s_columns[i].kind));
    cs_buf_puts(out, "$1::boolean[], $7::boolean[]) AS x(");
    for (size_t i = 0; i < S_COLUMNS; i++)
        if (!state || s_columns[i].state)
            cs_buf_printf(out, "%s, ", s_columns[i].key);
    cs_buf_puts(out, "g, k)\n), upd AS (\n    UPDATE " S_TABLE " AS cs SET ");
    const char *sep = "";
    for (size_t i = 1; i < S_COLUMNS; i++) { /* the key is not updated */
        if (state && !s_columns[i].state)
            continue;
        cs_buf_printf(out, "%s%s = ", sep, s_columns[i].name);
        s_value_sql(out, &s_columns[i], "v.");
        sep = ", ";
    }
    s_from_v_t names;
    /* the status form does not carry the attempts: they are as they were */
    s_subst_t with = s_from_v(&names, state ? "cs.attempts" : NULL);
    for (size_t i = 0; i < S_HISTORY; i++) {
        cs_buf_printf(out, ",\n        %s = ", s_history[i].name);
        s_history_sql(out, s_history[i].update, &with);
    }
    cs_buf_printf(out, "\n    FROM v WHERE cs.connection_name = v.%s\n    RETURNING 1\n",
                  s_key(S_AT(name)));
}

/* The history columns' names, after the others' in an INSERT's column list. */
static void s_history_names(cs_buf_t *out)
{
    for (size_t i = 0; i < S_HISTORY; i++)
        cs_buf_printf(out, ", %s", s_history[i].name);
}

/* Their values for a new row, after the others' in an INSERT's SELECT list. */
static void s_history_inserts(cs_buf_t *out, const s_subst_t *with)
{
    for (size_t i = 0; i < S_HISTORY; i++) {
        cs_buf_puts(out, ", ");
        s_history_sql(out, s_history[i].insert, with);
    }
}

static void s_generate(void)
{
    if (s_create)
        return;
    cs_buf_t create = {0}, select = {0}, upsert = {0}, plain = {0}, state = {0}, pending = {0},
             pending_end = {0};
    cs_buf_puts(&create, "CREATE TABLE IF NOT EXISTS " S_TABLE " (\n");
    for (size_t i = 0; i < S_COLUMNS; i++)
        cs_buf_printf(&create, "    %s %s,\n", s_columns[i].name, s_columns[i].definition);
    for (size_t i = 0; i < S_HISTORY; i++)
        cs_buf_printf(&create, "    %s %s%s\n", s_history[i].name, s_history[i].definition,
                      i + 1 < S_HISTORY ? "," : "");
    /* every row is updated in place, again and again: room for HOT updates */
    cs_buf_puts(&create, ") WITH (fillfactor = 50);\n");
    /* a table of an earlier version gets the columns it lacks */
    cs_buf_puts(&create, "DO $$ BEGIN\n");
    for (size_t i = 1; i < S_COLUMNS; i++)
        s_grow_sql(&create, s_columns[i].name, s_columns[i].definition);
    for (size_t i = 0; i < S_HISTORY; i++)
        s_grow_sql(&create, s_history[i].name, s_history[i].definition);
    cs_buf_puts(&create, "END $$;\n");

    cs_buf_puts(&select, "SELECT ");
    s_select_list(&select);
    cs_buf_puts(&select, " FROM " S_TABLE);

    /* Startup: every row pending in one statement, as cs_store_set (PENDING, NULL) would make
     * it (error and detail cleared; time_changed moves only when the status or the error
     * changes, to $2, microseconds since the epoch; a row pending already without error or
     * detail is left as it is), each changed row with a sequence number of its own after the
     * highest so far ($1, the meta's last_seq, or a row's seq when higher). Answers every row
     * (select list, then "changed": its new values, or the unchanged row as it was). */
    cs_buf_puts(&pending,
                "WITH base AS (\n    SELECT greatest($1::bigint, coalesce(max(seq), 0)) AS seq "
                "FROM " S_TABLE
                "\n), c AS (\n    SELECT connection_name, row_number() OVER () AS i FROM " S_TABLE
                "\n    WHERE NOT " S_SETTLED_PENDING "\n), u AS (\n    UPDATE " S_TABLE
                " AS t SET status = 'pending', error = NULL, detail = NULL,\n"
                "        time_changed = CASE WHEN t.status <> 'pending' OR t.error IS NOT NULL\n"
                "            THEN 'epoch'::timestamptz + $2::bigint * interval '1 microsecond'\n"
                "            ELSE t.time_changed END,\n"
                "        seq = (SELECT seq FROM base) + c.i\n"
                "    FROM c WHERE t.connection_name = c.connection_name\n    RETURNING t.*\n)\n"
                "SELECT ");
    s_select_list(&pending);
    cs_buf_puts(&pending, ", true FROM u\nUNION ALL SELECT ");
    s_select_list(&pending);
    cs_buf_puts(&pending, ", false FROM " S_TABLE " WHERE " S_SETTLED_PENDING);
    /* ... then, in the same transaction, what a batch does at its end: $1 the last sequence
     * number, $2 the NOTIFY payload without its closing brace. */
    cs_buf_puts(&pending_end,
                "WITH meta AS (\n    UPDATE connstate_internal.meta SET value = $1::bigint WHERE "
                "key = 'last_seq'\n    RETURNING 1\n)\nSELECT pg_notify('connstate_state', $2 || "
                "',\"xid\":' || txid_current() || '}'), (SELECT count(*) FROM meta)");

    /* $1 the rows' deletion flags (boolean[]: the row is to be deleted), $7 their claimed
     * flags (boolean[]: its status or deletion is a worker's word), $8 onwards one array per
     * column, in s_columns' order (cs_table_batch_add); $2 the last sequence number, $3 the
     * NOTIFY payload without its closing brace (the statement appends the transaction id),
     * $4 and $5 the errors of a refused ready and of a refused deletion. A worker's word is
     * checked against the schema of its name in the same statement: a `ready` holds only while
     * the schema carries a connstate marker that says the row's fingerprint, plugin version and
     * schema hash; a deletion and a `disabled` only while no schema of that name carries a
     * marker (the marker as cs_marker_format writes it: "connstate marker v1;" then fields
     * separated by "; ", in any order, unknown ones ignored). A refused row is written as
     * `error` (and kept); the last column lists the seqs of the refused rows. The marker of a
     * schema is looked up by the schema's name in the catalog cache and one index scan of
     * pg_description (a subquery per row that needs it, about 8 us), never by scanning the
     * catalog. Arrays, not JSON: unnest() costs a fraction of jsonb_to_recordset per row. */
    cs_buf_puts(&upsert, "WITH r AS (\n    SELECT * FROM unnest(");
    for (size_t i = 0; i < S_COLUMNS; i++)
        cs_buf_printf(&upsert, "$%zu::%s[], ", i + S_FIRST_ARRAY, s_array_type(s_columns[i].kind));
    cs_buf_puts(&upsert, "$1::boolean[], $7::boolean[]) AS x(");
    for (size_t i = 0; i < S_COLUMNS; i++)
        cs_buf_printf(&upsert, "%s, ", s_columns[i].key);
    const char *name = s_key(S_AT(name)), *status = s_key(S_AT(status));
    cs_buf_printf(
        &upsert,
        "g, k)\n), m AS (\n    SELECT r.*, CASE WHEN k AND (g OR %s IN "
        "('ready', 'disabled')) THEN (\n        SELECT description FROM pg_description WHERE "
        "objoid = "
        "to_regnamespace(quote_ident(r.%s))\n            AND classoid = 'pg_namespace'::regclass "
        "AND objsubid = 0 AND description LIKE '" CS_MARKER_PREFIX "%%') END AS marker\n"
        "    FROM r\n), v AS (\n    SELECT m.*, CASE WHEN NOT k THEN true\n        WHEN g OR %s = "
        "'disabled' THEN "
        "marker IS NULL\n        WHEN %s = 'ready' THEN coalesce(string_to_array(marker, '; ') "
        "@>\n            ARRAY['fingerprint=' || %s, 'plugin_version=' || %s, "
        "'schema_hash=' || %s], false)\n        ELSE true END AS ok\n    FROM m\n), up AS "
        "(\n    INSERT INTO " S_TABLE " AS cs (",
        status, name, status, status, s_key(S_AT(config_hash)), s_key(S_AT(plugin_version)),
        s_key(S_AT(schema_hash)));
    for (size_t i = 0; i < S_COLUMNS; i++)
        cs_buf_printf(&upsert, "%s%s", i ? ", " : "", s_columns[i].name);
    s_history_names(&upsert);
    cs_buf_puts(&upsert, ")\n    SELECT ");
    /* what a row is written as (a refused word: error), for its columns and its history */
    char written_status[96], written_error[160], written_time[96];
    snprintf(written_status, sizeof written_status, "(CASE WHEN ok THEN %s ELSE 'error' END)",
             status);
    snprintf(written_error, sizeof written_error,
             "(CASE WHEN ok THEN %s WHEN g OR %s = 'disabled' THEN $5 ELSE $4 END)",
             s_key(S_AT(error)), status);
    s_time_sql(written_time, sizeof written_time, "", s_key(S_AT(time_us)));
    for (size_t i = 0; i < S_COLUMNS; i++) {
        const s_column_t *col = &s_columns[i];
        const char *sep = i ? ", " : "";
        if (col->offset == S_AT(status))
            cs_buf_printf(&upsert, "%s%s", sep, written_status);
        else if (col->offset == S_AT(error))
            cs_buf_printf(&upsert, "%s%s", sep, written_error);
        else if (col->offset == S_AT(detail))
            cs_buf_printf(&upsert, "%sCASE WHEN ok THEN %s END", sep, col->key);
        else {
            cs_buf_puts(&upsert, sep);
            s_value_sql(&upsert, col, "");
        }
    }
    s_subst_t written = {written_status, written_error, written_time, NULL, NULL};
    s_history_inserts(&upsert, &written);
    cs_buf_puts(&upsert,
                " FROM v WHERE NOT (g AND ok)\n    ON CONFLICT (connection_name) DO UPDATE SET ");
    for (size_t i = 1; i < S_COLUMNS; i++)
        cs_buf_printf(&upsert, "%s%s = EXCLUDED.%s", i > 1 ? ", " : "", s_columns[i].name,
                      s_columns[i].name);
    {
        s_subst_t with = {"EXCLUDED.status", "EXCLUDED.error", "EXCLUDED.time_changed",
                          "EXCLUDED.attempts", "cs"};
        for (size_t i = 0; i < S_HISTORY; i++) {
            cs_buf_printf(&upsert, ", %s = ", s_history[i].name);
            s_history_sql(&upsert, s_history[i].update, &with);
        }
    }
    cs_buf_puts(&upsert, "\n    RETURNING 1\n), del AS (\n    DELETE FROM " S_TABLE
                         "\n    WHERE connection_name IN (SELECT ");
    cs_buf_puts(&upsert, name);
    cs_buf_puts(&upsert,
                " FROM v WHERE g AND ok) RETURNING 1\n"
                "), meta AS (\n    UPDATE connstate_internal.meta SET value = "
                "$2::bigint WHERE key = 'last_seq'\n    RETURNING 1\n)\n"
                "SELECT pg_notify('connstate_state', $3 || ',\"xid\":' || txid_current() || "
                "'}'), (SELECT count(*) FROM up), (SELECT count(*) FROM del),\n"
                "    (SELECT string_agg(");
    cs_buf_printf(&upsert, "%s::text, ',') FROM v WHERE NOT ok)", s_key(S_AT(seq)));
    s_path_sql(&upsert);

    /* The same for a batch without a deletion or a worker's word to check (a plan's statuses,
     * a restart's every row back to ready): every row is written as it is, the table's rows
     * updated in place (a join), the others inserted; no marker is read, nothing refused.
     * Same parameters, same answer (0 deleted, none refused); about half the cost a row. */
    s_keyed_update_sql(&plain, false);
    cs_buf_puts(&plain, "), ins AS (\n    INSERT INTO " S_TABLE " (");
    for (size_t i = 0; i < S_COLUMNS; i++)
        cs_buf_printf(&plain, "%s%s", i ? ", " : "", s_columns[i].name);
    s_history_names(&plain);
    cs_buf_puts(&plain, ")\n    SELECT ");
    for (size_t i = 0; i < S_COLUMNS; i++) {
        if (i)
            cs_buf_puts(&plain, ", ");
        s_value_sql(&plain, &s_columns[i], "");
    }
    s_from_v_t names;
    s_subst_t with = s_from_v(&names, NULL);
    s_history_inserts(&plain, &with);
    cs_buf_printf(&plain,
                  " FROM v\n    WHERE NOT EXISTS (SELECT FROM " S_TABLE
                  " t WHERE t.connection_name = v.%s)\n    RETURNING 1\n"
                  "), meta AS (\n    UPDATE connstate_internal.meta SET value = $2::bigint WHERE "
                  "key = 'last_seq'\n    RETURNING 1\n)\n"
                  "SELECT pg_notify('connstate_state', $3 || ',\"xid\":' || txid_current() || "
                  "'}'), (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins), 0::bigint,\n"
                  "    CASE WHEN false THEN $4::text || $5::text END",
                  name);
    s_path_sql(&plain);

    /* The same again for a batch whose rows the table holds and whose description (plugin,
     * fingerprint, file, what the schema was built from, the worker) it holds as they are:
     * only the state columns travel, as $8 onwards in the columns' order (cs_table_batch_params
     * with status), each row updated by its key. A row the table no longer has (deleted by
     * hand) fails the statement (connstate_internal.rows_written), so that the batch is
     * written again in a full form, which puts it back. */
    s_keyed_update_sql(&state, true);
    cs_buf_printf(&state,
                  "), meta AS (\n    UPDATE connstate_internal.meta SET value = $2::bigint WHERE "
                  "key = 'last_seq'\n    RETURNING 1\n)\n"
                  "SELECT pg_notify('connstate_state', $3 || ',\"xid\":' || txid_current() || "
                  "'}'), connstate_internal.rows_written((SELECT count(*) FROM upd),\n"
                  "        cardinality($1::boolean[])), 0::bigint,\n"
                  "    CASE WHEN false THEN $4::text || $5::text END");
    s_path_sql(&state);
    s_create = cs_buf_take(&create);
    s_select = cs_buf_take(&select);
    s_upsert = cs_buf_take(&upsert);
    s_plain = cs_buf_take(&plain);
    s_status = cs_buf_take(&state);
    s_pending = cs_buf_take(&pending);
    s_pending_end = cs_buf_take(&pending_end);
}

const char *cs_table_create_sql(void)
{
    s_generate();
    return s_create;
}

const char *cs_table_select_sql(void)
{
    s_generate();
    return s_select;
}

const char *cs_table_upsert_sql(void)
{
    s_generate();
    return s_upsert;
}

const char *cs_table_upsert_plain_sql(void)
{
    s_generate();
    return s_plain;
}

const char *cs_table_upsert_status_sql(void)
{
    s_generate();
    return s_status;
}

const char *cs_table_pending_sql(void)
{
    s_generate();
    return s_pending;
}

const char *cs_table_pending_end_sql(void)
{
    s_generate();
    return s_pending_end;
}

static char *s_dup(const char *text)
{
    return text ? strdup(text) : NULL;
}

void cs_row_values_clear(cs_row_values_t *v)
{
    for (size_t i = 0; i < S_COLUMNS; i++)
        if (s_columns[i].kind == S_TEXT) {
            char **text = s_text(v, &s_columns[i]);
            free(*text);
            *text = NULL;
        }
}

void cs_row_values_copy(cs_row_values_t *dst, const cs_row_values_t *src)
{
    cs_row_values_clear(dst);
    *dst = *src;
    for (size_t i = 0; i < S_COLUMNS; i++)
        if (s_columns[i].kind == S_TEXT) {
            char **text = s_text(dst, &s_columns[i]);
            *text = s_dup(*text);
        }
}

/* cs_table_parse_row, its strings copied (copy) or borrowed from res. */
static int s_parse_row(const PGresult *res, int row, cs_row_values_t *v, bool copy)
{
    if (PQnfields(res) < (int)S_COLUMNS)
        return -1;
    memset(v, 0, sizeof *v);
    for (size_t i = 0; i < S_COLUMNS; i++) {
        const s_column_t *col = &s_columns[i];
        bool null = PQgetisnull(res, row, (int)i);
        const char *text = PQgetvalue(res, row, (int)i);
        switch (col->kind) {
            case S_TEXT:
                *s_text(v, col) = null ? NULL : copy ? strdup(text) : (char *)text;
                break;
            case S_INT:
                S_FIELD(int, v, col) = null ? 0 : atoi(text);
                break;
            case S_BIGINT:
                S_FIELD(uint64_t, v, col) = null ? 0 : strtoull(text, NULL, 10);
                break;
            case S_TIME:
                S_FIELD(int64_t, v, col) = null ? 0 : strtoll(text, NULL, 10);
                break;
            case S_BOOL:
                S_FIELD(bool, v, col) = !null && strcmp(text, "t") == 0;
                break;
            case S_STATUS:
                if (null || cs_status_parse(text, strlen(text), &S_FIELD(cs_status_t, v, col)))
                    S_FIELD(cs_status_t, v, col) = CS_STATUS_PENDING;
                break;
            case S_MS:
                S_FIELD(int, v, col) = null ? 0 : atoi(text);
                break;
            case S_REASON:
                S_FIELD(uint16_t, v, col) = null ? 0 : cs_reason_intern(text);
                break;
        }
    }
    return v->name ? 0 : -1;
}

int cs_table_parse_row(const PGresult *res, int row, cs_row_values_t *v)
{
    return s_parse_row(res, row, v, true);
}

int cs_table_read_row(const PGresult *res, int row, cs_row_values_t *v)
{
    return s_parse_row(res, row, v, false);
}

void cs_table_array_text(cs_buf_t *out, const char *text)
{
    cs_buf_putc(out, '"');
    size_t len = strlen(text);
    while (len) {
        size_t valid = cs_utf8_prefix(text, len), run = 0;
        for (size_t i = 0; i < valid; i++)
            if (text[i] == '"' || text[i] == '\\') {
                cs_buf_append(out, text + run, i - run);
                cs_buf_putc(out, '\\');
                run = i;
            }
        cs_buf_append(out, text + run, valid - run);
        if (valid < len) {
            cs_buf_putc(out, '?');
            valid++;
        }
        text += valid;
        len -= valid;
    }
    cs_buf_putc(out, '"');
}

static void s_array_next(cs_buf_t *array)
{
    cs_buf_putc(array, array->len ? ',' : '{');
}

void cs_table_batch_add(cs_table_batch_t *self, const cs_row_values_t *v, bool gone, bool claimed,
                        bool status)
{
    char number[24];
    for (size_t i = 0; i < S_COLUMNS; i++) {
        const s_column_t *col = &s_columns[i];
        if (status && !col->state)
            continue;
        cs_buf_t *out = &self->columns[i];
        s_array_next(out);
        switch (col->kind) {
            case S_TEXT: {
                const char *text = *s_text(v, col);
                if (text)
                    cs_table_array_text(out, text);
                else
                    cs_buf_puts(out, "NULL");
                break;
            }
            case S_INT:
                snprintf(number, sizeof number, "%d", S_FIELD(int, v, col));
                cs_buf_puts(out, number);
                break;
            case S_BIGINT:
                snprintf(number, sizeof number, "%llu",
                         (unsigned long long)S_FIELD(uint64_t, v, col));
                cs_buf_puts(out, number);
                break;
            case S_TIME:
                snprintf(number, sizeof number, "%lld", (long long)S_FIELD(int64_t, v, col));
                cs_buf_puts(out, number);
                break;
            case S_BOOL:
                cs_buf_putc(out, S_FIELD(bool, v, col) ? 't' : 'f');
                break;
            case S_STATUS: /* lower-case letters: needs no quotes */
                cs_buf_puts(out, cs_status_name(S_FIELD(cs_status_t, v, col)));
                break;
            case S_MS:
                if (S_FIELD(int, v, col) > 0) {
                    snprintf(number, sizeof number, "%d", S_FIELD(int, v, col));
                    cs_buf_puts(out, number);
                } else {
                    cs_buf_puts(out, "NULL");
                }
                break;
            case S_REASON: {
                const char *text = cs_reason_text(S_FIELD(uint16_t, v, col));
                if (text)
                    cs_table_array_text(out, text);
                else
                    cs_buf_puts(out, "NULL");
                break;
            }
        }
    }
    s_array_next(&self->gone);
    cs_buf_putc(&self->gone, gone ? 't' : 'f');
    s_array_next(&self->claimed);
    cs_buf_putc(&self->claimed, claimed ? 't' : 'f');
    self->rows++;
}

/* Closes an array ("{}" when empty); false when out of memory. */
static bool s_array_close(cs_buf_t *array)
{
    cs_buf_puts(array, array->len ? "}" : "{}");
    return !array->failed;
}

int cs_table_batch_params(cs_table_batch_t *self, const char *params[CS_TABLE_BATCH_PARAMS],
                          bool status)
{
    bool ok = s_array_close(&self->gone) & s_array_close(&self->claimed);
    params[0] = cs_buf_str(&self->gone);
    params[6] = cs_buf_str(&self->claimed);
    int count = S_FIRST_ARRAY - 1;
    for (size_t i = 0; i < S_COLUMNS; i++) {
        if (status && !s_columns[i].state)
            continue;
        ok &= s_array_close(&self->columns[i]);
        params[count++] = cs_buf_str(&self->columns[i]);
    }
    for (int i = count; i < (int)CS_TABLE_BATCH_PARAMS; i++)
        params[i] = NULL;
    return ok ? count : -1;
}

void cs_table_batch_free(cs_table_batch_t *self)
{
    cs_buf_free(&self->gone);
    cs_buf_free(&self->claimed);
    for (size_t i = 0; i < S_COLUMNS; i++)
        cs_buf_free(&self->columns[i]);
    self->rows = 0;
}

/* ---- the plans' reasons, each text once ---------------------------------------------------- */

static char *s_reasons[CS_REASONS_MAX]; /* [0] unused: 0 is "none" */
static uint16_t s_reason_count = 1;
static zhashx_t *s_reason_ids; /* text -> id */

uint16_t cs_reason_intern(const char *text)
{
    if (!text || !*text)
        return 0;
    if (!s_reason_ids && !(s_reason_ids = zhashx_new()))
        return 0;
    uintptr_t id = (uintptr_t)zhashx_lookup(s_reason_ids, text);
    if (id)
        return (uint16_t)id;
    if (s_reason_count >= CS_REASONS_MAX)
        return strcmp(text, "other") == 0 ? 0 : cs_reason_intern("other"); /* bounded */
    char *copy = strdup(text);
    if (!copy)
        return 0;
    s_reasons[s_reason_count] = copy;
    zhashx_insert(s_reason_ids, copy, (void *)(uintptr_t)s_reason_count);
    return s_reason_count++;
}

const char *cs_reason_text(uint16_t id)
{
    return id && id < s_reason_count ? s_reasons[id] : NULL;
}
