/* Publication of committed state changes on the publish socket (topic = connection name),
 * and its heartbeats (the latest seq and the supervisor's instance, for gap and restart
 * detection), also soon after a subscriber joined. Only what a batch committed is published.
 * The socket does not drop (ZMQ_XPUB_NODROP): while a subscriber's queue is full, what is
 * published waits, encoded and in order, in a backlog of at most S_BACKLOG_BYTES, and goes
 * out as the queues empty; a backlog older than S_BACKLOG_MS or over its bound goes out
 * lossy (ZeroMQ drops it for the full queues only: those subscribers see a gap and resync),
 * and for S_LOSSY_MS after that the socket drops at its high-water mark, as it did before. */
#include "supervisor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_HEARTBEAT_MS    1000
#define S_GREETING_MS     50   /* after a subscription: a heartbeat this long after the last one */
#define S_SUBSCRIPTIONS   1000 /* subscription messages read at once */
#define S_HEARTBEAT_TOPIC "!hb"
#define S_BACKLOG_BYTES   (32 * 1024 * 1024) /* encoded changes waiting for a full queue */
#define S_BACKLOG_MS      1000               /* longest one waits */
#define S_LOSSY_MS        5000               /* dropping at the high-water mark after one did */
#define S_BACKLOG_KEEP    (1024 * 1024)      /* a drained backlog keeps this much memory */

struct cs_publish {
    zsock_t *pub;
    const cs_batch_t *batch;
    const cs_catalog_t *catalog;
    uint64_t instance;
    int64_t last_heartbeat;
    bool greet;            /* a subscriber joined since the last heartbeat */
    cs_buf_t body;         /* the message being encoded (its memory kept: no allocation a row) */
    cs_buf_t backlog;      /* messages waiting: [u32 topic length][topic][u32 body length][body] */
    size_t backlog_at;     /* the first one not sent yet */
    size_t backlog_msgs;   /* waiting */
    int64_t backlog_since; /* cs_clock_mono_ms when the oldest one waiting was published */
    int64_t lossy_until;   /* dropping at the high-water mark until then (0: not) */
};

static void s_nodrop(cs_publish_t *self, bool on)
{
    int value = on ? 1 : 0;
    if (zmq_setsockopt(zsock_resolve(self->pub), ZMQ_XPUB_NODROP, &value, sizeof value) != 0)
        cs_log_warn("publish socket: cannot set ZMQ_XPUB_NODROP: %s", zmq_strerror(zmq_errno()));
}

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
    if (pub)
        s_nodrop(self, true);
    return self;
}

void cs_publish_destroy(cs_publish_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_buf_free(&(*self_p)->body);
    cs_buf_free(&(*self_p)->backlog);
    free(*self_p);
    *self_p = NULL;
}

/* Sends one message (topic, header, body) without waiting. Returns 0 sent, 1 when a queue
 * is full (nothing was sent: the first frame decides), -1 on another error. */
