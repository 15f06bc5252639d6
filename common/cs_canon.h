/* cs_canon: a connection's config as JSON, as written and in canonical form.
 * The plugin gets the config as written; the digest of the canonical form is the connection's
 * fingerprint. The canonical form is part of every schema marker: changing it rebuilds every
 * schema. None of these functions blocks. */
#ifndef CS_CANON_H
#define CS_CANON_H

#include "cs_buf.h"
#include "cs_config.h"
#include "cs_digest.h"

/* Appends the plugin's config of a connection block to out: a JSON object of every
 * attribute and nested block except those connstate interprets (cs_config_reserved), in
 * written order; nested blocks of one type become an array of objects under their type,
 * a nested block's labels go under "_labels". On allocation failure out->failed is set. */
void cs_canon_config_json(cs_buf_t *out, const cs_block_t *block);

/* Appends the canonical form of the plugin's config of a connection block to out: as
 * cs_canon_config_json, with every object's keys sorted (a nested block's "_labels" first).
 * On allocation failure out->failed is set. */
void cs_canon_config_canonical(cs_buf_t *out, const cs_block_t *block);

/* Appends the plugin's config of a connection block to out as a connection's config_json
 * holds it: as cs_canon_config_json writes it, then a NUL, then nothing more, or, for a
 * config with a key "_labels" of its own (an attribute, block type or object key, which
 * JSON does not tell from a block's labels), its canonical form: else the canonical form is
 * made from the config as written, by sorting its objects' keys. On allocation failure
 * out->failed is set. */
void cs_canon_config_forms(cs_buf_t *out, const cs_block_t *block);

/* Appends the canonical form of a valid connection to out: its config with every object's
 * keys sorted (made from its config_json: cs_canon_config_forms), and the attributes connstate
 * interprets, normalised (defaults written out; the plugin as its short name, so "aws" and
 * "turbot/aws" are one; its version constraint only when it has one), and, when its plugin instance
 * sets any, that instance's memory_max_mb and env (sorted by name), so that changing them rebuilds
 * its connections (a connection without them keeps the canonical form, and the fingerprint, it had
 * before instances existed). On allocation failure out->failed is set. */
void cs_canon_connection(cs_buf_t *out, const cs_connection_t *conn);

/* Writes the connection's fingerprint, the digest of its canonical form, into out. Returns
 * 0, or -1 when out of memory (out is then ""). */
int cs_canon_fingerprint(const cs_connection_t *conn, char out[CS_DIGEST_HEX_SIZE])
    __attribute__((warn_unused_result));

#endif
