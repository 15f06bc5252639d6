/* The 16-hex digest of a text: the first half of its SHA-1 (czmq's zdigest). */
#include "common.h"

#include <czmq.h>

int cs_digest_hex16(const void *data, size_t len, char out[CS_DIGEST_HEX_SIZE])
{
    out[0] = '\0';
    zdigest_t *digest = zdigest_new();
    if (!digest)
        return -1;
    zdigest_update(digest, (const byte *)data, len);
    const byte *hash = zdigest_data(digest);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < (CS_DIGEST_HEX_SIZE - 1) / 2; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[CS_DIGEST_HEX_SIZE - 1] = '\0';
    zdigest_destroy(&digest);
    return 0;
}
