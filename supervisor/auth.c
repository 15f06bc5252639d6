/* Who may connect: CURVE on the supervisor's three sockets, with a ZAP handler (ZeroMQ RFC
 * 27) that admits on each socket only the keys of its allow-list -- worker keys on the worker
 * socket, client keys on the publish and control sockets -- and logs every peer it refuses
 * once per socket, address, key and reason. The allow-lists are directories of public
 * certificates, read again on SIGHUP and when either directory changes. */
#include "supervisor.h"

#include "cs_curve.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01" /* where libzmq asks (RFC 27) */
#define S_SEEN_MAX     4096 /* rejections remembered so as to log each once; then forgotten */
#define S_PENDING_MAX  4096 /* accepted connections whose peer address is remembered */

static const char *const s_socket_names[] = {"worker", "publish", "control"};
static const char *const s_domains[] = {"workers", "publish", "control"};

/* An allow-list: the keys (Z85) of the certificates in a directory, each with its file. */
typedef struct {
    const char *what; /* "worker", "client" */
    char *dir;        /* NULL: none given, nothing admitted */
    zhashx_t *keys;   /* Z85 key -> file name */
    int watch;        /* inotify watch descriptor, -1: none */
} s_list_t;

/* One secured socket's monitor, read by the monitor thread: which peer an accepted
 * connection came from, so that a plain-text peer (which never reaches the ZAP handler) can be
 * named when refused. The thread reads the address as soon as libzmq reports the connection:
 * a refused peer's socket is closed a round trip later. */
typedef struct {
    zsock_t *pair;
    zhashx_t *peers;    /* fd -> "address" */
    const char *failed; /* a handshake failed for this reason: the next disconnect is it */
} s_monitor_t;

struct cs_auth {
    cs_curve_pair_t own;
    cs_curve_pair_t local; /* the local workers' pair: admitted on the worker socket */
    char local_public[CS_CURVE_TEXT_SIZE];
    char local_env[2 * CS_CURVE_TEXT_SIZE];
    zsock_t *zap;
    s_list_t workers, clients;
    int inotify_fd;
    zactor_t *monitor; /* the monitor thread: "REFUSED socket address reason" */
    zhashx_t *seen;    /* "socket address key reason" already logged */
};

/* ---- the allow-lists ---------------------------------------------------------------------- */

/* Whether a directory entry is a certificate to read: not hidden, not a secret one (warned:
 * a secret certificate does not belong in an allow-list). */
static bool s_certificate_name(const s_list_t *list, const char *name)
{
    if (name[0] == '.')
        return false;
    size_t len = strlen(name);
    if (len > 7 && strcmp(name + len - 7, "_secret") == 0) {
        cs_log_warn("%s allow-list %s: %s ignored: a secret certificate does not belong in an "
                    "allow-list (give the public one)",
                    list->what, list->dir, name);
        return false;
    }
    return true;
}

/* Reads the list's directory anew: the list is what it holds now (a key removed from it is no
 * longer admitted to new connections). Logs the count when it changed, and every file that
 * is not a certificate. */
static void s_list_load(s_list_t *list)
{
    if (!list->dir)
        return;
    zhashx_t *keys = zhashx_new();
    zhashx_set_destructor(keys, (zhashx_destructor_fn *)zstr_free);
    DIR *dir = opendir(list->dir);
    if (!dir)
        cs_log_warn("%s allow-list %s: %s: no %s key is admitted", list->what, list->dir,
                    strerror(errno), list->what);
    struct dirent *entry;
    while (dir && (entry = readdir(dir)) != NULL) {
        if (!s_certificate_name(list, entry->d_name))
            continue;
        char path[4096], why[512];
        snprintf(path, sizeof path, "%s/%s", list->dir, entry->d_name);
        uint8_t key[CS_CURVE_KEY_SIZE];
        if (cs_curve_load_public(path, key, why, sizeof why) != 0) {
            cs_log_warn("%s allow-list: %s: ignored", list->what, why);
            continue;
        }
        if (zhashx_size(keys) >= CS_AUTH_MAX_KEYS) {
            cs_log_warn("%s allow-list %s: more than %d certificates: the rest are ignored",
                        list->what, list->dir, CS_AUTH_MAX_KEYS);
            break;
        }
        char text[CS_CURVE_TEXT_SIZE];
        cs_curve_text(key, text);
        zhashx_update(keys, text, strdup(entry->d_name));
    }
    if (dir)
        closedir(dir);
    if (!list->keys || zhashx_size(list->keys) != zhashx_size(keys))
        cs_log_info("%s allow-list %s: %zu keys", list->what, list->dir, zhashx_size(keys));
    zhashx_destroy(&list->keys);
    list->keys = keys;
}

