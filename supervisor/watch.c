/* Schema watches: the files that dynamic schemas come from, as their plugins list them
 * (a schema's "watch"), watched with inotify by directory; a change of a matching file makes
 * its connections due for a refetch, debounced. A directory that does not exist yet is
 * watched through its nearest parent that does, until it appears. */
#include "supervisor.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define S_MASK                                                                                     \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define S_FILE_EVENTS                                                                              \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB)
#define S_SAID_MAX 4096 /* log lines remembered as said (then forgotten all at once) */

/* One connection's list, and its events waiting for the debounce (cs_clock_mono_ms; 0: none). */
typedef struct {
    char *name;
    char **entries; /* as its schema listed them (those that cannot be watched too) */
    size_t count;
    size_t bytes;
    unsigned gen; /* of its patterns: a new list's are added before the old ones go */
    int64_t first, last;
} s_conn_t;

/* An entry's last component in a directory, for one connection. */
typedef struct {
    s_conn_t *conn; /* borrowed from conns */
    char *pattern;
    unsigned gen; /* its connection's list it came from */
} s_pattern_t;

/* A directory: the patterns of the entries in it, and the missing directories in it whose
 * creation it is watched for. */
typedef struct {
    char *path;
    int wd;             /* -1: not watched */
    zlistx_t *patterns; /* s_pattern_t */
    zlistx_t *awaited;  /* char *: paths of missing child directories */
} s_dir_t;

struct cs_watch {
    int fd;
    zhashx_t *conns;   /* name -> s_conn_t */
    zhashx_t *pending; /* name -> s_conn_t (borrowed): events wait for the debounce */
    zhashx_t *dirs;    /* path -> s_dir_t */
    zhashx_t *by_wd;   /* wd as text -> zlistx_t of s_dir_t (borrowed): two paths may be one */
    size_t watched;    /* directories with a wd */
    size_t bytes;      /* of every list kept */
    zhashx_t *said;    /* log lines said once */
};

/* Logs a warning once (until S_SAID_MAX others were said). */
static void s_say_once(cs_watch_t *self, const char *connection, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_say_once(cs_watch_t *self, const char *connection, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char key[1200];
    snprintf(key, sizeof key, "%s\n%s", connection ? connection : "", line);
    if (zhashx_lookup(self->said, key))
        return;
    if (zhashx_size(self->said) >= S_SAID_MAX)
        zhashx_purge(self->said);
    zhashx_insert(self->said, key, (void *)1);
    if (connection)
        cs_log_conn_warn(connection, "%s", line);
    else
        cs_log_warn("%s", line);
}

/* ---- the pure parts ---------------------------------------------------------------------- */

static bool s_has_glob(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] == '*' || text[i] == '?' || text[i] == '[')
            return true;
    return false;
}

int cs_watch_split(const char *entry, char *dir, size_t size, const char **base, const char **why)
{
    const char *slash = strrchr(entry, '/');
    size_t len = slash ? (size_t)(slash - entry) : 0;
    if (entry[0] != '/')
        *why = "not an absolute path";
    else if (!slash[1])
        *why = "it ends in '/' (watch DIR/* for the files in DIR)";
    else if (s_has_glob(entry, len))
        *why = "a glob before its last component (only the last may be one)";
    else if (len + 2 > size)
        *why = "its directory is too long";
    else {
        if (len == 0)
            snprintf(dir, size, "/");
        else
            snprintf(dir, size, "%.*s", (int)len, entry);
        *base = slash + 1;
        return 0;
    }
    return -1;
}

bool cs_watch_match(const char *pattern, const char *name)
{
    if (!s_has_glob(pattern, strlen(pattern)))
        return strcmp(pattern, name) == 0;
    return fnmatch(pattern, name, FNM_PERIOD) == 0;
}

/* ---- construction ------------------------------------------------------------------------ */

static void s_conn_free(void **item)
{
    s_conn_t *conn = *item;
    if (!conn)
        return;
    for (size_t i = 0; i < conn->count; i++)
        free(conn->entries[i]);
    free(conn->entries);
    free(conn->name);
    free(conn);
    *item = NULL;
}

static void s_dir_free(void **item)
{
    s_dir_t *dir = *item;
    if (!dir)
        return;
    s_pattern_t *pattern;
    while ((pattern = zlistx_detach(dir->patterns, NULL)) != NULL) {
        free(pattern->pattern);
        free(pattern);
    }
    zlistx_destroy(&dir->patterns);
    char *child;
    while ((child = zlistx_detach(dir->awaited, NULL)) != NULL)
        free(child);
    zlistx_destroy(&dir->awaited);
    free(dir->path);
    free(dir);
    *item = NULL;
}

