/* connstate config check: validates the .spc files and shows, per file, what was used (the
 * connections), resolved (each plugin reference) and ignored, and the errors. */
#include "cli.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cs_cli_command_t s_command = {
    .name = "config check",
    .usage = "Usage: connstate config check [--config-dir DIR] [--format table|json]\n"
             "Parses every *.spc file of the config directory and prints each connection\n"
             "(name, plugin, type, import_schema, file, lines, fingerprint); then, per file,\n"
             "how each plugin reference resolved (short name, instance, version constraint),\n"
             "its plugin instances, what was accepted but is ignored (with its line) and\n"
             "whether it failed; then each error.\n"
             "Exit status: 0 without errors, 1 with any error, 2 on a usage error.\n",
    .options = CS_CLI_CONFIG_DIR | CS_CLI_FORMAT,
    .formats = {"table", "json"},
    .max_args = 0,
};

static const cs_failed_file_t *s_failed(const cs_config_t *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->failed_count; i++)
        if (strcmp(cfg->failed[i].path, path) == 0)
            return &cfg->failed[i];
    return NULL;
}

/* How many of n items (each size bytes, its file path at file_at) come from path. */
static size_t s_count_of_file(const void *items, size_t n, size_t size, size_t file_at,
                              const char *path)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count +=
            strcmp(*(const char *const *)((const char *)items + i * size + file_at), path) == 0;
    return count;
}

static size_t s_count_plugins(const cs_config_t *cfg, const char *path)
{
    return s_count_of_file(cfg->plugins, cfg->plugin_count, sizeof *cfg->plugins,
                           offsetof(cs_config_plugin_t, file), path);
}

static size_t s_count_ignored(const cs_config_t *cfg, const char *path)
{
    return s_count_of_file(cfg->ignored, cfg->ignored_count, sizeof *cfg->ignored,
                           offsetof(cs_config_ignored_t, file), path);
}

static size_t s_count_errors(const cs_config_t *cfg, const char *path)
{
    return s_count_of_file(cfg->errors, cfg->error_count, sizeof *cfg->errors,
                           offsetof(cs_config_error_t, file), path);
}

#define S_MEMBERS_SHOWN 20 /* members the table names per aggregator; then "and N more" */

static int s_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An aggregator's members as configured, in name order (the caller frees the array; NULL
 * with *count 0 when it has none or memory ran out). */
static const char **s_members(const cs_config_t *cfg, const cs_connection_t *agg, size_t *count)
{
    *count = 0;
    const char **names = calloc(cfg->count + 1, sizeof *names);
    for (size_t i = 0; names && i < cfg->count; i++)
        if (cs_config_member_of(agg, &cfg->connections[i]))
            names[(*count)++] = cfg->connections[i].name;
    if (names)
        qsort(names, *count, sizeof *names, s_name_cmp);
    return names;
}

