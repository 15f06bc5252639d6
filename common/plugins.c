/* The plugins' info (version, schema mode): cached per plugin file and asked again only
 * when the file changes. The supervisor asks without blocking, by a thread each (which says
 * it is done through a pipe that the event loop polls), so that a plugin that takes long
 * (up to --plugin-timeout) never stops its event loop; the thread touches only its s_ask_t.
 * A worker asks at once. */
#include "common.h"

#include "cs_plugins.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_ASKS_MAX 16 /* plugins asked at once; more wait for a free thread */

/* What one thread asks and answers; the main thread reads it once the thread wrote to its
 * pipe (and was joined). */
typedef struct {
    pthread_t thread;
    int pipe[2]; /* [0]: polled by the event loop, [1]: written once by the thread */
    char path[PATH_MAX];
    int timeout_ms;
    int rc;
    cs_plugin_info_t info;
    char why[512];
} s_ask_t;

typedef struct {
    char *name;
    bool known; /* asked for the file as it is (mtime, size): ok or why holds */
    bool ok;
    uint64_t checked; /* the generation that last looked at its file */
    cs_plugin_info_t info;
    char why[512];
    struct timespec mtime;
    off_t size;
    s_ask_t *ask;              /* asking now */
    struct timespec ask_mtime; /* the file as it was when the ask started */
    off_t ask_size;
} s_plugin_t;

struct cs_plugins {
    char *plugin_dir;
    int timeout_ms;
    zhashx_t *by_name; /* name -> s_plugin_t */
    size_t asking;
};

/* Waits for the ask's thread (it ends within the plugin timeout) and frees it. */
static void s_ask_end(s_ask_t **ask_p)
{
    s_ask_t *ask = *ask_p;
    if (!ask)
        return;
    pthread_join(ask->thread, NULL);
    close(ask->pipe[0]);
    close(ask->pipe[1]);
    free(ask);
    *ask_p = NULL;
}

static void s_plugin_free(void **item)
{
    s_plugin_t *plugin = *item;
    if (!plugin)
        return;
    s_ask_end(&plugin->ask); /* waits for a running ask (bounded by its timeout) */
    free(plugin->name);
    free(plugin);
    *item = NULL;
}

cs_plugins_t *cs_plugins_new(const char *plugin_dir, int timeout_ms)
{
    cs_plugins_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->plugin_dir = strdup(plugin_dir);
    self->timeout_ms = timeout_ms;
    self->by_name = zhashx_new();
    if (!self->plugin_dir || !self->by_name) {
        cs_plugins_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->by_name, s_plugin_free);
    return self;
}

void cs_plugins_destroy(cs_plugins_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_plugins_t *self = *self_p;
    zhashx_destroy(&self->by_name);
    free(self->plugin_dir);
    free(self);
    *self_p = NULL;
}

/* The thread: runs `PLUGIN info` (blocking, bounded by the timeout), then says so on its
 * pipe. Signals stay with the main thread. */
static void *s_ask_thread(void *arg)
{
    s_ask_t *ask = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    ask->rc = cs_plugin_info(ask->path, ask->timeout_ms, &ask->info, ask->why, sizeof ask->why,
                             NULL, NULL);
    ssize_t n;
    do
        n = write(ask->pipe[1], "", 1);
    while (n < 0 && errno == EINTR);
    return NULL;
}

