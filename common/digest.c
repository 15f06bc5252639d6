/* The 16-hex digest of a text: the first half of its SHA-1 (czmq's zdigest). */
#include "common.h"

#include <czmq.h>

cs_digest_t *cs_digest_new(void)
{
    return (cs_digest_t *)zdigest_new();
}

void cs_digest_update(cs_digest_t *self, const void *data, size_t len)
{
    zdigest_update((zdigest_t *)self, (const byte *)data, len);
}

void cs_digest_end(cs_digest_t **self_p, char out[CS_DIGEST_HEX_SIZE])
{
    zdigest_t *digest = (zdigest_t *)*self_p;
    const byte *hash = zdigest_data(digest);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < (CS_DIGEST_HEX_SIZE - 1) / 2; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[CS_DIGEST_HEX_SIZE - 1] = '\0';
    zdigest_destroy(&digest);
    *self_p = NULL;
}

int cs_digest_hex16(const void *data, size_t len, char out[CS_DIGEST_HEX_SIZE])
{
    out[0] = '\0';
    cs_digest_t *digest = cs_digest_new();
    if (!digest)
        return -1;
    cs_digest_update(digest, data, len);
    cs_digest_end(&digest, out);
    return 0;
}
