/* Dispatching tasks to workers over the ROUTER: credit-based (a worker gets work only while
 * it has free capacity, and a task whose lease expired keeps its place until the worker lets
 * go of it), leased (a task whose worker dies or falls silent is re-queued), bounded (after
 * max attempts the task is reported lost), and wary of workers that cannot run tasks (a
 * worker-side failure sends the task to another worker; a worker that fails so
 * S_QUARANTINE_AFTER times in a row is quarantined for a while). */
#include "supervisor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_HEARTBEAT_MS        1000
#define S_SCAN                64  /* queued tasks looked at for one that may go to a worker */
#define S_RETRY_FIRST_MS      500 /* a retried task's first backoff, doubled with each retry ... */
#define S_RETRY_MAX_MS        15000  /* ... up to this */
#define S_QUARANTINE_AFTER    3      /* worker-side failures in a row that quarantine a worker */
#define S_QUARANTINE_FIRST_MS 30000  /* its first quarantine, doubled with each next one ... */
#define S_QUARANTINE_MAX_MS   600000 /* ... up to this; a success starts again from the first */
#define S_FAILURE_TEXT        512    /* bytes kept of a worker's last failure (STATUS) */

typedef struct {
    cs_task_t *task;
    int64_t deadline;
} s_flight_t;

typedef struct {
    char key[2 * 256 + 1]; /* the routing id in hex */
    zframe_t *identity;
    char *name;
    uint32_t pid;
    uint32_t capacity;
    int64_t last_seen;
    zlistx_t *flights; /* s_flight_t */
    /* The task ids of attempts whose lease expired, oldest first (at most capacity): the worker
     * may still run them, so they keep their places until it answers or lets go of them. */
    uint64_t *expired;
    uint32_t expired_count;
    uint32_t failures;         /* worker-side failures in a row */
    char *last_failure;        /* the last one's text */
    int64_t quarantine_ms;     /* the last quarantine's length (0: none since a success) */
    int64_t quarantined_until; /* cs_clock_mono_ms; 0: not quarantined */
    int64_t quarantined_wall;  /* the same in microseconds since the epoch, for STATUS */
    bool idle;                 /* a flag of the pump's round: has free capacity */
} s_peer_t;

/* One connection's tasks: at most one update and one comments task queued, and one task in
 * flight; a queued task waits (is held) while one of its connection is in flight, so that
 * two workers never change one schema at once. */
typedef struct {
    cs_task_t *update;   /* queued build or delete */
    cs_task_t *comments; /* queued comments */
    cs_task_t *flying;
    char connection[]; /* its key in tracks */
} s_track_t;

/* A queue of tasks, through their own links (100,000 queued builds need no list nodes). It owns
 * its tasks: taking one off hands it on. */
typedef struct {
    cs_task_t *first, *last;
    size_t size;
} s_queue_t;

static void s_queue_add(s_queue_t *queue, cs_task_t *task, bool front)
{
    task->before = front ? NULL : queue->last;
    task->after = front ? queue->first : NULL;
    if (task->before)
        task->before->after = task;
    else
        queue->first = task;
    if (task->after)
        task->after->before = task;
    else
        queue->last = task;
    queue->size++;
}

static void s_queue_remove(s_queue_t *queue, cs_task_t *task)
{
    if (task->before)
        task->before->after = task->after;
    else
        queue->first = task->after;
    if (task->after)
        task->after->before = task->before;
    else
        queue->last = task->before;
    task->before = task->after = NULL;
    queue->size--;
}

struct cs_dispatch {
    zsock_t *router;
    zlistx_t *events; /* cs_event_t for the results stage, in order */
    cs_dispatch_limits_t limits;
    s_queue_t updates;  /* queued builds and deletes */
    s_queue_t comments; /* queued comments: lower priority */
    zlistx_t *peers;    /* s_peer_t, in round-robin order */
    zhashx_t *by_key;   /* routing id in hex -> s_peer_t (borrowed from peers) */
    zhashx_t *tracks;   /* connection -> s_track_t: its queued and in-flight tasks */
    s_queue_t held;     /* queued tasks held until their not_before */
    int64_t next_due;   /* the earliest not_before among them (0: none) */
    uint64_t refused;   /* READYs refused because of max_workers, since the last log */
    int64_t refused_logged;
    uint64_t next_id;
    size_t in_flight;
    size_t in_flight_updates; /* builds and deletes among them */
    int64_t last_heartbeat;
    char *waiting_why; /* what the waiting tasks were told */
    bool paused;       /* no task is handed out (the supervisor has no database) */
};

/* Copies text to *at, which moves past it; NULL for NULL. */
static const char *s_put(char **at, const char *text)
{
    if (!text)
        return NULL;
    size_t len = strlen(text) + 1;
    char *copy = memcpy(*at, text, len);
    *at += len;
    return copy;
}

cs_task_t *cs_task_new(cs_task_kind_t kind, const char *connection, const char *plugin,
                       const char *config, const char *fingerprint, const char *plugin_version)
{
    const char *texts[] = {connection, plugin, config, fingerprint, plugin_version};
    size_t size = 0;
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        size += texts[i] ? strlen(texts[i]) + 1 : 0;
    cs_task_t *self = connection ? calloc(1, sizeof *self) : NULL;
    if (self && !(self->texts = malloc(size)))
        cs_task_destroy(&self);
    if (!self)
        return NULL;
    char *at = self->texts;
    self->kind = kind;
    self->connection = s_put(&at, connection);
    self->plugin = s_put(&at, plugin);
    self->config = s_put(&at, config);
    self->fingerprint = s_put(&at, fingerprint);
    self->plugin_version = s_put(&at, plugin_version);
    return self;
}

void cs_task_destroy(cs_task_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_task_t *self = *self_p;
    free(self->texts);
    cs_strs_clear(&self->env);
    free(self->members);
    free(self->last_loss);
    free(self->lost_by);
    free(self);
    *self_p = NULL;
}

static void s_track_free(void **item)
{
    free(*item);
    *item = NULL;
}

