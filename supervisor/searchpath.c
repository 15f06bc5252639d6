/* The database's default search path, computed as Steampipe computes it from options
 * "database" and the ready connections: a pure function, and its JSON form for the batch's
 * statement (which keeps a connection only where its row is ready after the batch). */
#include "supervisor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int s_compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends a schema unless one of the path's first `among` has its name (the first place
 * stands): the explicit part is compared with everything, a connection only with the
 * explicit part (connection names are unique), so that the cost stays linear in them. */
static void s_add(cs_search_path_t *path, size_t among, const char *name, bool connection)
{
    for (size_t i = 0; i < among && i < path->count; i++)
        if (strcmp(path->items[i].name, name) == 0)
            return;
    path->items[path->count++] = (cs_path_item_t){name, connection};
}

int cs_search_path_compute(const cs_config_database_t *db, const char *const *ready,
                           size_t ready_count, size_t max, cs_search_path_t *out)
{
    memset(out, 0, sizeof *out);
    const cs_config_list_t *prefix = &db->search_path_prefix, *explicit = &db->search_path;
    size_t prefix_count = prefix->set ? prefix->count : 0;
    size_t cap = prefix_count + (explicit->set ? explicit->count : 1 + ready_count);
    out->items = calloc(cap ? cap : 1, sizeof *out->items);
    if (!out->items)
        return -1;
    for (size_t i = 0; i < prefix_count; i++)
        s_add(out, SIZE_MAX, prefix->items[i], false);
    if (explicit->set) { /* the list as written: no connection, no public of our own */
        for (size_t i = 0; i < explicit->count; i++)
            s_add(out, SIZE_MAX, explicit->items[i], false);
        return 0;
    }
    s_add(out, SIZE_MAX, "public", false); /* first, as Steampipe has it: the user's own tables */
    if (out->count + ready_count > max) {
        out->bounded = true; /* the explicit part only */
        out->wanted = out->count + ready_count;
        return 0;
    }
    const char **sorted = malloc((ready_count ? ready_count : 1) * sizeof *sorted);
    if (!sorted) {
        cs_search_path_clear(out);
        return -1;
    }
    if (ready_count)
        memcpy(sorted, ready, ready_count * sizeof *sorted);     /* ready may be NULL when 0 */
    qsort(sorted, ready_count, sizeof *sorted, s_compare_names); /* byte order, as Go sorts */
    size_t explicit_count = out->count;
    for (size_t i = 0; i < ready_count; i++)
        s_add(out, explicit_count, sorted[i], true);
    free(sorted);
    return 0;
}

void cs_search_path_clear(cs_search_path_t *path)
{
    free(path->items);
    memset(path, 0, sizeof *path);
}

void cs_search_path_json(const cs_search_path_t *path, cs_buf_t *out)
{
    cs_buf_putc(out, '[');
    for (size_t i = 0; i < path->count; i++) {
        cs_buf_puts(out, i ? ",{\"n\":" : "{\"n\":");
        cs_buf_json_string(out, path->items[i].name, strlen(path->items[i].name));
        cs_buf_puts(out, path->items[i].connection ? ",\"c\":true}" : ",\"c\":false}");
    }
    cs_buf_putc(out, ']');
}
