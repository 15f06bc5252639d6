/* An aggregator's views: the members' tables UNION ALL with a leading _connection column, as
 * SQL text and its digest. Pure functions: no session, no catalog, no allocation kept. */
#include "worker.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The column every view leads with, naming the member a row came from. */
#define S_CONNECTION "_connection"

/* ---- the members' lines ---------------------------------------------------------------- */

static bool s_name_ok(const char *name, size_t len)
{
    if (len < 1 || len > 63 || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)name[i]) || name[i] == '_'))
            return false;
    return true;
}

static bool s_hash_ok(const char *hash, size_t len)
{
    if (len != CS_DIGEST_HEX_SIZE - 1)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789abcdef", hash[i]))
            return false;
    return true;
}

int cs_aggregate_parse_members(const char *text, cs_agg_line_t **lines_p, char *why,
                               size_t why_size)
{
    *lines_p = NULL;
    if (!text || !*text) {
        snprintf(why, why_size, "aggregate task without members");
        return -1;
    }
    size_t count = 0;
    for (const char *p = text; *p; p++)
        count += *p == '\n' || p[1] == '\0';
    if (count > CS_AGGREGATE_MEMBERS_MAX) {
        snprintf(why, why_size, "aggregate task with more than %d members",
                 CS_AGGREGATE_MEMBERS_MAX);
        return -1;
    }
    cs_agg_line_t *lines = calloc(count, sizeof *lines);
    if (!lines) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    size_t n = 0, number = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        number++;
        const char *eq = memchr(p, '=', len);
        size_t name_len = eq ? (size_t)(eq - p) : len;
        if (!eq || !s_name_ok(p, name_len) || !s_hash_ok(eq + 1, len - name_len - 1)) {
            snprintf(why, why_size,
                     "aggregate task: members line %zu is not NAME=SCHEMA_HASH (a connection "
                     "name and 16 lowercase hex digits): \"%.*s\"",
                     number, (int)(len > 80 ? 80 : len), p);
            free(lines);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (strlen(lines[i].name) == name_len && memcmp(lines[i].name, p, name_len) == 0) {
                snprintf(why, why_size, "aggregate task: member \"%.*s\" is listed twice",
                         (int)name_len, p);
                free(lines);
                return -1;
            }
        }
        memcpy(lines[n].name, p, name_len);
        memcpy(lines[n].schema_hash, eq + 1, CS_DIGEST_HEX_SIZE - 1);
        n++;
        p += len;
        if (*p == '\n')
            p++;
    }
    *lines_p = lines;
    return (int)n;
}

/* ---- quoting ------------------------------------------------------------------------------- */

/* "name", its quotes doubled: an identifier exactly as the catalog spells it. */
static void s_ident(cs_buf_t *sql, const char *name)
{
    cs_buf_putc(sql, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            cs_buf_putc(sql, '"');
        cs_buf_putc(sql, *p);
    }
    cs_buf_putc(sql, '"');
}

/* 'text', its quotes doubled; E'...' with backslashes doubled when it has one (as
 * PQescapeLiteral does, whatever standard_conforming_strings says). */
static void s_literal(cs_buf_t *sql, const char *text)
{
    bool backslash = strchr(text, '\\') != NULL;
    if (backslash)
        cs_buf_putc(sql, 'E');
    cs_buf_putc(sql, '\'');
    for (const char *p = text; *p; p++) {
        if (*p == '\'' || (*p == '\\' && backslash))
            cs_buf_putc(sql, *p);
        cs_buf_putc(sql, *p);
    }
    cs_buf_putc(sql, '\'');
}

/* ---- one view -------------------------------------------------------------------------- */

/* A column of a view: its name, and its type in each member that has the table (NULL: the
 * member's table lacks it). */
typedef struct {
    const char *name;
    const char *type; /* the first member's type */
    bool conflict;    /* members disagree: every branch casts it to text */
    const char **types;
} s_column_t;

typedef struct {
    s_column_t *columns;
    size_t count, cap;
    zhashx_t *index; /* name -> position + 1 */
} s_union_t;

static void s_union_free(s_union_t *u)
{
    for (size_t i = 0; i < u->count; i++)
        free(u->columns[i].types);
    free(u->columns);
    zhashx_destroy(&u->index);
    memset(u, 0, sizeof *u);
}

/* The union of the columns of `table` over the members (NULL entries: members without it),
 * by name in order of first appearance. Returns 0, or -1 when out of memory. */
