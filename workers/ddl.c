/* The SQL of schema changes: identifiers through PQescapeIdentifier, literals through
 * PQescapeLiteral; DDL takes no parameters, so nothing else reaches the text. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends an escaped identifier or literal; false (with why) when libpq refuses it. */
static bool s_put_escaped(PGconn *conn, cs_buf_t *sql, const char *text, bool identifier, char *why,
                          size_t why_size)
{
    char *escaped = identifier ? PQescapeIdentifier(conn, text, strlen(text))
                               : PQescapeLiteral(conn, text, strlen(text));
    if (!escaped) {
        snprintf(why, why_size, "cannot escape \"%.63s\": %s", text, PQerrorMessage(conn));
        return false;
    }
    cs_buf_puts(sql, escaped);
    PQfreemem(escaped);
    return true;
}

/* A shell word in single quotes: file_fdw runs `program` through sh -c. */
static void s_shell_word(cs_buf_t *out, const char *word)
{
    cs_buf_putc(out, '\'');
    for (const char *p = word; *p; p++) {
        if (*p == '\'')
            cs_buf_puts(out, "'\\''");
        else
            cs_buf_putc(out, *p);
    }
    cs_buf_putc(out, '\'');
}

struct cs_ddl_tables {
    cs_buf_t text; /* every table's statement after "CREATE FOREIGN TABLE schema." */
    size_t *ends;  /* where table t's part ends in text */
    size_t count;
};

cs_ddl_tables_t *cs_ddl_tables_new(PGconn *conn, const cs_schema_t *schema, const char *plugin_path,
                                   uint32_t memory_max_mb, char *why, size_t why_size)
{
    cs_ddl_tables_t *self = calloc(1, sizeof *self);
    if (self)
        self->ends = calloc(schema->count ? schema->count : 1, sizeof *self->ends);
    if (!self || !self->ends) {
        snprintf(why, why_size, "out of memory building the DDL");
        cs_ddl_tables_destroy(&self);
        return NULL;
    }
    cs_buf_t *sql = &self->text;
    bool ok = true;
    cs_buf_t program = {0};
    for (size_t t = 0; t < schema->count && ok; t++) {
        const cs_table_t *table = &schema->tables[t];
        ok = s_put_escaped(conn, sql, table->name, true, why, why_size);
        cs_buf_puts(sql, " (");
        for (size_t c = 0; c < table->column_count && ok; c++) {
            if (c)
                cs_buf_puts(sql, ", ");
            ok = s_put_escaped(conn, sql, table->columns[c].name, true, why, why_size);
            /* types come from a fixed list (cs_schema_type_allowed) */
            cs_buf_printf(sql, " %s", table->columns[c].type);
        }
        cs_buf_reset(&program);
        if (memory_max_mb) { /* the same limit as its schema run: sh's ulimit, then exec */
            cs_plugin_limit_prefix(&program, memory_max_mb);
            cs_buf_puts(&program, "exec ");
        }
        s_shell_word(&program, plugin_path);
        cs_buf_puts(&program, " rows ");
        s_shell_word(&program, table->name);
        for (size_t a = 0; a < table->arg_count; a++) {
            cs_buf_putc(&program, ' ');
            s_shell_word(&program, table->args[a]);
        }
        cs_buf_puts(sql, ") SERVER connstate_file OPTIONS (format 'csv', program ");
        if (ok)
            ok = s_put_escaped(conn, sql, cs_buf_str(&program), false, why, why_size);
        cs_buf_puts(sql, ");\n");
        self->ends[t] = sql->len;
        self->count = t + 1;
    }
    if (ok && (sql->failed || program.failed)) {
        snprintf(why, why_size, "out of memory building the DDL");
        ok = false;
    }
    cs_buf_free(&program);
    if (!ok)
        cs_ddl_tables_destroy(&self);
    return self;
}

void cs_ddl_tables_destroy(cs_ddl_tables_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_buf_free(&(*self_p)->text);
    free((*self_p)->ends);
    free(*self_p);
    *self_p = NULL;
}

size_t cs_ddl_tables_count(const cs_ddl_tables_t *tables)
{
    return tables->count;
}

/* The escaped identifier (freed with PQfreemem), or NULL with why. */
static char *s_identifier(PGconn *conn, const char *name, char *why, size_t why_size)
{
    char *id = PQescapeIdentifier(conn, name, strlen(name));
    if (!id)
        snprintf(why, why_size, "cannot escape \"%.63s\": %s", name, PQerrorMessage(conn));
    return id;
}

static int s_out_of_memory(const cs_buf_t *sql, char *why, size_t why_size)
{
    if (!sql->failed)
        return 0;
    snprintf(why, why_size, "out of memory building the DDL");
    return -1;
}

int cs_ddl_create_tables(PGconn *conn, const char *name, const cs_ddl_tables_t *tables, size_t from,
                         size_t to, cs_buf_t *sql, char *why, size_t why_size)
{
    char *schema_id = s_identifier(conn, name, why, why_size);
    if (!schema_id)
        return -1;
    if (to > tables->count)
        to = tables->count;
    int statements = 0;
    for (size_t t = from; t < to; t++) {
        size_t begin = t ? tables->ends[t - 1] : 0;
        cs_buf_puts(sql, "CREATE FOREIGN TABLE ");
        cs_buf_puts(sql, schema_id);
        cs_buf_putc(sql, '.');
        cs_buf_append(sql, tables->text.data + begin, tables->ends[t] - begin);
        statements++;
    }
    PQfreemem(schema_id);
    return s_out_of_memory(sql, why, why_size) ? -1 : statements;
}

