/* connstate config check: validates the .spc files and lists their connections and errors. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cs_cli_command_t s_command = {
    .name = "config check",
    .usage = "Usage: connstate config check [--config-dir DIR] [--format table|json]\n"
             "Parses every *.spc file of the config directory and prints each connection\n"
             "(name, plugin, type, import_schema, file, lines, fingerprint) and each error.\n"
             "Exit status: 0 without errors, 1 with any error, 2 on a usage error.\n",
    .options = CS_CLI_CONFIG_DIR | CS_CLI_FORMAT,
    .formats = {"table", "json"},
    .max_args = 0,
};

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
        cs_buf_printf(&out, ",\"start_line\":%d,\"end_line\":%d,\"fingerprint\":\"%s\"}",
                      c->start_line, c->end_line, c->fingerprint);
    }
    cs_buf_puts(&out, cfg->count ? "\n],\"errors\":[" : "],\"errors\":[");
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
    if (cfg->error_count) {
        printf("%sERRORS\n", cfg->count ? "\n" : "");
        for (size_t i = 0; i < cfg->error_count; i++) {
            const cs_config_error_t *e = &cfg->errors[i];
            if (e->line > 0)
                printf("%s:%d:%d: %s\n", e->file, e->line, e->col, e->message);
            else
                printf("%s: %s\n", e->file, e->message);
        }
    }
    printf("%s%zu connection%s in %zu file%s, %zu error%s\n",
           cfg->count || cfg->error_count ? "\n" : "", cfg->count, cfg->count == 1 ? "" : "s",
           cfg->file_count, cfg->file_count == 1 ? "" : "s", cfg->error_count,
           cfg->error_count == 1 ? "" : "s");
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
