/* Loading .spc files and directories into a cs_config_t, keeping unchanged files on reload. */
#include "common.h"

#include "cs_canon.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ----------------------------------------------------------------------------- */

static void s_add_failed(cs_load_t *ld, const char *path, const char **names, size_t count)
{
    cs_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->failed_count; i++) {
        if (strcmp(cfg->failed[i].path, path) == 0)
            return; /* already failed: it keeps the names it had */
    }
    cs_failed_file_t *failed =
        cs_load_grow(ld, cfg->failed, cfg->failed_count, &ld->failed_cap, sizeof *failed);
    if (!failed)
        return;
    cfg->failed = failed;
    cfg->failed[cfg->failed_count++] = (cs_failed_file_t){path, names, count};
}

/* The connection names a broken file declares, read leniently line by line:
 * `connection "NAME"` at the start of a line. */
static void s_scan_names(cs_load_t *ld, const char *text, size_t len, const char ***names,
                         size_t *count)
{
    size_t cap = 0;
    size_t at = 0;
    while (at < len) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t line_len = nl ? (size_t)(nl - line) : len - at;
        at += line_len + 1;
        size_t i = 0;
        while (i < line_len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (line_len - i < 12 || memcmp(line + i, "connection", 10) != 0)
            continue;
        i += 10;
        if (line[i] != ' ' && line[i] != '\t')
            continue;
        while (i < line_len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= line_len || line[i] != '"')
            continue;
        const char *start = line + i + 1;
        const char *end = memchr(start, '"', line_len - i - 1);
        if (!end || end - start > CS_CONFIG_MAX_NAME)
            continue;
        char name[CS_CONFIG_MAX_NAME + 1];
        memcpy(name, start, (size_t)(end - start));
        name[end - start] = '\0';
        if (cs_config_name_problem(name))
            continue;
        const char **grown = cs_load_grow(ld, *names, *count, &cap, sizeof *grown);
        const char *copy = cs_load_strdup(ld, name);
        if (!grown || !copy)
            return;
        *names = grown;
        (*names)[(*count)++] = copy;
    }
}

/* Whether a broken file declares database options: `options "database"` at the start of a
 * line. */
static bool s_mentions_database(const char *text, size_t len)
{
    static const char word[] = "options \"database\"";
    for (size_t at = 0; at + sizeof word - 1 <= len;) {
        while (at < len && (text[at] == ' ' || text[at] == '\t'))
            at++;
        if (len - at >= sizeof word - 1 && memcmp(text + at, word, sizeof word - 1) == 0)
            return true;
        const char *nl = memchr(text + at, '\n', len - at);
        if (!nl)
            break;
        at = (size_t)(nl - text) + 1;
    }
    return false;
}

/* A connection's config JSON in the arena: a large one is taken in at its size, not copied
 * (a 16 MiB file of one connection would otherwise hold it twice at once). */
static const char *s_keep_json(cs_arena_t *arena, cs_buf_t *json)
{
    if (json->len < CS_LOAD_JSON_ADOPT)
        return cs_arena_strndup(arena, json->data, json->len);
    size_t size = json->len + 1;
    char *data = cs_buf_take(json);
    char *fitted = realloc(data, size); /* gives back what doubling reserved */
    void *block = fitted ? fitted : data;
    return cs_arena_adopt(arena, &block, size);
}

/* Completes a valid connection of block (its plugin config as JSON in both forms, its
 * fingerprint) and appends it to the file's connections (with room for it). */
static void s_add_connection(cs_load_t *ld, const cs_block_t *block, cs_connection_t *conn,
                             cs_connection_t *conns, size_t *count)
{
    cs_buf_t json = {0};
    cs_canon_config_forms(&json, block);
    conn->config_json = json.failed ? NULL : s_keep_json(ld->cfg->arena, &json);
    cs_buf_free(&json);
    /* plugin = plugin.LABEL: fingerprinted when the instance is found (s_resolve_plugins) */
    if (!conn->config_json ||
        (conn->plugin && cs_canon_fingerprint(conn, conn->fingerprint) != 0)) {
        ld->oom = true;
        return;
    }
    conns[(*count)++] = *conn;
}

/* A file's text as read: pages of its own (mmap), not the heap's, so that freeing 16 MiB
 * of it does not make malloc keep later large buffers in the heap, where growing one
 * copies it (malloc's mmap threshold follows the largest block freed). */
typedef struct {
    char *data;
    size_t size; /* of the mapping */
} s_text_t;

static void s_text_free(s_text_t *text)
{
    if (text->data)
        munmap(text->data, text->size);
    *text = (s_text_t){NULL, 0};
}

/* Parses and validates one file's text into the config's arena, tree and all (cs_load_keep
 * then keeps what the config needs); file is in that arena. owned, when not NULL, is text's
 * buffer: freed as soon as the tree is parsed, so that the text and the JSON of its
 * connections are not held at once. */
