/* Running plugins with a deadline, and validating their info and schema output. */
#include "common.h"

#include "cs_marker.h"
#include "cs_plugin.h"
#include "cs_proto.h"
#include "cs_secrets.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The last non-empty lines of a plugin's stderr, at most ~300 bytes, on one line. The
 * secrets are masked in all that was kept before it is cut (cut_start: the start of what
 * was kept was cut from more), so that no part of a secret survives the cut. */
static void s_stderr_tail(const cs_buf_t *err, bool cut_start, const cs_secrets_t *secrets,
                          char *out, size_t size)
{
    size_t len = 0;
    char *text = cs_secrets_mask(secrets, cs_buf_str(err), err->len,
                                 cut_start ? CS_SECRETS_CUT_START : 0, &len);
    if (!text) {
        snprintf(out, size, "(its stderr is withheld: out of memory)");
        return;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    size_t start = len > 300 ? len - 300 : 0;
    const char *nl = memchr(text + start, '\n', len - start);
    if (start && nl)
        start = (size_t)(nl - text) + 1;
    size_t n = 0;
    for (size_t i = start; i < len && n + 1 < size; i++)
        out[n++] = text[i] == '\n' || text[i] == '\0' ? ' ' : text[i];
    out[n] = '\0';
    free(text);
    cs_utf8_sanitize(out);
}

/* Reads what is available on fd into buf (up to limit bytes; the rest is discarded).
 * Returns 0 at end of file, 1 when more may come. */
static int s_drain(int fd, cs_buf_t *buf, size_t limit, bool *overflow)
{
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        return 0;
    if (n > 0) {
        size_t room = buf->len < limit ? limit - buf->len : 0;
        if ((size_t)n > room && overflow)
            *overflow = true;
        cs_buf_append(buf, chunk, (size_t)n < room ? (size_t)n : room);
    }
    return 1;
}

/* Like s_drain, but keeps the last limit bytes (the end of stderr says what went wrong);
 * *cut tells that older bytes were dropped. */
static int s_drain_tail(int fd, cs_buf_t *buf, size_t limit, bool *cut)
{
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        return 0;
    if (n <= 0)
        return 1;
    const char *data = chunk;
    size_t len = (size_t)n;
    if (len > limit) {
        data += len - limit;
        len = limit;
        *cut = true;
    }
    if (buf->len + len > limit) {
        size_t drop = buf->len + len - limit;
        memmove(buf->data, buf->data + drop, buf->len - drop);
        buf->len -= drop;
        *cut = true;
    }
    cs_buf_append(buf, data, len);
    return 1;
}

void cs_plugin_limit_prefix(cs_buf_t *out, uint32_t memory_max_mb)
{
    unsigned long long kib = (unsigned long long)memory_max_mb * 1024;
    cs_buf_printf(out,
                  "ulimit -v %llu || { echo 'cannot limit the plugin to memory_max_mb = %u' >&2; "
                  "exit 126; }; ",
                  kib, memory_max_mb);
}

int cs_plugin_env_secrets(cs_secrets_t *secrets, const char *const *env, size_t env_count)
{
    for (size_t i = 0; i < env_count; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq)
            continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
        size_t len = strlen(eq + 1);
        if ((len >= 4 || cs_secrets_name_is_secret(name)) &&
            cs_secrets_add(secrets, eq + 1, len) != 0)
            return -1;
    }
    return 0;
}