static void s_wd_list_free(void **item)
{
    zlistx_t *list = *item;
    zlistx_destroy(&list);
    *item = NULL;
}

cs_watch_t *cs_watch_new(void)
{
    cs_watch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conns = zhashx_new();
    self->pending = zhashx_new();
    self->dirs = zhashx_new();
    self->by_wd = zhashx_new();
    self->said = zhashx_new();
    zhashx_set_destructor(self->conns, s_conn_free);
    zhashx_set_destructor(self->dirs, s_dir_free);
    zhashx_set_destructor(self->by_wd, s_wd_list_free);
    self->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (self->fd < 0)
        cs_log_warn("schema watches are off: inotify: %s%s (dynamic schemas are fetched again "
                    "only by `connstate refresh`)",
                    strerror(errno),
                    errno == EMFILE ? "; raise it: sysctl fs.inotify.max_user_instances=N" : "");
    return self;
}

void cs_watch_destroy(cs_watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_watch_t *self = *self_p;
    zhashx_destroy(&self->by_wd);
    zhashx_destroy(&self->dirs);
    zhashx_destroy(&self->pending);
    zhashx_destroy(&self->conns);
    zhashx_destroy(&self->said);
    if (self->fd >= 0)
        close(self->fd);
    free(self);
    *self_p = NULL;
}

/* ---- directories ------------------------------------------------------------------------- */

static void s_wd_key(int wd, char *key, size_t size)
{
    snprintf(key, size, "%d", wd);
}

static zlistx_t *s_wd_dirs(const cs_watch_t *self, int wd)
{
    char key[16];
    s_wd_key(wd, key, sizeof key);
    return zhashx_lookup(self->by_wd, key);
}

/* A connection's files may have changed: due after the debounce. */
static void s_due(cs_watch_t *self, s_conn_t *conn, int64_t now)
{
    if (!conn->first) {
        conn->first = now;
        zhashx_update(self->pending, conn->name, conn);
    }
    conn->last = now;
}

/* Every connection with an entry in the directory is due. */
static void s_dir_due(cs_watch_t *self, s_dir_t *dir, int64_t now)
{
    for (s_pattern_t *p = zlistx_first(dir->patterns); p; p = zlistx_next(dir->patterns))
        s_due(self, p->conn, now);
}

static s_dir_t *s_dir_get(cs_watch_t *self, const char *path)
{
    s_dir_t *dir = zhashx_lookup(self->dirs, path);
    if (dir)
        return dir;
    dir = calloc(1, sizeof *dir);
    if (!dir || !(dir->path = strdup(path))) {
        free(dir);
        return NULL;
    }
    dir->wd = -1;
    dir->patterns = zlistx_new();
    dir->awaited = zlistx_new();
    zhashx_insert(self->dirs, path, dir);
    return dir;
}

/* The directory's watch goes (inotify's too unless another path shares it). */
static void s_unwatch(cs_watch_t *self, s_dir_t *dir, bool remove)
{
    if (dir->wd < 0)
        return;
    zlistx_t *list = s_wd_dirs(self, dir->wd);
    void *handle = list ? zlistx_find(list, dir) : NULL;
    if (handle)
        zlistx_delete(list, handle);
    if (list && zlistx_size(list) == 0) {
        char key[16];
        s_wd_key(dir->wd, key, sizeof key);
        zhashx_delete(self->by_wd, key);
        if (remove)
            inotify_rm_watch(self->fd, dir->wd);
    }
    dir->wd = -1;
    self->watched--;
}

static void s_parent_path(const char *path, char *parent, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        snprintf(parent, size, "/");
    else
        snprintf(parent, size, "%.*s", (int)(slash - path), path);
}

static void s_dir_watch(cs_watch_t *self, s_dir_t *dir, int64_t now, int depth);
static void s_children_watch(cs_watch_t *self, s_dir_t *dir, int64_t now, int depth);

/* A missing directory is watched for through its parent (which is watched in turn, or
 * through its own parent). */
