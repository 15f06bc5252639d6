/* Test driver: a worker written from proto/PROTOCOL.md alone (ZeroMQ and msgpack, none of
 * connstate's own code) that builds nothing: it connects a DEALER to the worker endpoint,
 * sends READY, heartbeats every second, and answers every TASK with a RESULT ok = true whose
 * fields look right (task_id, connection and kind echoed, the task's fingerprint as the
 * schema hash, a plugin version, table and statement counts).
 *   fake_worker ENDPOINT [--name NAME] [--capacity N] [--plugin-version V]
 *               [--curve-cert FILE --curve-server FILE]
 * With CURVE (both files, as `connstate keygen` writes them, loaded with czmq's zcert): its
 * own certificate (FILE and FILE_secret) and the supervisor's public one.
 * Prints "answered KIND CONNECTION" for every TASK (stdout, line-buffered). Runs until
 * SIGTERM/SIGINT (then says DISCONNECT and exits 0) or the supervisor's DISCONNECT (exit 1,
 * its reason on stderr); exit 2 on bad arguments. */
#include <czmq.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_HEADER       "connstate/1" /* PROTOCOL.md: the header frame */
#define S_READY        1
#define S_TASK         2
#define S_RESULT       3
#define S_HEARTBEAT    4
#define S_DISCONNECT   5
#define S_HEARTBEAT_MS 1000
#define S_NAME_MAX     63  /* a connection name's limit */
#define S_SHORT_MAX    255 /* plugin versions, hashes, worker names */

static volatile sig_atomic_t s_stop = 0;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

typedef struct {
    const char *endpoint;
    const char *name;
    unsigned capacity;
    const char *plugin_version;
    const char *curve_cert;
    const char *curve_server;
} s_args_t;

/* One loop over argv: every option takes one value. Returns 0, or -1 (said why). */
static int s_parse(int argc, char **argv, s_args_t *args)
{
    *args = (s_args_t){NULL, "fake-worker", 4, "1.0.0", NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-') {
            if (args->endpoint) {
                fprintf(stderr, "fake_worker: one endpoint only (got %s too)\n", arg);
                return -1;
            }
            args->endpoint = arg;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "fake_worker: %s needs a value\n", arg);
            return -1;
        }
        const char *value = argv[++i];
        if (strcmp(arg, "--name") == 0 && strlen(value) <= S_SHORT_MAX) {
            args->name = value;
        } else if (strcmp(arg, "--plugin-version") == 0 && strlen(value) <= S_SHORT_MAX) {
            args->plugin_version = value;
        } else if (strcmp(arg, "--curve-cert") == 0) {
            args->curve_cert = value;
        } else if (strcmp(arg, "--curve-server") == 0) {
            args->curve_server = value;
        } else if (strcmp(arg, "--capacity") == 0) {
            char *end;
            unsigned long n = strtoul(value, &end, 10);
            if (*end || n < 1 || n > 1024) { /* PROTOCOL.md: 1..1024 */
                fprintf(stderr, "fake_worker: --capacity takes 1..1024, not %s\n", value);
                return -1;
            }
            args->capacity = (unsigned)n;
        } else {
            fprintf(stderr, "fake_worker: unknown option %s (or its value is too long)\n", arg);
            return -1;
        }
    }
    if (!args->endpoint) {
        fprintf(stderr, "usage: fake_worker ENDPOINT [--name NAME] [--capacity N] "
                        "[--plugin-version V] [--curve-cert FILE --curve-server FILE]\n");
        return -1;
    }
    if (!args->curve_cert != !args->curve_server) {
        fprintf(stderr, "fake_worker: --curve-cert and --curve-server go together\n");
        return -1;
    }
    return 0;
}

/* CURVE on the socket: its own certificate (FILE_secret holds the secret key) and the
 * supervisor's public key. Returns 0, or -1 (said why). */
static int s_curve(zsock_t *sock, const s_args_t *args)
{
    if (!args->curve_cert)
        return 0;
    zcert_t *own = zcert_load(args->curve_cert), *server = zcert_load(args->curve_server);
    int rc = 0;
    if (!own || !server) {
        fprintf(stderr, "fake_worker: cannot read the certificate %s\n",
                own ? args->curve_server : args->curve_cert);
        rc = -1;
    } else {
        zcert_apply(own, sock);
        zsock_set_curve_serverkey(sock, zcert_public_txt(server));
    }
    zcert_destroy(&own);
    zcert_destroy(&server);
    return rc;
}