static void s_print_json(const cs_config_t *cfg)
{
    cs_buf_t out = {0};
    cs_buf_puts(&out, "{\"connections\":[");
    for (size_t i = 0; i < cfg->count; i++) {
        const cs_connection_t *c = &cfg->connections[i];
        cs_buf_puts(&out, i ? ",\n  {\"name\":" : "\n  {\"name\":");
        cs_buf_json_string(&out, c->name, strlen(c->name));
        cs_buf_puts(&out, ",\"plugin\":");
        cs_buf_json_string(&out, c->plugin, strlen(c->plugin));
        cs_buf_printf(&out, ",\"type\":\"%s\",\"import_schema\":\"%s\",\"file\":",
                      c->aggregator ? "aggregator" : "plugin",
                      c->import_disabled ? "disabled" : "enabled");
        cs_buf_json_string(&out, c->file, strlen(c->file));
        cs_buf_printf(&out, ",\"start_line\":%d,\"end_line\":%d,\"fingerprint\":\"%s\"",
                      c->start_line, c->end_line, c->fingerprint);
        cs_buf_puts(&out, ",\"plugin_written\":");
        cs_buf_json_string(&out, c->plugin_written, strlen(c->plugin_written));
        cs_buf_puts(&out, ",\"plugin_constraint\":");
        cs_buf_json_text(&out, c->plugin_constraint);
        cs_buf_puts(&out, ",\"instance\":");
        cs_buf_json_text(&out, c->instance ? c->instance->label : NULL);
        if (c->aggregator) { /* its members as configured, in name order */
            size_t n;
            const char **names = s_members(cfg, c, &n);
            cs_buf_puts(&out, ",\"members\":[");
            for (size_t j = 0; j < n; j++) {
                if (j)
                    cs_buf_putc(&out, ',');
                cs_buf_json_string(&out, names[j], strlen(names[j]));
            }
            cs_buf_putc(&out, ']');
            free(names);
        }
        cs_buf_putc(&out, '}');
    }
    cs_buf_puts(&out, cfg->count ? "\n],\"plugins\":[" : "],\"plugins\":[");
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        const cs_config_plugin_t *p = &cfg->plugins[i];
        cs_buf_puts(&out, i ? ",\n  {\"label\":" : "\n  {\"label\":");
        cs_buf_json_string(&out, p->label, strlen(p->label));
        cs_buf_puts(&out, ",\"file\":");
        cs_buf_json_string(&out, p->file, strlen(p->file));
        cs_buf_printf(&out, ",\"line\":%d,\"source\":", p->line);
        cs_buf_json_string(&out, p->source, strlen(p->source));
        cs_buf_puts(&out, ",\"plugin\":");
        cs_buf_json_string(&out, p->plugin, strlen(p->plugin));
        cs_buf_puts(&out, ",\"constraint\":");
        cs_buf_json_text(&out, p->constraint);
        cs_buf_printf(&out, ",\"memory_max_mb\":%lld,\"env\":[", (long long)p->memory_max_mb);
        for (size_t j = 0; j < p->env_count; j++) { /* names only: values may be secrets */
            if (j)
                cs_buf_putc(&out, ',');
            cs_buf_json_string(&out, p->env[j], strcspn(p->env[j], "="));
        }
        cs_buf_puts(&out, "]}");
    }
    cs_buf_printf(&out,
                  cfg->plugin_count ? "\n],\"plugin_memory_max_mb\":%lld"
                                    : "],\"plugin_memory_max_mb\":%lld",
                  (long long)cfg->plugin_memory_max_mb);
    cs_buf_puts(&out, ",\"ignored\":[");
    for (size_t i = 0; i < cfg->ignored_count; i++) {
        const cs_config_ignored_t *g = &cfg->ignored[i];
        cs_buf_puts(&out, i ? ",\n  {\"file\":" : "\n  {\"file\":");
        cs_buf_json_string(&out, g->file, strlen(g->file));
        cs_buf_printf(&out, ",\"line\":%d,\"what\":", g->line);
        cs_buf_json_string(&out, g->what, strlen(g->what));
        cs_buf_putc(&out, '}');
    }
    size_t files = cs_config_file_count(cfg);
    cs_buf_puts(&out, cfg->ignored_count ? "\n],\"files\":[" : "],\"files\":[");
    for (size_t i = 0; i < files; i++) {
        const char *path = cs_config_file_path(cfg, i);
        if (!path)
            continue;
        cs_buf_puts(&out, i ? ",\n  {\"file\":" : "\n  {\"file\":");
        cs_buf_json_string(&out, path, strlen(path));
        cs_buf_puts(&out, ",\"connections\":[");
        bool comma = false;
        for (size_t j = 0; j < cfg->count; j++) {
            const cs_connection_t *c = &cfg->connections[j];
            if (strcmp(c->file, path) != 0)
                continue;
            if (comma)
                cs_buf_putc(&out, ',');
            comma = true;
            cs_buf_json_string(&out, c->name, strlen(c->name));
        }
        const cs_failed_file_t *failed = s_failed(cfg, path);
        cs_buf_printf(&out, "],\"failed\":%s,\"kept\":[", failed ? "true" : "false");
        for (size_t j = 0; failed && j < failed->name_count; j++) {
            if (j)
                cs_buf_putc(&out, ',');
            cs_buf_json_string(&out, failed->names[j], strlen(failed->names[j]));
        }
        cs_buf_printf(&out, "],\"plugins\":%zu,\"ignored\":%zu,\"errors\":%zu}",
                      s_count_plugins(cfg, path), s_count_ignored(cfg, path),
                      s_count_errors(cfg, path));
    }
    cs_buf_puts(&out, files ? "\n],\"errors\":[" : "],\"errors\":[");
    for (size_t i = 0; i < cfg->error_count; i++) {
        const cs_config_error_t *e = &cfg->errors[i];
        cs_buf_puts(&out, i ? ",\n  {\"file\":" : "\n  {\"file\":");
        cs_buf_json_string(&out, e->file, strlen(e->file));
        cs_buf_printf(&out, ",\"line\":%d,\"column\":%d,\"message\":", e->line, e->col);
        cs_buf_json_string(&out, e->message, strlen(e->message));
        cs_buf_putc(&out, '}');
    }
    cs_buf_puts(&out, cfg->error_count ? "\n]}\n" : "]}\n");
    fputs(cs_buf_str(&out), stdout);
    cs_buf_free(&out);
}

