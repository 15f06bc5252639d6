/* Protocol messages over ZeroMQ: [routing id][topic][header "connstate/1"][msgpack body]. */
#include "proto.h"

#include "cs_log.h"
#include "cs_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cs_wire_send(zsock_t *sock, zframe_t *routing_id, const char *topic, const cs_msg_t *msg)
{
    char *body;
    size_t size;
    char why[256];
    if (cs_msg_encode(msg, &body, &size, why, sizeof why) != 0) {
        cs_log_error("cannot encode %s: %s", cs_msg_type_name(msg->type), why);
        return -1;
    }
    zmsg_t *zmsg = zmsg_new();
    if (!zmsg) {
        free(body);
        return -1;
    }
    if (routing_id)
        zmsg_addmem(zmsg, zframe_data(routing_id), zframe_size(routing_id));
    if (topic)
        zmsg_addstr(zmsg, topic);
    zmsg_addmem(zmsg, CS_PROTO_HEADER, strlen(CS_PROTO_HEADER));
    int rc = zmsg_addmem(zmsg, body, size);
    free(body);
    if (rc != 0) {
        zmsg_destroy(&zmsg);
        return -1;
    }
    if (zmsg_send(&zmsg, sock) != 0) {
        int err = errno;
        zmsg_destroy(&zmsg);
        cs_log_debug("cannot send %s: %s", cs_msg_type_name(msg->type), zmq_strerror(err));
        errno = err;
        return -1;
    }
    return 0;
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