/* ---- encoding: a map with small integer keys --------------------------------------------- */

static void s_pack_str(msgpack_packer *pk, const char *text, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, text, len);
}

/* Sends the header frame and the body. Returns 0 or -1. */
static int s_send(zsock_t *sock, const msgpack_sbuffer *body)
{
    void *raw = zsock_resolve(sock);
    if (zmq_send(raw, S_HEADER, strlen(S_HEADER), ZMQ_SNDMORE) < 0 ||
        zmq_send(raw, body->data, body->size, 0) < 0)
        return -1;
    return 0;
}

static int s_send_ready(zsock_t *sock, const s_args_t *args)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, S_READY);
    msgpack_pack_uint8(&pk, 1); /* capacity */
    msgpack_pack_uint32(&pk, args->capacity);
    msgpack_pack_uint8(&pk, 2); /* name */
    s_pack_str(&pk, args->name, strlen(args->name));
    msgpack_pack_uint8(&pk, 3); /* pid */
    msgpack_pack_uint32(&pk, (uint32_t)getpid());
    int rc = s_send(sock, &buf);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

/* Goodbye, so that the supervisor forgets this worker at once (SIGTERM). */
static int s_send_disconnect(zsock_t *sock)
{
    static const char reason[] = "fake worker stopping";
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, S_DISCONNECT);
    msgpack_pack_uint8(&pk, 1); /* reason */
    s_pack_str(&pk, reason, strlen(reason));
    int rc = s_send(sock, &buf);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

static int s_send_heartbeat(zsock_t *sock, unsigned in_flight)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, S_HEARTBEAT);
    msgpack_pack_uint8(&pk, 1); /* in_flight */
    msgpack_pack_uint32(&pk, in_flight);
    int rc = s_send(sock, &buf);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

/* ---- decoding a TASK ---------------------------------------------------------------------- */

typedef struct {
    uint64_t task_id;
    uint64_t kind;
    char connection[S_NAME_MAX + 1];
    char fingerprint[S_SHORT_MAX + 1];
} s_task_t;

/* Copies a string value of at most max bytes. Returns 0, or -1 when it is not one. */
static int s_copy(const msgpack_object *value, char *out, size_t max)
{
    if (value->type != MSGPACK_OBJECT_STR || value->via.str.size > max)
        return -1;
    memcpy(out, value->via.str.ptr, value->via.str.size);
    out[value->via.str.size] = '\0';
    return 0;
}

/* The message type of a body (key 0) and, for a TASK, what a RESULT echoes; unknown keys are
 * ignored. Returns the type, or -1 when the body is not a map with a type. */
static int s_decode(const msgpack_object *body, s_task_t *task, char *reason, size_t size)
{
    if (body->type != MSGPACK_OBJECT_MAP)
        return -1;
    int type = -1;
    memset(task, 0, sizeof *task);
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object *key = &body->via.map.ptr[i].key;
        const msgpack_object *value = &body->via.map.ptr[i].val;
        if (key->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return -1;
        uint64_t k = key->via.u64;
        bool number = value->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
        if (k == 0 && number)
            type = (int)value->via.u64;
        else if (k == 1 && number)
            task->task_id = value->via.u64;
        else if (k == 2 && number)
            task->kind = value->via.u64;
        else if (k == 3 && s_copy(value, task->connection, S_NAME_MAX) != 0)
            return -1;
        else if (k == 6 && value->type == MSGPACK_OBJECT_STR)
            (void)s_copy(value, task->fingerprint, S_SHORT_MAX);
        if (k == 1 && value->type == MSGPACK_OBJECT_STR) /* DISCONNECT: 1 reason */
            snprintf(reason, size, "%.*s", (int)value->via.str.size, value->via.str.ptr);
    }
    return type;
}

