/* Test driver: a subscriber that stops reading: it connects a SUB to the publish endpoint
 * with a receive queue of one message, subscribes to everything, and reads nothing.
 *   sub_stall ENDPOINT OUT UNTIL_FILE
 * Writes "started" to OUT once connected, then waits until UNTIL_FILE exists; exits 0. */
#include <czmq.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: sub_stall ENDPOINT OUT UNTIL_FILE\n");
        return 2;
    }
    zsys_handler_set(NULL);
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub)
        return 1;
    zsock_set_rcvhwm(sub, 1);
    zsock_set_rcvbuf(sub, 4096); /* the kernel holds little of it either */
    zsock_set_subscribe(sub, "");
    if (zsock_connect(sub, "%s", argv[1]) != 0)
        return 1;
    FILE *out = fopen(argv[2], "w");
    if (!out)
        return 1;
    fprintf(out, "started\n");
    fclose(out);
    while (access(argv[3], F_OK) != 0)
        zclock_sleep(50);
    zsock_destroy(&sub);
    return 0;
}
