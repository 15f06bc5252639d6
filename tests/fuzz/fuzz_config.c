/* libFuzzer target: the .spc parser and connection validation on arbitrary bytes. Every
 * error must carry a position and a message; every connection a valid name and plugin, every
 * constraint a valid one, every instance one of the config's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_config.h"
#include "cs_semver.h"

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
            strlen(c->fingerprint) != 16 || cs_config_find(cfg, c->name) != c || !c->plugin_written)
            abort();
        /* a constraint is valid; an instance is one of the config's */
        if (c->plugin_constraint && cs_semver_constraint_problem(c->plugin_constraint))
            abort();
        if (c->instance &&
            (c->instance < cfg->plugins || c->instance >= cfg->plugins + cfg->plugin_count ||
             strcmp(c->instance->plugin, c->plugin) != 0))
            abort();
    }
    for (size_t i = 0; i < cfg->plugin_count; i++) {
        const cs_config_plugin_t *p = &cfg->plugins[i];
        if (!p->label || !p->source || !p->plugin || !*p->plugin || !p->image || p->line < 1 ||
            p->memory_max_mb < 0 || (p->env_count && !p->env))
            abort();
        if (p->constraint && cs_semver_satisfies("1.2.3-rc.1+b", p->constraint) < 0)
            abort();
    }
    cs_config_destroy(&cfg);
    return 0;
}