static void s_ask_start(cs_plugins_t *self, s_plugin_t *plugin, const char *path,
                        const struct stat *st)
{
    if (plugin->ask || self->asking >= S_ASKS_MAX)
        return;
    s_ask_t *ask = calloc(1, sizeof *ask);
    if (!ask)
        return;
    if (pipe2(ask->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        cs_log_warn("cannot ask plugin %s: pipe: %s", plugin->name, strerror(errno));
        free(ask);
        return;
    }
    snprintf(ask->path, sizeof ask->path, "%s", path);
    ask->timeout_ms = self->timeout_ms;
    int rc = pthread_create(&ask->thread, NULL, s_ask_thread, ask);
    if (rc != 0) {
        cs_log_warn("cannot ask plugin %s: thread: %s", plugin->name, strerror(rc));
        close(ask->pipe[0]);
        close(ask->pipe[1]);
        free(ask);
        return;
    }
    plugin->ask = ask;
    plugin->ask_mtime = st->st_mtim;
    plugin->ask_size = st->st_size;
    self->asking++;
    cs_log_debug("asking plugin %s for its info", plugin->name);
}

/* The entry of a plugin, created when missing (NULL when out of memory). */
static s_plugin_t *s_plugin(cs_plugins_t *self, const char *name)
{
    s_plugin_t *plugin = zhashx_lookup(self->by_name, name);
    if (plugin)
        return plugin;
    plugin = calloc(1, sizeof *plugin);
    if (!plugin || !(plugin->name = strdup(name))) {
        free(plugin);
        return NULL;
    }
    zhashx_insert(self->by_name, name, plugin);
    return plugin;
}

/* Looks at a plugin's file: false when it is there, new or changed since it was asked (st
 * and path filled: it is to be asked); true when what is known stands (a missing file is
 * known as such). */
static bool s_file_known(cs_plugins_t *self, s_plugin_t *plugin, struct stat *st, char *path,
                         size_t size)
{
    snprintf(path, size, "%s/%s", self->plugin_dir, plugin->name);
    if (stat(path, st) != 0) {
        plugin->known = true;
        plugin->ok = false;
        memset(&plugin->mtime, 0, sizeof plugin->mtime);
        snprintf(plugin->why, sizeof plugin->why, "plugin \"%s\" not found in %s", plugin->name,
                 self->plugin_dir);
        return true;
    }
    return plugin->known && plugin->size == st->st_size &&
           plugin->mtime.tv_sec == st->st_mtim.tv_sec &&
           plugin->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

cs_plugin_state_t cs_plugins_lookup(cs_plugins_t *self, const char *name, uint64_t generation,
                                    const cs_plugin_info_t **info, const char **why)
{
    s_plugin_t *plugin = s_plugin(self, name);
    if (!plugin) {
        *why = "out of memory";
        return CS_PLUGIN_FAILED;
    }
    *info = &plugin->info;
    *why = plugin->why;
    if (plugin->ask)
        return CS_PLUGIN_ASKING;
    if (plugin->checked != generation) { /* look at its file once per generation */
        plugin->checked = generation;
        char path[PATH_MAX];
        struct stat st;
        if (!s_file_known(self, plugin, &st, path, sizeof path)) {
            plugin->known = false;
            s_ask_start(self, plugin, path, &st);
            return CS_PLUGIN_ASKING;
        }
    }
    if (!plugin->known)
        return CS_PLUGIN_ASKING; /* waits for a free thread: the next generation starts it */
    return plugin->ok ? CS_PLUGIN_KNOWN : CS_PLUGIN_FAILED;
}

int cs_plugins_pollitems(cs_plugins_t *self, zmq_pollitem_t *items, int max)
{
    int n = 0;
    for (s_plugin_t *plugin = zhashx_first(self->by_name); plugin && n < max;
         plugin = zhashx_next(self->by_name))
        if (plugin->ask)
            items[n++] = (zmq_pollitem_t){NULL, plugin->ask->pipe[0], ZMQ_POLLIN, 0};
    return n;
}

size_t cs_plugins_collect(cs_plugins_t *self)
{
    size_t finished = 0;
    for (s_plugin_t *plugin = zhashx_first(self->by_name); plugin;
         plugin = zhashx_next(self->by_name)) {
        char byte;
        if (!plugin->ask || read(plugin->ask->pipe[0], &byte, 1) != 1)
            continue; /* not asking, or not done yet */
        s_ask_t *ask = plugin->ask;
        plugin->known = true;
        plugin->ok = ask->rc == 0;
        plugin->info = ask->info;
        snprintf(plugin->why, sizeof plugin->why, "%s", ask->why);
        plugin->mtime = plugin->ask_mtime;
        plugin->size = plugin->ask_size;
        plugin->checked = 0; /* look at the file again: it may have changed meanwhile */
        if (!plugin->ok)
            cs_log_warn("%s", plugin->why);
        else
            cs_log_debug("plugin %s: version %s, %s schema", plugin->name, plugin->info.version,
                         plugin->info.mode);
        s_ask_end(&plugin->ask);
        self->asking--;
        finished++;
    }
    return finished;
}

size_t cs_plugins_asking(const cs_plugins_t *self)
{
    return self->asking;
}

cs_plugin_state_t cs_plugins_get(cs_plugins_t *self, const char *name, cs_plugin_tick_fn *tick,
                                 void *tick_arg, const cs_plugin_info_t **info, const char **why)
{
    s_plugin_t *plugin = s_plugin(self, name);
    if (!plugin) {
        *why = "out of memory";
        return CS_PLUGIN_FAILED;
    }
    *info = &plugin->info;
    *why = plugin->why;
    char path[PATH_MAX];
    struct stat st;
    if (!s_file_known(self, plugin, &st, path, sizeof path)) {
        plugin->ok = cs_plugin_info(path, self->timeout_ms, &plugin->info, plugin->why,
                                    sizeof plugin->why, tick, tick_arg) == 0;
        plugin->known = plugin->ok; /* a failure is asked again next time */
        plugin->mtime = st.st_mtim;
        plugin->size = st.st_size;
    }
    return plugin->ok ? CS_PLUGIN_KNOWN : CS_PLUGIN_FAILED;
}
