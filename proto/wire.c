/* Protocol messages over ZeroMQ: [routing id][topic][header "connstate/1"][msgpack body]. */
#include "proto.h"

#include "cs_log.h"
#include "cs_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Sends one frame; more: others follow. Returns 0 or -1 (errno set). */
static int s_frame(void *raw, const void *data, size_t size, bool more)
{
    return zmq_send(raw, data, size, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

int cs_wire_send(zsock_t *sock, zframe_t *routing_id, const char *topic, const cs_msg_t *msg)
{
    /* Straight to libzmq: no czmq message, no copies beyond the encoding. */
    cs_buf_t body = {0};
    char why[256];
    if (cs_msg_encode_to(msg, &body, why, sizeof why) != 0) {
        cs_log_error("cannot encode %s: %s", cs_msg_type_name(msg->type), why);
        cs_buf_free(&body);
        return -1;
    }
    void *raw = zsock_resolve(sock);
    int rc = 0;
    if (routing_id)
        rc = s_frame(raw, zframe_data(routing_id), zframe_size(routing_id), true);
    if (rc == 0 && topic)
        rc = s_frame(raw, topic, strlen(topic), true);
    if (rc == 0)
        rc = s_frame(raw, CS_PROTO_HEADER, strlen(CS_PROTO_HEADER), true);
    if (rc == 0)
        rc = s_frame(raw, body.data, body.len, false);
    int err = errno;
    cs_buf_free(&body);
    if (rc != 0) {
        cs_log_debug("cannot send %s: %s", cs_msg_type_name(msg->type), zmq_strerror(err));
        errno = err;
    }
    return rc;
}

/* The frames of one multipart message: the first few kept, the rest only counted. */
#define S_KEEP 4

/* cs_wire_recv, and with request_id_p what cs_wire_recv_request adds. */
static int s_recv(zsock_t *sock, int flags, zframe_t **routing_id_p, cs_msg_t **msg_p,
                  uint64_t *request_id_p, char *why, size_t why_size)
{
    *msg_p = NULL;
    if (request_id_p)
        *request_id_p = 0;
    if (routing_id_p)
        *routing_id_p = NULL;
    /* Straight from libzmq: no czmq message or frame objects for what is decoded at once. */
    void *raw = zsock_resolve(sock);
    zmq_msg_t part[S_KEEP];
    size_t kept = 0, frames = 0;
    for (bool more = true; more; frames++) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        int wait = frames == 0 && (flags & CS_WIRE_DONTWAIT) ? ZMQ_DONTWAIT : 0;
        if (zmq_msg_recv(&frame, raw, wait) < 0) {
            int err = errno;
            zmq_msg_close(&frame);
            while (kept)
                zmq_msg_close(&part[--kept]);
            errno = err;
            return -1; /* the other frames of a message are never missing once one is in */
        }
        more = zmq_msg_more(&frame);
        if (kept < S_KEEP)
            part[kept++] = frame;
        else
            zmq_msg_close(&frame);
    }

    /* Frames are counted as the peer sent them: without the routing id ROUTER adds. */
    size_t routed = (flags & CS_WIRE_ROUTED) ? 1 : 0;
    size_t first = routed + ((flags & CS_WIRE_TOPIC) ? 1 : 0);
    size_t expected = 2 + ((flags & CS_WIRE_TOPIC) ? 1 : 0);
    if (routed && routing_id_p)
        *routing_id_p = zframe_new(zmq_msg_data(&part[0]), zmq_msg_size(&part[0]));
    if (frames - routed != expected) {
        snprintf(why, why_size, "expected %zu frames, got %zu", expected, frames - routed);
    } else {
        zmq_msg_t *header = &part[first], *body = &part[first + 1];
        const void *data = zmq_msg_data(body);
        size_t size = zmq_msg_size(body);
        if (cs_proto_check_header(zmq_msg_data(header), zmq_msg_size(header), why, why_size) == 0 &&
            !(*msg_p = cs_msg_decode(data, size, why, why_size)) && request_id_p &&
            cs_msg_peek_request_id(data, size, request_id_p) != 0)
            *request_id_p = 0;
    }
    while (kept)
        zmq_msg_close(&part[--kept]);
    return 0;
}

int cs_wire_recv(zsock_t *sock, int flags, zframe_t **routing_id_p, cs_msg_t **msg_p, char *why,
                 size_t why_size)
{
    return s_recv(sock, flags, routing_id_p, msg_p, NULL, why, why_size);
}

int cs_wire_recv_request(zsock_t *sock, int flags, zframe_t **routing_id_p, cs_msg_t **msg_p,
                         uint64_t *request_id_p, char *why, size_t why_size)
{
    return s_recv(sock, flags, routing_id_p, msg_p, request_id_p, why, why_size);
}

void cs_wire_limit(zsock_t *sock)
{
    zsock_set_maxmsgsize(sock, (int)CS_PROTO_MAX_BODY + 4096);
}
