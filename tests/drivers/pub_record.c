/* Test driver: records everything a supervisor publishes, as it comes off the wire (no
 * libconnstate in between), so that a suite can check the stream itself.
 *   pub_record ENDPOINT OUT UNTIL_FILE
 * Writes "started" to OUT once subscribed, then one line per message, flushed: "state SEQ
 * NAME STATUS" and "hb SEQ INSTANCE DB_DOWN_SINCE STANDBY", until UNTIL_FILE exists; exits 0.
 * Exits 1 when a message cannot be read. */
#include <stdio.h>
#include <unistd.h>

#include "cs_wire.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: pub_record ENDPOINT OUT UNTIL_FILE\n");
        return 2;
    }
    zsys_handler_set(NULL);
    zsock_t *sub = zsock_new_sub(argv[1], "");
    FILE *out = fopen(argv[2], "w");
    if (!sub || !out)
        return 1;
    zsock_set_rcvhwm(sub, 0);
    fprintf(out, "started\n");
    fflush(out);
    zpoller_t *poller = zpoller_new(sub, NULL);
    int rc = 0;
    while (access(argv[3], F_OK) != 0) {
        if (!zpoller_wait(poller, 100))
            continue;
        cs_msg_t *msg = NULL;
        char why[256];
        if (cs_wire_recv(sub, CS_WIRE_TOPIC, NULL, &msg, why, sizeof why) != 0 || !msg) {
            fprintf(stderr, "pub_record: %s\n", msg ? "receive failed" : why);
            rc = 1;
            break;
        }
        if (msg->type == CS_MSG_STATE)
            fprintf(out, "state %llu %s %d\n", (unsigned long long)msg->seq, msg->connection,
                    (int)msg->status);
        else if (msg->type == CS_MSG_PUB_HEARTBEAT)
            fprintf(out, "hb %llu %llu %lld %d\n", (unsigned long long)msg->seq,
                    (unsigned long long)msg->instance, (long long)msg->db_down_since,
                    msg->standby ? 1 : 0);
        fflush(out);
        cs_msg_destroy(&msg);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    fclose(out);
    return rc;
}
