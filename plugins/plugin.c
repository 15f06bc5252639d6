/* Helpers shared by the bundled plugins: CSV fields, JSON output, reading the config. */
#include "plugin.h"

#include <string.h>

static void s_csv_field(FILE *out, const char *value)
{
    if (!value)
        return;
    if (*value != '\0' && !strpbrk(value, ",\"\r\n")) {
        fputs(value, out);
        return;
    }
    fputc('"', out);
    for (const char *p = value; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

void cs_plugin_csv_row(FILE *out, const char *const *fields, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        s_csv_field(out, fields[i]);
        fputc(i + 1 < count ? ',' : '\n', out);
    }
}

int cs_plugin_print_json(json_t *doc)
{
    int rc = doc ? json_dumpf(doc, stdout, JSON_COMPACT) : -1;
    json_decref(doc);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
        return 1;
    return 0;
}

int cs_plugin_main(const cs_plugin_t *plugin, int argc, char **argv)
{
    const char *command = argc > 1 ? argv[1] : "";
    if (strcmp(command, "info") == 0)
        return cs_plugin_print_json(json_pack("{s:s, s:s, s:s}", "name", plugin->name, "version",
                                              plugin->version, "schema_mode", plugin->schema_mode));
    if (strcmp(command, "schema") == 0)
        return plugin->schema();
    if (strcmp(command, "rows") == 0 && argc > 2)
        return plugin->rows(argc, argv);
    fprintf(stderr, "usage: %s %s\n", plugin->name, plugin->usage);
    return 2;
}

json_t *cs_plugin_read_config(void)
{
    json_error_t error;
    char buffer[1 << 16];
    size_t len = fread(buffer, 1, sizeof buffer, stdin);
    if (len == sizeof buffer) {
        fprintf(stderr, "config larger than %zu bytes\n", sizeof buffer);
        return NULL;
    }
    if (len == 0)
        return json_object();
    json_t *config = json_loadb(buffer, len, JSON_REJECT_DUPLICATES, &error);
    if (!config || !json_is_object(config)) {
        fprintf(stderr, "config is not a JSON object: %s\n", config ? "" : error.text);
        json_decref(config);
        return NULL;
    }
    return config;
}

void cs_plugin_column(json_t *columns, const char *name, const char *type, const char *description)
{
    json_array_append_new(columns, json_pack("{s:s, s:s, s:s}", "name", name, "type", type,
                                             "description", description));
}