static void s_await(cs_watch_t *self, s_dir_t *dir, int64_t now, int depth)
{
    char parent_path[CS_PROTO_MAX_WATCH_PATH + 2];
    s_parent_path(dir->path, parent_path, sizeof parent_path);
    if (strcmp(parent_path, dir->path) == 0)
        return;
    s_dir_t *parent = s_dir_get(self, parent_path);
    if (!parent)
        return;
    bool listed = false;
    for (char *c = zlistx_first(parent->awaited); c && !listed; c = zlistx_next(parent->awaited))
        listed = strcmp(c, dir->path) == 0;
    char *copy = listed ? NULL : strdup(dir->path);
    if (copy)
        zlistx_add_end(parent->awaited, copy);
    if (parent->wd < 0)
        s_dir_watch(self, parent, now, depth + 1);
}

/* Watches a directory (a new watch after it appeared: its connections are due, and its own
 * missing children are tried). Logs once what it cannot watch. */
static void s_dir_watch(cs_watch_t *self, s_dir_t *dir, int64_t now, int depth)
{
    if (dir->wd >= 0 || self->fd < 0 || depth > 64)
        return;
    if (self->watched >= CS_WATCH_DIRS_MAX) {
        s_say_once(self, NULL,
                   "not watched: %s and further directories: more than %d directories are "
                   "watched (their connections are fetched again only by `connstate refresh`)",
                   dir->path, CS_WATCH_DIRS_MAX);
        return;
    }
    int wd = inotify_add_watch(self->fd, dir->path, S_MASK);
    if (wd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
        cs_log_debug("watch: %s does not exist (yet): watching its parent", dir->path);
        s_await(self, dir, now, depth);
        return;
    }
    if (wd < 0) {
        s_say_once(self, NULL, "not watched: %s: %s%s", dir->path, strerror(errno),
                   errno == ENOSPC ? " (the inotify watch limit: raise it with sysctl "
                                     "fs.inotify.max_user_watches=N)"
                                   : "");
        return;
    }
    char key[16];
    s_wd_key(wd, key, sizeof key);
    zlistx_t *list = zhashx_lookup(self->by_wd, key);
    if (!list) {
        list = zlistx_new();
        zhashx_insert(self->by_wd, key, list);
    }
    zlistx_add_end(list, dir);
    dir->wd = wd;
    self->watched++;
    if (depth > 0) /* it appeared since its entries were set */
        s_dir_due(self, dir, now);
    s_children_watch(self, dir, now, depth);
}

/* The missing children awaited in a directory that is watched now: tried again (they may
 * have been made meanwhile: mkdir -p). Over a copy of their paths: watching one edits lists. */
static void s_children_watch(cs_watch_t *self, s_dir_t *dir, int64_t now, int depth)
{
    size_t n = zlistx_size(dir->awaited), i = 0;
    char **paths = n ? calloc(n, sizeof *paths) : NULL;
    for (char *c = zlistx_first(dir->awaited); paths && c && i < n; c = zlistx_next(dir->awaited))
        paths[i++] = strdup(c);
    for (size_t j = 0; j < i; j++) {
        s_dir_t *child = paths[j] ? zhashx_lookup(self->dirs, paths[j]) : NULL;
        if (child && child->wd < 0)
            s_dir_watch(self, child, now, depth + 1);
        free(paths[j]);
    }
    free(paths);
}

/* A directory that no entry and no awaited child needs any more goes (and is no longer
 * awaited in its parent, which may go in turn). */
static void s_dir_tidy(cs_watch_t *self, s_dir_t *dir)
{
    while (dir && zlistx_size(dir->patterns) == 0 && zlistx_size(dir->awaited) == 0) {
        char parent_path[CS_PROTO_MAX_WATCH_PATH + 2], path[CS_PROTO_MAX_WATCH_PATH + 2];
        snprintf(path, sizeof path, "%s", dir->path);
        s_parent_path(path, parent_path, sizeof parent_path);
        s_unwatch(self, dir, true);
        zhashx_delete(self->dirs, path);
        dir = strcmp(parent_path, path) != 0 ? zhashx_lookup(self->dirs, parent_path) : NULL;
        if (!dir)
            return;
        for (char *c = zlistx_first(dir->awaited); c; c = zlistx_next(dir->awaited)) {
            if (strcmp(c, path) == 0) {
                zlistx_delete(dir->awaited, zlistx_cursor(dir->awaited));
                free(c);
                break;
            }
        }
    }
}

/* ---- lists ------------------------------------------------------------------------------- */

/* Takes a connection's patterns but those of generation keep out of the directories of its
 * entries (a directory no longer needed goes). */
