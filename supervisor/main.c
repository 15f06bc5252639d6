/* connstate-supervisor: keeps a database's connection schemas in step with the config
 * directory, using workers over ZeroMQ; publishes every state change. */
#include "supervisor.h"

#include "cs_curve.h"
#include "cs_options.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define S_DEBOUNCE_MS     5
#define S_PEER_TIMEOUT_MS 10000
#define S_MAX_ATTEMPTS    3
#define S_STOP_WRITE_MS   10000  /* longest a stop waits for the last state writes */
#define S_START_WRITE_MS  120000 /* longest the startup's pending batch may take */
#define S_NO_WORKER_MS    3000   /* queued updates without any worker this long: say so */
#define S_ASK_ITEMS       16     /* plugin info asks polled at once (more: at the next tick) */
#define S_DB_CHECK_MS     1000   /* embedded: how often a server without a session is looked at */
#define S_DB_RESTARTS     5      /* embedded: started again at most this often within ... */
#define S_DB_WINDOW_MS    60000  /* ... this window; then left alone until it passes */
#define S_HTTP_DEFAULT    "127.0.0.1:7603"

typedef struct {
    const char *config_dir;
    const char *db;
    const char *data_dir;
    const char *bind_workers;
    const char *bind_publish;
    const char *bind_control;
    const char *plugin_dir;
    const char *log_level;
    const char *curve_cert;
    const char *curve_workers;
    const char *curve_clients;
    const char *bind_http;
    const char *http_token;
    bool insecure;
    long workers;
    long batch_size;
    long batch_ms;
    long batch_max_rows;
    long plugin_timeout;
    long task_timeout;
    long publish_hwm;
    long max_restarts;
    long restart_window;
    long worker_capacity;
    long max_workers;
    long max_snapshots;
    long snapshot_timeout;
    long search_path_max;
    long catalog_check;
} s_options_t;

#define S_TEXT_OF_(x) #x
#define S_TEXT_OF(x)  S_TEXT_OF_(x) /* a number's macro as the text of its digits */

static volatile sig_atomic_t s_stop = 0;
static volatile sig_atomic_t s_hup = 0, s_chld = 0;
static int s_signal_pipe[2] = {-1, -1};

static void s_on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGTERM || sig == SIGINT)
        s_stop = 1;
    else if (sig == SIGHUP)
        s_hup = 1;
    else if (sig == SIGCHLD)
        s_chld = 1;
    char byte = (char)sig;
    ssize_t rc = write(s_signal_pipe[1], &byte, 1); /* wakes the poll; full pipe is fine */
    (void)rc;
    errno = saved;
}

#define S_AT(field) offsetof(s_options_t, field)
#define S_TEXT(flag, arg, env, fallback, fallback_help, help, field)                               \
    {                                                                                              \
        flag, arg, env, fallback, fallback_help, help, CS_OPTION_TEXT, 0, 0, S_AT(field)           \
    }
#define S_NUMBER(flag, arg, env, fallback, help, lo, hi, field)                                    \
    {                                                                                              \
        flag, arg, env, fallback, NULL, help, CS_OPTION_NUMBER, lo, hi, S_AT(field)                \
    }

static char s_cpus[16]; /* the default of --workers */

static const cs_option_t s_options[] = {
    S_TEXT("config-dir", "DIR", "CONNSTATE_CONFIG_DIR", NULL, "~/.connstate/config",
           "connection configs", config_dir),
    S_TEXT("db", "CONNINFO", "CONNSTATE_DB", NULL, NULL,
           "PostgreSQL to manage; without it an embedded cluster under\n"
           "--data-dir is created, started and stopped",
           db),
    S_TEXT("data-dir", "DIR", "CONNSTATE_DATA_DIR", NULL,
           "~/.connstate/db; as root /var/lib/connstate/db", "embedded cluster", data_dir),
    S_NUMBER("workers", "N", "CONNSTATE_WORKERS", s_cpus, "local workers to spawn (0: remote only)",
             0, 256, workers),
    S_TEXT("bind-workers", "EP", "CONNSTATE_BIND_WORKERS", CS_ENDPOINT_WORKERS, NULL,
           "worker endpoint", bind_workers),
    S_TEXT("bind-publish", "EP", "CONNSTATE_BIND_PUBLISH", CS_ENDPOINT_PUBLISH, NULL,
           "publish endpoint", bind_publish),
    S_TEXT("bind-control", "EP", "CONNSTATE_BIND_CONTROL", CS_ENDPOINT_CONTROL, NULL,
           "control endpoint", bind_control),
    S_TEXT("plugin-dir", "DIR", "CONNSTATE_PLUGIN_DIR", NULL, "the bundled ones", "plugins",
           plugin_dir),
    S_NUMBER("batch-size", "N", "CONNSTATE_BATCH_SIZE", "500", "results per state-table write", 1,
             100000, batch_size),
    S_NUMBER("batch-max-rows", "N", "CONNSTATE_BATCH_MAX_ROWS", S_TEXT_OF(CS_BATCH_ROWS_MAX),
             "most rows one state-table write carries", 1, 1000000, batch_max_rows),
    S_NUMBER("batch-ms", "MS", "CONNSTATE_BATCH_MS", "200", "longest wait before a state write", 0,
             60000, batch_ms),
    S_NUMBER("publish-hwm", "N", "CONNSTATE_PUBLISH_HWM", "100000",
             "changes queued per slow subscriber", 1, 10000000, publish_hwm),
    S_NUMBER("plugin-timeout", "SEC", "CONNSTATE_PLUGIN_TIMEOUT", "30", "longest a plugin may run",
             1, 86400, plugin_timeout),
    S_NUMBER("task-timeout", "SEC", "CONNSTATE_TASK_TIMEOUT", "300",
             "lease of one update at a worker", 1, 86400, task_timeout),
    S_NUMBER("worker-capacity", "N", "CONNSTATE_WORKER_CAPACITY", "16",
             "most tasks one worker holds at once, whatever it claims", 1, 1024, worker_capacity),
    S_NUMBER("max-workers", "N", "CONNSTATE_MAX_WORKERS", "256",
             "most workers connected at once; more are told to go away", 1, 65536, max_workers),
    S_NUMBER("max-restarts", "N", "CONNSTATE_MAX_RESTARTS", "5",
             "a local worker restarted more than N times within", 1, 100, max_restarts),
    S_NUMBER("restart-window", "SEC", "CONNSTATE_RESTART_WINDOW", "60",
             "... SEC seconds is left alone for SEC seconds, then tried again", 1, 86400,
             restart_window),
    S_NUMBER("max-snapshots", "N", "CONNSTATE_MAX_SNAPSHOTS", "32",
             "snapshots served at once, 2 per client at most", 1, 100000, max_snapshots),
    S_NUMBER("snapshot-timeout", "SEC", "CONNSTATE_SNAPSHOT_TIMEOUT", "30",
             "drop a snapshot whose client reads nothing for this long", 1, 86400,
             snapshot_timeout),
    S_NUMBER("search-path-max", "N", "CONNSTATE_SEARCH_PATH_MAX", "100",
             "most schemas in the database's default search path, which is kept\n"
             "in step (search_path_prefix, public, the ready connections) only when\n"
             "the config has an options \"database\" block; past N: without the\n"
             "connections",
             0, 10000, search_path_max),
    S_NUMBER("catalog-check", "SEC", "CONNSTATE_CATALOG_CHECK", "600",
             "read every schema and its marker at least this often (0: only at\n"
             "startup, on SIGHUP and on `connstate refresh --full`); between\n"
             "those a refresh reads what the schema journal says changed",
             0, 86400, catalog_check),
    S_TEXT("bind-http", "ADDR:PORT", "CONNSTATE_BIND_HTTP", NULL,
           S_HTTP_DEFAULT " (in use: warned, and served nowhere)",
           "HTTP: /metrics (Prometheus), /healthz, /readyz; none: off.\n"
           "An address that is not loopback needs --http-token",
           bind_http),
    S_TEXT("http-token", "FILE", "CONNSTATE_HTTP_TOKEN", NULL, "none",
           "a file whose first line is the bearer token every HTTP request but\n"
           "/healthz must carry (Authorization: Bearer TOKEN)",
           http_token),
    S_TEXT("curve-cert", "FILE", "CONNSTATE_CURVE_CERT", NULL, "none: no CURVE",
           "this supervisor's certificate (keygen's FILE; FILE_secret is read):\n"
           "CURVE on all three sockets",
           curve_cert),
    S_TEXT("curve-workers", "DIR", "CONNSTATE_CURVE_WORKERS", NULL, "none: local workers only",
           "public certificates admitted on the worker socket", curve_workers),
    S_TEXT("curve-clients", "DIR", "CONNSTATE_CURVE_CLIENTS", NULL, "none",
           "public certificates admitted on the publish and control sockets", curve_clients),
    {"insecure", NULL, NULL, NULL, NULL,
     "bind endpoints that are not loopback without CURVE (anyone who reaches\n"
     "the worker endpoint receives every connection's config, secrets included)",
     CS_OPTION_SWITCH, 0, 0, S_AT(insecure)},
    CS_OPTION_LOG_LEVEL(S_AT(log_level)),
};

