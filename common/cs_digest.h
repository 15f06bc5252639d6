/* cs_digest: the 16-hex-digit digest of a text.
 * Used for fingerprints, schema hashes and temporary schema names: stable across hosts,
 * versions and restarts. */
#ifndef CS_DIGEST_H
#define CS_DIGEST_H

#include <stddef.h>

#define CS_DIGEST_HEX_SIZE 17 /* 16 lowercase hex digits and the NUL */

/* Writes into out the first 8 bytes of the SHA-1 of len bytes at data, as 16 lowercase hex
 * digits and a NUL. Returns 0, or -1 when out of memory (out is then ""). Borrows data;
 * never blocks. */
int cs_digest_hex16(const void *data, size_t len, char out[CS_DIGEST_HEX_SIZE])
    __attribute__((warn_unused_result));

/* The same digest of a text given in pieces, for texts too large to hold at once. */
typedef struct cs_digest cs_digest_t;

/* Returns an empty digest (the caller ends it with cs_digest_end), or NULL when out of
 * memory. */
cs_digest_t *cs_digest_new(void);

/* Adds len bytes at data to the text. Borrows data. */
void cs_digest_update(cs_digest_t *self, const void *data, size_t len);

/* Writes the digest of the text into out (as cs_digest_hex16 does), frees the digest and
 * NULLs *self_p. */
void cs_digest_end(cs_digest_t **self_p, char out[CS_DIGEST_HEX_SIZE]);

#endif