static void s_load_text(cs_load_t *ld, const char *file, const char *text, size_t len,
                        s_text_t *owned)
{
    cs_config_t *cfg = ld->cfg;
    cfg->file_count++;
    ld->file_failed = false;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3; /* a byte-order mark, not text (cs_hcl_parse): also for s_scan_names */
        len -= 3;
    }
    cs_config_error_t syntax = {0};
    cs_hcl_file_t *tree = cs_hcl_parse(cfg->arena, file, text, len, &syntax);
    const char **names = NULL;
    size_t name_count = 0;
    if (!tree) {
        cs_load_error(ld, (cs_pos_t){file, syntax.line, syntax.col}, "%s", syntax.message);
        s_scan_names(ld, text, len, &names, &name_count);
        s_add_failed(ld, file, names, name_count);
        cfg->database = (cs_config_database_t){.uncertain = s_mentions_database(text, len)};
        cfg->plugin_count = 0; /* a failed file has no instances or plugin options either */
        cfg->plugin_options_file = NULL;
        cfg->plugin_memory_max_mb = 0;
        return;
    }
    /* What a failed file keeps needs the text: known now, before the text goes. */
    bool mentions_database = s_mentions_database(text, len);
    if (owned) {
        s_text_free(owned);
        text = NULL;
    }
    /* Room for every connection block, so that the array is never grown (and copied), and
     * apart from the tree's arena: cs_load_keep keeps it as it is. */
    size_t cap = 0, count = 0, names_cap = 0;
    for (size_t i = 0; i < tree->count; i++)
        cap += tree->items[i].block && strcmp(tree->items[i].block->type, "connection") == 0;
    cs_connection_t *conns = cap ? malloc(cap * sizeof *conns) : NULL;
    if (cap && !conns) {
        ld->oom = true;
        return;
    }
    cfg->connections_owned = conns; /* (the config's: freed with it) */
    for (size_t i = 0; i < tree->count; i++) {
        const cs_item_t *item = &tree->items[i];
        if (item->attr) {
            cs_load_error(ld, item->attr->pos,
                          "unexpected attribute \"%s\" at the top level: expected a block such as "
                          "connection \"name\" { ... }",
                          item->attr->key);
            continue;
        }
        const cs_block_t *block = item->block;
        if (strcmp(block->type, "connection") != 0) {
            (void)cs_settings_block(ld, block);
            continue;
        }
        cs_connection_t conn;
        if (cs_config_check(ld, block, &conn) == 0)
            s_add_connection(ld, block, &conn, conns, &count);
    }
    if (ld->file_failed) {
        /* Every valid name its connection blocks declare, for the failed-file list: only a
         * failed file keeps one. */
        for (size_t i = 0; i < tree->count; i++) {
            const cs_block_t *block = tree->items[i].block;
            if (!block || strcmp(block->type, "connection") != 0 || block->label_count < 1 ||
                cs_config_name_problem(block->labels[0]))
                continue;
            const char **grown = cs_load_grow(ld, names, name_count, &names_cap, sizeof *grown);
            if (grown) {
                names = grown;
                names[name_count++] = block->labels[0];
            }
        }
        s_add_failed(ld, file, names, name_count);
        cfg->database = (cs_config_database_t){.uncertain = mentions_database};
        cfg->plugin_count = 0; /* a failed file has no instances or plugin options either */
        cfg->plugin_options_file = NULL;
        cfg->plugin_memory_max_mb = 0;
        return;
    }
    cfg->connections = conns; /* a config loads one file's text */
    cfg->count = count;
    ld->conn_cap = cap;
}

/* An order of pointers into one array: by c, then by place, so that among equals the
 * earlier definition comes first. */
static int s_then_by_place(int c, const void *x, const void *y)
{
    return c ? c : (x < y ? -1 : x > y);
}

static int s_compare_conn_names(const void *a, const void *b)
{
    const cs_connection_t *x = *(const cs_connection_t *const *)a;
    const cs_connection_t *y = *(const cs_connection_t *const *)b;
    return s_then_by_place(strcmp(x->name, y->name), x, y);
}

static bool s_file_failed(const cs_config_t *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->failed_count; i++)
        if (strcmp(cfg->failed[i].path, path) == 0)
            return true;
    return false;
}

static int s_compare_errors(const void *a, const void *b)
{
    const cs_config_error_t *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c == 0)
        c = x->line != y->line ? x->line - y->line : x->col - y->col;
    return c;
}

/* A file fails after loading (a name defined again, a plugin that cannot be resolved): it is
 * listed with the names of its connections, so that none is deleted. */
static void s_fail_file(cs_load_t *ld, const char *file)
{
    cs_config_t *cfg = ld->cfg;
    if (s_file_failed(cfg, file))
        return;
    const char **names = NULL;
    size_t name_count = 0, cap = 0;
    for (size_t j = 0; j < cfg->count; j++) {
        if (cfg->connections[j].file != file)
            continue;
        const char **grown = cs_load_grow(ld, names, name_count, &cap, sizeof *grown);
        if (!grown)
            return;
        names = grown;
        names[name_count++] = cfg->connections[j].name;
    }
    s_add_failed(ld, file, names, name_count);
}

/* Takes the connections and plugin instances of failed files out of the result. */
static void s_drop_failed(cs_load_t *ld)
{
    cs_config_t *cfg = ld->cfg;
    size_t kept = 0;
    while (kept < cfg->count && !s_file_failed(cfg, cfg->connections[kept].file))
        kept++; /* nothing before the first failed one moves */
    for (size_t i = kept; i < cfg->count; i++)
        if (!s_file_failed(cfg, cfg->connections[i].file))
            cfg->connections[kept++] = cfg->connections[i];
    cfg->count = kept;
    kept = 0;
    for (size_t i = 0; i < cfg->plugin_count; i++)
        if (!s_file_failed(cfg, cfg->plugins[i].file))
            cfg->plugins[kept++] = cfg->plugins[i];
    cfg->plugin_count = kept;
}

/* The connections by name (equal names in load order), in the arena; NULL when out of
 * memory. */
static cs_connection_t **s_index_by_name(cs_load_t *ld, bool kept)
{
    cs_config_t *cfg = ld->cfg;
    size_t size = (cfg->count + 1) * sizeof(cs_connection_t *);
    cs_connection_t **index = kept ? cs_arena_alloc(cfg->arena, size) : malloc(size);
    if (!index) {
        ld->oom = true;
        return NULL;
    }
    /* connections written in name order (generated files) are their own index: one pass */
    bool in_order = true;
    for (size_t i = 0; i < cfg->count; i++) {
        index[i] = &cfg->connections[i];
        if (i && in_order && strcmp(index[i - 1]->name, index[i]->name) > 0)
            in_order = false;
    }
    if (!in_order)
        qsort(index, cfg->count, sizeof *index, s_compare_conn_names);
    return index;
}

/* A name defined twice fails the file of its later definition (the error names both).
 * Returns the index by name it sorted (NULL when out of memory; in the arena when kept,
 * else malloc'ed): still the config's when no connection is dropped or moved after. */
static cs_connection_t **s_check_duplicate_names(cs_load_t *ld, bool kept)
{
    cs_config_t *cfg = ld->cfg;
    cs_connection_t **index = s_index_by_name(ld, kept);
    if (!index)
        return NULL;
    for (size_t i = 1; i < cfg->count; i++) {
        if (strcmp(index[i - 1]->name, index[i]->name) != 0)
            continue;
        const cs_connection_t *first = index[i - 1], *again = index[i];
        cs_load_error(ld, (cs_pos_t){again->file, again->name_at.line, again->name_at.col},
                      "connection \"%s\" is already defined at %s:%d:%d", again->name, first->file,
                      first->name_at.line, first->name_at.col);
        s_fail_file(ld, again->file);
    }
    return index;
}

