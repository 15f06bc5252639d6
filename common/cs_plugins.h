/* cs_plugins: the plugins' info (version, schema mode), cached per plugin file and asked
 * again only when the file changes: without blocking (the supervisor: a thread per ask,
 * answered through a pipe its event loop polls) or at once (a worker). */
#ifndef CS_PLUGINS_H
#define CS_PLUGINS_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_plugin.h"

typedef struct cs_plugins cs_plugins_t;

typedef enum {
    CS_PLUGIN_KNOWN,  /* *info holds its version and schema mode */
    CS_PLUGIN_FAILED, /* *why says why (not found, info failed or timed out) */
    CS_PLUGIN_ASKING  /* being asked (or waiting for a free thread): look again later */
} cs_plugin_state_t;

/* Info of the plugins of plugin_dir, each `info` run bounded by timeout_ms. */
cs_plugins_t *cs_plugins_new(const char *plugin_dir, int timeout_ms);
/* Waits for the asks still running (each bounded by the timeout). */
void cs_plugins_destroy(cs_plugins_t **self_p);

/* What is known of a plugin. Its file is looked at (stat) once per generation; when it is
 * new or changed, a thread starts asking it (`PLUGIN info`) and the answer is
 * CS_PLUGIN_ASKING until cs_plugins_collect has it. *info and *why are borrowed until the
 * next call. Never blocks. */
cs_plugin_state_t cs_plugins_lookup(cs_plugins_t *self, const char *name, uint64_t generation,
                                    const cs_plugin_info_t **info, const char **why);

/* Poll items of the asks running (at most max); returns how many. */
int cs_plugins_pollitems(cs_plugins_t *self, zmq_pollitem_t *items, int max);

/* Takes in the answers of the asks that finished; returns how many did. Never blocks. */
size_t cs_plugins_collect(cs_plugins_t *self);

/* Asks running. */
size_t cs_plugins_asking(const cs_plugins_t *self);

/* The same, at once: asks the plugin when its file is new or changed (blocking up to the
 * timeout, calling tick meanwhile; a failure is asked again next time), else answers from
 * the cache. Returns CS_PLUGIN_KNOWN or CS_PLUGIN_FAILED. Do not mix with asks in flight. */
cs_plugin_state_t cs_plugins_get(cs_plugins_t *self, const char *name, cs_plugin_tick_fn *tick,
                                 void *tick_arg, const cs_plugin_info_t **info, const char **why);

#endif
