/* Test driver: floods a supervisor's worker endpoint with frames that are not messages, as
 * a broken or hostile peer would, to show that its log stays bounded and it keeps serving.
 * It stays connected, reading the supervisor's answers (one reason per frame), until none
 * came for 3 s, so that the supervisor sees every frame before the peer goes away.
 *   garbage_frames ENDPOINT COUNT   prints "sent N, answered M"; exit 0 when all were sent */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: garbage_frames ENDPOINT COUNT\n");
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    int hwm = 0, linger = -1; /* queue all of them, and deliver them all before exiting */
    if (!sock || zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(sock, argv[1]) != 0) {
        fprintf(stderr, "garbage_frames: %s: %s\n", argv[1], zmq_strerror(zmq_errno()));
        return 1;
    }
    long sent = 0;
    for (long i = 0; i < count; i++) {
        char frame[32];
        int len = snprintf(frame, sizeof frame, "garbage %ld", i);
        if (zmq_send(sock, frame, (size_t)len, 0) == len)
            sent++;
    }
    long answered = 0;
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&item, 1, 3000) > 0) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        int more = 1;
        while (more && zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) >= 0)
            more = zmq_msg_more(&part);
        zmq_msg_close(&part);
        answered++;
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    printf("sent %ld, answered %ld\n", sent, answered);
    return sent == count ? 0 : 1;
}
