/* Local worker processes: started with posix_spawn (no ZeroMQ state reaches the child),
 * restarted with exponential backoff, given up on when they fail to initialise (exit 2:
 * for good) or restart too often (more than max_restarts within the window, as OTP does:
 * then the slot cools down for one window and is tried again). */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define S_RESTARTS_MAX     100 /* the most --max-restarts can be */
#define S_BACKOFF_FIRST_MS 100
#define S_BACKOFF_MAX_MS   10000
#define S_STABLE_MS        30000 /* running this long resets the backoff */

extern char **environ;

typedef struct {
    char name[16];
    pid_t pid;        /* 0 when not running */
    int64_t start_at; /* when to (re)start it */
    int64_t started;
    int backoff_ms;
    int64_t restarts[S_RESTARTS_MAX];
    int restart_count;
    bool given_up;
    bool for_good;     /* cannot initialise (exit 2) or cannot be spawned: never again */
    int64_t retry_at;  /* given up for restarting too often: tried again from then on */
    time_t retry_wall; /* ... which is then, in wall-clock time (for the logs and rows) */
} s_slot_t;

struct cs_spawn {
    s_slot_t *slots;
    int count;
    int max_restarts;
    int window_ms;
    char **argv;    /* argv_base + "--name" NAME NULL */
    int name_index; /* where NAME goes */
};

cs_spawn_t *cs_spawn_new(int count, char *const argv_base[], int max_restarts, int window_ms)
{
    cs_spawn_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    int argc = 0;
    while (argv_base[argc])
        argc++;
    self->argv = calloc((size_t)argc + 3, sizeof *self->argv);
    self->slots = calloc((size_t)(count > 0 ? count : 1), sizeof *self->slots);
    if (!self->argv || !self->slots) {
        cs_spawn_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < argc; i++)
        self->argv[i] = strdup(argv_base[i]);
    self->argv[argc] = strdup("--name");
    self->name_index = argc + 1;
    self->count = count;
    self->max_restarts = max_restarts < S_RESTARTS_MAX ? max_restarts : S_RESTARTS_MAX;
    self->window_ms = window_ms;
    for (int i = 0; i < count; i++) {
        snprintf(self->slots[i].name, sizeof self->slots[i].name, "wrk-%d", i + 1);
        self->slots[i].backoff_ms = S_BACKOFF_FIRST_MS;
    }
    return self;
}

void cs_spawn_destroy(cs_spawn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_spawn_t *self = *self_p;
    for (int i = 0; self->argv && self->argv[i]; i++)
        free(self->argv[i]);
    free(self->argv);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

static void s_start(cs_spawn_t *self, s_slot_t *slot)
{
    self->argv[self->name_index] = slot->name;
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGCHLD);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(&slot->pid, self->argv[0], NULL, &attr, self->argv, environ);
    posix_spawnattr_destroy(&attr);
    self->argv[self->name_index] = NULL;
    slot->started = cs_clock_mono_ms();
    if (rc != 0) {
        slot->pid = 0;
        slot->given_up = slot->for_good = true;
        cs_log_error("cannot start %s (%s): %s; not retrying", slot->name, self->argv[0],
                     strerror(rc));
        return;
    }
    cs_log_debug("started %s (pid %d)", slot->name, (int)slot->pid);
}

void cs_spawn_tick(cs_spawn_t *self)
{
    int64_t now = cs_clock_mono_ms();
    for (int i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->given_up && !slot->for_good && slot->retry_at && now >= slot->retry_at) {
            cs_log_info("%s: its cool-down is over; starting it again", slot->name);
            slot->given_up = false;
            slot->retry_at = 0;
            slot->restart_count = 0;
            slot->backoff_ms = S_BACKOFF_FIRST_MS;
            slot->start_at = now;
        }
        if (!slot->pid && !slot->given_up && now >= slot->start_at)
            s_start(self, slot);
    }
}