static bool s_listed(const s_list_t *list, const char *key)
{
    return list->keys && zhashx_lookup(list->keys, key) != NULL;
}

/* Watches the list's directory (again: SIGHUP, after it was recreated). */
static void s_list_watch(cs_auth_t *self, s_list_t *list)
{
    if (!list->dir || self->inotify_fd < 0)
        return;
    if (list->watch >= 0)
        inotify_rm_watch(self->inotify_fd, list->watch);
    list->watch = inotify_add_watch(self->inotify_fd, list->dir,
                                    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                        IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
    if (list->watch < 0)
        cs_log_warn("%s allow-list %s: not watched for changes: %s (SIGHUP reads it again)",
                    list->what, list->dir, strerror(errno));
}

/* ---- refusals ------------------------------------------------------------------------------ */

/* Logs a refused peer, once per socket, address, key and reason. */
static void s_refused(cs_auth_t *self, int socket, const char *address, const char *key,
                      const char *reason)
{
    char seen[256];
    snprintf(seen, sizeof seen, "%d %s %s %s", socket, address, key, reason);
    if (zhashx_lookup(self->seen, seen))
        return;
    if (zhashx_size(self->seen) >= S_SEEN_MAX)
        zhashx_purge(self->seen); /* bounded: a refusal may then be logged once more */
    zhashx_insert(self->seen, seen, (void *)1);
    cs_log_warn("%s socket: rejected %s%s%s: %s", s_socket_names[socket], address,
                *key ? " with key " : "", key, reason);
}

/* Decides a ZAP request: 200 for a key on the socket's list, else 400 and why. */
static const char *s_decide(const cs_auth_t *self, int socket, const char *mechanism,
                            const char *key, const char **status)
{
    *status = "400";
    if (strcmp(mechanism, "CURVE") != 0)
        return "no key: CURVE is required";
    bool worker = s_listed(&self->workers, key) || strcmp(key, self->local_public) == 0;
    bool client = s_listed(&self->clients, key);
    if (socket == 0 && worker) {
        *status = "200";
        return "OK";
    }
    if (socket != 0 && client) {
        *status = "200";
        return "OK";
    }
    if (socket == 0 && client)
        return "wrong socket: a client key is never admitted as a worker";
    if (socket != 0 && worker)
        return "wrong socket: a worker key is not a client key (list it in --curve-clients)";
    return "unknown key: in no allow-list";
}

/* Answers one ZAP request (version, request id, domain, address, identity, mechanism,
 * credentials...): version, request id, status code and text, user id (the key), metadata. */
static void s_zap_request(cs_auth_t *self)
{
    zmsg_t *request = zmsg_recv(self->zap);
    if (!request)
        return;
    char *version = zmsg_popstr(request), *id = zmsg_popstr(request);
    char *domain = zmsg_popstr(request), *address = zmsg_popstr(request);
    char *identity = zmsg_popstr(request), *mechanism = zmsg_popstr(request);
    zframe_t *credential = zmsg_pop(request);
    char key[CS_CURVE_TEXT_SIZE] = "";
    if (credential && zframe_size(credential) == CS_CURVE_KEY_SIZE)
        cs_curve_text(zframe_data(credential), key);
    int socket = -1;
    for (int i = 0; i < 3 && domain; i++)
        if (strcmp(domain, s_domains[i]) == 0)
            socket = i;
    const char *status = "400", *text = "unknown ZAP domain";
    if (socket >= 0 && mechanism)
        text = s_decide(self, socket, mechanism, key, &status);
    if (socket >= 0 && strcmp(status, "200") != 0)
        s_refused(self, socket, address ? address : "?", key, text);
    else if (socket >= 0)
        cs_log_debug("%s socket: admitted %s with key %s", s_socket_names[socket], address, key);
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "1.0");
    zmsg_addstr(reply, id ? id : "");
    zmsg_addstr(reply, status);
    zmsg_addstr(reply, text);
    zmsg_addstr(reply, strcmp(status, "200") == 0 ? key : "");
    zmsg_addmem(reply, "", 0);
    zmsg_send(&reply, self->zap);
    zframe_destroy(&credential);
    zstr_free(&version);
    zstr_free(&id);
    zstr_free(&domain);
    zstr_free(&address);
    zstr_free(&identity);
    zstr_free(&mechanism);
    zmsg_destroy(&request);
}

