/* Publication of committed state changes on the publish socket (topic = connection name),
 * and its heartbeats (the latest seq and the supervisor's instance, for gap and restart
 * detection), also soon after a subscriber joined. Only what a batch committed is published. */
#include "supervisor.h"

#include <stdlib.h>

#define S_HEARTBEAT_MS    1000
#define S_GREETING_MS     50   /* after a subscription: a heartbeat this long after the last one */
#define S_SUBSCRIPTIONS   1000 /* subscription messages read at once */
#define S_HEARTBEAT_TOPIC "!hb"

struct cs_publish {
    zsock_t *pub;
    const cs_batch_t *batch;
    const cs_catalog_t *catalog;
    uint64_t instance;
    int64_t last_heartbeat;
    bool greet; /* a subscriber joined since the last heartbeat */
};

cs_publish_t *cs_publish_new(zsock_t *pub, const cs_batch_t *batch, const cs_catalog_t *catalog,
                             uint64_t instance)
{
    cs_publish_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pub = pub;
    self->batch = batch;
    self->catalog = catalog;
    self->instance = instance;
    return self;
}

void cs_publish_destroy(cs_publish_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void cs_publish_change(void *arg, const char *name, const cs_visible_t *row)
{
    cs_publish_t *self = arg;
    if (!self || !self->pub)
        return;
    /* A message on the stack that borrows the row's strings: nothing to allocate or free. */
    cs_msg_t msg = {0};
    msg.type = CS_MSG_STATE;
    msg.seq = row->seq;
    msg.connection = (char *)name;
    msg.status = row->status;
    msg.error = row->error;
    msg.time_us = row->time_us;
    msg.comments_set = row->comments_set;
    msg.plugin = row->plugin;
    if (cs_wire_send(self->pub, NULL, name, &msg) != 0)
        cs_log_debug("STATE %llu not published", (unsigned long long)row->seq);
}

void cs_publish_soon(cs_publish_t *self)
{
    self->last_heartbeat = 0;
}

void cs_publish_on_socket(cs_publish_t *self)
{
    void *raw = zsock_resolve(self->pub);
    for (int i = 0; i < S_SUBSCRIPTIONS; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        if (zmq_msg_size(&msg) >= 1 && *(const uint8_t *)zmq_msg_data(&msg) == 1)
            self->greet = true; /* a subscription (0: one cancelled) */
        zmq_msg_close(&msg);
    }
}

int64_t cs_publish_next_ms(const cs_publish_t *self)
{
    int64_t due = self->last_heartbeat + (self->greet ? S_GREETING_MS : S_HEARTBEAT_MS);
    int64_t now = cs_clock_mono_ms();
    return due > now ? due - now : 0;
}

void cs_publish_tick(cs_publish_t *self)
{
    if (cs_publish_next_ms(self) > 0)
        return;
    self->last_heartbeat = cs_clock_mono_ms();
    self->greet = false;
    cs_msg_t *hb = cs_msg_new(CS_MSG_PUB_HEARTBEAT);
    if (!hb)
        return;
    hb->seq = cs_batch_seq(self->batch);
    hb->instance = self->instance;
    hb->time_us = cs_clock_wall_us();
    hb->db_down_since = cs_catalog_down_since(self->catalog);
    hb->standby = cs_catalog_state(self->catalog) == CS_DB_STANDBY;
    if (cs_wire_send(self->pub, NULL, S_HEARTBEAT_TOPIC, hb) != 0)
        cs_log_debug("heartbeat not published");
    cs_msg_destroy(&hb);
}