/* ---- plugin references ----------------------------------------------------------------- */

static int s_compare_labels(const void *a, const void *b)
{
    const cs_config_plugin_t *x = *(const cs_config_plugin_t *const *)a;
    const cs_config_plugin_t *y = *(const cs_config_plugin_t *const *)b;
    return s_then_by_place(strcmp(x->label, y->label), x, y);
}

static int s_compare_images(const void *a, const void *b)
{
    const cs_config_plugin_t *x = *(const cs_config_plugin_t *const *)a;
    const cs_config_plugin_t *y = *(const cs_config_plugin_t *const *)b;
    return s_then_by_place(strcmp(x->image, y->image), x, y);
}

static int s_find_label(const void *key, const void *item)
{
    return strcmp(key, (*(const cs_config_plugin_t *const *)item)->label);
}

/* What resolving a connection's plugin sets is what it was: nothing to write. */
static bool s_same_plugin(const cs_connection_t *a, const cs_connection_t *b)
{
    return a->instance == b->instance && a->plugin == b->plugin &&
           a->plugin_constraint == b->plugin_constraint && a->memory_max_mb == b->memory_max_mb &&
           memcmp(a->fingerprint, b->fingerprint, sizeof a->fingerprint) == 0;
}

/* Resolves one connection's plugin as Steampipe does: plugin.LABEL is that instance (an
 * error if there is none); a string is the one instance whose source is the same full
 * reference (an error if there are several: the connection must name one), else the plugin
 * itself. A string equal to an instance's label is a plugin name like any other. */
static int s_resolve_one(cs_load_t *ld, cs_connection_t *c, cs_config_plugin_t **by_label,
                         cs_config_plugin_t **by_image, size_t n)
{
    cs_pos_t at = {c->file, c->plugin_at.line, c->plugin_at.col};
    if (c->plugin_instance) {
        const char *label = c->plugin_written + 7; /* after "plugin." */
        cs_config_plugin_t **found = bsearch(label, by_label, n, sizeof *by_label, s_find_label);
        if (!found) {
            cs_load_error(ld, at,
                          "connection \"%s\": plugin.%s is not defined: add plugin \"%s\" { "
                          "source = \"...\" } to a file of the directory",
                          c->name, label, label);
            return -1;
        }
        while (found > by_label && strcmp(found[-1]->label, label) == 0)
            found--; /* the first definition (a later one failed its file) */
        c->instance = *found;
        c->plugin = (*found)->plugin;
        c->plugin_constraint = (*found)->constraint;
        return 0;
    }
    char name[CS_CONFIG_MAX_REF + 1], image[CS_CONFIG_MAX_IMAGE];
    const char *constraint;
    if (cs_config_parse_ref(c->plugin_written, name, image, &constraint))
        return 0; /* cannot be: checked when it was loaded */
    c->instance = NULL;
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first instance of that image */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(by_image[mid]->image, image) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t matches = 0;
    while (lo + matches < n && strcmp(by_image[lo + matches]->image, image) == 0)
        matches++;
    if (matches == 1) {
        c->instance = by_image[lo];
    } else if (matches > 1) {
        const cs_config_plugin_t *a = by_image[lo], *b = by_image[lo + 1];
        cs_load_error(ld, at,
                      "connection \"%s\": plugin \"%.80s\" matches %zu plugin instances (%s at "
                      "%s:%d, %s at %s:%d%s): name one, plugin = plugin.%s",
                      c->name, c->plugin_written, matches, a->label, a->file, a->line, b->label,
                      b->file, b->line, matches > 2 ? ", ..." : "", a->label);
        return -1;
    }
    return 0;
}

/* After every file of a load that connections are used from (a directory's, or one text's):
 * one instance per label (a later file that defines one again fails), then every
 * connection's plugin resolved; a file whose reference cannot be resolved fails, and the
 * rest is resolved again without its instances, until nothing more fails. The instances
 * are not moved after the last pass: connections point at them. */