/* A RESULT that says the task was done (it was not). */
static int s_send_result(zsock_t *sock, const s_task_t *task, const s_args_t *args)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    const char *hash = task->fingerprint[0] ? task->fingerprint : "0123456789abcdef";
    msgpack_pack_map(&pk, 10);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, S_RESULT);
    msgpack_pack_uint8(&pk, 1); /* task_id */
    msgpack_pack_uint64(&pk, task->task_id);
    msgpack_pack_uint8(&pk, 2); /* connection */
    s_pack_str(&pk, task->connection, strlen(task->connection));
    msgpack_pack_uint8(&pk, 3); /* ok */
    msgpack_pack_true(&pk);
    msgpack_pack_uint8(&pk, 5); /* plugin_version */
    s_pack_str(&pk, args->plugin_version, strlen(args->plugin_version));
    msgpack_pack_uint8(&pk, 6); /* schema_hash */
    s_pack_str(&pk, hash, strlen(hash));
    msgpack_pack_uint8(&pk, 7); /* tables */
    msgpack_pack_uint32(&pk, task->kind == 1 ? 2 : 0);
    msgpack_pack_uint8(&pk, 8); /* ddl_count */
    msgpack_pack_uint32(&pk, 3);
    msgpack_pack_uint8(&pk, 9); /* elapsed_us */
    msgpack_pack_uint64(&pk, 1000);
    msgpack_pack_uint8(&pk, 10); /* kind */
    msgpack_pack_uint64(&pk, task->kind);
    int rc = s_send(sock, &buf);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

static const char *s_kind_name(uint64_t kind)
{
    return kind == 1 ? "build" : kind == 2 ? "delete" : kind == 3 ? "comments" : "unknown";
}

/* Reads one message (header and body frames). Returns its type, 0 when it was not one to
 * act on, -1 when the socket failed. */
static int s_receive(zsock_t *sock, s_task_t *task, char *reason, size_t size)
{
    zmsg_t *msg = zmsg_recv(sock);
    if (!msg)
        return -1;
    int type = 0;
    zframe_t *header = zmsg_first(msg), *body = zmsg_next(msg);
    if (zmsg_size(msg) == 2 && zframe_size(header) == strlen(S_HEADER) &&
        memcmp(zframe_data(header), S_HEADER, strlen(S_HEADER)) == 0) {
        msgpack_unpacked unpacked;
        msgpack_unpacked_init(&unpacked);
        if (msgpack_unpack_next(&unpacked, (const char *)zframe_data(body), zframe_size(body),
                                NULL) == MSGPACK_UNPACK_SUCCESS) {
            type = s_decode(&unpacked.data, task, reason, size);
            if (type < 0)
                type = 0;
        }
        msgpack_unpacked_destroy(&unpacked);
    }
    zmsg_destroy(&msg);
    return type;
}

int main(int argc, char **argv)
{
    s_args_t args;
    if (s_parse(argc, argv, &args) != 0)
        return 2;
    zsys_handler_set(NULL);
    signal(SIGTERM, s_on_signal);
    signal(SIGINT, s_on_signal);
    setvbuf(stdout, NULL, _IOLBF, 0);
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return 1;
    zsock_set_linger(sock, 0);
    if (s_curve(sock, &args) != 0) {
        zsock_destroy(&sock);
        return 2;
    }
    if (zsock_connect(sock, "%s", args.endpoint) != 0 || s_send_ready(sock, &args) != 0) {
        fprintf(stderr, "fake_worker: cannot connect to %s\n", args.endpoint);
        zsock_destroy(&sock);
        return 1;
    }
    int rc = 0;
    int64_t next_heartbeat = zclock_mono() + S_HEARTBEAT_MS;
    while (!s_stop) {
        int64_t wait = next_heartbeat - zclock_mono();
        zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, wait > 0 ? (long)wait : 0) < 0)
            continue; /* a signal: s_stop says whether to go on */
        if (zclock_mono() >= next_heartbeat) {
            (void)s_send_heartbeat(sock, 0); /* every TASK is answered at once */
            next_heartbeat = zclock_mono() + S_HEARTBEAT_MS;
        }
        if (!(item.revents & ZMQ_POLLIN))
            continue;
        s_task_t task;
        char reason[512] = "";
        int type = s_receive(sock, &task, reason, sizeof reason);
        if (type == S_TASK && task.task_id && task.connection[0]) {
            if (s_send_result(sock, &task, &args) == 0)
                printf("answered %s %s\n", s_kind_name(task.kind), task.connection);
        } else if (type == S_DISCONNECT) {
            fprintf(stderr, "fake_worker: the supervisor disconnected us: %s\n", reason);
            rc = 1;
            break;
        }
    }
    if (s_stop) {
        (void)s_send_disconnect(sock);
        zsock_set_linger(sock, 1000); /* the goodbye leaves before the socket closes */
    }
    zsock_destroy(&sock);
    zsys_shutdown();
    return rc;
}