/* One event of a secured socket's monitor (in the monitor thread): an accepted connection's
 * peer is remembered until it disconnects; a disconnect right after a failed handshake is a
 * refused peer, told to the main thread. */
static void s_monitor_event(s_monitor_t *m, int socket, zsock_t *pipe)
{
    zmsg_t *msg = zmsg_recv(m->pair);
    zframe_t *head = msg ? zmsg_first(msg) : NULL;
    if (!head || zframe_size(head) != 6) {
        zmsg_destroy(&msg);
        return;
    }
    uint16_t event;
    uint32_t value;
    memcpy(&event, zframe_data(head), 2);
    memcpy(&value, zframe_data(head) + 2, 4);
    char fd_key[16];
    snprintf(fd_key, sizeof fd_key, "%u", value);
    if (event == ZMQ_EVENT_ACCEPTED && zhashx_size(m->peers) < S_PENDING_MAX) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        char address[INET6_ADDRSTRLEN] = "an address already gone";
        if (getpeername((int)value, (struct sockaddr *)&peer, &len) == 0) {
            if (peer.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, address,
                          sizeof address);
            else if (peer.ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, address,
                          sizeof address);
            else
                snprintf(address, sizeof address, "a local peer");
        }
        zhashx_update(m->peers, fd_key, strdup(address));
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        m->failed = value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                        ? "no key: CURVE is required"
                        : "its CURVE handshake failed (a wrong or old server key?)";
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        /* a plain-text peer sees the mismatch too, and may close first: the same peer */
        m->failed = "no key: CURVE is required";
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        const char *address = zhashx_lookup(m->peers, fd_key);
        if (m->failed)
            zstr_sendf(pipe, "REFUSED\t%d\t%s\t%s", socket,
                       address ? address : "an address already gone", m->failed);
        m->failed = NULL;
        zhashx_delete(m->peers, fd_key);
    }
    zmsg_destroy(&msg);
}

/* The monitor thread: "WATCH index endpoint" connects to a socket's monitor (answered with a
 * signal once connected, so that the socket binds only then); "$TERM" ends it. */
static void s_monitor_thread(zsock_t *pipe, void *arg)
{
    (void)arg;
    s_monitor_t monitors[3] = {{0}};
    zsock_signal(pipe, 0);
    bool running = true;
    while (running) {
        zmq_pollitem_t items[4] = {{zsock_resolve(pipe), 0, ZMQ_POLLIN, 0}};
        int index[4], n = 1;
        for (int i = 0; i < 3; i++)
            if (monitors[i].pair) {
                index[n] = i;
                items[n++] = (zmq_pollitem_t){zsock_resolve(monitors[i].pair), 0, ZMQ_POLLIN, 0};
            }
        if (zmq_poll(items, n, -1) < 0 && zmq_errno() != EINTR)
            break;
        for (int i = 1; i < n; i++)
            if (items[i].revents & ZMQ_POLLIN)
                s_monitor_event(&monitors[index[i]], index[i], pipe);
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        char *command = NULL, *which = NULL, *endpoint = NULL;
        if (zstr_recvx(pipe, &command, &which, &endpoint, NULL) < 1 ||
            strcmp(command, "$TERM") == 0) {
            running = false;
        } else if (strcmp(command, "WATCH") == 0 && which && endpoint) {
            int i = atoi(which);
            s_monitor_t *m = i >= 0 && i < 3 ? &monitors[i] : NULL;
            bool ok = m && !m->pair && (m->pair = zsock_new(ZMQ_PAIR)) &&
                      zsock_connect(m->pair, "%s", endpoint) == 0 && (m->peers = zhashx_new());
            if (ok)
                zhashx_set_destructor(m->peers, (zhashx_destructor_fn *)zstr_free);
            zsock_signal(pipe, ok ? 0 : 1);
        }
        zstr_free(&command);
        zstr_free(&which);
        zstr_free(&endpoint);
    }
    for (int i = 0; i < 3; i++) {
        zsock_destroy(&monitors[i].pair);
        zhashx_destroy(&monitors[i].peers);
    }
}