cs_dispatch_t *cs_dispatch_new(zsock_t *router, cs_dispatch_limits_t limits)
{
    cs_dispatch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->router = router;
    self->events = zlistx_new();
    self->limits = limits;
    self->peers = zlistx_new();
    self->by_key = zhashx_new();
    self->tracks = zhashx_new();
    if (!self->events || !self->peers || !self->by_key || !self->tracks) {
        cs_dispatch_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->tracks, s_track_free);
    zhashx_set_key_duplicator(self->tracks, NULL); /* the track's own copy */
    zhashx_set_key_destructor(self->tracks, NULL);
    if (!self->limits.quarantine_ms)
        self->limits.quarantine_ms = S_QUARANTINE_FIRST_MS;
    if (self->limits.quarantine_max_ms < self->limits.quarantine_ms)
        self->limits.quarantine_max_ms = self->limits.quarantine_ms > S_QUARANTINE_MAX_MS
                                             ? self->limits.quarantine_ms
                                             : S_QUARANTINE_MAX_MS;
    self->next_id = 1;
    return self;
}

static void s_peer_free(s_peer_t **peer_p)
{
    s_peer_t *peer = *peer_p;
    if (!peer)
        return;
    s_flight_t *flight;
    while (peer->flights && (flight = zlistx_first(peer->flights)) != NULL) {
        zlistx_delete(peer->flights, zlistx_cursor(peer->flights));
        cs_task_destroy(&flight->task);
        free(flight);
    }
    zlistx_destroy(&peer->flights);
    zframe_destroy(&peer->identity);
    free(peer->expired);
    free(peer->last_failure);
    free(peer->name);
    free(peer);
    *peer_p = NULL;
}

/* Destroys every task of a queue. */
static void s_tasks_drain(s_queue_t *queue)
{
    while (queue->first) {
        cs_task_t *task = queue->first;
        s_queue_remove(queue, task);
        cs_task_destroy(&task);
    }
}

void cs_dispatch_destroy(cs_dispatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_dispatch_t *self = *self_p;
    s_tasks_drain(&self->updates);
    s_tasks_drain(&self->comments);
    s_peer_t *peer;
    while (self->peers && (peer = zlistx_first(self->peers)) != NULL) {
        zlistx_delete(self->peers, zlistx_cursor(self->peers));
        s_peer_free(&peer);
    }
    zlistx_destroy(&self->peers);
    cs_event_t *event;
    while (self->events && (event = zlistx_detach(self->events, NULL)) != NULL)
        cs_event_destroy(&event);
    zlistx_destroy(&self->events);
    zhashx_destroy(&self->by_key);
    s_tasks_drain(&self->held);
    zhashx_destroy(&self->tracks);
    free(self->waiting_why);
    free(self);
    *self_p = NULL;
}

void cs_event_destroy(cs_event_t **event_p)
{
    if (!event_p || !*event_p)
        return;
    cs_event_t *event = *event_p;
    free(event->connection);
    free(event->worker);
    free(event->why);
    cs_msg_destroy(&event->result);
    free(event);
    *event_p = NULL;
}

/* Queues an event about a task for the results stage (result: taken over). Returns the event
 * (borrowed: the queue owns it), or NULL when out of memory. */
static cs_event_t *s_event(cs_dispatch_t *self, cs_event_kind_t kind, const cs_task_t *task,
                           const char *why, cs_msg_t **result_p, const char *worker)
{
    cs_event_t *event = calloc(1, sizeof *event);
    if (!event || !(event->connection = strdup(task->connection))) {
        free(event);
        cs_log_error("out of memory: the %s of %s is not recorded", cs_event_kind_name(kind),
                     task->connection);
        return NULL;
    }
    event->kind = kind;
    event->task_kind = task->kind;
    event->attempt = task->attempt;
    event->superseded = task->superseded;
    event->refetch = task->refetch;
    event->why = why ? strdup(why) : NULL;
    event->worker = worker ? strdup(worker) : NULL;
    if (result_p) {
        event->result = *result_p;
        *result_p = NULL;
    }
    zlistx_add_end(self->events, event);
    return event;
}

cs_event_t *cs_dispatch_next_event(cs_dispatch_t *self)
{
    return zlistx_detach(self->events, NULL);
}

const char *cs_event_kind_name(cs_event_kind_t kind)
{
    static const char *const names[] = {"result", "loss", "wait", "resumption", "retry"};
    return (unsigned)kind < sizeof names / sizeof *names ? names[kind] : "?";
}

static s_track_t *s_track(cs_dispatch_t *self, const char *connection)
{
    s_track_t *track = zhashx_lookup(self->tracks, connection);
    if (track)
        return track;
    size_t len = strlen(connection) + 1;
    if ((track = calloc(1, sizeof *track + len)) != NULL) {
        memcpy(track->connection, connection, len);
        zhashx_insert(self->tracks, track->connection, track);
    }
    return track;
}

/* Forgets a connection's track once nothing of it is queued or in flight. */
static void s_track_tidy(cs_dispatch_t *self, const char *connection)
{
    s_track_t *track = zhashx_lookup(self->tracks, connection);
    if (track && !track->update && !track->comments && !track->flying)
        zhashx_delete(self->tracks, connection);
}

/* Frees a task that is neither queued nor in flight, and its track when that is empty. */
static void s_drop(cs_dispatch_t *self, cs_task_t **task_p)
{
    char connection[CS_PROTO_MAX_NAME + 1];
    snprintf(connection, sizeof connection, "%s", (*task_p)->connection);
    cs_task_destroy(task_p);
    s_track_tidy(self, connection);
}

static s_queue_t *s_queue_of(cs_dispatch_t *self, const cs_task_t *task)
{
    if (task->held)
        return &self->held;
    return task->kind == CS_TASK_COMMENTS ? &self->comments : &self->updates;
}

/* Queues a task (at the front: a retry) as its connection's queued one of its kind; one
 * whose not_before is still to come waits among the held ones. */
static void s_enqueue(cs_dispatch_t *self, s_track_t *track, cs_task_t *task, bool front)
{
    task->held = task->not_before > cs_clock_mono_ms();
    if (task->held && (!self->next_due || task->not_before < self->next_due))
        self->next_due = task->not_before;
    s_queue_add(s_queue_of(self, task), task, front);
    if (task->kind == CS_TASK_COMMENTS)
        track->comments = task;
    else
        track->update = task;
}