int cs_plugin_settings_check(int64_t memory_max_mb, const char *const *env, size_t env_count,
                             char *why, size_t why_size)
{
    if (memory_max_mb < 0 || memory_max_mb > CS_PROTO_MAX_MEMORY_MB) {
        snprintf(why, why_size, "memory_max_mb must be 0 (no limit) to %u (MiB)",
                 CS_PROTO_MAX_MEMORY_MB);
        return -1;
    }
    if (env_count > CS_PROTO_MAX_ENV) {
        snprintf(why, why_size, "env has %zu entries: at most %d", env_count, CS_PROTO_MAX_ENV);
        return -1;
    }
    for (size_t i = 0; i < env_count; i++) {
        size_t len = strlen(env[i]), name = strcspn(env[i], "=");
        if (!cs_env_entry_valid(env[i], len)) {
            snprintf(why, why_size,
                     "env entry %zu: its name must be 1 to %d characters of [A-Za-z0-9_], not "
                     "starting with a digit",
                     i + 1, CS_PROTO_MAX_ENV_NAME);
            return -1;
        }
        if (len > CS_PROTO_MAX_ENV_ENTRY || !cs_utf8_valid(env[i], len)) {
            snprintf(why, why_size,
                     "env %.*s: its value must be UTF-8, and NAME=VALUE at most %d bytes",
                     (int)name, env[i], CS_PROTO_MAX_ENV_ENTRY);
            return -1;
        }
    }
    return 0;
}

/* Whether entry ("NAME=VALUE") sets the variable that name ("NAME=...") names. */
static bool s_env_same_name(const char *entry, const char *name)
{
    size_t len = strcspn(name, "=");
    return strncmp(entry, name, len) == 0 && entry[len] == '=';
}

/* The environment of a run with settings: the inherited one without the names that the
 * settings set, then the settings' entries, then GOMEMLIMIT (the Go runtime's soft limit, as
 * Steampipe sets it) under a memory limit, unless env sets it. The array is malloc'd (the
 * caller frees it, not its strings, which are borrowed, except gomemlimit's buffer). */
static char **s_environment(const cs_plugin_settings_t *settings, char *gomemlimit, size_t size)
{
    size_t inherited = 0;
    while (environ[inherited])
        inherited++;
    char **envp = calloc(inherited + settings->env_count + 2, sizeof *envp);
    if (!envp)
        return NULL;
    bool own_gomemlimit = false;
    for (size_t i = 0; i < settings->env_count; i++)
        own_gomemlimit |= s_env_same_name("GOMEMLIMIT=", settings->env[i]);
    snprintf(gomemlimit, size, "GOMEMLIMIT=%uMiB", settings->memory_max_mb);
    bool set_gomemlimit = settings->memory_max_mb && !own_gomemlimit;
    size_t n = 0;
    for (size_t i = 0; i < inherited; i++) {
        bool replaced = set_gomemlimit && s_env_same_name(environ[i], gomemlimit);
        for (size_t j = 0; j < settings->env_count && !replaced; j++)
            replaced = s_env_same_name(environ[i], settings->env[j]);
        if (!replaced)
            envp[n++] = environ[i];
    }
    for (size_t j = 0; j < settings->env_count; j++)
        envp[n++] = (char *)settings->env[j];
    if (set_gomemlimit)
        envp[n++] = gomemlimit;
    envp[n] = NULL;
    return envp;
}