static int s_send(cs_publish_t *self, const char *topic, size_t topic_len, const char *body,
                  size_t body_len)
{
    void *raw = zsock_resolve(self->pub);
    if (zmq_send(raw, topic, topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return zmq_errno() == EAGAIN ? 1 : -1;
    if (zmq_send(raw, CS_PROTO_HEADER, strlen(CS_PROTO_HEADER), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(raw, body, body_len, ZMQ_DONTWAIT) < 0)
        return -1; /* not reached: the rest of a message is never refused */
    return 0;
}

static void s_backlog_put(cs_buf_t *out, const void *data, size_t len)
{
    uint32_t len32 = (uint32_t)len;
    cs_buf_append(out, &len32, sizeof len32);
    cs_buf_append(out, data, len);
}

static const char *s_backlog_get(const cs_buf_t *backlog, size_t *at, size_t *len)
{
    uint32_t len32;
    memcpy(&len32, backlog->data + *at, sizeof len32);
    const char *data = backlog->data + *at + sizeof len32;
    *at += sizeof len32 + len32;
    *len = len32;
    return data;
}

/* Sends what waits in the backlog, in order, until a queue is full; lossy when it waited too
 * long or grew too big. */
static void s_backlog_flush(cs_publish_t *self)
{
    int64_t now = cs_clock_mono_ms();
    bool lossy = self->backlog_msgs && (now - self->backlog_since >= S_BACKLOG_MS ||
                                        self->backlog.len >= S_BACKLOG_BYTES);
    if (lossy)
        s_nodrop(self, false);
    size_t sent = 0;
    while (self->backlog_at < self->backlog.len) {
        size_t at = self->backlog_at, topic_len, body_len;
        const char *topic = s_backlog_get(&self->backlog, &at, &topic_len);
        const char *body = s_backlog_get(&self->backlog, &at, &body_len);
        if (s_send(self, topic, topic_len, body, body_len) == 1)
            break;
        self->backlog_at = at; /* sent (lossy: or dropped for the full queues) */
        self->backlog_msgs--;
        sent++;
    }
    if (lossy) {
        self->lossy_until = now + S_LOSSY_MS;
        cs_log_warn("publish: a subscriber took nothing for %lld ms: %zu changes went out "
                    "without waiting (subscribers whose queue was full lost them: they see the "
                    "gap and take a snapshot); the socket drops at --publish-hwm for %d s",
                    (long long)(now - self->backlog_since), sent, S_LOSSY_MS / 1000);
    }
    if (self->backlog_at == self->backlog.len) {
        if (self->backlog.cap > S_BACKLOG_KEEP)
            cs_buf_free(&self->backlog);
        else
            cs_buf_reset(&self->backlog);
        self->backlog_at = 0;
        self->backlog_msgs = 0;
    }
}

/* Publishes self->body on topic: at once, or after what waits already. */
static void s_publish(cs_publish_t *self, const char *topic)
{
    size_t topic_len = strlen(topic);
    if (!self->backlog_msgs) {
        int rc = s_send(self, topic, topic_len, self->body.data, self->body.len);
        if (rc == 0)
            return;
        if (rc < 0) {
            cs_log_debug("publish: %s not sent: %s", topic, zmq_strerror(zmq_errno()));
            return;
        }
        self->backlog_since = cs_clock_mono_ms();
    }
    s_backlog_put(&self->backlog, topic, topic_len);
    s_backlog_put(&self->backlog, self->body.data, self->body.len);
    if (self->backlog.failed) {
        cs_log_error("publish: out of memory: the changes waiting are dropped");
        cs_buf_free(&self->backlog);
        self->backlog_at = self->backlog_msgs = 0;
        return;
    }
    self->backlog_msgs++;
    if (self->backlog.len >= S_BACKLOG_BYTES)
        s_backlog_flush(self);
}

/* Encodes msg into self->body (its memory reused). Returns 0 or -1 (logged). */
static int s_encode(cs_publish_t *self, const cs_msg_t *msg)
{
    char why[256];
    cs_buf_reset(&self->body);
    if (cs_msg_encode_to(msg, &self->body, why, sizeof why) != 0 || self->body.failed) {
        cs_log_error("cannot encode %s: %s", cs_msg_type_name(msg->type),
                     self->body.failed ? "out of memory" : why);
        return -1;
    }
    return 0;
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
    if (s_encode(self, &msg) == 0)
        s_publish(self, name);
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
    if (self->backlog_msgs) /* tried again every millisecond */
        return 1;
    int64_t due = self->last_heartbeat + (self->greet ? S_GREETING_MS : S_HEARTBEAT_MS);
    int64_t now = cs_clock_mono_ms();
    return due > now ? due - now : 0;
}

void cs_publish_tick(cs_publish_t *self)
{
    if (self->backlog_msgs)
        s_backlog_flush(self);
    if (self->lossy_until && cs_clock_mono_ms() >= self->lossy_until) {
        self->lossy_until = 0;
        s_nodrop(self, true);
    }
    int64_t due = self->last_heartbeat + (self->greet ? S_GREETING_MS : S_HEARTBEAT_MS);
    if (due > cs_clock_mono_ms())
        return;
    self->last_heartbeat = cs_clock_mono_ms();
    self->greet = false;
    cs_msg_t hb = {0};
    hb.type = CS_MSG_PUB_HEARTBEAT;
    hb.seq = cs_batch_seq(self->batch);
    hb.instance = self->instance;
    hb.time_us = cs_clock_wall_us();
    hb.db_down_since = cs_catalog_down_since(self->catalog);
    hb.standby = cs_catalog_state(self->catalog) == CS_DB_STANDBY;
    if (s_encode(self, &hb) == 0) /* after the changes waiting, which it counts */
        s_publish(self, S_HEARTBEAT_TOPIC);
}

size_t cs_publish_backlog(const cs_publish_t *self)
{
    return self->backlog_msgs;
}

int64_t cs_publish_backlog_ms(const cs_publish_t *self)
{
    return self->backlog_msgs ? cs_clock_mono_ms() - self->backlog_since : 0;
}