static void s_conn_unindex(cs_watch_t *self, s_conn_t *conn, unsigned keep)
{
    char dir_path[CS_PROTO_MAX_WATCH_PATH + 2];
    const char *base, *why;
    for (size_t i = 0; i < conn->count; i++) {
        if (cs_watch_split(conn->entries[i], dir_path, sizeof dir_path, &base, &why) != 0)
            continue;
        s_dir_t *dir = zhashx_lookup(self->dirs, dir_path);
        if (!dir)
            continue;
        s_pattern_t *p = zlistx_first(dir->patterns);
        while (p) {
            s_pattern_t *next = zlistx_next(dir->patterns);
            if (p->conn == conn && p->gen != keep) {
                zlistx_delete(dir->patterns, zlistx_find(dir->patterns, p));
                free(p->pattern);
                free(p);
            }
            p = next;
        }
        s_dir_tidy(self, dir);
    }
}

/* Forgets a connection's entries (and their patterns but those of generation keep). */
static void s_conn_clear(cs_watch_t *self, s_conn_t *conn, unsigned keep)
{
    s_conn_unindex(self, conn, keep);
    for (size_t i = 0; i < conn->count; i++)
        free(conn->entries[i]);
    free(conn->entries);
    conn->entries = NULL;
    conn->count = 0;
    self->bytes -= conn->bytes;
    conn->bytes = 0;
}

void cs_watch_set(cs_watch_t *self, const char *connection, char *const *entries, size_t count)
{
    s_conn_t *conn = zhashx_lookup(self->conns, connection);
    if (!conn) {
        conn = calloc(1, sizeof *conn);
        if (!conn || !(conn->name = strdup(connection))) {
            free(conn);
            cs_log_conn_error(connection, "out of memory: its files are not watched");
            return;
        }
        zhashx_insert(self->conns, connection, conn);
    }
    bool same = conn->count == count;
    for (size_t i = 0; same && i < count; i++)
        same = strcmp(conn->entries[i], entries[i]) == 0;
    if (same)
        return; /* as watched: no watch is removed and made again (no event may slip by) */
    size_t bytes = 0;
    for (size_t i = 0; i < count; i++)
        bytes += strlen(entries[i]) + 1;
    char **kept = count ? calloc(count, sizeof *kept) : NULL;
    if (self->bytes - conn->bytes + bytes > CS_WATCH_BYTES_MAX || (count && !kept)) {
        s_say_once(self, connection,
                   "its files are not watched: the watch lists of all connections would hold "
                   "more than %u MiB (it is fetched again only by `connstate refresh`)",
                   CS_WATCH_BYTES_MAX >> 20);
        free(kept);
        s_conn_clear(self, conn, conn->gen + 1);
        return;
    }
    /* The new list's patterns first, then the old ones go: a directory in both stays
     * watched throughout. */
    unsigned gen = conn->gen + 1;
    size_t kept_count = 0, kept_bytes = 0;
    int64_t now = cs_clock_mono_ms();
    char dir_path[CS_PROTO_MAX_WATCH_PATH + 2];
    for (size_t i = 0; i < count; i++) {
        const char *base, *why;
        char *entry = strdup(entries[i]);
        if (!entry) {
            cs_log_conn_error(connection, "out of memory: \"%.300s\" is not watched", entries[i]);
            continue;
        }
        kept[kept_count++] = entry;
        kept_bytes += strlen(entry) + 1;
        if (cs_watch_split(entry, dir_path, sizeof dir_path, &base, &why) != 0) {
            s_say_once(self, connection, "not watched: \"%.300s\": %s", entry, why);
            continue;
        }
        s_dir_t *dir = s_dir_get(self, dir_path);
        s_pattern_t *p = dir ? calloc(1, sizeof *p) : NULL;
        if (!p || !(p->pattern = strdup(base))) {
            free(p);
            cs_log_conn_error(connection, "out of memory: \"%.300s\" is not watched", entry);
            continue;
        }
        p->conn = conn;
        p->gen = gen;
        zlistx_add_end(dir->patterns, p);
        s_dir_watch(self, dir, now, 0);
    }
    s_conn_clear(self, conn, gen);
    conn->gen = gen;
    conn->entries = kept;
    conn->count = kept_count;
    conn->bytes = kept_bytes;
    self->bytes += kept_bytes;
}

void cs_watch_forget(cs_watch_t *self, const char *connection)
{
    s_conn_t *conn = zhashx_lookup(self->conns, connection);
    if (!conn)
        return;
    s_conn_clear(self, conn, conn->gen + 1);
    zhashx_delete(self->pending, connection);
    zhashx_delete(self->conns, connection);
}

bool cs_watch_known(const cs_watch_t *self, const char *connection)
{
    return zhashx_lookup(self->conns, connection) != NULL;
}

