/* libFuzzer target: the .spc parser and connection validation on arbitrary bytes. Every
 * error must carry a position and a message; every connection a valid name and plugin, every
 * constraint a valid one, every instance one of the config's, and the canonical form it makes
 * from its config as written the one of its block. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_canon.h"
#include "cs_config.h"
#include "cs_semver.h"

/* The canonical form of each valid connection's config, from its block in the tree, is the one
 * its canonical form holds (made from its config as written, or stored). */
static void s_check_canonical(const cs_config_t *cfg, const uint8_t *data, size_t size)
{
    cs_arena_t *arena = cs_arena_new();
    cs_config_error_t error = {0};
    cs_hcl_file_t *tree =
        arena ? cs_hcl_parse(arena, "fuzz.spc", (const char *)data, size, &error) : NULL;
    if (!tree)
        abort(); /* it loaded: it parses */
    for (uint32_t i = 0; i < tree->count; i++) {
        const cs_block_t *block = tree->items[i].block;
        if (!block || strcmp(block->type, "connection") != 0 || block->label_count != 1)
            continue;
        const cs_connection_t *c = cs_config_find(cfg, block->labels[0]);
        if (!c)
            abort(); /* a file that loads loads all its connections */
        cs_buf_t want = {0}, got = {0};
        cs_buf_puts(&want, "{\"config\":");
        cs_canon_config_canonical(&want, block);
        cs_canon_connection(&got, c);
        if (want.failed || got.failed || got.len < want.len ||
            memcmp(got.data, want.data, want.len) != 0)
            abort();
        cs_buf_free(&want);
        cs_buf_free(&got);
    }
    cs_arena_destroy(&arena);
}

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
    if (cfg->count)
        s_check_canonical(cfg, data, size);
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