/* A refusal the monitor thread saw: logged as the ZAP handler's are. */
static void s_monitor_report(cs_auth_t *self)
{
    char *command = NULL, *which = NULL, *address = NULL, *reason = NULL;
    char *text = zstr_recv(self->monitor);
    if (text) {
        command = strtok(text, "\t");
        which = strtok(NULL, "\t");
        address = strtok(NULL, "\t");
        reason = strtok(NULL, "\t");
    }
    int socket = which ? atoi(which) : -1;
    if (command && strcmp(command, "REFUSED") == 0 && socket >= 0 && socket < 3 && address &&
        reason)
        s_refused(self, socket, address, "", reason);
    zstr_free(&text);
}

/* ---- the handler ---------------------------------------------------------------------------- */

static int s_list_init(s_list_t *list, const char *what, const char *dir)
{
    list->what = what;
    list->watch = -1;
    if (!dir)
        return 0;
    list->dir = strdup(dir);
    DIR *d = list->dir ? opendir(dir) : NULL;
    if (!d) {
        cs_log_error("cannot start: the %s allow-list %s: %s", what, dir,
                     list->dir ? strerror(errno) : "out of memory");
        return -1;
    }
    closedir(d);
    return 0;
}

cs_auth_t *cs_auth_new(const char *cert, const char *workers_dir, const char *clients_dir)
{
    if (!zsys_has_curve()) {
        cs_log_error("cannot start: this libzmq has no CURVE (built without libsodium)");
        return NULL;
    }
    cs_auth_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->inotify_fd = -1;
    char why[512];
    if (cs_curve_load_pair(cert, &self->own, why, sizeof why) != 0) {
        cs_log_error("cannot start: --curve-cert %s", why);
        goto fail;
    }
    if (s_list_init(&self->workers, "worker", workers_dir) != 0 ||
        s_list_init(&self->clients, "client", clients_dir) != 0)
        goto fail;
    char local[CS_CURVE_TEXT_SIZE], server[CS_CURVE_TEXT_SIZE];
    self->seen = zhashx_new();
    if (cs_curve_pair_new(&self->local) != 0)
        goto fail;
    cs_curve_text(self->local.secret_key, local);
    cs_curve_text(self->local.public_key, self->local_public);
    cs_curve_text(self->own.public_key, server);
    snprintf(self->local_env, sizeof self->local_env, "%s %s", local, server);
    if (!(self->monitor = zactor_new(s_monitor_thread, NULL))) {
        cs_log_error("cannot start: the CURVE monitor thread");
        goto fail;
    }
    self->zap = zsock_new(ZMQ_REP);
    if (!self->zap || zsock_bind(self->zap, "%s", S_ZAP_ENDPOINT) != 0) {
        cs_log_error("cannot start: the ZAP handler: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    self->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    cs_auth_reload(self);
    char text[CS_CURVE_TEXT_SIZE];
    cs_curve_text(self->own.public_key, text);
    cs_log_info("CURVE on: public key %s; workers admitted from %s, clients from %s", text,
                workers_dir ? workers_dir : "(none: local workers only)",
                clients_dir ? clients_dir : "(none)");
    return self;
fail:
    cs_auth_destroy(&self);
    return NULL;
}

void cs_auth_destroy(cs_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_auth_t *self = *self_p;
    zactor_destroy(&self->monitor);
    zsock_destroy(&self->zap);
    if (self->inotify_fd >= 0)
        close(self->inotify_fd);
    s_list_t *lists[] = {&self->workers, &self->clients};
    for (int i = 0; i < 2; i++) {
        free(lists[i]->dir);
        zhashx_destroy(&lists[i]->keys);
    }
    zhashx_destroy(&self->seen);
    memset(self, 0, sizeof *self); /* the secret keys */
    free(self);
    *self_p = NULL;
}

int cs_auth_secure(cs_auth_t *self, zsock_t *sock, cs_auth_socket_t which)
{
    if (!self)
        return 0;
    void *handle = zsock_resolve(sock);
    int server = 1;
    if (zmq_setsockopt(handle, ZMQ_CURVE_SERVER, &server, sizeof server) != 0 ||
        zmq_setsockopt(handle, ZMQ_CURVE_SECRETKEY, self->own.secret_key, CS_CURVE_KEY_SIZE) != 0 ||
        zmq_setsockopt(handle, ZMQ_CURVE_PUBLICKEY, self->own.public_key, CS_CURVE_KEY_SIZE) != 0)
        return -1;
    zsock_set_zap_domain(sock, s_domains[which]);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://connstate-auth-%p-%d", (void *)self, (int)which);
    if (zmq_socket_monitor(handle, endpoint,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_DISCONNECTED) != 0)
        return -1;
    zstr_sendx(self->monitor, "WATCH",
               which == CS_AUTH_WORKERS   ? "0"
               : which == CS_AUTH_PUBLISH ? "1"
                                          : "2",
               endpoint, NULL);
    return zsock_wait(self->monitor) == 0 ? 0 : -1;
}

const char *cs_auth_local_env(const cs_auth_t *self)
{
    return self ? self->local_env : NULL;
}

void cs_auth_reload(cs_auth_t *self)
{
    if (!self)
        return;
    s_list_watch(self, &self->workers);
    s_list_watch(self, &self->clients);
    s_list_load(&self->workers);
    s_list_load(&self->clients);
}

int cs_auth_pollitems(cs_auth_t *self, zmq_pollitem_t *items)
{
    if (!self)
        return 0;
    int n = 0;
    items[n++] = (zmq_pollitem_t){zsock_resolve(self->zap), 0, ZMQ_POLLIN, 0};
    items[n++] =
        (zmq_pollitem_t){NULL, self->inotify_fd, self->inotify_fd >= 0 ? ZMQ_POLLIN : 0, 0};
    items[n++] = (zmq_pollitem_t){zsock_resolve(self->monitor), 0, ZMQ_POLLIN, 0};
    return n;
}

void cs_auth_on_poll(cs_auth_t *self, const zmq_pollitem_t *items)
{
    if (!self)
        return;
    for (int i = 0; i < 100 && (zsock_events(self->zap) & ZMQ_POLLIN); i++)
        s_zap_request(self);
    if (items[1].revents) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool recreated = false;
        ssize_t got;
        while ((got = read(self->inotify_fd, buf, sizeof buf)) > 0)
            for (char *p = buf; p < buf + got;) {
                const struct inotify_event *event = (const struct inotify_event *)p;
                recreated = recreated || (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF));
                p += sizeof *event + event->len;
            }
        cs_log_info("an allow-list directory changed: reading them again");
        if (recreated)
            cs_auth_reload(self); /* watches the paths again */
        else {
            s_list_load(&self->workers);
            s_list_load(&self->clients);
        }
    }
    for (int i = 0; i < 100 && (zsock_events(self->monitor) & ZMQ_POLLIN); i++)
        s_monitor_report(self);
}

/* ---- endpoints in clear ------------------------------------------------------------------- */

bool cs_auth_loopback(const char *endpoint)
{
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0;
    const char *host = endpoint + 6;
    const char *colon = strrchr(host, ':');
    if (!colon)
        return false;
    char name[256];
    size_t len = (size_t)(colon - host);
    if (len >= sizeof name)
        return false;
    memcpy(name, host, len);
    name[len] = '\0';
    if (strcmp(name, "localhost") == 0 || strcmp(name, "[::1]") == 0 || strcmp(name, "lo") == 0)
        return true;
    struct in_addr addr;
    return inet_pton(AF_INET, name, &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}
