/* Test driver: a raw client of the control channel, written from PROTOCOL.md alone (plain
 * libzmq, no codec): sends bodies given in hex after the header frame and prints what comes
 * back, to show what the supervisor answers to requests it cannot decode.
 *   control_raw [--req] [--timeout MS] [--header TEXT] ENDPOINT HEX...
 * For each HEX (bytes in hex, spaces allowed) a DEALER sends two frames, [TEXT] [body]
 * (TEXT: connstate/1), and waits up to MS (default 2000) for a reply; with --req a REQ
 * socket sends them instead (it adds an empty delimiter frame first). Each reply is printed
 * on one line, "TYPE request_id=N: reason" for ERROR, "TYPE request_id=N" for others
 * (decoded with the codec, only to print it), or "no reply within MS ms" (a REQ socket then
 * stops: it cannot send again before its reply). Exits 0, or 2 on a usage or socket error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cs_proto.h"

/* Parses hex digits (spaces ignored) into out; returns the byte count, or -1. */
static long s_unhex(const char *text, unsigned char *out, size_t size)
{
    size_t n = 0;
    int half = -1;
    for (const char *p = text; *p; p++) {
        if (*p == ' ')
            continue;
        int v = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (v < 0)
            return -1;
        if (half < 0) {
            half = v;
        } else {
            if (n == size)
                return -1;
            out[n++] = (unsigned char)(half << 4 | v);
            half = -1;
        }
    }
    return half < 0 ? (long)n : -1;
}

/* Prints the reply: the last frame is the body, the one before the header. */
static void s_print_reply(void *sock)
{
    zmq_msg_t parts[3];
    int count = 0, more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, 0) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        if (count == 3) {
            zmq_msg_close(&parts[0]);
            memmove(parts, parts + 1, 2 * sizeof *parts);
            count = 2;
        }
        parts[count++] = part;
    }
    char why[256] = "";
    cs_msg_t *msg = count >= 2 ? cs_msg_decode(zmq_msg_data(&parts[count - 1]),
                                               zmq_msg_size(&parts[count - 1]), why, sizeof why)
                               : NULL;
    if (!msg)
        printf("undecodable reply of %d frames: %s\n", count, why);
    else if (msg->type == CS_MSG_ERROR)
        printf("%s request_id=%llu: %s\n", cs_msg_type_name(msg->type),
               (unsigned long long)msg->request_id, msg->reason);
    else
        printf("%s request_id=%llu\n", cs_msg_type_name(msg->type),
               (unsigned long long)msg->request_id);
    cs_msg_destroy(&msg);
    while (count)
        zmq_msg_close(&parts[--count]);
}

int main(int argc, char **argv)
{
    bool req = false;
    int timeout = 2000;
    const char *header = CS_PROTO_HEADER;
    static const struct option options[] = {{"req", no_argument, NULL, 'r'},
                                            {"timeout", required_argument, NULL, 't'},
                                            {"header", required_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'r')
            req = true;
        else if (opt == 't')
            timeout = atoi(optarg);
        else if (opt == 'h')
            header = optarg;
        else
            return 2;
    }
    if (optind + 2 > argc) {
        fprintf(stderr, "usage: control_raw [--req] [--timeout MS] [--header TEXT] ENDPOINT "
                        "HEX...\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, req ? ZMQ_REQ : ZMQ_DEALER) : NULL;
    int linger = 0;
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(sock, argv[optind]) != 0) {
        fprintf(stderr, "control_raw: %s: %s\n", argv[optind], zmq_strerror(zmq_errno()));
        return 2;
    }
    for (int i = optind + 1; i < argc; i++) {
        static unsigned char body[65536];
        long size = s_unhex(argv[i], body, sizeof body);
        if (size < 0) {
            fprintf(stderr, "control_raw: not hex: %s\n", argv[i]);
            return 2;
        }
        if (zmq_send(sock, header, strlen(header), ZMQ_SNDMORE) < 0 ||
            zmq_send(sock, body, (size_t)size, 0) < 0) {
            fprintf(stderr, "control_raw: send: %s\n", zmq_strerror(zmq_errno()));
            return 2;
        }
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout) > 0) {
            s_print_reply(sock);
        } else {
            printf("no reply within %d ms\n", timeout);
            if (req)
                break;
        }
        fflush(stdout);
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}