int cs_ddl_schema(PGconn *conn, cs_ddl_verb_t verb, const char *name, const char *arg,
                  cs_buf_t *sql, char *why, size_t why_size)
{
    char *id = s_identifier(conn, name, why, why_size);
    if (!id)
        return -1;
    bool ok = true;
    switch (verb) {
        case CS_DDL_CREATE:
            cs_buf_printf(sql, "CREATE SCHEMA %s;\n", id);
            break;
        case CS_DDL_DROP: /* RESTRICT: whatever connstate did not drop itself stops it */
            cs_buf_printf(sql, "DROP SCHEMA %s RESTRICT;\n", id);
            break;
        case CS_DDL_RENAME:
            cs_buf_printf(sql, "ALTER SCHEMA %s RENAME TO ", id);
            ok = s_put_escaped(conn, sql, arg, true, why, why_size);
            cs_buf_puts(sql, ";\n");
            break;
        case CS_DDL_MARKER:
            cs_buf_printf(sql, "COMMENT ON SCHEMA %s IS ", id);
            ok = s_put_escaped(conn, sql, arg, false, why, why_size);
            cs_buf_puts(sql, ";\n");
            break;
    }
    PQfreemem(id);
    return ok && !s_out_of_memory(sql, why, why_size) ? 1 : -1;
}

int cs_ddl_build(PGconn *conn, const char *name, const cs_ddl_tables_t *tables, const char *marker,
                 cs_buf_t *sql, char *why, size_t why_size)
{
    int created = cs_ddl_schema(conn, CS_DDL_CREATE, name, NULL, sql, why, why_size);
    int put = created < 0
                  ? -1
                  : cs_ddl_create_tables(conn, name, tables, 0, tables->count, sql, why, why_size);
    int marked =
        put < 0 ? -1 : cs_ddl_schema(conn, CS_DDL_MARKER, name, marker, sql, why, why_size);
    return marked < 0 ? -1 : created + put + marked;
}

int cs_ddl_drop_tables(PGconn *conn, const char *name, const char *const *tables, size_t count,
                       cs_buf_t *sql, char *why, size_t why_size)
{
    return cs_ddl_drop_relations(conn, false, name, tables, count, sql, why, why_size);
}

int cs_ddl_drop_relations(PGconn *conn, bool views, const char *name, const char *const *tables,
                          size_t count, cs_buf_t *sql, char *why, size_t why_size)
{
    if (count == 0)
        return 0;
    char *schema_id = s_identifier(conn, name, why, why_size);
    if (!schema_id)
        return -1;
    /* RESTRICT: a user's object that depends on one of them stops the drop */
    cs_buf_puts(sql, views ? "DROP VIEW " : "DROP FOREIGN TABLE ");
    bool ok = true;
    for (size_t t = 0; t < count && ok; t++) {
        if (t)
            cs_buf_puts(sql, ", ");
        cs_buf_puts(sql, schema_id);
        cs_buf_putc(sql, '.');
        ok = s_put_escaped(conn, sql, tables[t], true, why, why_size);
    }
    cs_buf_puts(sql, " RESTRICT;\n");
    PQfreemem(schema_id);
    return ok && !s_out_of_memory(sql, why, why_size) ? 1 : -1;
}

int cs_ddl_comments(PGconn *conn, const char *name, const cs_schema_t *schema, size_t from,
                    size_t to, cs_buf_t *sql, char *why, size_t why_size)
{
    int statements = 0;
    bool ok = true;
    if (to > schema->count)
        to = schema->count;
    for (size_t t = from; t < to && ok; t++) {
        const cs_table_t *table = &schema->tables[t];
        if (table->description) {
            cs_buf_puts(sql, "COMMENT ON FOREIGN TABLE ");
            ok = s_put_escaped(conn, sql, name, true, why, why_size);
            cs_buf_putc(sql, '.');
            ok = ok && s_put_escaped(conn, sql, table->name, true, why, why_size);
            cs_buf_puts(sql, " IS ");
            ok = ok && s_put_escaped(conn, sql, table->description, false, why, why_size);
            cs_buf_puts(sql, ";\n");
            statements++;
        }
        for (size_t c = 0; c < table->column_count && ok; c++) {
            if (!table->columns[c].description)
                continue;
            cs_buf_puts(sql, "COMMENT ON COLUMN ");
            ok = s_put_escaped(conn, sql, name, true, why, why_size);
            cs_buf_putc(sql, '.');
            ok = ok && s_put_escaped(conn, sql, table->name, true, why, why_size);
            cs_buf_putc(sql, '.');
            ok = ok && s_put_escaped(conn, sql, table->columns[c].name, true, why, why_size);
            cs_buf_puts(sql, " IS ");
            ok =
                ok && s_put_escaped(conn, sql, table->columns[c].description, false, why, why_size);
            cs_buf_puts(sql, ";\n");
            statements++;
        }
    }
    if (sql->failed) {
        snprintf(why, why_size, "out of memory building the comments");
        return -1;
    }
    return ok ? statements : -1;
}
