/* cs_wire: sending and receiving protocol messages as ZeroMQ frames (czmq sockets). */
#ifndef CS_WIRE_H
#define CS_WIRE_H

#include <czmq.h>

#include "cs_proto.h"

/* Frame layout flags: what comes before the header frame. */
#define CS_WIRE_ROUTED 1 /* a routing-id frame (ROUTER sockets) */
#define CS_WIRE_TOPIC  2 /* a topic frame (PUB/SUB sockets) */
/* ... and how to receive: */
#define CS_WIRE_DONTWAIT 4 /* return -1 with errno EAGAIN when no message is waiting */

/* Sends [routing_id][topic][header][body] (routing_id and topic when not NULL). Borrows
 * everything. Returns 0, or -1 when the message cannot be encoded or sent (logged). Does not
 * block on a full socket: ROUTER and PUB drop, DEALER queues up to its high-water mark. */
int cs_wire_send(zsock_t *sock, zframe_t *routing_id, const char *topic, const cs_msg_t *msg)
    __attribute__((warn_unused_result));

/* Receives one multipart message laid out as `flags` says. Returns -1 when nothing could be
 * received (interrupted, timeout: errno set). Otherwise returns 0 and either *msg_p (the
 * caller destroys it) or, for a malformed message, *msg_p = NULL and the reason in why.
 * With CS_WIRE_ROUTED, *routing_id_p receives the sender's id (the caller destroys it),
 * also for a malformed message so that the caller can answer it. Blocks unless the socket
 * has a receive timeout, input is known to be waiting or flags has CS_WIRE_DONTWAIT. */
int cs_wire_recv(zsock_t *sock, int flags, zframe_t **routing_id_p, cs_msg_t **msg_p, char *why,
                 size_t why_size) __attribute__((warn_unused_result));

/* cs_wire_recv for the requests of the control channel: the same, and *request_id_p gets
 * the request_id of a malformed message whose body still holds one that can be read
 * (cs_msg_peek_request_id; the header and frame count must be right), else 0. */
int cs_wire_recv_request(zsock_t *sock, int flags, zframe_t **routing_id_p, cs_msg_t **msg_p,
                         uint64_t *request_id_p, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Sets the receive limits of a socket that reads untrusted peers (ZMQ_MAXMSGSIZE). Borrows
 * sock; never blocks. */
void cs_wire_limit(zsock_t *sock);

#endif