/* Takes a queued task out of its queue and its track (the caller owns it then). */
static void s_dequeue(cs_dispatch_t *self, cs_task_t *task)
{
    s_queue_remove(s_queue_of(self, task), task);
    s_track_t *track = zhashx_lookup(self->tracks, task->connection);
    if (track && track->update == task)
        track->update = NULL;
    if (track && track->comments == task)
        track->comments = NULL;
}

static bool s_same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The same work: kind, plugin version, config and fingerprint. */
static bool s_same_task(const cs_task_t *a, const cs_task_t *b)
{
    return a->kind == b->kind && s_same_text(a->plugin_version, b->plugin_version) &&
           (a->fingerprint == b->fingerprint ||
            (a->fingerprint && b->fingerprint && strcmp(a->fingerprint, b->fingerprint) == 0 &&
             a->config && b->config && strcmp(a->config, b->config) == 0));
}

void cs_dispatch_add(cs_dispatch_t *self, cs_task_t **task_p)
{
    cs_task_t *task = *task_p;
    *task_p = NULL;
    if (!task->id)
        task->id = self->next_id++;
    if (task->attempt == 0)
        task->attempt = 1;
    s_track_t *track = s_track(self, task->connection);
    if (!track) {
        cs_task_destroy(&task);
        return;
    }
    cs_task_t *flying = track->flying;
    bool update_flying = flying && flying->kind != CS_TASK_COMMENTS && !flying->superseded;
    if (task->kind == CS_TASK_COMMENTS) {
        /* A build or delete to come (or going on) is followed by comments of its own. */
        if (track->update || update_flying || track->comments) {
            cs_task_destroy(&task);
            return;
        }
        if (flying && flying->kind == CS_TASK_COMMENTS)
            flying->superseded = true;
        s_enqueue(self, track, task, false);
        return;
    }
    /* The same update queued already (a refresh planned while it waits): keep its place. */
    if (track->update && s_same_task(track->update, task)) {
        track->update->fresh = track->update->fresh && task->fresh;
        track->update->refetch = track->update->refetch && task->refetch;
        cs_task_destroy(&task);
        return;
    }
    /* ... or in flight, with nothing else queued after it: its result stands. A refetch
     * follows it all the same (what it reads may have changed since that one read it). */
    if (update_flying && !track->update && s_same_task(flying, task)) {
        if (task->refetch) {
            task->fresh = false;
            s_enqueue(self, track, task, false);
        } else {
            cs_task_destroy(&task);
        }
        return;
    }
    if (track->comments) { /* this update's own comments follow it */
        cs_task_t *old = track->comments;
        s_dequeue(self, old);
        cs_task_destroy(&old);
    }
    if (track->update) { /* superseded before it ran: cancelled, its place taken */
        cs_task_t *queued = track->update, swap = *queued;
        *queued = *task; /* the queued one (its place in the queue) gets the new work */
        *task = swap;
        queued->before = task->before;
        queued->after = task->after;
        queued->held = task->held;
        queued->fresh = queued->fresh && task->fresh;
        task->before = task->after = NULL;
        cs_task_destroy(&task);                                          /* the old work */
        if (queued->held != (queued->not_before > cs_clock_mono_ms())) { /* held, or no longer */
            s_dequeue(self, queued);
            s_enqueue(self, track, queued, false);
        }
        return;
    }
    if (flying) { /* its result no longer counts; this one runs once it landed */
        flying->superseded = true;
        task->fresh = false;
    }
    s_enqueue(self, track, task, false);
}

bool cs_dispatch_update_in_flight(const cs_dispatch_t *self, const char *connection)
{
    const s_track_t *track = zhashx_lookup(self->tracks, connection);
    return track && track->flying && track->flying->kind != CS_TASK_COMMENTS;
}

bool cs_dispatch_refetch_pending(const cs_dispatch_t *self, const char *connection)
{
    const s_track_t *track = zhashx_lookup(self->tracks, connection);
    if (!track)
        return false;
    const cs_task_t *flying = track->flying;
    return (track->update && track->update->refetch) ||
           (flying && flying->refetch && !flying->superseded);
}

bool cs_dispatch_idle(const cs_dispatch_t *self, const char *connection)
{
    const s_track_t *track = zhashx_lookup(self->tracks, connection);
    return !track || (!track->update && !track->comments && !track->flying);
}

void cs_dispatch_cancel(cs_dispatch_t *self, const char *connection)
{
    s_track_t *track = zhashx_lookup(self->tracks, connection);
    if (!track)
        return;
    cs_task_t *task;
    if ((task = track->update) != NULL) {
        s_dequeue(self, task);
        cs_task_destroy(&task);
    }
    if ((task = track->comments) != NULL) {
        s_dequeue(self, task);
        cs_task_destroy(&task);
    }
    if (track->flying)
        track->flying->superseded = true;
    s_track_tidy(self, connection);
}

static void s_key(const zframe_t *identity, char *key)
{
    size_t size = zframe_size((zframe_t *)identity);
    const byte *data = zframe_data((zframe_t *)identity);
    static const char digits[] = "0123456789abcdef";
    if (size > 256)
        size = 256;
    for (size_t i = 0; i < size; i++) { /* every message: no printf */
        key[2 * i] = digits[data[i] >> 4];
        key[2 * i + 1] = digits[data[i] & 15];
    }
    key[2 * size] = '\0';
}

static s_peer_t *s_peer_find(cs_dispatch_t *self, const zframe_t *identity)
{
    char key[2 * 256 + 1];
    s_key(identity, key);
    return zhashx_lookup(self->by_key, key);
}

static void s_send_reason(cs_dispatch_t *self, zframe_t *identity, const char *reason)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_DISCONNECT);
    if (!msg)
        return;
    msg->reason = strdup(reason);
    if (cs_wire_send(self->router, identity, NULL, msg) != 0)
        cs_log_debug("could not tell a worker to go away");
    cs_msg_destroy(&msg);
}