static int s_union(s_union_t *u, const cs_agg_table_t *const *of, size_t count)
{
    u->index = zhashx_new();
    for (size_t m = 0; m < count; m++) {
        const cs_agg_table_t *t = of[m];
        for (size_t c = 0; t && c < t->column_count; c++) {
            const char *name = t->columns[c], *type = t->types[c];
            if (strcmp(name, S_CONNECTION) == 0)
                continue;
            size_t at = (size_t)(uintptr_t)zhashx_lookup(u->index, name);
            if (!at) {
                s_column_t *grown = cs_grow(u->columns, u->count, &u->cap, 16, sizeof *grown);
                if (!grown)
                    return -1;
                u->columns = grown;
                s_column_t *col = &u->columns[u->count];
                *col = (s_column_t){name, type, false, calloc(count, sizeof(const char *))};
                if (!col->types)
                    return -1;
                at = ++u->count;
                zhashx_insert(u->index, name, (void *)(uintptr_t)at);
            }
            s_column_t *col = &u->columns[at - 1];
            col->types[m] = type;
            col->conflict = col->conflict || strcmp(col->type, type) != 0;
        }
    }
    return 0;
}

/* CREATE VIEW schema.table over the members that have it (of[m] != NULL; *branches: how
 * many), and its comments (of aggregator `name`). Returns the number of statements, or -1
 * with why. */
static int s_view(const char *name, const char *schema, const char *table,
                  const cs_agg_member_t *members, const cs_agg_table_t *const *of, size_t count,
                  cs_buf_t *sql, size_t *branches, char *why, size_t why_size)
{
    s_union_t u = {0};
    if (s_union(&u, of, count) != 0) {
        s_union_free(&u);
        snprintf(why, why_size, "out of memory building the aggregator's views");
        return -1;
    }
    if (u.count > CS_AGGREGATE_COLUMNS_MAX) {
        snprintf(why, why_size,
                 "table \"%.63s\": its members' columns add up to %zu, more than a view can "
                 "hold besides _connection (%d)",
                 table, u.count, CS_AGGREGATE_COLUMNS_MAX);
        s_union_free(&u);
        return -1;
    }
    cs_buf_puts(sql, "CREATE VIEW ");
    s_ident(sql, schema);
    cs_buf_putc(sql, '.');
    s_ident(sql, table);
    cs_buf_puts(sql, " AS");
    size_t read = 0;
    cs_buf_t left_out = {0}; /* members whose own _connection column is not shown */
    for (size_t m = 0; m < count; m++) {
        if (!of[m])
            continue;
        cs_buf_puts(sql, read++ ? "\nUNION ALL SELECT " : "\nSELECT ");
        s_literal(sql, members[m].name);
        cs_buf_puts(sql, "::text AS " S_CONNECTION);
        for (size_t c = 0; c < u.count; c++) {
            const s_column_t *col = &u.columns[c];
            cs_buf_puts(sql, ", ");
            if (!col->types[m]) {
                cs_buf_printf(sql, "NULL::%s", col->conflict ? "text" : col->type);
            } else {
                s_ident(sql, col->name);
                if (col->conflict)
                    cs_buf_puts(sql, "::text");
            }
            cs_buf_puts(sql, " AS ");
            s_ident(sql, col->name);
        }
        cs_buf_puts(sql, " FROM ");
        s_ident(sql, members[m].name);
        cs_buf_putc(sql, '.');
        s_ident(sql, table);
        for (size_t c = 0; c < of[m]->column_count; c++)
            if (strcmp(of[m]->columns[c], S_CONNECTION) == 0)
                cs_buf_printf(&left_out, "%s%s", left_out.len ? ", " : "", members[m].name);
    }
    cs_buf_puts(sql, ";\n");
    *branches = read;
    int statements = 2;
    /* the view's comment: what it is (its prefix tells inspections that it is connstate's) */
    cs_buf_puts(sql, "COMMENT ON VIEW ");
    s_ident(sql, schema);
    cs_buf_putc(sql, '.');
    s_ident(sql, table);
    cs_buf_puts(sql, " IS ");
    cs_buf_t text = {0};
    cs_buf_printf(&text, "aggregator %s: %zu member%s", name, read, read == 1 ? "" : "s");
    if (left_out.len)
        cs_buf_printf(&text, "; the column _connection of %s is left out (it names the member)",
                      cs_buf_str(&left_out));
    s_literal(sql, cs_buf_str(&text));
    cs_buf_puts(sql, ";\n");
    for (size_t c = 0; c < u.count; c++) {
        const s_column_t *col = &u.columns[c];
        if (!col->conflict)
            continue;
        cs_buf_reset(&text);
        cs_buf_puts(&text, "type conflict: ");
        size_t listed = 0;
        for (size_t m = 0; m < count; m++)
            if (col->types[m])
                cs_buf_printf(&text, "%s%s %s", listed++ ? ", " : "", members[m].name,
                              col->types[m]);
        cs_buf_puts(&text, "; shown as text");
        cs_buf_puts(sql, "COMMENT ON COLUMN ");
        s_ident(sql, schema);
        cs_buf_putc(sql, '.');
        s_ident(sql, table);
        cs_buf_putc(sql, '.');
        s_ident(sql, col->name);
        cs_buf_puts(sql, " IS ");
        s_literal(sql, cs_buf_str(&text));
        cs_buf_puts(sql, ";\n");
        statements++;
    }
    bool failed = text.failed || left_out.failed;
    cs_buf_free(&text);
    cs_buf_free(&left_out);
    s_union_free(&u);
    if (failed) {
        snprintf(why, why_size, "out of memory building the aggregator's views");
        return -1;
    }
    return statements;
}