static int s_width(int current, const char *text)
{
    int len = (int)strlen(text);
    return len > current ? len : current;
}

/* One connection's plugin reference: as written, and what it resolved to; an aggregator's
 * members as configured. */
static void s_print_resolved(const cs_config_t *cfg, const cs_connection_t *c)
{
    const cs_config_plugin_t *in = c->instance;
    bool reference = in && strncmp(c->plugin_written, "plugin.", 7) == 0 &&
                     strcmp(c->plugin_written + 7, in->label) == 0;
    printf("  %s: plugin = %s%s%s -> %s", c->name, reference ? "" : "\"", c->plugin_written,
           reference ? "" : "\"", c->plugin);
    if (in)
        printf(", instance %s (%s:%d)", in->label, in->file, in->line);
    if (c->plugin_constraint)
        printf(", version %s", c->plugin_constraint);
    if (c->aggregator) {
        size_t n;
        const char **names = s_members(cfg, c, &n);
        printf("; members (as configured: only the ready ones are read): %s", n ? "" : "none");
        for (size_t i = 0; i < n && i < S_MEMBERS_SHOWN; i++)
            printf("%s%s", i ? ", " : "", names[i]);
        if (n > S_MEMBERS_SHOWN)
            printf(", and %zu more", n - S_MEMBERS_SHOWN);
        free(names);
    }
    printf("\n");
}

/* Per file: used and resolved (connections), its plugin instances, ignored, failed. */
static void s_print_files(const cs_config_t *cfg)
{
    for (size_t i = 0; i < cs_config_file_count(cfg); i++) {
        const char *path = cs_config_file_path(cfg, i);
        if (!path)
            continue;
        printf("%sFILE %s\n", i == 0 && !cfg->count ? "" : "\n", path);
        for (size_t j = 0; j < cfg->count; j++)
            if (strcmp(cfg->connections[j].file, path) == 0)
                s_print_resolved(cfg, &cfg->connections[j]);
        for (size_t j = 0; j < cfg->plugin_count; j++) {
            const cs_config_plugin_t *p = &cfg->plugins[j];
            if (strcmp(p->file, path) != 0)
                continue;
            printf("  plugin \"%s\" (line %d): source \"%s\" -> %s", p->label, p->line, p->source,
                   p->plugin);
            if (p->constraint)
                printf(", version %s", p->constraint);
            if (p->memory_max_mb)
                printf(", memory_max_mb %lld", (long long)p->memory_max_mb);
            for (size_t k = 0; k < p->env_count; k++) /* names only: values may be secrets */
                printf("%s%.*s", k ? " " : ", env ", (int)strcspn(p->env[k], "="), p->env[k]);
            printf("\n");
        }
        if (cfg->plugin_options_file && strcmp(cfg->plugin_options_file, path) == 0)
            printf("  options \"plugin\" (line %d): memory_max_mb %lld for every plugin run whose "
                   "instance sets none\n",
                   cfg->plugin_options_line, (long long)cfg->plugin_memory_max_mb);
        for (size_t j = 0; j < cfg->ignored_count; j++)
            if (strcmp(cfg->ignored[j].file, path) == 0)
                printf("  ignored (line %d): %s\n", cfg->ignored[j].line, cfg->ignored[j].what);
        const cs_failed_file_t *failed = s_failed(cfg, path);
        if (failed) {
            size_t errors = s_count_errors(cfg, path);
            printf("  failed (%zu error%s): nothing of it is used; its connections keep their "
                   "schemas",
                   errors, errors == 1 ? "" : "s");
            for (size_t k = 0; k < failed->name_count; k++)
                printf("%s%s", k ? ", " : ": ", failed->names[k]);
            printf("\n");
        } else if (!s_count_plugins(cfg, path) && !s_count_ignored(cfg, path)) {
            bool any = false;
            for (size_t j = 0; j < cfg->count && !any; j++)
                any = strcmp(cfg->connections[j].file, path) == 0;
            if (!any)
                printf("  (nothing)\n");
        }
    }
}