static void s_resolve_plugins(cs_load_t *ld)
{
    cs_config_t *cfg = ld->cfg;
    size_t n = cfg->plugin_count;
    cs_config_plugin_t **by_label = malloc((n + 1) * sizeof *by_label);
    cs_config_plugin_t **by_image = malloc((n + 1) * sizeof *by_image);
    if (!by_label || !by_image) {
        free(by_label);
        free(by_image);
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        by_label[i] = &cfg->plugins[i];
    qsort(by_label, n, sizeof *by_label, s_compare_labels);
    for (size_t i = 1; i < n; i++) {
        const cs_config_plugin_t *first = by_label[i - 1], *again = by_label[i];
        if (strcmp(first->label, again->label) != 0)
            continue;
        cs_load_error(ld, (cs_pos_t){again->file, again->line, 1},
                      "plugin \"%s\" is already defined at %s:%d", again->label, first->file,
                      first->line);
        s_fail_file(ld, again->file);
    }
    for (bool again = true; again && !ld->oom;) {
        again = false;
        s_drop_failed(ld);
        if (ld->oom)
            break;
        n = cfg->plugin_count;
        for (size_t i = 0; i < n; i++)
            by_label[i] = by_image[i] = &cfg->plugins[i];
        qsort(by_label, n, sizeof *by_label, s_compare_labels);
        qsort(by_image, n, sizeof *by_image, s_compare_images);
        for (size_t i = 0; i < cfg->count && !ld->oom; i++) {
            cs_connection_t c = cfg->connections[i];
            if (s_file_failed(cfg, c.file))
                continue;
            if (s_resolve_one(ld, &c, by_label, by_image, n) == 0) {
                if (!s_same_plugin(&c, &cfg->connections[i])) {
                    c.resolved = true;
                    cfg->connections[i] = c;
                }
                continue;
            }
            s_fail_file(ld, c.file);
            again = true;
        }
    }
    free(by_label);
    free(by_image);
    /* the settings of its plugin runs are part of the identity: see cs_canon_fingerprint */
    for (size_t i = 0; i < cfg->count && !ld->oom; i++) {
        cs_connection_t c = cfg->connections[i];
        c.memory_max_mb = c.instance && c.instance->memory_max_mb ? c.instance->memory_max_mb
                                                                  : cfg->plugin_memory_max_mb;
        if (c.aggregator)
            c.memory_max_mb = 0; /* it runs no plugin */
        /* and one that an earlier resolution set (or this one, above) is fingerprinted again */
        if ((c.instance || c.memory_max_mb || c.resolved) &&
            cs_canon_fingerprint(&c, c.fingerprint) != 0) {
            ld->oom = true;
            break;
        }
        c.resolved = c.instance || c.memory_max_mb; /* else it is as its file's load set it */
        if (!s_same_plugin(&c, &cfg->connections[i]) || c.resolved != cfg->connections[i].resolved)
            cfg->connections[i] = c;
    }
}

/* After every file: names defined twice, plugin references (not in a unit of a directory:
 * the directory resolves them, as an instance may be in another file), then the index by
 * name. */
static void s_finish(cs_load_t *ld)
{
    cs_config_t *cfg = ld->cfg;
    size_t count = cfg->count;
    const cs_connection_t *connections = cfg->connections;
    /* A unit of a directory keeps no index (only the directory is searched). */
    bool unit = cfg->source != NULL;
    cs_connection_t **index = s_check_duplicate_names(ld, !unit);
    if (unit) {
        ld->oom |= !index;
        free(index);
        index = NULL;
    }
    if (!unit && !ld->oom)
        s_resolve_plugins(ld);
    s_drop_failed(ld);
    if (ld->oom)
        return;
    if (!unit && (!index || cfg->count != count || cfg->connections != connections))
        index = s_index_by_name(ld, true); /* dropped or moved: again */
    if (!unit && !index) {
        ld->oom = true;
        return;
    }
    cfg->by_name = index;
    cs_load_errors_done(ld);
    cs_settings_done(ld);
    if (cfg->error_count > 1)
        qsort(cfg->errors, cfg->error_count, sizeof *cfg->errors, s_compare_errors);
}

static cs_config_t *s_config_new(cs_load_t *ld)
{
    *ld = (cs_load_t){0};
    cs_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->arena = cs_arena_new();
    if (!cfg->arena) {
        free(cfg);
        return NULL;
    }
    ld->cfg = cfg;
    return cfg;
}

static cs_config_t *s_config_done(cs_load_t *ld)
{
    cs_config_t *cfg = ld->cfg;
    if (!ld->oom)
        s_finish(ld);
    if (ld->oom)
        cs_config_destroy(&cfg);
    return cfg;
}

cs_config_t *cs_config_load_text(const char *file, const char *text, size_t len)
{
    cs_load_t ld;
    cs_config_t *cfg = s_config_new(&ld);
    if (!cfg)
        return NULL;
    const char *path = cs_load_strdup(&ld, file);
    if (path)
        s_load_text(&ld, path, text, len, NULL);
    if (!ld.oom)
        cs_load_keep(&ld, path, false); /* and not its tree */
    cfg = s_config_done(&ld);
    if (cfg)
        cfg->changed_all = true; /* no previous load: every name is new */
    return cfg;
}

static int s_compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What a path that is not a regular file is, for its error. */
static const char *s_file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "not a file";
}

/* Reads a whole regular file (through symlinks) into *out (the caller frees it with
 * s_text_free) and its length into *len: returns 0, or -1 with the error recorded. Never waits on a
 * FIFO or a device: the path is checked before it is opened, and opened without blocking. Reads to
 * the end of the file whatever its size says (files in /proc say 0), up to CS_CONFIG_MAX_FILE
 * bytes. */