int cs_plugin_run(char *const argv[], const char *input, size_t input_len,
                  const cs_secrets_t *secrets, const cs_plugin_settings_t *settings, int timeout_ms,
                  cs_buf_t *out, char *why, size_t why_size, cs_plugin_tick_fn *tick,
                  void *tick_arg)
{
    if (access(argv[0], X_OK) != 0) {
        snprintf(why, why_size, "plugin %s not found or not executable: %s", argv[0],
                 strerror(errno));
        return -1;
    }
    uint32_t limit_mb = settings ? settings->memory_max_mb : 0;
    char gomemlimit[64];
    char **envp = settings ? s_environment(settings, gomemlimit, sizeof gomemlimit) : environ;
    /* Under a limit: sh -c 'ulimit -v KIB ...; exec "$0" "$@"' PLUGIN ARGS... */
    size_t argc = 0;
    while (argv[argc])
        argc++;
    char **wrapped = limit_mb ? calloc(argc + 4, sizeof *wrapped) : NULL;
    cs_buf_t command = {0};
    if (limit_mb && wrapped) {
        cs_plugin_limit_prefix(&command, limit_mb);
        cs_buf_puts(&command, "exec \"$0\" \"$@\"");
        wrapped[0] = "/bin/sh";
        wrapped[1] = "-c";
        wrapped[2] = (char *)cs_buf_str(&command);
        memcpy(wrapped + 3, argv, (argc + 1) * sizeof *argv);
    }
    if (!envp || (limit_mb && (!wrapped || command.failed))) {
        snprintf(why, why_size, "cannot run plugin %s: out of memory", argv[0]);
        if (envp != environ)
            free(envp);
        free(wrapped);
        cs_buf_free(&command);
        return -1;
    }
    int in[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
        snprintf(why, why_size, "cannot run plugin %s: pipe: %s", argv[0], strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            if (pout[i] >= 0)
                close(pout[i]);
            if (perr[i] >= 0)
                close(perr[i]);
        }
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, pout[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, perr[1], STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    /* its own process group, so that a timeout kills whatever it started as well */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid;
    int rc = wrapped ? posix_spawn(&pid, wrapped[0], &actions, &attr, wrapped, envp)
                     : posix_spawn(&pid, argv[0], &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (envp != environ)
        free(envp);
    free(wrapped);
    cs_buf_free(&command);
    close(in[0]);
    close(pout[1]);
    close(perr[1]);
    if (rc != 0) {
        snprintf(why, why_size, "cannot run plugin %s: %s", argv[0], strerror(rc));
        close(in[1]);
        close(pout[0]);
        close(perr[0]);
        return -1;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(pout[0], F_SETFL, O_NONBLOCK);
    fcntl(perr[0], F_SETFL, O_NONBLOCK);

    cs_buf_t err = {0};
    size_t written = 0;
    bool out_open = true, err_open = true, overflow = false, timed_out = false, err_cut = false,
         stopped = false;
    int in_fd = in[1];
    if (input_len == 0) {
        close(in_fd);
        in_fd = -1;
    }
    int64_t deadline = cs_clock_mono_ms() + timeout_ms;
    while (out_open || err_open) {
        struct pollfd fds[3];
        int n = 0, out_i = -1, err_i = -1, in_i = -1;
        if (out_open)
            fds[out_i = n++] = (struct pollfd){pout[0], POLLIN, 0};
        if (err_open)
            fds[err_i = n++] = (struct pollfd){perr[0], POLLIN, 0};
        if (in_fd >= 0)
            fds[in_i = n++] = (struct pollfd){in_fd, POLLOUT, 0};
        int64_t left = deadline - cs_clock_mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        int ready = poll(fds, (nfds_t)n, left < 100 ? (int)left : 100);
        if (tick && !tick(tick_arg)) {
            stopped = timed_out = true; /* killed as a timed-out one is */
            break;
        }
        if (ready < 0 && errno != EINTR)
            break;
        if (ready <= 0)
            continue;
        if (out_i >= 0 && fds[out_i].revents)
            out_open = s_drain(pout[0], out, CS_PLUGIN_MAX_OUTPUT, &overflow);
        if (err_i >= 0 && fds[err_i].revents)
            err_open = s_drain_tail(perr[0], &err, 64 * 1024, &err_cut);
        if (in_i >= 0 && fds[in_i].revents) {
            ssize_t w = (fds[in_i].revents & POLLOUT)
                            ? write(in_fd, input + written, input_len - written)
                            : -1;
            if (w > 0)
                written += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                written = input_len; /* it closed its stdin: it does not want the config */
            if (written >= input_len) {
                close(in_fd);
                in_fd = -1;
            }
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    close(pout[0]);
    close(perr[0]);
    if (timed_out)
        kill(-pid, SIGKILL);
    int status = 0;
    /* Its output is closed: it has exited or is about to; wait for it within the deadline. */
    for (;;) {
        pid_t got = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
        if (got == pid || (got < 0 && errno != EINTR))
            break;
        if (got == 0 && cs_clock_mono_ms() >= deadline) {
            kill(-pid, SIGKILL);
            timed_out = true;
            continue;
        }
        if (got == 0)
            poll(NULL, 0, 5);
    }
    char tail[320];
    s_stderr_tail(&err, err_cut, secrets, tail, sizeof tail);
    cs_buf_free(&err);
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    /* A plugin over its limit fails to allocate: it exits or is killed, as it handles that. */
    char limit[96] = "";
    if (limit_mb)
        snprintf(limit, sizeof limit, " under its memory limit (memory_max_mb = %u MiB)", limit_mb);
    if (stopped) {
        snprintf(why, why_size, "plugin %s %s was killed: this process is stopping", name,
                 argv[1] ? argv[1] : "");
        return -1;
    }
    if (timed_out) {
        snprintf(why, why_size, "plugin %s %s timed out after %d s and was killed", name,
                 argv[1] ? argv[1] : "", timeout_ms / 1000);
        return -1;
    }
    if (WIFSIGNALED(status)) {
        snprintf(why, why_size, "plugin %s %s was killed by signal %d%s%s%s", name,
                 argv[1] ? argv[1] : "", WTERMSIG(status), limit, *tail ? ": " : "", tail);
        return -1;
    }
    if (WEXITSTATUS(status) != 0) {
        snprintf(why, why_size, "plugin %s %s exited with status %d%s%s%s", name,
                 argv[1] ? argv[1] : "", WEXITSTATUS(status), limit, *tail ? ": " : "", tail);
        return -1;
    }
    if (overflow) {
        snprintf(why, why_size, "plugin %s %s printed more than %u MiB", name,
                 argv[1] ? argv[1] : "", CS_PLUGIN_MAX_OUTPUT >> 20);
        return -1;
    }
    return 0;
}

/* A short, printable excerpt of the start of untrusted output for error messages. The
 * secrets are masked in a prefix long enough to hold any secret that starts within the
 * excerpt, before it is cut. */
static void s_excerpt(const cs_secrets_t *secrets, const char *text, size_t len, char *out,
                      size_t size)
{
    size_t keep = 60 + cs_secrets_max_len(secrets);
    char *masked = cs_secrets_mask(secrets, text, len < keep ? len : keep, 0, &len);
    size_t n = 0;
    for (size_t i = 0; masked && i < len && n + 4 < size && i < 60; i++)
        out[n++] = (masked[i] >= 0x20 && masked[i] < 0x7f) ? masked[i] : '?';
    out[n] = '\0';
    free(masked);
}

int cs_plugin_info(const char *path, int timeout_ms, cs_plugin_info_t *info, char *why,
                   size_t why_size, cs_plugin_tick_fn *tick, void *tick_arg)
{
    cs_buf_t out = {0};
    char *const argv[] = {(char *)path, "info", NULL};
    if (cs_plugin_run(argv, NULL, 0, NULL, NULL, timeout_ms, &out, why, why_size, tick, tick_arg) !=
        0) {
        cs_buf_free(&out);
        return -1;
    }
    json_error_t error;
    json_t *doc = json_loadb(cs_buf_str(&out), out.len, JSON_REJECT_DUPLICATES, &error);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int rc = -1;
    const char *version = doc ? json_string_value(json_object_get(doc, "version")) : NULL;
    const char *mode = doc ? json_string_value(json_object_get(doc, "schema_mode")) : NULL;
    char excerpt[64];
    s_excerpt(NULL, cs_buf_str(&out), out.len, excerpt, sizeof excerpt);
    if (!doc)
        snprintf(why, why_size, "plugin %s info printed invalid JSON (%s, line %d): \"%s\"", name,
                 error.text, error.line, excerpt);
    else if (!version || !cs_marker_version_ok(version))
        snprintf(why, why_size,
                 "plugin %s info: \"version\" must be 1-64 characters of "
                 "[A-Za-z0-9._+~-]",
                 name);
    else if (!mode || (strcmp(mode, "static") && strcmp(mode, "config") && strcmp(mode, "dynamic")))
        snprintf(why, why_size,
                 "plugin %s info: \"schema_mode\" must be static, config or "
                 "dynamic",
                 name);
    else {
        snprintf(info->version, sizeof info->version, "%s", version);
        snprintf(info->mode, sizeof info->mode, "%s", mode);
        rc = 0;
    }
    json_decref(doc);
    cs_buf_free(&out);
    return rc;
}

char *cs_plugin_default_dir(void)
{
    char *dir = cs_exe_path("../lib/connstate/plugins");
    char *resolved = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    return resolved;
}

/* ---- schemas --------------------------------------------------------------------------- */

static const char *const s_types[] = {
    "text", "bigint",  "integer", "smallint",  "boolean",     "double precision",
    "real", "numeric", "date",    "timestamp", "timestamptz", "interval",
    "inet", "cidr",    "uuid",    "json",      "jsonb",       "bytea"};

bool cs_schema_type_allowed(const char *type)
{
    size_t len = strlen(type);
    if (len > 2 && strcmp(type + len - 2, "[]") == 0)
        len -= 2;
    for (size_t i = 0; i < sizeof s_types / sizeof *s_types; i++)
        if (strlen(s_types[i]) == len && strncmp(type, s_types[i], len) == 0)
            return true;
    return false;
}

void cs_schema_destroy(cs_schema_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_schema_t *self = *self_p;
    for (size_t t = 0; t < self->count; t++) {
        cs_table_t *table = &self->tables[t];
        for (size_t c = 0; c < table->column_count; c++) {
            free(table->columns[c].name);
            free(table->columns[c].type);
            free(table->columns[c].description);
        }
        for (size_t a = 0; a < table->arg_count; a++)
            free(table->args[a]);
        if (table->file) {
            free(table->file->path);
            free(table->file->format);
            free(table->file->null);
            free(table->file->encoding);
            free(table->file);
        }
        free(table->columns);
        free(table->args);
        free(table->name);
        free(table->description);
    }
    free(self->tables);
    for (size_t w = 0; w < self->watch_count; w++)
        free(self->watch[w]);
    free(self->watch);
    free(self);
    *self_p = NULL;
}

/* A string member: NULL when absent (allowed unless required); -1 on a bad value. */
static int s_string(json_t *object, const char *key, bool required, size_t max, char **out,
                    const char *where, char *why, size_t why_size)
{
    *out = NULL;
    json_t *v = json_object_get(object, key);
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        snprintf(why, why_size, "%s: \"%s\" is missing", where, key);
        return -1;
    }
    size_t len = json_string_length(v);
    if (!json_is_string(v) || len == 0 || len > max || strlen(json_string_value(v)) != len) {
        snprintf(why, why_size, "%s: \"%s\" must be a string of 1 to %zu bytes without NUL", where,
                 key, max);
        return -1;
    }
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

static int s_compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fails when two of the n names are equal. */
static int s_unique(char **names, size_t n, const char *what, char *why, size_t why_size)
{
    char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, s_compare_strings);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            snprintf(why, why_size, "%s \"%.63s\" appears twice", what, sorted[i]);
            free(sorted);
            return -1;
        }
    }
    free(sorted);
    return 0;
}

/* A one-byte option of "file" (delimiter, quote, escape): '\0' when absent; -1 unless it is one
 * ASCII character other than CR and LF. */
static int s_file_char(json_t *file, const char *key, char *out, const char *where, char *why,
                       size_t why_size)
{
    *out = '\0';
    json_t *v = json_object_get(file, key);
    if (!v)
        return 0;
    const char *text = json_string_value(v);
    if (!text || json_string_length(v) != 1 || (unsigned char)text[0] > 0x7f || text[0] == '\0' ||
        text[0] == '\r' || text[0] == '\n') {
        snprintf(why, why_size,
                 "%s: \"file\": \"%s\" must be one ASCII character other than CR and LF", where,
                 key);
        return -1;
    }
    *out = text[0];
    return 0;
}

/* A boolean option of "file": false when absent. */
static int s_file_bool(json_t *file, const char *key, bool *out, const char *where, char *why,
                       size_t why_size)
{
    json_t *v = json_object_get(file, key);
    *out = v && json_is_true(v);
    if (!v || json_is_boolean(v))
        return 0;
    snprintf(why, why_size, "%s: \"file\": \"%s\" must be true or false", where, key);
    return -1;
}

/* The "file" object of a table: file_fdw reads the file itself, with these options (COPY's
 * rules, so that a schema file_fdw would refuse is refused here, naming the key). */
static int s_parse_file(json_t *jf, cs_table_t *table, const char *where, char *why,
                        size_t why_size)
{
    static const char *const known[] = {"path",   "format", "header",   "delimiter",     "quote",
                                        "escape", "null",   "encoding", "force_not_null"};
    if (!json_is_object(jf)) {
        snprintf(why, why_size, "%s: \"file\" must be an object", where);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(jf, key, value)
    {
        size_t k = 0;
        while (k < sizeof known / sizeof *known && strcmp(key, known[k]) != 0)
            k++;
        if (k == sizeof known / sizeof *known) {
            snprintf(why, why_size, "%s: \"file\": unknown key \"%.64s\"", where, key);
            return -1;
        }
    }
    cs_table_file_t *file = calloc(1, sizeof *file);
    if (!file)
        return -1;
    table->file = file;
    char file_where[160];
    snprintf(file_where, sizeof file_where, "%s: \"file\"", where);
    if (s_string(jf, "path", true, CS_PLUGIN_MAX_PATH, &file->path, file_where, why, why_size) ||
        s_string(jf, "format", false, 8, &file->format, file_where, why, why_size) ||
        s_string(jf, "null", false, 255, &file->null, file_where, why, why_size) ||
        s_string(jf, "encoding", false, 63, &file->encoding, file_where, why, why_size))
        return -1;
    if (file->path[0] != '/') {
        snprintf(why, why_size, "%s: \"path\" must be absolute", file_where);
        return -1;
    }
    if (!file->format && !(file->format = strdup("csv")))
        return -1;
    bool csv = strcmp(file->format, "csv") == 0;
    if (!csv && strcmp(file->format, "text") != 0) {
        snprintf(why, why_size, "%s: \"format\" must be \"csv\" or \"text\"", file_where);
        return -1;
    }
    if (s_file_bool(jf, "header", &file->header, where, why, why_size) ||
        s_file_bool(jf, "force_not_null", &file->force_not_null, where, why, why_size) ||
        s_file_char(jf, "delimiter", &file->delimiter, where, why, why_size) ||
        s_file_char(jf, "quote", &file->quote, where, why, why_size) ||
        s_file_char(jf, "escape", &file->escape, where, why, why_size))
        return -1;
    if (!csv && (file->quote || file->escape || file->force_not_null)) {
        snprintf(why, why_size, "%s: \"quote\", \"escape\" and \"force_not_null\" are for \"csv\"",
                 file_where);
        return -1;
    }
    char delimiter = file->delimiter ? file->delimiter : csv ? ',' : '\t';
    char quote = file->quote ? file->quote : '"';
    if (!csv && strchr("\\.abcdefghijklmnopqrstuvwxyz0123456789", delimiter)) {
        snprintf(why, why_size, "%s: \"delimiter\" cannot be '%c' in \"text\"", file_where,
                 delimiter);
        return -1;
    }
    if (csv && delimiter == quote) {
        snprintf(why, why_size, "%s: \"delimiter\" and \"quote\" must differ", file_where);
        return -1;
    }
    if (file->null && (strpbrk(file->null, "\r\n") || strchr(file->null, delimiter) ||
                       (csv && strchr(file->null, quote)))) {
        snprintf(why, why_size,
                 "%s: \"null\" cannot hold CR, LF, the delimiter or (in \"csv\") the quote",
                 file_where);
        return -1;
    }
    for (const char *p = file->encoding; p && *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
            snprintf(why, why_size, "%s: \"encoding\" must be an encoding's name ([A-Za-z0-9_-])",
                     file_where);
            return -1;
        }
    }
    return 0;
}

static int s_parse_table(json_t *jt, cs_table_t *table, size_t index, char *why, size_t why_size)
{
    char where[128];
    snprintf(where, sizeof where, "table %zu", index + 1);
    if (!json_is_object(jt)) {
        snprintf(why, why_size, "%s is not an object", where);
        return -1;
    }
    if (s_string(jt, "name", true, 63, &table->name, where, why, why_size) ||
        s_string(jt, "description", false, 8192, &table->description, where, why, why_size))
        return -1;
    snprintf(where, sizeof where, "table \"%s\"", table->name);
    json_t *columns = json_object_get(jt, "columns");
    size_t n = json_array_size(columns);
    if (!json_is_array(columns) || n == 0 || n > CS_PLUGIN_MAX_COLUMNS) {
        snprintf(why, why_size, "%s: \"columns\" must be an array of 1 to %d columns", where,
                 CS_PLUGIN_MAX_COLUMNS);
        return -1;
    }
    table->columns = calloc(n, sizeof *table->columns);
    if (!table->columns)
        return -1;
    char **names = calloc(n, sizeof *names);
    if (!names)
        return -1;
    for (size_t c = 0; c < n; c++) {
        json_t *jc = json_array_get(columns, c);
        cs_column_t *column = &table->columns[c];
        table->column_count = c + 1;
        char column_where[200];
        snprintf(column_where, sizeof column_where, "%s column %zu", where, c + 1);
        if (!json_is_object(jc)) {
            snprintf(why, why_size, "%s is not an object", column_where);
            free(names);
            return -1;
        }
        if (s_string(jc, "name", true, 63, &column->name, column_where, why, why_size) ||
            s_string(jc, "type", true, 64, &column->type, column_where, why, why_size) ||
            s_string(jc, "description", false, 8192, &column->description, column_where, why,
                     why_size)) {
            free(names);
            return -1;
        }
        if (!cs_schema_type_allowed(column->type)) {
            snprintf(why, why_size,
                     "%s column \"%s\": type \"%.64s\" is not allowed (see "
                     "plugins/README.md)",
                     where, column->name, column->type);
            free(names);
            return -1;
        }
        names[c] = column->name;
    }
    int rc = s_unique(names, n, "column", why, why_size);
    free(names);
    if (rc)
        return -1;
    json_t *args = json_object_get(jt, "args");
    if (args && !json_is_null(args)) {
        size_t na = json_array_size(args);
        if (!json_is_array(args) || na > 64) {
            snprintf(why, why_size, "%s: \"args\" must be an array of at most 64 strings", where);
            return -1;
        }
        table->args = calloc(na ? na : 1, sizeof *table->args);
        if (!table->args) {
            snprintf(why, why_size, "%s: out of memory", where);
            return -1;
        }
        for (size_t a = 0; a < na; a++) {
            json_t *arg = json_array_get(args, a);
            if (!json_is_string(arg) || json_string_length(arg) > CS_PLUGIN_MAX_PATH ||
                strlen(json_string_value(arg)) != json_string_length(arg)) {
                snprintf(why, why_size,
                         "%s: \"args\" must hold strings of at most %d bytes without NUL", where,
                         CS_PLUGIN_MAX_PATH);
                return -1;
            }
            if (!(table->args[a] = strdup(json_string_value(arg)))) {
                snprintf(why, why_size, "%s: out of memory", where);
                return -1;
            }
            table->arg_count = a + 1;
        }
    }
    json_t *file = json_object_get(jt, "file");
    if (file && !json_is_null(file))
        return s_parse_file(file, table, where, why, why_size);
    return 0;
}

/* The schema's "watch" list: absent, or an array of absolute paths (a glob may end them; the
 * supervisor says which ones it cannot watch). An entry that breaks a bound fails the
 * schema, naming it by its index and start. */
static int s_parse_watch(json_t *doc, cs_schema_t *self, char *why, size_t why_size)
{
    json_t *watch = json_object_get(doc, "watch");
    if (!watch || json_is_null(watch))
        return 0;
    size_t n = json_array_size(watch), total = 0;
    if (!json_is_array(watch) || n > CS_PROTO_MAX_WATCH) {
        snprintf(why, why_size, "schema: \"watch\" must be an array of at most %d paths",
                 CS_PROTO_MAX_WATCH);
        return -1;
    }
    self->watch = calloc(n ? n : 1, sizeof *self->watch);
    if (!self->watch)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *entry = json_array_get(watch, i);
        const char *path = json_string_value(entry);
        size_t len = path ? json_string_length(entry) : 0;
        bool printable = path && strlen(path) == len;
        for (size_t c = 0; printable && c < len; c++)
            printable = (unsigned char)path[c] >= 0x20 && path[c] != 0x7f;
        total += len;
        if (!printable || len == 0 || len > CS_PROTO_MAX_WATCH_PATH || path[0] != '/' ||
            path[len - 1] == '/') {
            snprintf(why, why_size,
                     "schema: \"watch\" entry %zu must be an absolute path of 1 to %d bytes "
                     "without control characters, not ending in '/'%s%.60s%s",
                     i + 1, CS_PROTO_MAX_WATCH_PATH, printable ? ": \"" : "", printable ? path : "",
                     printable ? (len > 60 ? "...\"" : "\"") : "");
            return -1;
        }
        if (total > CS_PLUGIN_MAX_WATCH_BYTES) {
            snprintf(why, why_size, "schema: \"watch\" holds more than %u bytes of paths",
                     CS_PLUGIN_MAX_WATCH_BYTES);
            return -1;
        }
        if (!(self->watch[i] = strdup(path)))
            return -1;
        self->watch_count = i + 1;
    }
    return 0;
}

static cs_schema_t *s_schema_parse(const char *json, size_t len, const cs_secrets_t *secrets,
                                   char *why, size_t why_size)
{
    json_error_t error;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &error);
    if (!doc) {
        char excerpt[64];
        s_excerpt(secrets, json, len, excerpt, sizeof excerpt);
        snprintf(why, why_size, "schema is not valid JSON (%s at line %d column %d): \"%s\"",
                 error.text, error.line, error.column, excerpt);
        return NULL;
    }
    cs_schema_t *self = calloc(1, sizeof *self);
    json_t *tables = json_object_get(doc, "tables");
    size_t n = json_array_size(tables);
    if (!self || !json_is_object(doc) || !json_is_array(tables) || n > CS_PLUGIN_MAX_TABLES) {
        snprintf(why, why_size,
                 "schema must be an object with a \"tables\" array of at most %d "
                 "tables",
                 CS_PLUGIN_MAX_TABLES);
        goto fail;
    }
    self->tables = calloc(n ? n : 1, sizeof *self->tables);
    char **names = calloc(n ? n : 1, sizeof *names);
    if (!self->tables || !names) {
        free(names);
        goto fail;
    }
    for (size_t t = 0; t < n; t++) {
        self->count = t + 1;
        if (s_parse_table(json_array_get(tables, t), &self->tables[t], t, why, why_size)) {
            free(names);
            goto fail;
        }
        names[t] = self->tables[t].name;
        if (self->tables[t].description)
            self->has_comments = true;
        for (size_t c = 0; c < self->tables[t].column_count; c++)
            if (self->tables[t].columns[c].description)
                self->has_comments = true;
    }
    if (s_unique(names, n, "table", why, why_size)) {
        free(names);
        goto fail;
    }
    free(names);
    if (s_parse_watch(doc, self, why, why_size) != 0)
        goto fail;
    /* The hash of the canonical form: keys sorted, no whitespace; what is watched is not the
     * schema (a plugin that lists each file watched changes no table by that alone). */
    json_object_del(doc, "watch");
    char *canonical = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canonical || cs_digest_hex16(canonical, strlen(canonical), self->hash) != 0) {
        free(canonical);
        goto fail;
    }
    free(canonical);
    json_decref(doc);
    return self;
fail:
    json_decref(doc);
    cs_schema_destroy(&self);
    return NULL;
}

cs_schema_t *cs_schema_parse(const char *json, size_t len, const cs_secrets_t *secrets, char *why,
                             size_t why_size)
{
    /* Every part of an error is bounded well below this: it is masked whole, then cut. */
    char detail[2048] = "";
    cs_schema_t *self = s_schema_parse(json, len, secrets, detail, sizeof detail);
    if (!self && cs_secrets_mask_into(secrets, detail, strlen(detail), why, why_size) != 0)
        snprintf(why, why_size, "invalid schema (its error is withheld: out of memory)");
    return self;
}