/* A task that landed without a result (lost, or to be retried) goes back to its connection's
 * track, which is returned; unless a newer task took its place (it was superseded, or another
 * of its kind is queued: that one runs), when it is dropped and NULL returned. */
static s_track_t *s_take_back(cs_dispatch_t *self, cs_task_t **task_p, const char *reason)
{
    cs_task_t *task = *task_p;
    s_track_t *track = zhashx_lookup(self->tracks, task->connection);
    if (track && track->flying == task)
        track->flying = NULL;
    if (task->superseded || !track) {
        cs_log_conn_debug(task->connection, "%s; superseded, not dispatched again", reason);
        s_drop(self, task_p);
        return NULL;
    }
    if (task->kind == CS_TASK_COMMENTS ? track->comments != NULL : track->update != NULL) {
        s_drop(self, task_p);
        return NULL;
    }
    return track;
}

/* A task that landed without a usable result goes again, at the front of its queue (to go
 * to another worker when there is one: task->lost_by), as its next attempt; after max
 * attempts it is reported lost (final_why) instead. */
static void s_attempt_again(cs_dispatch_t *self, s_track_t *track, cs_task_t *task,
                            const char *reason, const char *final_why)
{
    if ((int)task->attempt >= self->limits.max_attempts) {
        cs_log_conn_error(task->connection, "%s", final_why);
        s_event(self, CS_EVENT_LOST, task, final_why, NULL, NULL);
        s_drop(self, &task);
        return;
    }
    cs_log_conn_warn(task->connection, "%s; dispatching it again (attempt %u of %d)", reason,
                     task->attempt + 1, self->limits.max_attempts);
    task->attempt++;
    s_enqueue(self, track, task, true);
}

/* A task lost its worker (peer): queued again at the front, to go to another worker when
 * there is one, or reported lost after max attempts. */
static void s_requeue(cs_dispatch_t *self, cs_task_t *task, const s_peer_t *peer,
                      const char *reason, bool counted)
{
    free(task->last_loss);
    task->last_loss = strdup(reason);
    free(task->lost_by);
    task->lost_by = strdup(peer->key);
    s_track_t *track = s_take_back(self, &task, reason);
    if (!track)
        return;
    if (!counted) { /* the worker said goodbye: not the update's fault */
        cs_log_conn_info(task->connection, "%s; dispatching it again", reason);
        s_enqueue(self, track, task, true);
        return;
    }
    char why[512];
    snprintf(why, sizeof why,
             "worker lost: the update was attempted %u times and each time its worker "
             "died or stopped answering (last: %s)",
             task->attempt, reason);
    s_attempt_again(self, track, task, reason, why);
}

void cs_dispatch_redo(cs_dispatch_t *self, cs_task_t **task_p, const char *worker,
                      const char *reason)
{
    cs_task_t *task = *task_p;
    *task_p = NULL;
    s_track_t *track = s_track(self, task->connection);
    bool update_flying = track && track->flying && track->flying->kind != CS_TASK_COMMENTS;
    if (!track || track->update || update_flying) { /* a newer update decides */
        cs_log_conn_debug(task->connection, "%s; a newer update is under way", reason);
        if (track)
            s_drop(self, &task);
        else
            cs_task_destroy(&task);
        return;
    }
    if (track->comments) { /* comments of the refused update: this one's follow it */
        cs_task_t *old = track->comments;
        s_dequeue(self, old);
        cs_task_destroy(&old);
    }
    if (task->attempt == 0)
        task->attempt = 1;
    free(task->last_loss);
    task->last_loss = strdup(reason);
    for (s_peer_t *peer = zlistx_first(self->peers); peer && worker;
         peer = zlistx_next(self->peers))
        if (strcmp(peer->name, worker) == 0) { /* another worker, when there is one */
            free(task->lost_by);
            task->lost_by = strdup(peer->key);
            break;
        }
    char why[CS_PROTO_MAX_ERROR];
    snprintf(why, sizeof why, "%s (attempted %u times; the last by worker %s)", reason,
             task->attempt, worker ? worker : "(unknown)");
    s_attempt_again(self, track, task, reason, why);
}

/* A worker could not run a task for a reason that is not its connection's (its database
 * session was lost, a lock wait timed out): it is held for a backoff that doubles with each
 * retry and queued again, without costing an attempt; its row says what it waits for. */
static void s_retry(cs_dispatch_t *self, cs_task_t *task, const char *why)
{
    s_track_t *track = s_take_back(self, &task, why);
    if (!track)
        return;
    int64_t backoff = S_RETRY_FIRST_MS << (task->retries < 6 ? task->retries : 6);
    if (backoff > S_RETRY_MAX_MS)
        backoff = S_RETRY_MAX_MS;
    task->retries++;
    task->not_before = cs_clock_mono_ms() + backoff;
    char text[CS_PROTO_MAX_ERROR];
    snprintf(text, sizeof text, "%s; retrying in %.1f s (retry %u)", why, backoff / 1000.0,
             task->retries);
    cs_log_conn_info(task->connection, "%s", text);
    if (task->kind != CS_TASK_COMMENTS) {
        task->waiting = true; /* its row says so until it is sent again */
        s_event(self, CS_EVENT_RETRYING, task, text, NULL, NULL);
    }
    s_enqueue(self, track, task, false);
}

/* Whether a worker may be given tasks: not while it is quarantined. */
static bool s_available(const s_peer_t *peer)
{
    return !peer->quarantined_until;
}

/* The tasks a worker may hold: none while quarantined, one at a time after a quarantine until
 * one succeeds (a probe, not its whole capacity thrown at what failed), else its capacity. */
static uint32_t s_capacity_now(const s_peer_t *peer)
{
    if (!s_available(peer))
        return 0;
    return peer->failures >= S_QUARANTINE_AFTER ? 1 : peer->capacity;
}