static void s_print_table(const cs_config_t *cfg)
{
    int wn = 4, wp = 6, wf = 4;
    for (size_t i = 0; i < cfg->count; i++) {
        wn = s_width(wn, cfg->connections[i].name);
        wp = s_width(wp, cfg->connections[i].plugin);
        wf = s_width(wf, cfg->connections[i].file);
    }
    if (cfg->count) {
        printf("%-*s  %-*s  %-10s  %-13s  %-*s  %-11s  %s\n", wn, "NAME", wp, "PLUGIN", "TYPE",
               "IMPORT_SCHEMA", wf, "FILE", "LINES", "FINGERPRINT");
        for (size_t i = 0; i < cfg->count; i++) {
            const cs_connection_t *c = &cfg->connections[i];
            char lines[32];
            snprintf(lines, sizeof lines, "%d-%d", c->start_line, c->end_line);
            printf("%-*s  %-*s  %-10s  %-13s  %-*s  %-11s  %s\n", wn, c->name, wp, c->plugin,
                   c->aggregator ? "aggregator" : "plugin",
                   c->import_disabled ? "disabled" : "enabled", wf, c->file, lines, c->fingerprint);
        }
    }
    s_print_files(cfg);
    if (cfg->error_count) {
        printf("%sERRORS\n", cfg->count || cs_config_file_count(cfg) ? "\n" : "");
        for (size_t i = 0; i < cfg->error_count; i++) {
            const cs_config_error_t *e = &cfg->errors[i];
            if (e->line > 0)
                printf("%s:%d:%d: %s\n", e->file, e->line, e->col, e->message);
            else
                printf("%s: %s\n", e->file, e->message);
        }
    }
    printf("%s%zu connection%s in %zu file%s, %zu error%s\n",
           cfg->count || cfg->error_count || cs_config_file_count(cfg) ? "\n" : "", cfg->count,
           cfg->count == 1 ? "" : "s", cfg->file_count, cfg->file_count == 1 ? "" : "s",
           cfg->error_count, cfg->error_count == 1 ? "" : "s");
}

int cs_cli_config(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            cs_cli_usage(&s_command, stdout);
            return 0;
        }
        fprintf(stderr, "connstate config: expected the subcommand 'check'\n");
        cs_cli_usage(&s_command, stderr);
        return 2;
    }
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_command, argc - 1, argv + 1, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    /* neither --config-dir nor $CONNSTATE_CONFIG_DIR: ~/.connstate/config */
    char *default_dir = args.config_dir ? NULL : cs_config_default_dir();
    const char *dir = args.config_dir ? args.config_dir : default_dir;
    if (!dir) {
        fprintf(stderr, "connstate config check: no --config-dir and no home directory\n");
        return 2;
    }
    cs_config_t *cfg = cs_config_load_dir(dir);
    free(default_dir);
    if (!cfg) {
        fprintf(stderr, "connstate config check: out of memory\n");
        return 1;
    }
    if (args.json)
        s_print_json(cfg);
    else
        s_print_table(cfg);
    rc = cfg->error_count ? 1 : 0;
    cs_config_destroy(&cfg);
    return rc;
}
