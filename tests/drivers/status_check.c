/* Test driver: asks supervisors for STATUS and prints, per endpoint, what each says it is.
 *   status_check [--samples N --every MS] CONTROL_EP...
 * For each sample, one line: each endpoint's answer in order, "active", "standby", "down"
 * (its database is unavailable) or "none" (no answer within 500 ms). With several samples,
 * exits 1 as soon as one sample has more than one "active"; else 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_wire.h"

static const char *s_ask(const char *endpoint, uint64_t id)
{
    zsock_t *sock = zsock_new_dealer(endpoint);
    if (!sock)
        return "none";
    zsock_set_rcvtimeo(sock, 500);
    zsock_set_linger(sock, 0);
    cs_msg_t *req = cs_msg_new(CS_MSG_STATUS_REQ);
    req->request_id = id;
    const char *what = "none";
    if (cs_wire_send(sock, NULL, NULL, req) == 0) {
        cs_msg_t *rep = NULL;
        char why[256];
        if (cs_wire_recv(sock, 0, NULL, &rep, why, sizeof why) == 0 && rep &&
            rep->type == CS_MSG_STATUS_REP)
            what = rep->standby ? "standby" : rep->db_down_since ? "down" : "active";
        cs_msg_destroy(&rep);
    }
    cs_msg_destroy(&req);
    zsock_destroy(&sock);
    return what;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    int samples = 1, every = 0, first = 1;
    while (first + 1 < argc && strncmp(argv[first], "--", 2) == 0) {
        if (strcmp(argv[first], "--samples") == 0)
            samples = atoi(argv[first + 1]);
        else if (strcmp(argv[first], "--every") == 0)
            every = atoi(argv[first + 1]);
        first += 2;
    }
    uint64_t id = 1;
    for (int s = 0; s < samples; s++) {
        int active = 0;
        for (int i = first; i < argc; i++) {
            const char *what = s_ask(argv[i], id++);
            active += strcmp(what, "active") == 0;
            printf("%s%s", i > first ? " " : "", what);
        }
        printf("\n");
        fflush(stdout);
        if (active > 1 && samples > 1)
            return 1;
        if (every)
            zclock_sleep(every);
    }
    return 0;
}
