/* libFuzzer target: the .spc parser and connection validation on arbitrary bytes. Every
 * error must carry a position and a message; every connection a valid name and plugin. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_config_t *cfg = cs_config_load_text("fuzz.spc", (const char *)data, size);
    if (!cfg)
        abort(); /* only out of memory may return NULL */
    for (size_t i = 0; i < cfg->error_count; i++) {
        const cs_config_error_t *e = &cfg->errors[i];
        if (!e->message || !*e->message || e->line < 1 || e->col < 1 || strcmp(e->file, "fuzz.spc"))
            abort();
    }
    if (cfg->error_count && cfg->count)
        abort(); /* a file with an error loads nothing */
    for (size_t i = 0; i < cfg->count; i++) {
        const cs_connection_t *c = &cfg->connections[i];
        if (cs_config_name_problem(c->name) || !c->plugin || !*c->plugin || !c->config_json ||
            strlen(c->fingerprint) != 16 || cs_config_find(cfg, c->name) != c)
            abort();
    }
    cs_config_destroy(&cfg);
    return 0;
}