static const cs_program_t s_program = {
    "connstate-supervisor",
    CS_VERSION,
    "Usage: connstate-supervisor [OPTION]...\n"
    "Keeps a PostgreSQL database's connection schemas in step with a directory of .spc\n"
    "files, using worker processes over ZeroMQ, and publishes every state change.\n",
    "Without --curve-cert the endpoints are plain text: only loopback and ipc:// ones are\n"
    "bound unless --insecure is given. The allow-lists are read again on SIGHUP and when their\n"
    "directories change.\n"
    "Signals: SIGHUP refreshes, fetching every dynamic schema again (and reads the\n"
    "allow-lists and the --http-token file again); SIGTERM and SIGINT stop gracefully (exit 0). "
    "Dynamic schemas are also\n"
    "fetched again when a file their schema's \"watch\" list matches changes (inotify).\n"
    "The database going away (restart, outage, failover) does not stop it: it waits for it\n"
    "and carries on, serving STATUS meanwhile.\n"
    "Exit status: 0 after SIGTERM/SIGINT; 1 on a failure that may pass (an endpoint in\n"
    "use): restart it; 2 on a usage or installation error (bad option, no plugin\n"
    "directory) that restarting cannot fix.\n",
    s_options,
    sizeof s_options / sizeof *s_options};

typedef struct {
    s_options_t opt;
    char *config_dir;
    char *plugin_dir;
    char *conninfo;
    cs_embedded_t *embedded;
    /* the pipeline, in order */
    cs_catalog_t *catalog;
    cs_store_t *store;
    cs_batch_t *batch;
    cs_plugins_t *plugins;
    cs_refresh_t *refresh;
    cs_dispatch_t *dispatch;
    cs_spawn_t *spawn;
    cs_publish_t *publish;
    cs_control_t *control;
    cs_auth_t *auth; /* NULL: no CURVE */
    cs_http_t *http; /* NULL: no HTTP */
    cs_dashboard_t *dashboard;
    cs_metrics_t *metrics;
    cs_watch_t *schema_watch; /* the files dynamic schemas come from */
    zsock_t *workers_sock;
    zsock_t *publish_sock;
    zsock_t *control_sock;
    cs_db_state_t db; /* the catalog's state as the pipeline last saw it */
    bool fresh_start; /* service startup: every row pending, not written yet */
    bool refreshed;   /* a refresh completed since this supervisor last became active */
    bool hup_waited;  /* a SIGHUP came while the database was waited for: refresh once active */
    cs_config_t *preloaded;          /* startup: the config, read while the rows were set pending */
    int64_t db_checked;              /* embedded: when the server was last looked at (mono ms) */
    int64_t restarts[S_DB_RESTARTS]; /* embedded: when the server was started again */
    bool restarts_said;
    int inotify_fd;
    int watch;        /* the config directory's watch descriptor (-1: none) */
    bool watch_stale; /* the directory was moved or deleted: watch its path again */
    int64_t watch_tried;
    int64_t debounce_at;      /* 0: no config change waiting */
    int64_t catalog_check_at; /* the next periodic full read of the catalog (0: none) */
    int64_t no_worker_since;  /* updates queued while no worker is connected, since */
    bool no_worker_said;
    char no_worker_why[1024];
} s_sup_t;

/* A batch committed a row: published (once the PUB socket is there: the startup batch of
 * pending rows comes before it). */
static void s_on_commit(void *arg, const char *name, const cs_visible_t *row)
{
    s_sup_t *self = arg;
    if (self->publish)
        cs_publish_change(self->publish, name, row);
    cs_dashboard_change(self->dashboard, name, row);
}

static void s_worker_exited(void *arg, pid_t pid, const char *how)
{
    s_sup_t *self = arg;
    cs_dispatch_worker_exited(self->dispatch, pid, how);
}

/* Binds a socket (a CURVE server when auth is on); for local workers returns the endpoint to
 * connect to (malloc'd). */
