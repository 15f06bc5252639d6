/* cs_secrets: the secret values of a connection's config, and masking them in texts.
 * Texts such as plugin stderr and error messages are masked before anything cuts, stores,
 * logs or publishes them. None of these functions blocks. */
#ifndef CS_SECRETS_H
#define CS_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

/* What a masked secret becomes. */
#define CS_SECRETS_MASK "***"

/* Flags of cs_secrets_mask: the text was cut from a longer one at its start / end, so a
 * secret may have been cut in half there; the part of it that is left is masked too. */
#define CS_SECRETS_CUT_START 1u
#define CS_SECRETS_CUT_END   2u

typedef struct cs_secrets cs_secrets_t;

/* True when a config key (attribute, object key or block type) names a secret: it holds
 * password, secret, token, key or credential, in any case. */
bool cs_secrets_name_is_secret(const char *name);

/* An empty set. Returns NULL when out of memory. */
cs_secrets_t *cs_secrets_new(void);

/* Collects the secrets of a config JSON object (a connection's config_json): every string
 * and every number (as text) at any depth under a secret-named key, in lists and objects;
 * a secret-named block type is a key like any other (its array of objects is masked whole).
 * A string is also collected as it appears JSON-escaped, since plugins echo their config.
 * NULL or invalid JSON gives an empty set. Returns the set (the caller destroys it), or
 * NULL when out of memory. Never blocks. */
cs_secrets_t *cs_secrets_from_config(const char *config_json);

/* Adds one secret (len bytes; empty values and duplicates are ignored). Returns 0, or -1
 * when out of memory. */
int cs_secrets_add(cs_secrets_t *self, const char *value, size_t len)
    __attribute__((warn_unused_result));

/* How many distinct secrets the set holds (self may be NULL: 0). */
size_t cs_secrets_count(const cs_secrets_t *self);

/* The length of the longest secret (self may be NULL: 0). */
size_t cs_secrets_max_len(const cs_secrets_t *self);

/* Returns a copy of text (len bytes) in which every byte that belongs to an occurrence of
 * a secret is masked: each run of such bytes becomes one CS_SECRETS_MASK, so overlapping
 * secrets and a secret that contains another are masked whole. flags (CS_SECRETS_CUT_*)
 * also mask a partial secret at a cut edge. self may be NULL (a plain copy). The result is
 * NUL-terminated and malloc'd (the caller frees it; *out_len gets its length when not
 * NULL), or NULL when out of memory. Never blocks. */
char *cs_secrets_mask(const cs_secrets_t *self, const char *text, size_t len, unsigned flags,
                      size_t *out_len);

/* Writes text (len bytes) masked into out (size bytes, NUL-terminated): masks first, then
 * cuts the result to fit, so a cut never leaves a part of a secret behind. self may be
 * NULL. Returns 0, or -1 when out of memory (then out says the text was withheld, rather
 * than holding it unmasked). Never blocks. */
int cs_secrets_mask_into(const cs_secrets_t *self, const char *text, size_t len, char *out,
                         size_t size);

/* The same in place, for a NUL-terminated text in a buffer of size bytes (masks can be
 * longer than short secrets: the result is cut to fit after masking). */
int cs_secrets_mask_str(const cs_secrets_t *self, char *text, size_t size);

/* Frees the set and NULLs *self_p. Idempotent. */
void cs_secrets_destroy(cs_secrets_t **self_p);

#endif