/* ---- the views ------------------------------------------------------------------------- */

static int s_compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int s_compare_tables(const void *a, const void *b)
{
    return strcmp((*(const cs_agg_table_t *const *)a)->name,
                  (*(const cs_agg_table_t *const *)b)->name);
}

int cs_aggregate_sql(const char *name, const cs_agg_member_t *members, size_t count, cs_buf_t *sql,
                     size_t *views, char hash[CS_DIGEST_HEX_SIZE], char *why, size_t why_size)
{
    return cs_aggregate_sql_in(name, name, members, count, sql, NULL, views, hash, why, why_size);
}

int cs_aggregate_sql_in(const char *name, const char *schema, const cs_agg_member_t *members,
                        size_t count, cs_buf_t *sql, cs_agg_view_t **layout_p, size_t *views,
                        char hash[CS_DIGEST_HEX_SIZE], char *why, size_t why_size)
{
    *views = 0;
    if (layout_p)
        *layout_p = NULL;
    hash[0] = '\0';
    /* every table name any member has, once, in byte order; each member's tables in that
     * order too, so that one cursor per member finds its table of each name */
    size_t total = 0;
    for (size_t m = 0; m < count; m++)
        total += members[m].table_count;
    const char **names = calloc(total ? total : 1, sizeof *names);
    const cs_agg_table_t **sorted = calloc(total ? total : 1, sizeof *sorted);
    const cs_agg_table_t **of = calloc(count ? count : 1, sizeof *of);
    /* at[m]: member m's next table in sorted; at[count + m]: where its tables end */
    size_t *at = calloc(count ? 2 * count : 1, sizeof *at);
    cs_agg_view_t *layout = layout_p ? calloc(total ? total : 1, sizeof *layout) : NULL;
    if (!names || !sorted || !of || !at || (layout_p && !layout)) {
        free(layout);
        free(names);
        free(sorted);
        free(of);
        free(at);
        snprintf(why, why_size, "out of memory building the aggregator's views");
        return -1;
    }
    size_t n = 0;
    for (size_t m = 0; m < count; m++) {
        at[m] = n;
        for (size_t t = 0; t < members[m].table_count; t++) {
            names[n] = members[m].tables[t].name;
            sorted[n++] = &members[m].tables[t];
        }
        at[count + m] = n;
        qsort(sorted + at[m], members[m].table_count, sizeof *sorted, s_compare_tables);
    }
    qsort(names, n, sizeof *names, s_compare_names);
    size_t start = sql->len;
    int statements = 0;
    for (size_t i = 0; i < n && statements >= 0; i++) {
        if (i && strcmp(names[i], names[i - 1]) == 0)
            continue;
        for (size_t m = 0; m < count; m++) {
            size_t end = at[count + m];
            while (at[m] < end && strcmp(sorted[at[m]]->name, names[i]) < 0)
                at[m]++; /* a name listed twice in one member: its first table */
            of[m] =
                at[m] < end && strcmp(sorted[at[m]]->name, names[i]) == 0 ? sorted[at[m]] : NULL;
        }
        size_t branches = 0;
        int put = s_view(name, schema, names[i], members, of, count, sql, &branches, why, why_size);
        statements = put < 0 ? -1 : statements + put;
        if (put >= 0 && layout)
            layout[*views] = (cs_agg_view_t){sql->len - start, branches};
        if (put >= 0)
            ++*views;
        if (statements >= 0 && sql->len - start > CS_AGGREGATE_SQL_MAX) {
            snprintf(why, why_size, "the aggregator's views take more than %u MiB of DDL",
                     CS_AGGREGATE_SQL_MAX >> 20);
            statements = -1;
        }
    }
    free(sorted);
    free(at);
    free(names);
    free(of);
    if (statements >= 0 && sql->failed) {
        snprintf(why, why_size, "out of memory building the aggregator's views");
        statements = -1;
    }
    if (statements >= 0 && cs_digest_hex16(cs_buf_str(sql) + start, sql->len - start, hash) != 0) {
        snprintf(why, why_size, "out of memory hashing the aggregator's views");
        statements = -1;
    }
    if (statements >= 0 && layout_p)
        *layout_p = layout;
    else
        free(layout);
    return statements;
}
