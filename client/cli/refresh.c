/* connstate refresh: asks the running supervisor to refresh (everything, or the connections
 * named) and waits until that refresh is complete, with a progress bar on a terminal. */
#include "cli.h"

#include "cs_wire.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cs_cli_command_t s_command = {
    .name = "refresh",
    .usage = "Usage: connstate refresh [--control EP] [--timeout SEC] [--curve-cert FILE\n"
             "                         --curve-server FILE] [--full] [NAME]...\n"
             "Asks the running supervisor to refresh now and returns when that refresh is\n"
             "complete, with a summary line. Without NAME: every connection, and every\n"
             "dynamic schema is fetched again. With NAMEs (at most 1024): only those\n"
             "connections are looked at again (their dynamic schemas fetched again), and it\n"
             "returns once their updates are done; a name that is no connection is refused\n"
             "and nothing is refreshed. Exit status: 0 when no connection (of those named)\n"
             "ended in error, 1 otherwise (or when no supervisor answers, or a name is\n"
             "refused), 2 on a usage error.\n",
    .options = CS_CLI_CONTROL | CS_CLI_TIMEOUT | CS_CLI_CURVE | CS_CLI_FULL,
    .max_args = -1,
};

static void s_counts_text(cs_buf_t *out, const uint32_t counts[CS_STATUS_COUNT])
{
    uint32_t total = 0;
    for (int s = 0; s < CS_STATUS_COUNT; s++)
        total += counts[s];
    cs_buf_printf(out, "%u connection%s", total, total == 1 ? "" : "s");
    const char *sep = ": ";
    for (int s = 0; s < CS_STATUS_COUNT; s++) {
        if (!counts[s])
            continue;
        cs_buf_printf(out, "%s%u %s", sep, counts[s], cs_status_name((cs_status_t)s));
        sep = ", ";
    }
}

static void s_progress(const cs_msg_t *status, double seconds)
{
    uint32_t busy = status->counts[CS_STATUS_PENDING] + status->counts[CS_STATUS_UPDATING] +
                    status->counts[CS_STATUS_DELETING];
    uint32_t total = status->total ? status->total : 1;
    uint32_t done = status->total - busy;
    int width = 30, filled = (int)((uint64_t)done * (uint64_t)width / total);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %u/%u  ready %u  error %u  %.1f s ", bar, done, status->total,
            status->counts[CS_STATUS_READY], status->counts[CS_STATUS_ERROR], seconds);
    fflush(stderr);
}

int cs_cli_refresh(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    const char *control = args.control;
    double timeout = args.timeout;
    cs_curve_client_t curve;
    if (cs_cli_curve(&args, &curve) != 0)
        return 2;

    if (args.argc > CS_PROTO_MAX_NAMES) {
        fprintf(stderr, "connstate refresh: at most %d connection names, not %d\n",
                CS_PROTO_MAX_NAMES, args.argc);
        return 2;
    }
    for (int i = 0; i < args.argc; i++) {
        size_t len = strlen(args.argv[i]);
        if (len == 0 || len > CS_PROTO_MAX_NAME) {
            fprintf(stderr, "connstate refresh: \"%s\" is not a connection name (1 to %d bytes)\n",
                    args.argv[i], CS_PROTO_MAX_NAME);
            return 2;
        }
    }
    zsock_t *sock = cs_cli_control_connect(&args, &curve);
    if (!sock)
        return 2;
    bool tty = isatty(STDERR_FILENO);
    int64_t start = zclock_mono();
    uint64_t request_id = (uint64_t)zclock_time() ^ (uint64_t)getpid();
    cs_msg_t *req = cs_msg_new(CS_MSG_REFRESH_REQ);
    req->request_id = request_id;
    req->wait = true;
    req->full = args.full;
    bool named = args.argc > 0;
    for (int i = 0; i < args.argc; i++)
        if (cs_strs_add_max(&req->names, args.argv[i], CS_PROTO_MAX_NAMES) != 0) {
            fprintf(stderr, "connstate refresh: out of memory\n");
            cs_msg_destroy(&req);
            zsock_destroy(&sock);
            return 1;
        }
    rc = cs_wire_send(sock, NULL, NULL, req) == 0 ? -1 : 1;
    cs_msg_destroy(&req);
    bool accepted = false;
    uint64_t instance = 0;
    int64_t last_status = 0;
    while (rc < 0) {
        double elapsed = (zclock_mono() - start) / 1000.0;
        if (!accepted && elapsed > 5) {
            fprintf(stderr, "connstate refresh: no supervisor answers at %s%s\n", control,
                    curve.on ? " (with CURVE: is this key in its --curve-clients, and is "
                               "--curve-server its current certificate?)"
                             : "");
            rc = 1;
            break;
        }
        if (timeout > 0 && elapsed > timeout) {
            fprintf(stderr, "%sconnstate refresh: timed out after %.0f s\n", tty ? "\n" : "",
                    timeout);
            rc = 1;
            break;
        }
        if (accepted && zclock_mono() - last_status >= 200) {
            last_status = zclock_mono();
            cs_msg_t *ask = cs_msg_new(CS_MSG_STATUS_REQ);
            ask->request_id = request_id + 1;
            if (cs_wire_send(sock, NULL, NULL, ask) != 0)
                fprintf(stderr, "connstate refresh: cannot ask for progress\n");
            cs_msg_destroy(&ask);
        }
        cs_msg_t *msg;
        if (cs_cli_control_recv(&args, sock, 100, &msg) <= 0)
            continue;
        if (msg->type == CS_MSG_REFRESH_REP && msg->request_id == request_id && !msg->done) {
            accepted = true;
        } else if (msg->type == CS_MSG_REFRESH_REP && msg->request_id == request_id) {
            cs_buf_t line = {0};
            cs_buf_printf(&line,
                          "refresh %llu done in %.3f s: ", (unsigned long long)msg->generation,
                          msg->elapsed_us / 1e6);
            if (named)
                cs_buf_printf(&line, "of those named, ");
            s_counts_text(&line, msg->counts);
            if (tty)
                fprintf(stderr, "\r%*s\r", 79, "");
            printf("%s\n", cs_buf_str(&line));
            cs_buf_free(&line);
            rc = msg->counts[CS_STATUS_ERROR] ? 1 : 0;
        } else if (msg->type == CS_MSG_STATUS_REP) {
            if (instance && msg->instance != instance) {
                fprintf(stderr,
                        "%sconnstate refresh: the supervisor restarted during the "
                        "refresh\n",
                        tty ? "\n" : "");
                rc = 1;
            }
            instance = msg->instance;
            if (tty && rc < 0 && !named) /* its counts are of every connection */
                s_progress(msg, (zclock_mono() - start) / 1000.0);
        } else if (msg->type == CS_MSG_ERROR) {
            fprintf(stderr, "connstate refresh: the supervisor says: %s\n", msg->reason);
            rc = 1;
        }
        cs_msg_destroy(&msg);
    }
    zsock_destroy(&sock);
    return rc;
}