/* Plans the restart of a slot whose process exited, or gives up on it. */
static void s_exited(cs_spawn_t *self, s_slot_t *slot, int status, const char *how)
{
    int64_t now = cs_clock_mono_ms();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        slot->given_up = slot->for_good = true;
        cs_log_error("%s cannot initialise (%s): not restarting it; its own log lines above "
                     "say why",
                     slot->name, how);
        return;
    }
    if (now - slot->started >= S_STABLE_MS)
        slot->backoff_ms = S_BACKOFF_FIRST_MS;
    /* intensity: the restarts within the window, oldest dropped */
    int kept = 0;
    for (int i = 0; i < slot->restart_count; i++)
        if (now - slot->restarts[i] < self->window_ms)
            slot->restarts[kept++] = slot->restarts[i];
    slot->restart_count = kept;
    if (kept >= self->max_restarts) {
        slot->given_up = true;
        slot->retry_at = now + self->window_ms;
        slot->retry_wall = time(NULL) + self->window_ms / 1000;
        cs_log_error("%s %s after %d restarts within %d s: it keeps failing, so it is not "
                     "restarted for %d s",
                     slot->name, how, kept, self->window_ms / 1000, self->window_ms / 1000);
        return;
    }
    slot->restarts[slot->restart_count++] = now;
    slot->start_at = now + slot->backoff_ms;
    cs_log_warn("%s %s; restarting it in %d ms", slot->name, how, slot->backoff_ms);
    slot->backoff_ms =
        slot->backoff_ms * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : slot->backoff_ms * 2;
}

static void s_describe(int status, char *how, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(how, size, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(how, size, "exited with status %d", WEXITSTATUS(status));
}

void cs_spawn_reap(cs_spawn_t *self, void (*exited)(void *arg, pid_t pid, const char *how),
                   void *arg)
{
    /* Each worker's pid, not waitpid(-1): the plugins that ask threads run are their
     * children too, and those threads wait for them. */
    for (int i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        int status;
        if (!slot->pid || waitpid(slot->pid, &status, WNOHANG) != slot->pid)
            continue;
        char how[96];
        s_describe(status, how, sizeof how);
        pid_t pid = slot->pid;
        slot->pid = 0;
        if (exited)
            exited(arg, pid, how);
        s_exited(self, slot, status, how);
    }
}

void cs_spawn_describe(const cs_spawn_t *self, char *buf, size_t size)
{
    int running = 0, for_good = 0, cooling = 0;
    time_t next = 0;
    for (int i = 0; i < self->count; i++) {
        const s_slot_t *slot = &self->slots[i];
        if (slot->for_good)
            for_good++;
        else if (slot->given_up) {
            cooling++;
            next = !next || slot->retry_wall < next ? slot->retry_wall : next;
        } else
            running++;
    }
    if (self->count == 0) {
        snprintf(buf, size, "no local workers (--workers 0) and no remote worker connected");
        return;
    }
    int n = snprintf(buf, size, "of %d local workers", self->count);
    if (cooling && n >= 0 && (size_t)n < size) {
        struct tm tm;
        gmtime_r(&next, &tm);
        n += snprintf(buf + n, size - (size_t)n,
                      ", %d restarted too often (tried again at %02d:%02d:%02d UTC)", cooling,
                      tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    if (for_good && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ", %d cannot initialise (see the log)", for_good);
    if (running && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", %d starting or not yet connected", running);
}

void cs_spawn_stop(cs_spawn_t *self, int deadline_ms)
{
    int running = 0;
    for (int i = 0; i < self->count; i++) {
        self->slots[i].given_up = true; /* no restarts while stopping */
        if (self->slots[i].pid) {
            kill(self->slots[i].pid, SIGTERM);
            running++;
        }
    }
    int64_t deadline = cs_clock_mono_ms() + deadline_ms;
    while (running) {
        int status;
        bool reaped = false;
        for (int i = 0; i < self->count; i++) {
            pid_t pid = self->slots[i].pid;
            if (pid && waitpid(pid, &status, WNOHANG) == pid) {
                self->slots[i].pid = 0;
                running--;
                reaped = true;
            }
        }
        if (reaped)
            continue;
        if (cs_clock_mono_ms() >= deadline) {
            for (int i = 0; i < self->count; i++)
                if (self->slots[i].pid) {
                    cs_log_warn("%s did not stop in time: killing it", self->slots[i].name);
                    kill(self->slots[i].pid, SIGKILL);
                    waitpid(self->slots[i].pid, &status, 0);
                    self->slots[i].pid = 0;
                }
            break;
        }
        zclock_sleep(20);
    }
}
