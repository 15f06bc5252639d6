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

int cs_wire_recv(zsock_t *sock, int flags, zframe_t **routing_id_p, cs_msg_t **msg_p, char *why,
                 size_t why_size)
{
    *msg_p = NULL;
    if (routing_id_p)
        *routing_id_p = NULL;
    zmsg_t *zmsg = zmsg_recv(sock);
    if (!zmsg)
        return -1;

    /* Frames are counted as the peer sent them: without the routing id ROUTER adds. */
    size_t routed = (flags & CS_WIRE_ROUTED) ? 1 : 0;
    size_t expected = 2 + ((flags & CS_WIRE_TOPIC) ? 1 : 0);
    size_t frames = zmsg_size(zmsg) - routed;
    if (flags & CS_WIRE_ROUTED) {
        zframe_t *routing_id = zmsg_pop(zmsg);
        if (routing_id_p)
            *routing_id_p = routing_id;
        else
            zframe_destroy(&routing_id);
    }
    if (flags & CS_WIRE_TOPIC) {
        zframe_t *topic = zmsg_pop(zmsg);
        zframe_destroy(&topic);
    }

    if (frames != expected) {
        snprintf(why, why_size, "expected %zu frames, got %zu", expected, frames);
    } else {
        zframe_t *header = zmsg_first(zmsg);
        zframe_t *body = zmsg_next(zmsg);
        if (cs_proto_check_header(zframe_data(header), zframe_size(header), why, why_size) == 0)
            *msg_p = cs_msg_decode(zframe_data(body), zframe_size(body), why, why_size);
    }
    zmsg_destroy(&zmsg);
    return 0;
}

void cs_wire_limit(zsock_t *sock)
{
    zsock_set_maxmsgsize(sock, (int)CS_PROTO_MAX_BODY + 4096);
}
