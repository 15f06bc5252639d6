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

#endif
