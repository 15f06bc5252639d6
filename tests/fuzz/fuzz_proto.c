/* libFuzzer target: the protocol decoder on arbitrary bytes. A message the decoder accepts
 * must re-encode, and decoding that encoding must give the same bytes again; the partial
 * decoder of request_ids must agree with it on every control message it accepts (none found:
 * the message has none, 0). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    (void)cs_proto_check_header(data, size, why, sizeof why);

    uint64_t peeked = 0;
    bool has_id = cs_msg_peek_request_id(data, size, &peeked) == 0;
    cs_msg_t *msg = cs_msg_decode(data, size, why, sizeof why);
    if (!msg)
        return 0;
    /* ERROR's request_id is optional: absent, it decodes as 0 and peek finds none */
    if (msg->type >= CS_PROTO_CONTROL_TYPES && (has_id ? peeked : 0) != msg->request_id) {
        fprintf(stderr, "request_id %llu decoded, peek says %s %llu\n",
                (unsigned long long)msg->request_id, has_id ? "" : "none",
                (unsigned long long)peeked);
        abort();
    }
    char *first, *second;
    size_t first_size, second_size;
    if (cs_msg_encode(msg, &first, &first_size, why, sizeof why) != 0) {
        fprintf(stderr, "decoded message does not re-encode: %s\n", why);
        abort();
    }
    cs_msg_t *again = cs_msg_decode(first, first_size, why, sizeof why);
    if (!again) {
        fprintf(stderr, "re-encoded message does not decode: %s\n", why);
        abort();
    }
    if (cs_msg_encode(again, &second, &second_size, why, sizeof why) != 0 ||
        first_size != second_size || memcmp(first, second, first_size) != 0)
        abort();
    free(first);
    free(second);
    cs_msg_destroy(&again);
    cs_msg_destroy(&msg);
    return 0;
}