/* ---- events ------------------------------------------------------------------------------ */

/* A directory's own watch ended (deleted, moved, unmounted): its connections are due, and it
 * is watched again by its path (or through its parent until it is back). */
static void s_dir_lost(cs_watch_t *self, s_dir_t *dir, bool moved, int64_t now)
{
    s_dir_due(self, dir, now);
    s_unwatch(self, dir, moved); /* a deleted one's watch is gone already */
    s_dir_watch(self, dir, now, 1);
}

static void s_on_event(cs_watch_t *self, const struct inotify_event *event, int64_t now)
{
    if (event->mask & IN_Q_OVERFLOW) {
        cs_log_warn("schema watches: events were lost (inotify queue overflow): every watched "
                    "connection is fetched again");
        for (s_conn_t *conn = zhashx_first(self->conns); conn; conn = zhashx_next(self->conns))
            if (conn->count)
                s_due(self, conn, now);
        return;
    }
    zlistx_t *list = s_wd_dirs(self, event->wd);
    if (!list)
        return; /* a watch removed meanwhile */
    size_t n = zlistx_size(list), i = 0;
    s_dir_t **dirs = calloc(n ? n : 1, sizeof *dirs); /* handling one may edit the list */
    for (s_dir_t *d = zlistx_first(list); dirs && d && i < n; d = zlistx_next(list))
        dirs[i++] = d;
    for (size_t k = 0; k < i; k++) {
        s_dir_t *dir = dirs[k];
        if (event->mask & (IN_IGNORED | IN_MOVE_SELF)) {
            s_dir_lost(self, dir, (event->mask & IN_MOVE_SELF) != 0, now);
            continue;
        }
        if (!event->len || !(event->mask & S_FILE_EVENTS))
            continue;
        for (s_pattern_t *p = zlistx_first(dir->patterns); p; p = zlistx_next(dir->patterns))
            if (cs_watch_match(p->pattern, event->name))
                s_due(self, p->conn, now);
        if ((event->mask & IN_ISDIR) && (event->mask & (IN_CREATE | IN_MOVED_TO)) &&
            zlistx_size(dir->awaited)) {
            char child_path[CS_PROTO_MAX_WATCH_PATH + 2];
            snprintf(child_path, sizeof child_path, "%s%s%s", dir->path,
                     strcmp(dir->path, "/") ? "/" : "", event->name);
            s_dir_t *child = zhashx_lookup(self->dirs, child_path);
            if (child && child->wd < 0)
                s_dir_watch(self, child, now, 1);
        }
    }
    free(dirs);
}

void cs_watch_on_readable(cs_watch_t *self)
{
    if (self->fd < 0)
        return;
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int64_t now = cs_clock_mono_ms();
    ssize_t got;
    while ((got = read(self->fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + got;) {
            const struct inotify_event *event = (const struct inotify_event *)p;
            s_on_event(self, event, now);
            p += sizeof *event + event->len;
        }
    }
}

int cs_watch_fd(const cs_watch_t *self)
{
    return self->fd;
}

static int64_t s_due_at(const s_conn_t *conn)
{
    int64_t quiet = conn->last + CS_WATCH_QUIET_MS, most = conn->first + CS_WATCH_MAX_MS;
    return quiet < most ? quiet : most;
}

int64_t cs_watch_next_ms(const cs_watch_t *self)
{
    int64_t now = cs_clock_mono_ms(), next = -1;
    for (s_conn_t *conn = zhashx_first(self->pending); conn; conn = zhashx_next(self->pending)) {
        int64_t in = s_due_at(conn) - now;
        if (in < 0)
            in = 0;
        if (next < 0 || in < next)
            next = in;
    }
    return next;
}

void cs_watch_take_due(cs_watch_t *self, int64_t now,
                       void (*due)(void *arg, const char *connection), void *arg)
{
    if (zhashx_size(self->pending) == 0)
        return;
    zlistx_t *ready = zlistx_new();
    for (s_conn_t *conn = zhashx_first(self->pending); conn; conn = zhashx_next(self->pending))
        if (s_due_at(conn) <= now)
            zlistx_add_end(ready, conn);
    for (s_conn_t *conn = zlistx_first(ready); conn; conn = zlistx_next(ready)) {
        conn->first = conn->last = 0;
        zhashx_delete(self->pending, conn->name);
        due(arg, conn->name);
    }
    zlistx_destroy(&ready);
}

size_t cs_watch_dirs(const cs_watch_t *self)
{
    return self->watched;
}