static zsock_t *s_bind(cs_auth_t *auth, cs_auth_socket_t which, int type, const char *endpoint,
                       const char *what, int hwm, char **connect_to)
{
    zsock_t *sock = zsock_new(type);
    if (!sock)
        return NULL;
    if (cs_auth_secure(auth, sock, which) != 0) {
        cs_log_error("cannot secure the %s socket: %s", what, zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
        return NULL;
    }
    zsock_set_linger(sock, 0);
    zsock_set_sndhwm(sock, hwm);
    if (type == ZMQ_ROUTER || type == ZMQ_XPUB)
        cs_wire_limit(sock);
    if (type == ZMQ_XPUB) /* every subscription reaches cs_publish_on_socket */
        zsock_set_xpub_verbose(sock, 1);
    if (zsock_bind(sock, "%s", endpoint) < 0) {
        cs_log_error("cannot bind the %s endpoint %s: %s", what, endpoint,
                     zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
        return NULL;
    }
    const char *bound = zsock_endpoint(sock);
    cs_log_info("%s endpoint: %s", what, bound ? bound : endpoint);
    if (connect_to) {
        cs_buf_t ep = {0};
        cs_buf_puts(&ep, bound ? bound : endpoint);
        char *text = cs_buf_take(&ep);
        char *any = text ? strstr(text, "0.0.0.0") : NULL;
        if (any) { /* bound to every interface: local workers use loopback */
            cs_buf_append(&ep, text, (size_t)(any - text));
            cs_buf_puts(&ep, "127.0.0.1");
            cs_buf_puts(&ep, any + 7);
            free(text);
            text = cs_buf_take(&ep);
        }
        *connect_to = text;
    }
    return sock;
}

/* Watches the config directory's path (again, after it was moved or deleted: the old
 * watch follows the old inode). Logs once per state change when it cannot. */
static void s_watch_config(s_sup_t *self)
{
    if (self->inotify_fd < 0)
        return;
    if (self->watch >= 0)
        inotify_rm_watch(self->inotify_fd, self->watch); /* fails when already gone: fine */
    bool had = self->watch >= 0 || !self->watch_stale;
    self->watch = inotify_add_watch(self->inotify_fd, self->config_dir,
                                    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                        IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
    self->watch_stale = self->watch < 0;
    if (self->refresh)
        cs_refresh_files_watched(self->refresh, self->watch >= 0);
    if (self->watch < 0 && had)
        cs_log_warn("not watching %s for changes: %s (SIGHUP and `connstate refresh` still work)",
                    self->config_dir, strerror(errno));
}

/* While the directory's watch is stale, tries its path again every second; once it is
 * watched again, the directory (back, or another one) is read. */
static void s_watch_check(s_sup_t *self)
{
    int64_t now = cs_clock_mono_ms();
    if (!self->watch_stale || now - self->watch_tried < 1000)
        return;
    self->watch_tried = now;
    s_watch_config(self);
    if (!self->watch_stale) {
        cs_log_info("watching %s again: refreshing", self->config_dir);
        cs_refresh_request(self->refresh);
    }
}

/* True when this event concerns what the loader reads: a *.spc file that is not hidden,
 * the directory itself, or events lost (queue overflow). Editors' and `sed -i`'s temporary
 * files do not count: each would cost a refresh. */
static bool s_config_event(const struct inotify_event *event)
{
    if (event->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
        return true;
    return !event->len || cs_config_file_name(event->name);
}

/* Tells the refresh which file an event that counts names (or that it names none). */
static void s_config_note(s_sup_t *self, const struct inotify_event *event)
{
    bool named =
        event->len && !(event->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED));
    cs_refresh_file_touched(self->refresh, named ? event->name : NULL);
}

/* Reads every waiting event of the config directory's watch; true when one counts. Before the
 * refresh exists (the startup's config read), they are only read: that read sees them. */
static bool s_config_touched(s_sup_t *self)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool touched = false;
    ssize_t got;
    while ((got = read(self->inotify_fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + got;) {
            const struct inotify_event *event = (const struct inotify_event *)p;
            if (s_config_event(event)) {
                touched = true;
                if (self->refresh)
                    s_config_note(self, event);
            }
            if ((event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) &&
                event->wd == self->watch) {
                self->watch_stale = true; /* not an old watch's IN_IGNORED */
                if (self->refresh)
                    cs_refresh_files_watched(self->refresh, false);
            }
            p += sizeof *event + event->len;
        }
    }
    return touched;
}

/* Updates queued while no worker may take them (none is connected, or every one is
 * quarantined): after S_NO_WORKER_MS the log says so (once per change of reason) and their
 * rows say what they wait for, until a worker comes. */
static void s_workers_check(s_sup_t *self)
{
    int64_t now = cs_clock_mono_ms();
    size_t queued = cs_dispatch_updates_queued(self->dispatch);
    if (cs_dispatch_workers_available(self->dispatch) > 0 || queued == 0) {
        if (self->no_worker_said)
            cs_log_info("a worker is available again: the waiting updates go on");
        self->no_worker_since = 0;
        self->no_worker_said = false;
        return;
    }
    if (!self->no_worker_since)
        self->no_worker_since = now;
    if (now - self->no_worker_since < S_NO_WORKER_MS)
        return;
    char spawn[256], why[sizeof self->no_worker_why];
    if (cs_dispatch_workers(self->dispatch) > 0) {
        cs_dispatch_describe_quarantine(self->dispatch, why, sizeof why);
    } else {
        cs_spawn_describe(self->spawn, spawn, sizeof spawn);
        snprintf(why, sizeof why, "no worker is connected (%s)", spawn);
    }
    if (!self->no_worker_said || strcmp(why, self->no_worker_why) != 0)
        cs_log_warn("no worker is available: %zu updates wait; %s", queued, why);
    self->no_worker_said = true;
    snprintf(self->no_worker_why, sizeof self->no_worker_why, "%s", why);
    cs_dispatch_mark_waiting(self->dispatch, why);
}

/* The periodic full read of the catalog (--catalog-check): what the schema journal cannot
 * see (a catalog changed without DDL, DDL in a session whose event triggers do not fire, a
 * worker's commit after its task was given up) is found at the latest this long after. */
static void s_catalog_check(s_sup_t *self)
{
    int64_t now = cs_clock_mono_ms();
    if (self->opt.catalog_check <= 0 || self->db != CS_DB_ACTIVE) {
        self->catalog_check_at = 0;
        return;
    }
    if (!self->catalog_check_at) /* active again: activation made a full read */
        self->catalog_check_at = now + self->opt.catalog_check * 1000;
    if (now < self->catalog_check_at)
        return;
    self->catalog_check_at = now + self->opt.catalog_check * 1000;
    cs_refresh_catalog_full(self->refresh, "the periodic check, --catalog-check");
}

/* A connection's watched files changed (and rested): its dynamic schema is fetched again. */
static void s_watch_fired(void *arg, const char *connection)
{
    s_sup_t *self = arg;
    cs_log_conn_info(connection, "a watched file changed: fetching its schema again");
    cs_refresh_refetch(self->refresh, connection,
                       "a watched file changed: dynamic schema "
                       "fetched again");
}

/* Hands every dispatch event to the results stage, in order. */
static void s_events(s_sup_t *self)
{
    cs_event_t *event;
    while ((event = cs_dispatch_next_event(self->dispatch)) != NULL) {
        cs_metrics_event(self->metrics, event);
        cs_refresh_on_event(self->refresh, event);
        cs_event_destroy(&event);
    }
}

/* Handles the waiting messages of a socket that poll found readable (at most 1000, so that
 * one busy socket cannot starve the rest of the loop). */
static void s_drain(const zmq_pollitem_t *item, bool (*handle)(void *), void *arg)
{
    for (int i = 0; i < 1000 && (item->revents & ZMQ_POLLIN) && handle(arg); i++)
        ;
}

static bool s_handle_workers(void *arg)
{
    return cs_dispatch_on_socket(((s_sup_t *)arg)->dispatch);
}

/* The earliest of a timeout and a timer in ms from now (negative: none). */
static void s_earlier(int64_t *timeout, int64_t in_ms)
{
    if (in_ms >= 0 && in_ms < *timeout)
        *timeout = in_ms;
}

/* ---- HTTP: metrics and probes ----------------------------------------------------------- */

/* Why this supervisor is not ready (NULL: it is): it holds the lock, has a session, and a
 * refresh has completed since it last became active. */
static const char *s_not_ready(const s_sup_t *self, char *buf, size_t size)
{
    cs_db_state_t db = self->catalog ? cs_catalog_state(self->catalog) : CS_DB_DOWN;
    if (db == CS_DB_STANDBY)
        return "standby: another supervisor holds the lock";
    if (db != CS_DB_ACTIVE) {
        snprintf(buf, size, "database unavailable: %s",
                 self->catalog ? cs_catalog_error(self->catalog) : "not connected yet");
        return buf;
    }
    if (!self->refreshed)
        return "the first refresh since the database became available has not completed";
    return NULL;
}

static int s_http_route(void *arg, const char *path, cs_buf_t *body, const char **content_type)
{
    s_sup_t *self = arg;
    if (strcmp(path, "/healthz") == 0) {
        cs_buf_puts(body, "ok\n");
        return 200;
    }
    if (strcmp(path, "/readyz") == 0) {
        char buf[CS_PROTO_MAX_ERROR + 64];
        const char *why = s_not_ready(self, buf, sizeof buf);
        *content_type = "application/json";
        cs_buf_printf(body, "{\"ready\":%s", why ? "false" : "true");
        if (why) {
            cs_buf_puts(body, ",\"reason\":");
            cs_buf_json_string(body, why, strlen(why));
        }
        cs_buf_printf(body, ",\"generation\":%llu}\n",
                      self->refresh ? (unsigned long long)cs_refresh_generation(self->refresh) : 0);
        return why ? 503 : 200;
    }
    if (strcmp(path, "/") == 0) {
        cs_buf_append(body, cs_dashboard_page, cs_dashboard_page_len);
        *content_type = "text/html; charset=utf-8";
        return 200;
    }
    if (strcmp(path, "/events") == 0) { /* served by the dashboard once it is there */
        cs_buf_puts(body, "starting: the event stream is served once the database is reached\n");
        return 503;
    }
    if (strcmp(path, "/metrics") == 0) {
        cs_metrics_deps_t deps = {self->store,
                                  self->batch,
                                  self->dispatch,
                                  self->refresh,
                                  self->catalog,
                                  self->publish,
                                  self->opt.task_timeout * 1000000};
        cs_metrics_render(self->metrics, &deps, body);
        *content_type = "text/plain; version=0.0.4; charset=utf-8";
        return 200;
    }
    cs_buf_printf(body,
                  "no such page: %.200s (there are /, /events, /metrics, /healthz and /readyz)\n",
                  path);
    return 404;
}

/* Starts the HTTP endpoint. Returns 0 (also when the default address is in use: said, and
 * nothing served), 1 (an address asked for that is in use), 2 (a bad address or token). */
static int s_start_http(s_sup_t *self)
{
    const char *bind = self->opt.bind_http ? self->opt.bind_http : S_HTTP_DEFAULT;
    if (strcmp(bind, "none") == 0) {
        if (self->opt.http_token)
            cs_log_warn("--http-token is given and --bind-http is none: no HTTP");
        return 0;
    }
    errno = 0;
    self->http = cs_http_new(bind, self->opt.http_token, s_http_route, self);
    if (self->http) {
        cs_log_info("http endpoint: %.*s:%u (/ the dashboard, /metrics, /healthz, /readyz)",
                    (int)(strrchr(bind, ':') - bind), bind, cs_http_port(self->http));
        return 0;
    }
    if (errno == EINVAL)
        return 2;
    if (!self->opt.bind_http) {
        cs_log_warn(
            "no HTTP endpoint: the default %s is in use (another supervisor on this host?); "
            "give --bind-http ADDR:PORT or none",
            S_HTTP_DEFAULT);
        return 0;
    }
    return 1;
}

/* Adds the HTTP endpoint's descriptor to items (returns its index, or -1) and lowers timeout
 * to when it is due. */
static int s_http_item(const s_sup_t *self, zmq_pollitem_t *items, int *n, int64_t *timeout)
{
    if (!self->http)
        return -1;
    items[*n] = (zmq_pollitem_t){NULL, cs_http_fd(self->http), ZMQ_POLLIN, 0};
    s_earlier(timeout, cs_http_next_ms(self->http));
    return (*n)++;
}

static void s_http_serve(s_sup_t *self, const zmq_pollitem_t *items, int http_i)
{
    if (http_i >= 0 && (items[http_i].revents || cs_http_next_ms(self->http) == 0))
        cs_http_run(self->http);
}

/* SIGHUP: the CURVE allow-lists and the HTTP token read again (a failure is logged, and what
 * was read before stays in force). */
static void s_reload_credentials(s_sup_t *self)
{
    cs_auth_reload(self->auth);
    (void)cs_http_reload(self->http);
}

/* ---- the database: active, away, or standing by ------------------------------------------ */

/* At service startup, while the database sets every row pending: the config is read (the
 * directory's watch is up already), for the first plan. */
static void s_preload(void *arg)
{
    s_sup_t *self = arg;
    if (!self->fresh_start || self->refresh || self->preloaded)
        return;
    /* what the watch saw so far is in what is read now: only later events count */
    if (self->inotify_fd >= 0)
        (void)s_config_touched(self);
    int64_t t0 = cs_clock_mono_ms();
    self->preloaded = cs_config_load_dir(self->config_dir);
    if (self->preloaded)
        cs_log_info("config: %zu connections in %zu files, read while the rows are set pending "
                    "(%lld ms)",
                    self->preloaded->count, cs_config_file_count(self->preloaded),
                    (long long)(cs_clock_mono_ms() - t0));
}

/* This supervisor holds the lock (for the first time, or again after the database was away,
 * or after standing by): the state table set up and read anew -- whatever was not written
 * is recomputed by the refresh that follows, from the rows, the schemas and their markers --
 * and dispatching goes on. At service startup every row is pending until this supervisor's
 * first refresh says more. Returns 0, or -1 when the session failed meanwhile. */
static int s_db_activate(s_sup_t *self)
{
    uint64_t last_seq = 0;
    cs_store_clear(self->store);
    if (cs_catalog_setup(self->catalog) != 0 ||
        cs_catalog_load(self->catalog, self->store, self->fresh_start, &last_seq, s_on_commit,
                        s_preload, self) != 0)
        return -1;
    cs_log_info("state table: %zu rows, last sequence number %llu", cs_store_size(self->store),
                (unsigned long long)last_seq);
    cs_batch_attach(self->batch, cs_catalog_session(self->catalog), last_seq);
    if (self->dispatch)
        cs_dispatch_pause(self->dispatch, false);
    if (self->refresh)
        cs_refresh_resume(self->refresh);
    return 0;
}

/* No longer active: nothing is written, dispatched, or answered as the active supervisor. */
static void s_db_inactive(s_sup_t *self)
{
    cs_batch_detach(self->batch);
    if (self->dispatch)
        cs_dispatch_pause(self->dispatch, true);
    if (self->control)
        cs_control_fail_waiters(self->control);
}

/* Follows the catalog's state: what changes when this supervisor stops or starts being the
 * active one. */
static void s_db_follow(s_sup_t *self)
{
    cs_db_state_t now = cs_catalog_state(self->catalog);
    if (now == self->db)
        return;
    if (self->db == CS_DB_ACTIVE) {
        s_db_inactive(self);
        cs_metrics_db_lost(self->metrics);
        self->refreshed = false;
    }
    self->db = now;
    if (now == CS_DB_ACTIVE && s_db_activate(self) != 0) {
        cs_catalog_lost(self->catalog, NULL);
        self->db = cs_catalog_state(self->catalog);
        s_db_inactive(self);
        cs_metrics_db_lost(self->metrics);
    } else if (now == CS_DB_ACTIVE) {
        cs_metrics_db_back(self->metrics);
    }
    if (self->publish)
        cs_publish_soon(self->publish); /* subscribers hear of it at once */
}

/* Someone found the session gone (a write, a catalog read). */
static void s_db_lost(s_sup_t *self)
{
    cs_catalog_lost(self->catalog, NULL);
    s_db_follow(self);
}

/* Just before an answer that may say this supervisor is active (a control request once it
 * is read, a refresh's "done"): the session's socket is looked at again, without waiting.
 * The loop may have stood still for any time since its catalog step (SIGSTOP, a stalled
 * machine) while the server ended the session and another supervisor took the lock; what
 * came on the socket meanwhile (the server's FATAL message, the end of the stream) is read
 * first, and the answer says what is known then. One poll(2) of one descriptor. */
static void s_db_recheck(s_sup_t *self)
{
    /* A batch in flight reads its own answer first: a server's FATAL message is its error,
     * and the end of the stream may be the next read, by the catalog once it is idle. */
    for (int pass = 0; pass < 2 && self->db == CS_DB_ACTIVE; pass++) {
        zmq_pollitem_t item;
        if (!cs_catalog_pollitem(self->catalog, &item))
            return;
        if (cs_catalog_session_bad(self->catalog)) { /* found by the batch writer's reads */
            s_db_lost(self);
            return;
        }
        item.events = ZMQ_POLLIN;
        if (zmq_poll(&item, 1, 0) <= 0 || !(item.revents & ZMQ_POLLIN))
            return;
        if (!cs_batch_busy(self->batch)) {
            cs_catalog_step(self->catalog, true);
            s_db_follow(self);
            return;
        }
        if (cs_batch_on_socket(self->batch) != 0)
            s_db_lost(self);
    }
}

static void s_db_recheck_cb(void *arg)
{
    s_db_recheck(arg);
}

/* The embedded cluster while there is no session: a server that is not running (its
 * postmaster died) is started again, at most S_DB_RESTARTS times within S_DB_WINDOW_MS. */
static void s_embedded_check(s_sup_t *self)
{
    int64_t now = cs_clock_mono_ms();
    if (!self->embedded || self->db != CS_DB_DOWN || now - self->db_checked < S_DB_CHECK_MS)
        return;
    self->db_checked = now;
    int recent = 0;
    for (int i = 0; i < S_DB_RESTARTS; i++)
        recent += self->restarts[i] && now - self->restarts[i] < S_DB_WINDOW_MS;
    if (recent >= S_DB_RESTARTS) {
        if (!self->restarts_said)
            cs_log_error("embedded database: started %d times within %d s; the next try "
                         "waits until that window has passed",
                         S_DB_RESTARTS, S_DB_WINDOW_MS / 1000);
        self->restarts_said = true;
        return;
    }
    self->restarts_said = false;
    /* pg_ctl status first: only a server that is gone costs a start */
    int rc = cs_embedded_ensure(self->embedded);
    if (rc != 0) {
        memmove(self->restarts + 1, self->restarts, (S_DB_RESTARTS - 1) * sizeof *self->restarts);
        self->restarts[0] = now;
    }
}

/* A control request: answered with what the session's socket says once it is read (the
 * control channel calls s_db_recheck_cb). */
static bool s_handle_control(void *arg)
{
    return cs_control_on_socket(((s_sup_t *)arg)->control);
}

/* Startup: the session and the lock, waiting while the database is away (the catalog's
 * backoff) or another supervisor is active; a signal to stop ends the wait. */
static void s_wait_active(s_sup_t *self)
{
    bool readable = false;
    while (!s_stop) {
        if (cs_catalog_step(self->catalog, readable) == CS_DB_ACTIVE) {
            self->db = CS_DB_ACTIVE;
            if (s_db_activate(self) == 0)
                return;
            cs_catalog_lost(self->catalog, NULL);
        }
        self->db = cs_catalog_state(self->catalog);
        s_embedded_check(self);
        zmq_pollitem_t items[3] = {{NULL, s_signal_pipe[0], ZMQ_POLLIN, 0}};
        int n = 1;
        int catalog_i = cs_catalog_pollitem(self->catalog, &items[n]) ? n++ : -1;
        int64_t timeout = cs_catalog_next_ms(self->catalog);
        if (timeout < 0 || timeout > 1000)
            timeout = 1000;
        int http_i = s_http_item(self, items, &n, &timeout);
        if (zmq_poll(items, n, (long)timeout) < 0 && zmq_errno() != EINTR)
            return;
        char buf[64];
        while (items[0].revents && read(s_signal_pipe[0], buf, sizeof buf) > 0)
            ;
        readable = catalog_i >= 0 && items[catalog_i].revents;
        if (s_hup) { /* the allow-lists and the token now; the refresh once active */
            s_hup = 0;
            self->hup_waited = true;
            s_reload_credentials(self);
        }
        s_http_serve(self, items, http_i);
    }
}

/* The database: the embedded cluster when no --db, the session and its lock (waiting for
 * them), the state table's setup and rows, every row pending (service startup), the batch
 * writer. Returns 0, 1 (may pass) or 2. */
static int s_start_database(s_sup_t *self)
{
    bool embedded;
    self->conninfo = cs_db_resolve(self->opt.db, self->opt.data_dir, &embedded);
    if (!self->conninfo) {
        cs_log_error("cannot start: no --db and no home directory for the embedded database");
        return 2;
    }
    if (embedded) {
        char *dir = self->opt.data_dir ? strdup(self->opt.data_dir) : cs_embedded_default_dir();
        self->embedded = dir ? cs_embedded_start(dir) : NULL;
        free(dir);
        if (!self->embedded)
            return 1;
    }
    self->fresh_start = true;
    if (!(self->catalog = cs_catalog_new(self->conninfo)) || !(self->store = cs_store_new()) ||
        !(self->batch = cs_batch_new(self->store, s_on_commit, self)))
        return 1;
    cs_catalog_set_lease(self->catalog, (int)self->opt.task_timeout);
    cs_batch_search_path_max(self->batch, (size_t)self->opt.search_path_max);
    cs_batch_rows_max(self->batch, (size_t)self->opt.batch_max_rows);
    s_wait_active(self);
    if (s_stop)
        return 0;
    if (cs_batch_flush_all(self->batch, S_START_WRITE_MS) == 0)
        self->fresh_start = false;
    else if (cs_catalog_session_bad(self->catalog))
        s_db_lost(self); /* the loop waits for it; then every row is set pending again */
    else
        cs_log_error("the state table could not be written within %d s: going on; the rows "
                     "are written as soon as the database takes them",
                     S_START_WRITE_MS / 1000);
    return 0;
}

static int s_loop(s_sup_t *self)
{
    cs_batch_rule_t rule = {(size_t)self->opt.batch_size, (int)self->opt.batch_ms, 0, 0};
    while (!s_stop) {
        zmq_pollitem_t items[9 + CS_AUTH_ITEMS + S_ASK_ITEMS];
        int n = 0;
        items[n++] = (zmq_pollitem_t){zsock_resolve(self->workers_sock), 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){zsock_resolve(self->control_sock), 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){NULL, s_signal_pipe[0], ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){zsock_resolve(self->publish_sock), 0, ZMQ_POLLIN, 0};
        int inotify_i = -1, batch_i = -1, watch_i = -1;
        if (self->inotify_fd >= 0) {
            inotify_i = n;
            items[n++] = (zmq_pollitem_t){NULL, self->inotify_fd, ZMQ_POLLIN, 0};
        }
        if (cs_watch_fd(self->schema_watch) >= 0) {
            watch_i = n;
            items[n++] = (zmq_pollitem_t){NULL, cs_watch_fd(self->schema_watch), ZMQ_POLLIN, 0};
        }
        bool want_write;
        int batch_fd = cs_batch_socket(self->batch, &want_write);
        if (batch_fd >= 0) {
            batch_i = n;
            items[n++] = (zmq_pollitem_t){NULL, batch_fd,
                                          (short)(ZMQ_POLLIN | (want_write ? ZMQ_POLLOUT : 0)), 0};
        }
        int auth_i = n;
        n += cs_auth_pollitems(self->auth, items + n);
        int catalog_i = -1; /* the session's socket while no batch reads it */
        if (!cs_batch_busy(self->batch) && cs_catalog_pollitem(self->catalog, &items[n]))
            catalog_i = n++;
        n += cs_plugins_pollitems(self->plugins, items + n, S_ASK_ITEMS);
        /* Sleep until the next timer, or a second at most. */
        int64_t now = cs_clock_mono_ms(), timeout = 1000;
        int64_t batch_at = cs_batch_wake_at(self->batch, (int)self->opt.batch_ms);
        s_earlier(&timeout, batch_at ? (batch_at > now ? batch_at - now : 0) : -1);
        s_earlier(&timeout, self->debounce_at ? self->debounce_at - now : -1);
        s_earlier(&timeout, cs_watch_next_ms(self->schema_watch));
        int64_t held_due = cs_dispatch_next_due(self->dispatch);
        s_earlier(&timeout, held_due ? held_due - now : -1);
        if (self->db == CS_DB_ACTIVE) /* else a requested refresh waits for the database */
            s_earlier(&timeout, cs_refresh_next_ms(self->refresh));
        s_earlier(&timeout, cs_control_next_ms(self->control));
        s_earlier(&timeout, cs_catalog_next_ms(self->catalog));
        s_earlier(&timeout, cs_publish_next_ms(self->publish));
        s_earlier(&timeout, self->catalog_check_at ? self->catalog_check_at - now : -1);
        s_earlier(&timeout, cs_dashboard_next_ms(self->dashboard));
        int http_i = s_http_item(self, items, &n, &timeout);
        if (timeout < 0)
            timeout = 0;
        if (zmq_poll(items, n, (long)timeout) < 0 && zmq_errno() != EINTR) {
            cs_log_error("poll: %s", zmq_strerror(zmq_errno()));
            return 1;
        }
        if (items[2].revents) {
            char buf[64];
            while (read(s_signal_pipe[0], buf, sizeof buf) > 0)
                ;
        }
        if (s_chld) {
            s_chld = 0;
            cs_spawn_reap(self->spawn, s_worker_exited, self);
        }
        if (items[3].revents)
            cs_publish_on_socket(self->publish); /* subscribers joined: greeted at once */
        if (s_hup || self->hup_waited) {
            if (s_hup) /* else read while the database was waited for */
                s_reload_credentials(self);
            s_hup = 0;
            self->hup_waited = false;
            cs_log_info("SIGHUP: refreshing");
            cs_refresh_catalog_full(self->refresh, "SIGHUP");
            cs_refresh_request_all(self->refresh);
        }
        s_catalog_check(self);
        cs_auth_on_poll(self->auth, items + auth_i); /* before any peer's message is read */
        if (inotify_i >= 0 && items[inotify_i].revents && s_config_touched(self))
            self->debounce_at = cs_clock_mono_ms() + S_DEBOUNCE_MS;
        if (self->debounce_at && cs_clock_mono_ms() >= self->debounce_at) {
            self->debounce_at = 0;
            cs_log_info("config directory changed: refreshing");
            cs_refresh_request_touched(self->refresh);
        }
        if (watch_i >= 0 && items[watch_i].revents)
            cs_watch_on_readable(self->schema_watch);
        cs_watch_take_due(self->schema_watch, cs_clock_mono_ms(), s_watch_fired, self);
        /* The database: connecting, the lock, a session that went away. */
        cs_catalog_step(self->catalog, catalog_i >= 0 && items[catalog_i].revents);
        s_db_follow(self);
        s_embedded_check(self);
        /* A committed batch first: its changes are published before anything else waits. */
        if (batch_i >= 0 && items[batch_i].revents && cs_batch_on_socket(self->batch) != 0)
            s_db_lost(self);
        s_drain(&items[0], s_handle_workers, self);
        s_events(self);
        s_drain(&items[1], s_handle_control, self);
        cs_control_serve(self->control); /* snapshots, a slice at a time */
        rule.updates_outstanding = cs_dispatch_updates_outstanding(self->dispatch);
        rule.outstanding = cs_dispatch_outstanding(self->dispatch);
        if (self->db == CS_DB_ACTIVE && cs_batch_due(self->batch, &rule, cs_clock_mono_ms()) &&
            cs_batch_flush(self->batch, 0) != 0 && cs_catalog_session_bad(self->catalog))
            s_db_lost(self);
        int64_t elapsed_us = 0;
        uint64_t done = 0;
        if (self->db == CS_DB_ACTIVE) {
            done = cs_refresh_tick(self->refresh, &elapsed_us);
            if (cs_refresh_lost(self->refresh)) {
                done = 0;
                s_db_lost(self);
            }
        }
        cs_dispatch_pump(self->dispatch);
        if (self->db == CS_DB_ACTIVE)
            s_workers_check(self);
        s_events(self);
        cs_spawn_tick(self->spawn);
        cs_publish_tick(self->publish);
        s_watch_check(self);
        if (done)
            s_db_recheck(self); /* the session lost since: its waiters are told so instead */
        if (done && self->db == CS_DB_ACTIVE) {
            cs_control_refresh_done(self->control, done, elapsed_us);
            cs_metrics_refresh_done(self->metrics, done, elapsed_us);
            self->refreshed = true;
        }
        if (self->db == CS_DB_ACTIVE)
            cs_control_named_check(self->control); /* named refreshes whose rows are done */
        cs_dashboard_tick(self->dashboard);
        s_http_serve(self, items, http_i); /* last: it shows what this turn did */
        cs_log_flush(); /* summaries of rate-limited messages whose window is over */
    }
    return 0;
}

/* Local workers: the database conninfo travels in the environment, not in argv (ps). */
static int s_start_workers(s_sup_t *self, const char *worker_ep)
{
    setenv("CONNSTATE_DB", self->conninfo, 1);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("CONNSTATE_SUPERVISOR_PID", pid, 1); /* our workers stop when we are gone */
    /* This supervisor's CURVE settings are not theirs: they get keys of their own. */
    unsetenv("CONNSTATE_CURVE_CERT");
    unsetenv("CONNSTATE_CURVE_SERVER");
    if (self->auth)
        setenv(CS_CURVE_LOCAL_ENV, cs_auth_local_env(self->auth), 1);
    else
        unsetenv(CS_CURVE_LOCAL_ENV);
    char *worker = cs_exe_path("connstate-worker");
    if (!worker) {
        cs_log_error("cannot start workers: the supervisor's own path is unknown");
        return 2;
    }
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%ld", self->opt.plugin_timeout);
    char *const worker_argv[] = {worker,
                                 "--connect",
                                 (char *)worker_ep,
                                 "--plugin-dir",
                                 self->plugin_dir,
                                 "--plugin-timeout",
                                 timeout,
                                 "--log-level",
                                 (char *)self->opt.log_level,
                                 NULL};
    self->spawn = cs_spawn_new((int)self->opt.workers, worker_argv, (int)self->opt.max_restarts,
                               (int)self->opt.restart_window * 1000);
    free(worker);
    if (!self->spawn)
        return 1;
    cs_spawn_tick(self->spawn);
    return 0;
}

/* CURVE as the options say, and no endpoint that leaves this host in clear unless
 * --insecure says so. Returns 0, or -1 after saying why (a usage error: exit status 2). */
static int s_check_security(s_sup_t *self)
{
    const s_options_t *o = &self->opt;
    if (!o->curve_cert && (o->curve_workers || o->curve_clients)) {
        cs_log_error("cannot start: --curve-%s needs --curve-cert (this supervisor's own "
                     "certificate)",
                     o->curve_workers ? "workers" : "clients");
        return -1;
    }
    if (o->curve_cert)
        return (self->auth = cs_auth_new(o->curve_cert, o->curve_workers, o->curve_clients)) ? 0
                                                                                             : -1;
    const char *endpoints[] = {o->bind_workers, o->bind_publish, o->bind_control};
    const char *names[] = {"workers", "publish", "control"};
    for (int i = 0; i < 3; i++)
        if (!cs_auth_loopback(endpoints[i]) && !o->insecure) {
            cs_log_error("cannot start: --bind-%s %s is reachable from other hosts and CURVE is "
                         "off: give --curve-cert (see deploy/MULTIHOST.md), or --insecure to "
                         "send every connection's config, secrets included, in clear",
                         names[i], endpoints[i]);
            return -1;
        } else if (!cs_auth_loopback(endpoints[i]))
            cs_log_warn("--insecure: the %s endpoint %s is plain text and open to other hosts",
                        names[i], endpoints[i]);
    return 0;
}

/* Starts everything in order; returns 0, 1 (a failure that may pass: the database is not
 * reachable yet, an endpoint is still in use) or 2 (a usage or installation error that
 * restarting cannot fix). */
static int s_start(s_sup_t *self)
{
    /* the directory watched first: what changes while it is read at startup is seen */
    self->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    s_watch_config(self);
    int rc = s_start_http(self); /* first: /healthz and /readyz answer while the database waits */
    if (rc != 0)
        return rc;
    rc = s_start_database(self);
    if (rc != 0 || s_stop)
        return rc;
    char *worker_ep = NULL;
    /* A worker holds at most --worker-capacity tasks: a small queue per peer is plenty. */
    self->workers_sock = s_bind(self->auth, CS_AUTH_WORKERS, ZMQ_ROUTER, self->opt.bind_workers,
                                "worker", 1000, &worker_ep);
    self->publish_sock = s_bind(self->auth, CS_AUTH_PUBLISH, ZMQ_XPUB, self->opt.bind_publish,
                                "publish", (int)self->opt.publish_hwm, NULL);
    self->control_sock = s_bind(self->auth, CS_AUTH_CONTROL, ZMQ_ROUTER, self->opt.bind_control,
                                "control", CS_CONTROL_SNDHWM, NULL);
    if (!self->workers_sock || !self->publish_sock || !self->control_sock) {
        free(worker_ep);
        return 1;
    }
    uint64_t instance = ((uint64_t)zclock_time() << 20) ^ (uint64_t)getpid() ^ (uint64_t)random();
    self->publish = cs_publish_new(self->publish_sock, self->batch, self->catalog, instance);
    self->plugins = cs_plugins_new(self->plugin_dir, (int)self->opt.plugin_timeout * 1000);
    cs_dispatch_limits_t limits = {.max_attempts = S_MAX_ATTEMPTS,
                                   .lease_ms = (int)self->opt.task_timeout * 1000,
                                   .peer_timeout_ms = S_PEER_TIMEOUT_MS,
                                   .max_capacity = (uint32_t)self->opt.worker_capacity,
                                   .max_workers = (size_t)self->opt.max_workers};
    self->dispatch = cs_dispatch_new(self->workers_sock, limits);
    if (self->dispatch)
        cs_dispatch_pause(self->dispatch, self->db != CS_DB_ACTIVE);
    self->schema_watch = cs_watch_new();
    cs_refresh_deps_t refresh = {self->store,   self->catalog,    self->batch,       self->dispatch,
                                 self->plugins, self->config_dir, self->schema_watch};
    self->refresh =
        self->dispatch && self->plugins && self->schema_watch ? cs_refresh_new(&refresh) : NULL;
    if (self->refresh) {
        cs_refresh_files_watched(self->refresh, self->watch >= 0 && !self->watch_stale);
        cs_refresh_preloaded(self->refresh, &self->preloaded);
    }
    cs_control_deps_t control = {self->store,
                                 self->batch,
                                 self->dispatch,
                                 self->refresh,
                                 self->catalog,
                                 instance,
                                 (int)self->opt.max_snapshots,
                                 (int)self->opt.snapshot_timeout * 1000,
                                 s_db_recheck_cb,
                                 self};
    self->control = self->refresh ? cs_control_new(self->control_sock, &control) : NULL;
    cs_dashboard_deps_t dashboard = {
        self->store,   self->batch,   self->dispatch, self->refresh,
        self->catalog, self->metrics, instance,       (int)self->opt.task_timeout};
    if (self->http && !(self->dashboard = cs_dashboard_new(self->http, &dashboard)))
        cs_log_error("out of memory: no dashboard");
    if (!self->publish || !self->control) {
        free(worker_ep);
        return 1;
    }
    rc = s_start_workers(self, worker_ep);
    free(worker_ep);
    if (rc != 0)
        return rc;
    cs_refresh_request(self->refresh); /* startup refresh */
    return 0;
}

static void s_shutdown(s_sup_t *self)
{
    if (self->dispatch)
        cs_dispatch_goodbye(self->dispatch);
    if (self->spawn)
        cs_spawn_stop(self->spawn, 5000);
    if (self->dispatch && self->refresh)
        s_events(self); /* the last results, into the last state writes */
    if (self->batch && self->db == CS_DB_ACTIVE &&
        cs_batch_flush_all(self->batch, S_STOP_WRITE_MS) != 0)
        cs_log_warn("the last state changes were not written");
    cs_http_destroy(&self->http); /* its streams first: they read the dashboard */
    cs_dashboard_destroy(&self->dashboard);
    cs_control_destroy(&self->control);
    cs_refresh_destroy(&self->refresh);
    cs_config_destroy(&self->preloaded);
    cs_watch_destroy(&self->schema_watch);
    cs_plugins_destroy(&self->plugins);
    cs_dispatch_destroy(&self->dispatch);
    cs_spawn_destroy(&self->spawn);
    cs_publish_destroy(&self->publish);
    cs_batch_destroy(&self->batch);
    zsock_destroy(&self->workers_sock);
    zsock_destroy(&self->publish_sock);
    zsock_destroy(&self->control_sock);
    cs_auth_destroy(&self->auth);
    cs_store_destroy(&self->store);
    cs_catalog_destroy(&self->catalog); /* releases the lock: a standby takes over */
    cs_metrics_destroy(&self->metrics);
    if (self->inotify_fd >= 0)
        close(self->inotify_fd);
    cs_embedded_stop(&self->embedded);
    free(self->config_dir);
    free(self->plugin_dir);
    free(self->conninfo);
}

int main(int argc, char **argv)
{
    cs_log_init("sup");
    s_sup_t self = {0};
    self.inotify_fd = -1;
    self.watch = -1;
    snprintf(s_cpus, sizeof s_cpus, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    int parsed = cs_options_parse(&s_program, argc, argv, &self.opt);
    if (parsed >= 0)
        return parsed;
    if (cs_log_set_level(self.opt.log_level) != 0)
        return 2; /* checked by the parser already */
    self.config_dir = self.opt.config_dir ? strdup(self.opt.config_dir) : cs_config_default_dir();
    self.plugin_dir = self.opt.plugin_dir ? strdup(self.opt.plugin_dir) : cs_plugin_default_dir();
    if (!self.config_dir || !self.plugin_dir) {
        cs_log_error("cannot start: %s", !self.config_dir ? "no --config-dir and no home directory"
                                                          : "the bundled plugins were not found; "
                                                            "give --plugin-dir");
        s_shutdown(&self);
        return 2;
    }
    if (s_check_security(&self) != 0 || pipe2(s_signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0 ||
        !(self.metrics = cs_metrics_new())) {
        s_shutdown(&self); /* frees what was made so far (the sanitizers' leak check) */
        return 2;
    }
    zsys_handler_set(NULL); /* our own handlers: they only set flags */
    zsys_set_linger(0);
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    cs_log_info("connstate-supervisor %s: config %s, plugins %s", CS_VERSION, self.config_dir,
                self.plugin_dir);
    int rc = s_start(&self);
    if (rc == 0 && !s_stop)
        rc = s_loop(&self);
    if (s_stop)
        cs_log_info("stopping");
    s_shutdown(&self);
    zsys_shutdown();
    cs_log_info("stopped");
    return rc;
}