static void s_wall_time(int64_t wall_us, char *text, size_t size)
{
    time_t secs = (time_t)(wall_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(text, size, "%02d:%02d:%02d UTC", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Quarantines a worker that failed S_QUARANTINE_AFTER times in a row (or again after its last
 * quarantine): the first for limits.quarantine_ms, each next one twice as long as the last, up
 * to limits.quarantine_max_ms. Logged once here, once when it ends (s_quarantine_ends). */
static void s_quarantine(cs_dispatch_t *self, s_peer_t *peer)
{
    int64_t ms = peer->quarantine_ms ? 2 * peer->quarantine_ms : self->limits.quarantine_ms;
    if (ms > self->limits.quarantine_max_ms)
        ms = self->limits.quarantine_max_ms;
    peer->quarantine_ms = ms;
    peer->quarantined_until = cs_clock_mono_ms() + ms;
    peer->quarantined_wall = cs_clock_wall_us() + ms * 1000;
    char until[32];
    s_wall_time(peer->quarantined_wall, until, sizeof until);
    cs_log_warn("worker %s quarantined for %.0f s (until %s) after %u worker-side failures in a "
                "row: it gets no task meanwhile (last: %s)",
                peer->name, ms / 1000.0, until, peer->failures, peer->last_failure);
}

/* Quarantines whose time is over: the worker gets tasks again, one at a time until one of
 * them succeeds. */
static void s_quarantine_ends(cs_dispatch_t *self, int64_t now)
{
    for (s_peer_t *peer = zlistx_first(self->peers); peer; peer = zlistx_next(self->peers)) {
        if (!peer->quarantined_until || now < peer->quarantined_until)
            continue;
        peer->quarantined_until = 0;
        peer->quarantined_wall = 0;
        cs_log_info("worker %s: its quarantine is over; it gets one task at a time until one "
                    "succeeds",
                    peer->name);
    }
}

/* A worker answered a task with anything but a worker-side failure: its run of failures is
 * over; a success also starts its next quarantine from the first length again. */
static void s_worker_answered(s_peer_t *peer, bool ok)
{
    if (ok && peer->failures >= S_QUARANTINE_AFTER)
        cs_log_info("worker %s succeeded again: it gets its whole capacity", peer->name);
    if (ok)
        peer->quarantine_ms = 0;
    peer->failures = 0;
}

/* A worker could not run a task for a reason of its own (its plugin is missing or not
 * executable there, or of another version than planned; its database session was lost): the
 * task goes back to the front of the queue for another worker (this one only when no other
 * can take it), without costing an attempt and without a backoff; the failure counts against
 * the worker. recheck: the worker has another version of the plugin than the plan used. */
static void s_worker_failed(cs_dispatch_t *self, s_peer_t *peer, cs_task_t *task, const char *why,
                            bool recheck)
{
    peer->failures++;
    free(peer->last_failure);
    peer->last_failure = strndup(why, S_FAILURE_TEXT);
    if (peer->last_failure)
        cs_utf8_sanitize(peer->last_failure); /* a cut in a character */
    if (peer->failures >= S_QUARANTINE_AFTER && !peer->quarantined_until)
        s_quarantine(self, peer);
    free(task->lost_by);
    task->lost_by = strdup(peer->key);
    s_track_t *track = s_take_back(self, &task, why);
    if (!track)
        return;
    char text[CS_PROTO_MAX_ERROR];
    snprintf(text, sizeof text, "worker %s could not run it: %s; dispatching it again", peer->name,
             why);
    cs_log_conn_info(task->connection, "%s", text);
    if (task->kind != CS_TASK_COMMENTS)
        task->waiting = true; /* its row says so until it is sent again */
    if (task->kind != CS_TASK_COMMENTS || recheck) {
        cs_event_t *event = s_event(self, CS_EVENT_RETRYING, task, text, NULL, NULL);
        if (event)
            event->recheck_plugins = recheck;
    }
    s_enqueue(self, track, task, true);
}

/* Forgets an expired attempt (index i of the worker's expired ones): its place is free. */
static void s_expired_forget(s_peer_t *peer, uint32_t i)
{
    memmove(peer->expired + i, peer->expired + i + 1,
            (peer->expired_count - i - 1) * sizeof *peer->expired);
    peer->expired_count--;
}

/* A worker's HEARTBEAT: it holds in_flight tasks, and last received task last_task_id. Of its
 * expired attempts that it has received (task ids are sent in increasing order), it cannot
 * hold more than in_flight: the oldest beyond that are done, whatever order it runs them in,
 * and their places are free again. Those it has not read yet keep theirs. */
static void s_on_heartbeat(s_peer_t *peer, uint32_t in_flight, uint64_t last_task_id)
{
    uint32_t received = 0;
    while (received < peer->expired_count && peer->expired[received] <= last_task_id)
        received++;
    if (received <= in_flight)
        return;
    cs_log_debug("worker %s holds %u tasks: %u of its expired ones are done", peer->name, in_flight,
                 received - in_flight);
    for (uint32_t done = received - in_flight; done > 0; done--)
        s_expired_forget(peer, 0);
}

/* A task in flight is no longer: answered, lost or expired. */
static void s_landed(cs_dispatch_t *self, const cs_task_t *task)
{
    self->in_flight--;
    if (task->kind != CS_TASK_COMMENTS)
        self->in_flight_updates--;
    s_track_t *track = zhashx_lookup(self->tracks, task->connection);
    if (track && track->flying == task)
        track->flying = NULL;
}

/* Forget a worker; its tasks go back to the queue (counted: as a lost attempt, which a
 * worker that said goodbye does not cost them). */
static void s_peer_lost(cs_dispatch_t *self, s_peer_t *peer, const char *reason, bool counted)
{
    s_flight_t *flight;
    while ((flight = zlistx_first(peer->flights)) != NULL) {
        zlistx_delete(peer->flights, zlistx_cursor(peer->flights));
        s_landed(self, flight->task);
        s_requeue(self, flight->task, peer, reason, counted);
        free(flight);
    }
    zhashx_delete(self->by_key, peer->key);
    void *handle = zlistx_find(self->peers, peer);
    if (handle)
        zlistx_delete(self->peers, handle);
    s_peer_free(&peer);
}

static void s_on_ready(cs_dispatch_t *self, zframe_t *identity, const cs_msg_t *msg)
{
    s_peer_t *peer = s_peer_find(self, identity);
    if (peer) {
        char reason[300];
        snprintf(reason, sizeof reason, "worker %s announced itself again", peer->name);
        s_peer_lost(self, peer, reason, true);
    }
    if (zlistx_size(self->peers) >= self->limits.max_workers) {
        s_send_reason(self, identity, "too many workers are connected; try again later");
        int64_t now = cs_clock_mono_ms();
        self->refused++;
        if (!self->refused_logged || now - self->refused_logged >= 10000) {
            cs_log_warn("too many workers: %zu are connected (--max-workers); refused %llu "
                        "since the last such line",
                        zlistx_size(self->peers), (unsigned long long)self->refused);
            self->refused = 0;
            self->refused_logged = now;
        }
        return;
    }
    peer = calloc(1, sizeof *peer);
    if (!peer)
        return;
    s_key(identity, peer->key);
    peer->identity = zframe_dup(identity);
    peer->name = strdup(msg->name && *msg->name ? msg->name : peer->key);
    peer->pid = msg->pid;
    peer->capacity = msg->capacity;
    peer->last_seen = cs_clock_mono_ms();
    peer->flights = zlistx_new();
    if (peer->capacity > self->limits.max_capacity) {
        cs_log_warn("worker %s asked for capacity %u: it gets at most %u (--worker-capacity)",
                    peer->name, peer->capacity, self->limits.max_capacity);
        peer->capacity = self->limits.max_capacity;
    }
    peer->expired = calloc(peer->capacity, sizeof *peer->expired);
    if (!peer->name || !peer->identity || !peer->flights || !peer->expired) {
        cs_log_error("out of memory: worker %s not taken in", peer->key);
        s_peer_free(&peer);
        return;
    }
    zlistx_add_end(self->peers, peer);
    zhashx_insert(self->by_key, peer->key, peer);
    cs_log_info("worker %s ready (capacity %u)", peer->name, peer->capacity);
}

static void s_on_result(cs_dispatch_t *self, s_peer_t *peer, cs_msg_t **msg_p)
{
    const cs_msg_t *msg = *msg_p;
    for (s_flight_t *flight = zlistx_first(peer->flights); flight;
         flight = zlistx_next(peer->flights)) {
        if (flight->task->id != msg->task_id)
            continue;
        cs_task_t *task = flight->task;
        if (strcmp(task->connection, msg->connection) != 0) {
            cs_log_warn("worker %s answered task %llu for \"%s\", which is \"%s\"'s: ignored",
                        peer->name, (unsigned long long)msg->task_id, msg->connection,
                        task->connection);
            return;
        }
        zlistx_delete(peer->flights, zlistx_cursor(peer->flights));
        free(flight);
        s_landed(self, task);
        const char *why = msg->error ? msg->error : "the worker could not run it";
        if (!msg->ok && msg->worker_fault) {
            bool recheck = task->plugin_version && msg->plugin_version &&
                           strcmp(task->plugin_version, msg->plugin_version) != 0;
            s_worker_failed(self, peer, task, why, recheck);
            return;
        }
        s_worker_answered(peer, msg->ok);
        if (msg->retry && !msg->ok) {
            s_retry(self, task, why);
            return;
        }
        s_event(self, CS_EVENT_RESULT, task, NULL, msg_p, peer->name);
        s_drop(self, &task);
        return;
    }
    /* Its lease expired and it went to another worker: that one's answer counts; the place
     * the expired attempt took at this worker is free again. */
    for (uint32_t i = 0; i < peer->expired_count; i++) {
        if (peer->expired[i] == msg->task_id) {
            s_expired_forget(peer, i);
            break;
        }
    }
    cs_log_debug("late result from %s for task %llu ignored", peer->name,
                 (unsigned long long)msg->task_id);
}

bool cs_dispatch_on_socket(cs_dispatch_t *self)
{
    zframe_t *identity = NULL;
    cs_msg_t *msg = NULL;
    char why[256];
    if (cs_wire_recv(self->router, CS_WIRE_ROUTED | CS_WIRE_DONTWAIT, &identity, &msg, why,
                     sizeof why) != 0)
        return false;
    s_peer_t *peer = identity ? s_peer_find(self, identity) : NULL;
    if (!msg) {
        cs_log_warn("malformed message from worker %s: %s", peer ? peer->name : "(unknown)", why);
        if (identity)
            s_send_reason(self, identity, why);
        if (peer) {
            char reason[400];
            snprintf(reason, sizeof reason, "worker %s sent a malformed message", peer->name);
            s_peer_lost(self, peer, reason, true);
        }
        zframe_destroy(&identity);
        return true;
    }
    if (peer)
        peer->last_seen = cs_clock_mono_ms();
    switch (msg->type) {
        case CS_MSG_READY:
            s_on_ready(self, identity, msg);
            break;
        case CS_MSG_RESULT:
        case CS_MSG_HEARTBEAT:
            if (!peer)
                s_send_reason(self, identity, "unknown worker: send READY first");
            else if (msg->type == CS_MSG_RESULT)
                s_on_result(self, peer, &msg);
            else
                s_on_heartbeat(peer, msg->in_flight, msg->last_task_id);
            break;
        case CS_MSG_DISCONNECT:
            if (peer) {
                char reason[300];
                snprintf(reason, sizeof reason, "worker %s disconnected", peer->name);
                cs_log_info("%s: %s", reason, msg->reason ? msg->reason : "");
                s_peer_lost(self, peer, reason, false);
            }
            break;
        default:
            s_send_reason(self, identity, "unexpected message type on the worker channel");
            break;
    }
    cs_msg_destroy(&msg);
    zframe_destroy(&identity);
    return true;
}

static int s_send_task(cs_dispatch_t *self, s_peer_t *peer, cs_task_t *task)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_TASK);
    if (!msg)
        return -1;
    /* Every attempt its own id: a late answer to an earlier one (its lease expired, maybe
     * at this very worker) matches no flight and is ignored. */
    task->id = self->next_id++;
    msg->task_id = task->id;
    msg->kind = task->kind;
    msg->connection = strdup(task->connection);
    msg->plugin = task->plugin ? strdup(task->plugin) : NULL;
    msg->config = task->config ? strdup(task->config) : NULL;
    msg->fingerprint = task->fingerprint ? strdup(task->fingerprint) : NULL;
    msg->plugin_version = task->plugin_version ? strdup(task->plugin_version) : NULL;
    msg->memory_max_mb = task->memory_max_mb;
    msg->members = task->members ? strdup(task->members) : NULL;
    for (uint32_t i = 0; i < task->env.count; i++) {
        if (cs_strs_add(&msg->env, task->env.items[i]) != 0) {
            cs_msg_destroy(&msg);
            return -1;
        }
    }
    msg->attempt = task->attempt;
    msg->fresh = task->fresh && task->attempt == 1; /* a retry checks first */
    int rc = cs_wire_send(self->router, peer->identity, NULL, msg);
    cs_msg_destroy(&msg);
    return rc;
}

/* The next task for a worker: updates first; comments only when no update is waiting. A
 * task whose connection has one in flight is held; a task that this worker lost goes to
 * another one (avoid). Of the first S_SCAN tasks, the first that may go is taken, or none.
 * The task leaves its queue and becomes its connection's task in flight. */
static cs_task_t *s_next_task(cs_dispatch_t *self, const s_peer_t *peer, bool avoid)
{
    const s_queue_t *queue = self->updates.size ? &self->updates : &self->comments;
    cs_task_t *task = NULL;
    int scanned = 0;
    for (cs_task_t *t = queue->first; t && scanned < S_SCAN; t = t->after) {
        scanned++;
        const s_track_t *track = zhashx_lookup(self->tracks, t->connection);
        if ((track && track->flying) || (avoid && t->lost_by && strcmp(t->lost_by, peer->key) == 0))
            continue;
        task = t;
        break;
    }
    if (!task)
        return NULL;
    s_dequeue(self, task);
    s_track_t *track = s_track(self, task->connection);
    if (track)
        track->flying = task;
    return task;
}

/* Held tasks whose time came join the end of their queue. */
static void s_release_held(cs_dispatch_t *self, int64_t now)
{
    if (!self->next_due || now < self->next_due)
        return;
    self->next_due = 0;
    cs_task_t *task = self->held.first;
    while (task) {
        cs_task_t *next = task->after;
        if (task->not_before <= now) {
            s_track_t *track = zhashx_lookup(self->tracks, task->connection);
            s_dequeue(self, task);
            task->not_before = 0;
            s_enqueue(self, track, task, false);
        } else if (!self->next_due || task->not_before < self->next_due) {
            self->next_due = task->not_before;
        }
        task = next;
    }
}

void cs_dispatch_pump(cs_dispatch_t *self)
{
    int64_t now = cs_clock_mono_ms();
    s_release_held(self, now);
    s_quarantine_ends(self, now);
    /* Silent workers and expired leases; over a snapshot, since losing a peer edits the list. */
    size_t count = zlistx_size(self->peers);
    s_peer_t **peers = calloc(count ? count : 1, sizeof *peers);
    size_t n = 0;
    for (s_peer_t *p = zlistx_first(self->peers); p && peers; p = zlistx_next(self->peers))
        peers[n++] = p;
    for (size_t i = 0; i < n; i++) {
        s_peer_t *peer = peers[i];
        if (now - peer->last_seen > self->limits.peer_timeout_ms) {
            char reason[300];
            snprintf(reason, sizeof reason, "worker %s fell silent for %d s", peer->name,
                     self->limits.peer_timeout_ms / 1000);
            cs_log_warn("%s", reason);
            s_peer_lost(self, peer, reason, true);
            continue;
        }
        bool expired = true;
        while (expired) {
            expired = false;
            for (s_flight_t *flight = zlistx_first(peer->flights); flight;
                 flight = zlistx_next(peer->flights)) {
                if (now <= flight->deadline)
                    continue;
                zlistx_delete(peer->flights, zlistx_cursor(peer->flights));
                s_landed(self, flight->task);
                if (peer->expired_count == peer->capacity) /* cannot be: sent within capacity */
                    s_expired_forget(peer, 0);
                peer->expired[peer->expired_count++] = flight->task->id;
                char reason[300];
                if (self->limits.lease_ms >= 1000)
                    snprintf(reason, sizeof reason, "its lease expired after %d s at worker %s",
                             self->limits.lease_ms / 1000, peer->name);
                else
                    snprintf(reason, sizeof reason, "its lease expired after %d ms at worker %s",
                             self->limits.lease_ms, peer->name);
                s_requeue(self, flight->task, peer, reason, true);
                free(flight);
                expired = true;
                break;
            }
        }
    }
    free(peers);
    /* Hand out work: one task per worker per round, round after round, while capacity lasts.
     * A worker runs one task at a time; a second one waits at the worker (so that no round trip
     * separates two updates) only while more tasks are queued than there are workers: with
     * less work than that, a task never queues behind a slow one while a worker is idle. */
    bool sent = !self->paused;
    size_t available = cs_dispatch_workers_available(self);
    while (sent && (self->updates.size || self->comments.size)) {
        sent = false;
        size_t queued = self->updates.size + self->comments.size;
        size_t limit = queued > available ? SIZE_MAX : 1;
        for (s_peer_t *peer = zlistx_first(self->peers); peer; peer = zlistx_next(self->peers)) {
            size_t held = zlistx_size(peer->flights) + peer->expired_count;
            peer->idle = held < s_capacity_now(peer) && held < limit;
        }
        /* With another worker to take it, a lost task waits for that one rather than going
         * back to the one that lost it. */
        bool avoid = available > 1;
        for (s_peer_t *peer = zlistx_first(self->peers); peer; peer = zlistx_next(self->peers)) {
            if (!peer->idle)
                continue;
            cs_task_t *task = s_next_task(self, peer, avoid);
            if (!task)
                continue;
            if (task->waiting) { /* its row says it waits: no longer */
                task->waiting = false;
                s_event(self, CS_EVENT_RESUMED, task, NULL, NULL, NULL);
            }
            if (s_send_task(self, peer, task) != 0) {
                s_track_t *track = s_track(self, task->connection);
                track->flying = NULL;
                s_enqueue(self, track, task, true);
                continue;
            }
            s_flight_t *flight = malloc(sizeof *flight);
            if (!flight) { /* sent, but not leased: its lease can only expire as a loss */
                cs_log_error("out of memory: task %llu of %s is not tracked",
                             (unsigned long long)task->id, task->connection);
                s_track_t *track = zhashx_lookup(self->tracks, task->connection);
                if (track && track->flying == task)
                    track->flying = NULL;
                if (track)
                    s_enqueue(self, track, task, true); /* sent again: updates are idempotent */
                continue;
            }
            flight->task = task;
            flight->deadline = now + self->limits.lease_ms;
            zlistx_add_end(peer->flights, flight);
            self->in_flight++;
            if (task->kind != CS_TASK_COMMENTS)
                self->in_flight_updates++;
            sent = true;
        }
    }
    if (now - self->last_heartbeat >= S_HEARTBEAT_MS) {
        self->last_heartbeat = now;
        cs_msg_t *hb = cs_msg_new(CS_MSG_HEARTBEAT);
        for (s_peer_t *peer = zlistx_first(self->peers); peer && hb;
             peer = zlistx_next(self->peers)) {
            hb->in_flight = (uint32_t)(zlistx_size(peer->flights) + peer->expired_count);
            if (cs_wire_send(self->router, peer->identity, NULL, hb) != 0)
                cs_log_debug("heartbeat to %s not sent", peer->name);
        }
        cs_msg_destroy(&hb);
    }
}

void cs_dispatch_worker_exited(cs_dispatch_t *self, pid_t pid, const char *how)
{
    for (s_peer_t *peer = zlistx_first(self->peers); peer; peer = zlistx_next(self->peers)) {
        if (peer->pid == (uint32_t)pid && strncmp(peer->name, "wrk-", 4) == 0) {
            char reason[300];
            snprintf(reason, sizeof reason, "worker %s %s", peer->name, how);
            s_peer_lost(self, peer, reason, true);
            return;
        }
    }
}

size_t cs_dispatch_outstanding(const cs_dispatch_t *self)
{
    return cs_dispatch_queued(self) + self->in_flight;
}

size_t cs_dispatch_updates_outstanding(const cs_dispatch_t *self)
{
    return self->updates.size + self->held.size + self->in_flight_updates;
}

size_t cs_dispatch_queued(const cs_dispatch_t *self)
{
    return self->updates.size + self->comments.size + self->held.size;
}

size_t cs_dispatch_in_flight(const cs_dispatch_t *self)
{
    return self->in_flight;
}

int64_t cs_dispatch_next_due(const cs_dispatch_t *self)
{
    return self->next_due;
}

size_t cs_dispatch_updates_queued(const cs_dispatch_t *self)
{
    return self->updates.size;
}

void cs_dispatch_mark_waiting(cs_dispatch_t *self, const char *why)
{
    bool changed = !self->waiting_why || strcmp(self->waiting_why, why) != 0;
    if (changed) {
        free(self->waiting_why);
        self->waiting_why = strdup(why);
    }
    for (cs_task_t *task = self->updates.first; task; task = task->after) {
        if (task->waiting && !changed)
            continue;
        task->waiting = true;
        s_event(self, CS_EVENT_WAITING, task, why, NULL, NULL);
    }
}

void cs_dispatch_pause(cs_dispatch_t *self, bool paused)
{
    self->paused = paused;
}

size_t cs_dispatch_workers(const cs_dispatch_t *self)
{
    return zlistx_size(self->peers);
}

size_t cs_dispatch_workers_available(const cs_dispatch_t *self)
{
    size_t n = 0;
    for (const s_peer_t *peer = zlistx_first(self->peers); peer; peer = zlistx_next(self->peers))
        n += s_available(peer);
    return n;
}

size_t cs_dispatch_capacity(const cs_dispatch_t *self)
{
    size_t n = 0;
    for (const s_peer_t *peer = zlistx_first(self->peers); peer; peer = zlistx_next(self->peers))
        n += peer->capacity;
    return n;
}

void cs_dispatch_describe_quarantine(const cs_dispatch_t *self, char *buf, size_t size)
{
    const s_peer_t *first = NULL;
    size_t count = 0;
    for (const s_peer_t *peer = zlistx_first(self->peers); peer; peer = zlistx_next(self->peers)) {
        if (s_available(peer))
            continue;
        count++;
        if (!first || peer->quarantined_until < first->quarantined_until)
            first = peer;
    }
    if (!first) {
        snprintf(buf, size, "no worker is quarantined");
        return;
    }
    char until[32];
    s_wall_time(first->quarantined_wall, until, sizeof until);
    snprintf(
        buf, size, "%s quarantined: %s until %s, after %u worker-side failures in a row (last: %s)",
        count == zlistx_size(self->peers) ? "every connected worker is" : "workers are",
        first->name, until, first->failures, first->last_failure ? first->last_failure : "none");
    if (count > 1) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "; and %zu more", count - 1);
    }
}

int cs_dispatch_list_workers(const cs_dispatch_t *self, cs_msg_t *status)
{
    for (const s_peer_t *peer = zlistx_first(self->peers);
         peer && status->worker_row_count < CS_PROTO_MAX_WORKER_ROWS;
         peer = zlistx_next(self->peers)) {
        cs_worker_row_t row = {
            .name = peer->name,
            .pid = peer->pid,
            .capacity = peer->capacity,
            .in_flight = (uint32_t)zlistx_size(peer->flights) + peer->expired_count,
            .expired = peer->expired_count,
            .failures = peer->failures,
            .quarantined_until = peer->quarantined_until ? peer->quarantined_wall : 0,
            .last_failure = peer->last_failure,
        };
        if (cs_msg_add_worker_row(status, &row) != 0)
            return -1;
    }
    return 0;
}

void cs_dispatch_goodbye(cs_dispatch_t *self)
{
    for (s_peer_t *peer = zlistx_first(self->peers); peer; peer = zlistx_next(self->peers))
        s_send_reason(self, peer->identity, "supervisor stopping");
}