static int s_read_file(cs_load_t *ld, const char *path, s_text_t *out, size_t *len)
{
    *out = (s_text_t){NULL, 0};
    cs_pos_t where = {path, 0, 0};
    struct stat st;
    if (stat(path, &st) != 0) {
        cs_load_error(ld, where, "cannot read: %s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cs_load_error(ld, where, "not a regular file (%s)", s_file_kind(st.st_mode));
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        cs_load_error(ld, where, "cannot read: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char *text = NULL;
    size_t got = 0, cap = 0, allocated = 0;
    if (!S_ISREG(st.st_mode)) { /* replaced between the check and the open */
        cs_load_error(ld, where, "not a regular file (%s)", s_file_kind(st.st_mode));
        goto fail;
    }
    if ((uint64_t)st.st_size > CS_CONFIG_MAX_FILE)
        goto too_large;
    /* One byte more than the size says, so that the end of the file is seen in one read. */
    cap = (size_t)st.st_size + 1 < 4096 ? 4096 : (size_t)st.st_size + 1;
    for (;;) {
        if (got == cap) {
            if (cap > CS_CONFIG_MAX_FILE)
                goto too_large; /* it grew past the cap while read */
            cap = cap * 2 > CS_CONFIG_MAX_FILE + 1 ? CS_CONFIG_MAX_FILE + 1 : cap * 2;
        }
        if (cap != allocated) {
            void *grown =
                text ? mremap(text, allocated, cap, MREMAP_MAYMOVE)
                     : mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (grown == MAP_FAILED) {
                ld->oom = true;
                goto fail;
            }
            text = grown;
            allocated = cap;
        }
        ssize_t n = read(fd, text + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cs_load_error(ld, where, "cannot read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    ld->cfg->source_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    /* A file whose size did not say what it holds (in /proc, or changed while read) gets
     * size 0, which a reload never takes as unchanged. */
    ld->cfg->source_size = got == (size_t)st.st_size ? (int64_t)st.st_size : 0;
    ld->cfg->source_ino = (uint64_t)st.st_ino;
    *len = got;
    *out = (s_text_t){text, allocated};
    return 0;
too_large:
    cs_load_error(ld, where, "file is larger than %u MiB", CS_CONFIG_MAX_FILE >> 20);
fail:
    close(fd);
    if (text)
        munmap(text, allocated);
    return -1;
}

/* Loads one file into a unit of its own. */
static cs_config_t *s_load_unit(const char *path)
{
    cs_load_t ld;
    cs_config_t *unit = s_config_new(&ld);
    if (!unit)
        return NULL;
    const char *file = cs_load_strdup(&ld, path);
    unit->source = file;
    size_t len = 0;
    s_text_t text = {NULL, 0};
    if (file && s_read_file(&ld, file, &text, &len) == 0)
        s_load_text(&ld, file, text.data, len, &text); /* frees it: nothing points into it */
    else if (file)
        s_add_failed(&ld, file, NULL, 0);
    s_text_free(&text);
    if (!ld.oom)
        cs_load_keep(&ld, file, true); /* and not its tree */
    return s_config_done(&ld);
}

/* Adds a unit's connections, errors and failed file to the directory's result. */
/* Appends n elements of elem_size from more to the array *items_p of *count_p. */
static bool s_append(cs_load_t *ld, void **items_p, size_t *count_p, size_t *cap, const void *more,
                     size_t n, size_t elem_size)
{
    for (size_t i = 0; i < n; i++) {
        char *grown = cs_load_grow(ld, *items_p, *count_p, cap, elem_size);
        if (!grown)
            return false;
        memcpy(grown + *count_p * elem_size, (const char *)more + i * elem_size, elem_size);
        *items_p = grown;
        (*count_p)++;
    }
    return true;
}

/* Adds a unit's results to its directory's; its connections too unless the directory took
 * over the unit's array. */
static void s_merge(cs_load_t *ld, const cs_config_t *unit, bool connections_too)
{
    cs_config_t *cfg = ld->cfg;
    cfg->file_count += unit->file_count;
    void *connections = cfg->connections, *errors = cfg->errors;
    bool ok =
        (!connections_too || s_append(ld, &connections, &cfg->count, &ld->conn_cap,
                                      unit->connections, unit->count, sizeof *unit->connections)) &&
        s_append(ld, &errors, &cfg->error_count, &ld->error_cap, unit->errors, unit->error_count,
                 sizeof *unit->errors);
    cfg->connections = connections;
    cfg->errors = errors;
    if (!ok)
        return;
    cs_settings_merge(ld, unit);
    for (size_t i = 0; i < unit->failed_count; i++)
        s_add_failed(ld, unit->failed[i].path, unit->failed[i].names, unit->failed[i].name_count);
}

/* The unit of previous read from path, when the file is still what it was then (trusted:
 * taken as it is, not looked at): taken out of previous. *cursor walks previous's units,
 * which are in path order like ours. */
static cs_config_t *s_reuse(cs_config_t *previous, size_t *cursor, const char *path, bool trusted)
{
    if (!previous)
        return NULL;
    while (*cursor < previous->unit_count) {
        cs_config_t *unit = previous->units[*cursor];
        int order = unit && unit->source ? strcmp(unit->source, path) : -1;
        if (order > 0)
            return NULL;
        (*cursor)++;
        if (order < 0)
            continue;
        struct stat st;
        if (unit->source_size == 0 ||
            (!trusted &&
             (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
              (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec !=
                  unit->source_mtime_ns ||
              (int64_t)st.st_size != unit->source_size || (uint64_t)st.st_ino != unit->source_ino)))
            return NULL; /* changed (or never read): parse it again */
        previous->units[*cursor - 1] = NULL;
        unit->reused = true;
        return unit;
    }
    return NULL;
}

/* Notes a name that may have changed since the previous load. */
static void s_changed(cs_load_t *ld, const char *name)
{
    cs_config_t *cfg = ld->cfg;
    if (cfg->changed_all)
        return;
    const char **grown =
        cs_load_grow(ld, cfg->changed, cfg->changed_count, &cfg->changed_cap, sizeof *grown);
    const char *copy = cs_load_strdup(ld, name);
    if (!grown || !copy)
        return;
    cfg->changed = grown;
    cfg->changed[cfg->changed_count++] = copy;
}

/* Whether a file's change can change the connections of other files: its plugin instances
 * (a connection of any file may use one) or its options "plugin" (every plugin run's
 * default memory limit). */
static bool s_reaches_other_files(const cs_config_t *unit)
{
    return unit && (unit->plugin_count > 0 || unit->plugin_options_file != NULL);
}

/* The names of a unit, of a file parsed again or removed, as changed; and whether its change
 * reaches other files. */
static void s_unit_changed(cs_load_t *ld, const cs_config_t *unit)
{
    if (s_reaches_other_files(unit))
        ld->cfg->changed_all = true;
    for (size_t i = 0; i < unit->count; i++)
        s_changed(ld, unit->connections[i].name);
    for (size_t i = 0; i < unit->failed_count; i++)
        for (size_t j = 0; j < unit->failed[i].name_count; j++)
            s_changed(ld, unit->failed[i].names[j]);
}

/* What changed between previous (its units not taken over are the files changed or removed)
 * and the directory just loaded. */
static void s_note_changed(cs_load_t *ld, const cs_config_t *previous)
{
    cs_config_t *cfg = ld->cfg;
    cfg->changed_all = !previous || previous->dir_failed || cfg->dir_failed;
    for (size_t i = 0; i < cfg->unit_count && !cfg->changed_all; i++)
        if (!cfg->units[i]->reused)
            s_unit_changed(ld, cfg->units[i]);
    for (size_t i = 0; previous && i < previous->unit_count && !cfg->changed_all; i++)
        if (previous->units[i])
            s_unit_changed(ld, previous->units[i]);
    /* a file that fails (or no longer fails) for another file's sake: a name defined again,
     * a plugin instance it cannot find */
    const cs_config_t *both[2] = {previous, cfg};
    for (int k = 0; k < 2 && !cfg->changed_all; k++)
        for (size_t i = 0; both[k] && i < both[k]->failed_count; i++)
            for (size_t j = 0; j < both[k]->failed[i].name_count; j++)
                s_changed(ld, both[k]->failed[i].names[j]);
}

/* No file changed: the directory takes over previous's merged result as it is. Its arena
 * (the merged arrays, the index) becomes ours and ours (this load's file names) previous's,
 * which stays readable as it was until it is destroyed; its units come back into its units
 * array, which is now ours too. */
static void s_take_over(cs_load_t *ld, cs_config_t *previous)
{
    cs_config_t *cfg = ld->cfg;
    cs_config_t **units = previous->units;
    for (size_t i = 0; i < cfg->unit_count; i++)
        units[i] = cfg->units[i];
    cs_arena_t *mine = cfg->arena;
    size_t unit_count = cfg->unit_count;
    *cfg = *previous;
    cfg->arena = previous->arena;
    cfg->units = units;
    cfg->unit_count = unit_count;
    cfg->changed = NULL;
    cfg->changed_count = cfg->changed_cap = 0;
    cfg->changed_all = false;
    previous->arena = mine;
    previous->unit_count = 0;
}

/* Whether a unit holds nothing that reaches beyond its own connections, so that its
 * connections are final as the unit parsed them: no error, no plugin instance, no options,
 * nothing ignored, no connection that names a plugin instance (plugin.LABEL), and none that
 * a directory's resolution set otherwise. */
static bool s_unit_plain(const cs_config_t *unit)
{
    if (unit->error_count || unit->failed_count || unit->plugin_count ||
        unit->plugin_options_file || unit->ignored_count || unit->database.declared ||
        unit->database.uncertain)
        return false;
    for (size_t i = 0; i < unit->count; i++)
        if (unit->connections[i].plugin_instance || unit->connections[i].resolved)
            return false;
    return true;
}

/* The first place of the index (sorted by name, count entries) whose name is not before
 * name. */
static size_t s_lower_bound(cs_connection_t *const *index, size_t count, const char *name)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(index[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int s_compare_conn_ptrs(const void *a, const void *b)
{
    return strcmp((*(const cs_connection_t *const *)a)->name,
                  (*(const cs_connection_t *const *)b)->name);
}

/* Files were edited, none added or removed, and neither the previous load nor the files
 * edited hold anything that reaches other files (see s_unit_plain): the directory's
 * connections are the units' arrays one after the other, and its index the previous index
 * with the edited files' entries taken out and theirs put in -- no sort, no resolution of
 * every connection again. Returns false (nothing done) when that does not hold: a full
 * merge then. */
static bool s_patch(cs_load_t *ld, const cs_config_t *previous)
{
    cs_config_t *cfg = ld->cfg;
    size_t n = cfg->unit_count;
    if (!previous || previous->dir_failed || !previous->by_name || previous->unit_count != n ||
        n < 2 || previous->error_count || previous->failed_count || previous->plugin_count ||
        previous->plugin_options_file || previous->ignored_count || previous->database.declared ||
        previous->database.uncertain)
        return false;
    size_t total = 0, changed = 0, added = 0;
    for (size_t i = 0; i < n; i++) {
        const cs_config_t *unit = cfg->units[i], *old = previous->units[i];
        if (unit->reused ? old != NULL
                         : !old || strcmp(old->source, unit->source) != 0 || !s_unit_plain(unit) ||
                               !s_unit_plain(old))
            return false;
        total += unit->count;
        if (!unit->reused) {
            changed++;
            added += unit->count;
        }
    }
    /* a name of an edited file defined in another file fails one of them: a full merge */
    for (size_t i = 0; i < n; i++) {
        const cs_config_t *unit = cfg->units[i];
        for (size_t j = 0; !unit->reused && j < unit->count; j++) {
            const cs_connection_t *there = cs_config_find(previous, unit->connections[j].name);
            if (there && there->file != previous->units[i]->source)
                return false;
        }
    }
    /* ... or in another edited file, or twice in one: a full merge, which fails one of them */
    const char **names = malloc((added + 1) * sizeof *names);
    if (!names) {
        ld->oom = true;
        return true;
    }
    size_t named = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; !cfg->units[i]->reused && j < cfg->units[i]->count; j++)
            names[named++] = cfg->units[i]->connections[j].name;
    qsort(names, added, sizeof *names, s_compare_strings);
    bool twice = false;
    for (size_t j = 1; j < added && !twice; j++)
        twice = strcmp(names[j - 1], names[j]) == 0;
    free(names);
    if (twice)
        return false;
    /* the previous load's segments of the edited files: where each starts and ends, and how
     * far the connections after it move (its new count less its old) */
    typedef struct {
        size_t start, end;
        ptrdiff_t shift;
    } s_edit_t;
    s_edit_t *edits = malloc((changed + 1) * sizeof *edits);
    cs_connection_t **fresh = malloc((added + 1) * sizeof *fresh);
    size_t *places = malloc((added + 1) * sizeof *places);
    cfg->connections = total ? cs_arena_alloc(cfg->arena, total * sizeof *cfg->connections) : NULL;
    cfg->by_name = cs_arena_alloc(cfg->arena, (total + 1) * sizeof *cfg->by_name);
    if (!edits || !fresh || !places || (total && !cfg->connections) || !cfg->by_name) {
        free(edits);
        free(fresh);
        free(places);
        ld->oom = true;
        return true;
    }
    /* the connections: each unit's array, one after the other */
    size_t at = 0, prev_at = 0, f = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        const cs_config_t *unit = cfg->units[i];
        size_t old_count = unit->reused ? unit->count : previous->units[i]->count;
        if (!unit->reused)
            edits[e++] = (s_edit_t){prev_at, prev_at + old_count,
                                    (ptrdiff_t)unit->count - (ptrdiff_t)old_count};
        if (unit->count)
            memcpy(cfg->connections + at, unit->connections,
                   unit->count * sizeof *unit->connections);
        for (size_t j = 0; !unit->reused && j < unit->count; j++)
            fresh[f++] = &cfg->connections[at + j];
        at += unit->count;
        prev_at += old_count;
        cfg->file_count += unit->file_count;
    }
    cfg->count = total;
    /* the index: the previous one's entries of unchanged files, moved, with the edited files'
     * entries put in at their places by name (found by bisection: no name compared per entry) */
    qsort(fresh, added, sizeof *fresh, s_compare_conn_ptrs);
    for (f = 0; f < added; f++)
        places[f] = s_lower_bound(previous->by_name, previous->count, fresh[f]->name);
    size_t out = 0;
    f = 0;
    for (size_t j = 0; j < previous->count; j++) {
        while (f < added && places[f] <= j)
            cfg->by_name[out++] = fresh[f++];
        ptrdiff_t pos = previous->by_name[j] - previous->connections, shift = 0;
        bool edited = false;
        for (size_t k = 0; k < e && !edited; k++) {
            if ((size_t)pos >= edits[k].end)
                shift += edits[k].shift;
            else if ((size_t)pos >= edits[k].start)
                edited = true;
            else
                break;
        }
        if (!edited)
            cfg->by_name[out++] = &cfg->connections[pos + shift];
    }
    while (f < added)
        cfg->by_name[out++] = fresh[f++];
    free(edits);
    free(fresh);
    free(places);
    return true;
}

/* Once a directory's connections are final: a unit's connections are its part of them from
 * now on (its array before, its own or a previous directory's, is not read again), or, when
 * its file failed in the directory, an array of its own (a later load may take it up again).
 * Returns false when out of memory. */
static bool s_settle_units(cs_config_t *cfg)
{
    size_t at = 0; /* the units' parts, in unit order: the failed files' are left out */
    for (size_t i = 0; i < cfg->unit_count; i++) {
        cs_config_t *unit = cfg->units[i];
        if (unit->count == 0)
            continue;
        if (!s_file_failed(cfg, unit->source)) {
            assert(at + unit->count <= cfg->count && cfg->connections[at].file == unit->source);
            unit->connections = cfg->connections + at;
            at += unit->count;
            free(unit->connections_owned);
            unit->connections_owned = NULL;
        } else if (!unit->connections_owned) {
            cs_connection_t *own = malloc(unit->count * sizeof *own);
            if (!own)
                return false;
            memcpy(own, unit->connections, unit->count * sizeof *own);
            unit->connections = unit->connections_owned = own;
        }
    }
    return true;
}

/* The names of dir's files that the loader reads, sorted (in the load's arena; *count of
 * them), or NULL with *count 0 when there are none. */
static char **s_dir_names(cs_load_t *ld, DIR *d, size_t *count)
{
    char **names = NULL;
    size_t cap = 0;
    struct dirent *entry;
    *count = 0;
    while ((entry = readdir(d)) != NULL) {
        if (!cs_config_file_name(entry->d_name))
            continue;
        size_t len = strlen(entry->d_name);
        char **grown = cs_load_grow(ld, names, *count, &cap, sizeof *grown);
        char *copy = cs_arena_strndup(ld->cfg->arena, entry->d_name, len);
        if (!grown || !copy) {
            ld->oom = true;
            break;
        }
        names = grown;
        names[(*count)++] = copy;
    }
    if (*count > 1)
        qsort(names, *count, sizeof *names, s_compare_strings);
    return names;
}

/* The name of a unit's file in dir (borrowed from its source), or NULL when its source is
 * not a file of dir as a load of dir names it. */
static const char *s_unit_name(const cs_config_t *unit, const char *dir, size_t dir_len, bool slash)
{
    if (!unit || !unit->source || strncmp(unit->source, dir, dir_len) != 0)
        return NULL;
    const char *name = unit->source + dir_len + !slash;
    return (slash || unit->source[dir_len] == '/') && *name && !strchr(name, '/') ? name : NULL;
}

/* The names of the files a load of dir reads when only the files touched (sorted names)
 * may have changed since previous: previous's files and those touched that exist, sorted,
 * each once (in the load's arena; *count of them). Returns false when previous's files
 * cannot be named so (the directory is then listed). */
static bool s_touched_names(cs_load_t *ld, const char *dir, const cs_config_t *previous,
                            const char *const *touched, size_t touched_count, char ***names_p,
                            size_t *count)
{
    size_t dir_len = strlen(dir);
    bool slash = dir_len && dir[dir_len - 1] == '/';
    char **names =
        cs_arena_alloc(ld->cfg->arena, (previous->unit_count + touched_count + 1) * sizeof *names);
    *names_p = names;
    *count = 0;
    if (!names) {
        ld->oom = true;
        return true;
    }
    size_t i = 0, t = 0;
    const char *last = NULL;
    while (i < previous->unit_count || t < touched_count) {
        const char *mine =
            i < previous->unit_count ? s_unit_name(previous->units[i], dir, dir_len, slash) : NULL;
        if (i < previous->unit_count && (!mine || (last && strcmp(last, mine) >= 0)))
            return false; /* not a file of dir, or out of order */
        int order = !mine ? 1 : t < touched_count ? strcmp(mine, touched[t]) : -1;
        const char *name = order <= 0 ? mine : touched[t];
        bool is_touched = order >= 0;
        if (order <= 0)
            i++;
        if (order >= 0)
            t++;
        if (is_touched) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s%s%s", dir, slash ? "" : "/", name);
            if (!cs_config_file_name(name) || stat(path, &st) != 0)
                continue; /* gone (or not the loader's): its unit, if any, is dropped */
        }
        if (last && strcmp(last, name) == 0)
            continue;
        if (!(names[*count] = cs_arena_strndup(ld->cfg->arena, name, strlen(name)))) {
            ld->oom = true;
            return true;
        }
        last = names[*count];
        (*count)++;
    }
    return true;
}

/* Whether name is one of the touched (sorted). */
static bool s_is_touched(const char *name, const char *const *touched, size_t touched_count)
{
    return touched &&
           bsearch(&name, touched, touched_count, sizeof *touched, s_compare_strings) != NULL;
}

/* A load of dir: every file of the directory looked at (touched NULL), or only those
 * touched (sorted names), previous's other files taken as they are. */
static cs_config_t *s_reload(const char *dir, cs_config_t *previous, const char *const *touched,
                             size_t touched_count)
{
    cs_load_t ld;
    cs_config_t *cfg = s_config_new(&ld);
    if (!cfg)
        return NULL;
    char **names = NULL;
    size_t count = 0;
    if (!touched || !s_touched_names(&ld, dir, previous, touched, touched_count, &names, &count)) {
        touched = NULL;
        DIR *d = opendir(dir);
        if (!d) {
            cs_load_error(&ld, (cs_pos_t){cs_load_strdup(&ld, dir), 0, 0},
                          "cannot open the config directory: %s", strerror(errno));
            cfg->dir_failed = true;
            cfg->changed_all = true; /* nothing is known: every name is looked at */
            return s_config_done(&ld);
        }
        names = s_dir_names(&ld, d, &count);
        closedir(d);
    }
    cfg->units = cs_arena_alloc(cfg->arena, (count ? count : 1) * sizeof *cfg->units);
    if (!cfg->units)
        ld.oom = true;
    bool slash = dir[0] && dir[strlen(dir) - 1] == '/';
    size_t cursor = 0;
    for (size_t i = 0; i < count && !ld.oom; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s%s", dir, slash ? "" : "/", names[i]);
        cs_config_t *unit = s_reuse(previous, &cursor, path,
                                    touched && !s_is_touched(names[i], touched, touched_count));
        if (!unit)
            unit = s_load_unit(path);
        if (!unit) {
            ld.oom = true;
            break;
        }
        cfg->units[cfg->unit_count++] = unit;
    }
    bool same = previous && !ld.oom && !previous->dir_failed && previous->by_name &&
                cfg->unit_count == previous->unit_count;
    for (size_t i = 0; same && i < cfg->unit_count; i++)
        same = cfg->units[i]->reused && !previous->units[i];
    if (same) {
        s_take_over(&ld, previous);
        return cfg;
    }
    if (!ld.oom && s_patch(&ld, previous)) {
        if (ld.oom || !s_settle_units(cfg)) {
            cs_config_destroy(&cfg);
            return NULL;
        }
        s_note_changed(&ld, previous);
        if (ld.oom)
            cfg->changed_all = true;
        return cfg;
    }
    /* The directory's connections in one array of their exact number: never grown. */
    size_t total = 0;
    for (size_t i = 0; i < cfg->unit_count; i++)
        total += cfg->units[i]->count;
    /* All of them in one unit's array of its own (one big file): the directory takes the
     * array over instead of a copy. (Should that file fail here, every connection of the
     * directory is its and none is moved: the unit's copy is taken from the array as it is.) */
    cs_config_t *sole = NULL;
    for (size_t i = 0; i < cfg->unit_count; i++)
        if (total && cfg->units[i]->count == total && cfg->units[i]->connections_owned)
            sole = cfg->units[i];
    if (sole && !ld.oom) {
        void *block = sole->connections_owned;
        sole->connections_owned = NULL;
        cfg->connections = cs_arena_adopt(cfg->arena, &block, total * sizeof *cfg->connections);
        cfg->count = total;
    } else if (total && !ld.oom) {
        cfg->connections = cs_arena_alloc(cfg->arena, total * sizeof *cfg->connections);
    }
    ld.conn_cap = total;
    if (total && !cfg->connections)
        ld.oom = true;
    for (size_t i = 0; i < cfg->unit_count && !ld.oom; i++)
        s_merge(&ld, cfg->units[i], cfg->units[i] != sole);
    if (!s_config_done(&ld))
        return NULL;
    if (!s_settle_units(cfg)) {
        cs_config_destroy(&cfg);
        return NULL;
    }
    s_note_changed(&ld, previous);
    if (ld.oom)
        cfg->changed_all = true; /* the names could not all be listed */
    return cfg;
}

cs_config_t *cs_config_reload_dir(const char *dir, cs_config_t *previous)
{
    return s_reload(dir, previous, NULL, 0);
}

cs_config_t *cs_config_reload_files(const char *dir, cs_config_t *previous,
                                    const char *const *files, size_t count)
{
    if (!previous || previous->dir_failed || !previous->by_name)
        return s_reload(dir, previous, NULL, 0);
    const char **sorted = malloc((count + 1) * sizeof *sorted);
    if (!sorted)
        return NULL;
    for (size_t i = 0; i < count; i++)
        sorted[i] = files[i];
    if (count > 1)
        qsort(sorted, count, sizeof *sorted, s_compare_strings);
    cs_config_t *cfg = s_reload(dir, previous, sorted, count);
    free(sorted);
    return cfg;
}

cs_config_t *cs_config_load_dir(const char *dir)
{
    return cs_config_reload_dir(dir, NULL);
}

/* ---- lookups --------------------------------------------------------------------------- */

static int s_find_name(const void *key, const void *item)
{
    return strcmp(key, (*(const cs_connection_t *const *)item)->name);
}

bool cs_config_file_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 4 && strcmp(name + len - 4, ".spc") == 0;
}

const cs_connection_t *cs_config_find(const cs_config_t *self, const char *name)
{
    if (!self->by_name)
        return NULL;
    cs_connection_t **found =
        bsearch(name, self->by_name, self->count, sizeof *self->by_name, s_find_name);
    return found ? *found : NULL;
}

bool cs_config_name_failed(const cs_config_t *self, const char *name)
{
    for (size_t i = 0; i < self->failed_count; i++)
        for (size_t j = 0; j < self->failed[i].name_count; j++)
            if (strcmp(self->failed[i].names[j], name) == 0)
                return true;
    return false;
}

const cs_config_error_t *cs_config_file_error(const cs_config_t *self, const char *path)
{
    for (size_t i = 0; i < self->error_count; i++)
        if (strcmp(self->errors[i].file, path) == 0)
            return &self->errors[i];
    return NULL;
}

bool cs_config_changes(const cs_config_t *self, void (*fn)(void *arg, const char *name), void *arg)
{
    if (self->changed_all || self->source)
        return true;
    for (size_t i = 0; fn && i < self->changed_count; i++)
        fn(arg, self->changed[i]);
    return false;
}

void cs_config_destroy(cs_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < (*self_p)->unit_count; i++)
        cs_config_destroy(&(*self_p)->units[i]);
    free((*self_p)->connections_owned);
    cs_arena_destroy(&(*self_p)->arena);
    free(*self_p);
    *self_p = NULL;
}

size_t cs_config_file_count(const cs_config_t *self)
{
    return self->unit_count;
}

const char *cs_config_file_path(const cs_config_t *self, size_t i)
{
    return i < self->unit_count && self->units[i] ? self->units[i]->source : NULL;
}

bool cs_config_file_changed(const cs_config_t *self, size_t i)
{
    return i < self->unit_count && self->units[i] && !self->units[i]->reused;
}

void cs_config_log_errors(const cs_config_t *self)
{
    for (size_t i = 0; i < self->error_count; i++) {
        const cs_config_error_t *e = &self->errors[i];
        bool fresh = self->unit_count == 0; /* the directory itself failed */
        for (size_t u = 0; u < self->unit_count && !fresh; u++)
            fresh = !self->units[u]->reused && self->units[u]->source == e->file;
        if (!fresh)
            continue;
        if (e->line > 0)
            cs_log_warn("config: %s:%d:%d: %s", e->file, e->line, e->col, e->message);
        else
            cs_log_warn("config: %s: %s", e->file, e->message);
    }
}
