/* Test driver: asks supervisors for STATUS and prints, per endpoint, what each says it is.
 *   status_check [--samples N --every MS] CONTROL_EP...
 *   status_check --hold CONTROL_EP
 * For each sample, one line: each endpoint's answer in order, "active", "standby", "down"
 * (its database is unavailable) or "none" (no answer within 500 ms). A sample asks every
 * endpoint at once (all requests sent, then the answers read), so that its answers are of
 * the same instant, within the time the supervisors take to answer. With several samples,
 * exits 1 when a sample had more than one "active" (after the last sample: every one is
 * printed); else 0.
 * With --hold, one socket stays connected to the endpoint: for each line read on stdin one
 * request is sent on it and its answer printed ("none" after 30 s), so that a request can wait
 * in a frozen supervisor's socket while the caller changes the world around it: STATUS, or for
 * a line "refresh" a refresh that is waited for, which prints "done" or "refused". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_wire.h"

#define S_SAMPLE_WAIT_MS 500   /* a sample's answer, at most */
#define S_HOLD_WAIT_MS   30000 /* --hold: one answer, at most */
#define S_MAX_ENDPOINTS  8     /* endpoints asked in one sample, at most */

static zsock_t *s_connect(const char *endpoint, int wait_ms)
{
    zsock_t *sock = zsock_new_dealer(endpoint);
    if (sock) {
        zsock_set_rcvtimeo(sock, wait_ms);
        zsock_set_linger(sock, 0);
    }
    return sock;
}

/* The answer to a request sent on sock. */
static const char *s_answer(zsock_t *sock)
{
    const char *what = "none";
    cs_msg_t *rep = NULL;
    char why[256];
    if (cs_wire_recv(sock, 0, NULL, &rep, why, sizeof why) == 0 && rep &&
        rep->type == CS_MSG_STATUS_REP)
        what = rep->standby ? "standby" : rep->db_down_since ? "down" : "active";
    cs_msg_destroy(&rep);
    return what;
}

/* One STATUS request on sock and what its answer says. */
static const char *s_ask_on(zsock_t *sock, uint64_t id)
{
    cs_msg_t *req = cs_msg_new(CS_MSG_STATUS_REQ);
    if (!req)
        return "none";
    req->request_id = id;
    const char *what = cs_wire_send(sock, NULL, NULL, req) == 0 ? s_answer(sock) : "none";
    cs_msg_destroy(&req);
    return what;
}

/* One refresh request on sock (waiting for its end): "done", "refused" (an ERROR reply: the
 * supervisor may not refresh, or lost its session meanwhile) or "none" (no end in time). */
static const char *s_refresh_on(zsock_t *sock, uint64_t id)
{
    cs_msg_t *req = cs_msg_new(CS_MSG_REFRESH_REQ);
    if (!req)
        return "none";
    req->request_id = id;
    req->wait = true;
    const char *what = cs_wire_send(sock, NULL, NULL, req) == 0 ? NULL : "none";
    cs_msg_destroy(&req);
    while (!what) {
        cs_msg_t *rep = NULL;
        char why[256];
        if (cs_wire_recv(sock, 0, NULL, &rep, why, sizeof why) != 0)
            what = "none";
        else if (rep && rep->type == CS_MSG_ERROR)
            what = "refused";
        else if (rep && rep->type == CS_MSG_REFRESH_REP && rep->done)
            what = "done";
        cs_msg_destroy(&rep); /* the refresh accepted (not done yet): its end is read next */
    }
    return what;
}

/* One sample: a request to every endpoint, then every answer; returns how many said active. */
static int s_sample(char **endpoints, int count, uint64_t *id)
{
    zsock_t *socks[S_MAX_ENDPOINTS];
    bool sent[S_MAX_ENDPOINTS];
    for (int i = 0; i < count; i++) {
        socks[i] = s_connect(endpoints[i], S_SAMPLE_WAIT_MS);
        cs_msg_t *req = socks[i] ? cs_msg_new(CS_MSG_STATUS_REQ) : NULL;
        if (req)
            req->request_id = (*id)++;
        sent[i] = req && cs_wire_send(socks[i], NULL, NULL, req) == 0;
        cs_msg_destroy(&req);
    }
    int active = 0;
    for (int i = 0; i < count; i++) {
        const char *what = sent[i] ? s_answer(socks[i]) : "none";
        active += strcmp(what, "active") == 0;
        printf("%s%s", i ? " " : "", what);
        zsock_destroy(&socks[i]);
    }
    printf("\n");
    fflush(stdout);
    return active;
}

static int s_hold(const char *endpoint)
{
    zsock_t *sock = s_connect(endpoint, S_HOLD_WAIT_MS);
    if (!sock)
        return 2;
    char line[64];
    for (uint64_t id = 1; fgets(line, sizeof line, stdin); id++) {
        bool refresh = strncmp(line, "refresh", 7) == 0;
        printf("%s\n", refresh ? s_refresh_on(sock, id) : s_ask_on(sock, id));
        fflush(stdout);
    }
    zsock_destroy(&sock);
    return 0;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    if (argc == 3 && strcmp(argv[1], "--hold") == 0)
        return s_hold(argv[2]);
    int samples = 1, every = 0, first = 1;
    while (first + 1 < argc && strncmp(argv[first], "--", 2) == 0) {
        if (strcmp(argv[first], "--samples") == 0)
            samples = atoi(argv[first + 1]);
        else if (strcmp(argv[first], "--every") == 0)
            every = atoi(argv[first + 1]);
        first += 2;
    }
    if (first >= argc || argc - first > S_MAX_ENDPOINTS) {
        fprintf(stderr, "status_check: 1 to %d control endpoints\n", S_MAX_ENDPOINTS);
        return 2;
    }
    uint64_t id = 1;
    bool violated = false;
    for (int s = 0; s < samples; s++) {
        if (s_sample(argv + first, argc - first, &id) > 1)
            violated = true;
        if (every)
            zclock_sleep(every);
    }
    return violated && samples > 1 ? 1 : 0;
}
