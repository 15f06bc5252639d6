/* The supervisor's HTTP endpoint: libmicrohttpd driven from the event loop (one epoll
 * descriptor, never a thread of its own), answering GETs through a route callback. */
#include "supervisor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_CONNECTIONS_MAX 64                /* clients served at once; more are refused at accept */
#define S_PER_IP_MAX      16                /* ... from one address */
#define S_IDLE_S          30                /* a client silent this long is dropped */
#define S_TOKEN_MAX       4096              /* bytes of a token file */
#define S_TOKEN_MIN       16                /* a token shorter than this is refused: guessable */
#define S_STREAMS_MAX     16                /* event streams open at once; more get 503 */
#define S_STREAM_BACKLOG  (4 * 1024 * 1024) /* unsent events a stream may hold past its start */
#define S_STREAM_KEEP     (64 * 1024)       /* an emptied queue keeps this much memory */
#define S_KEEPALIVE_MS                                                                             \
    15000 /* a comment line to every stream this often: a client gone                              \
           * is noticed, a suspended connection resumed */

/* One client reading the event stream. Its queue holds what it has not been sent yet. */
typedef struct s_stream {
    cs_http_t *http;
    struct MHD_Connection *conn;
    cs_buf_t queue;
    size_t sent;    /* of queue, already handed to the library */
    size_t limit;   /* the queue's bound: its start (a snapshot) plus S_STREAM_BACKLOG */
    bool suspended; /* nothing to send: the library does not look at it until resumed */
    bool cut;       /* it fell too far behind (or the server stops): its stream ends */
    struct s_stream *prev, *next;
} s_stream_t;

struct cs_http {
    struct MHD_Daemon *daemon;
    int epoll_fd;
    uint16_t port;
    char *token;      /* NULL: none asked */
    char *token_file; /* read again by cs_http_reload */
    cs_http_route_fn *route;
    void *arg;
    /* the event stream (NULL path: none) */
    const char *stream_path;
    cs_http_stream_start_fn *stream_start;
    void *stream_arg;
    s_stream_t *streams;
    size_t stream_count;
    uint64_t streams_cut; /* ended because the client fell behind */
    int64_t keepalive_at;
};

static void s_log(void *arg, const char *fmt, va_list ap)
{
    (void)arg;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    cs_log_warn("http: %s", line);
}

/* Equal texts, in a time that does not depend on where they differ. */
static bool s_same_secret(const char *given, const char *token)
{
    size_t a = strlen(given), b = strlen(token);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(token[i] ^ (i < a ? given[i] : 0));
    return diff == 0;
}

static enum MHD_Result s_answer(struct MHD_Connection *conn, int status, const char *type,
                                cs_buf_t *body)
{
    size_t len = body->len;
    char *data = cs_buf_take(body);
    struct MHD_Response *rsp =
        data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!rsp) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(rsp, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(rsp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, rsp);
    MHD_destroy_response(rsp);
    return rc;
}

/* ---- event streams ------------------------------------------------------------------------ */

static void s_stream_resume(s_stream_t *st)
{
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
}

static ssize_t s_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    s_stream_t *st = cls;
    if (st->cut)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t left = st->queue.len - st->sent;
    if (left == 0) { /* until cs_http_stream_send has more */
        st->suspended = true;
        MHD_suspend_connection(st->conn);
        return 0;
    }
    size_t n = left < max ? left : max;
    memcpy(buf, st->queue.data + st->sent, n);
    st->sent += n;
    if (st->sent == st->queue.len) {
        if (st->queue.cap > S_STREAM_KEEP)
            cs_buf_free(&st->queue); /* a snapshot's memory goes once it is sent */
        else
            cs_buf_reset(&st->queue);
        st->sent = 0;
        st->limit = S_STREAM_BACKLOG;
    }
    return (ssize_t)n;
}

/* The library is done with the stream's response (its connection closed). */
static void s_stream_free(void *cls)
{
    s_stream_t *st = cls;
    cs_http_t *self = st->http;
    if (st->prev)
        st->prev->next = st->next;
    else
        self->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    self->stream_count--;
    cs_buf_free(&st->queue);
    free(st);
}

static enum MHD_Result s_stream_open(cs_http_t *self, struct MHD_Connection *conn)
{
    cs_buf_t body = {0};
    if (self->stream_count >= S_STREAMS_MAX) {
        cs_buf_printf(&body, "too many event streams open (%d)\n", S_STREAMS_MAX);
        return s_answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", &body);
    }
    s_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return MHD_NO;
    st->http = self;
    st->conn = conn;
    cs_buf_puts(&st->queue, "retry: 2000\n\n"); /* how soon a browser comes back */
    self->stream_start(self->stream_arg, &st->queue);
    if (st->queue.failed) {
        cs_buf_free(&st->queue);
        free(st);
        cs_buf_puts(&body, "out of memory\n");
        return s_answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", &body);
    }
    st->limit = st->queue.len + S_STREAM_BACKLOG;
    struct MHD_Response *rsp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                                                 s_stream_read, st, s_stream_free);
    if (!rsp) {
        cs_buf_free(&st->queue);
        free(st);
        return MHD_NO;
    }
    st->next = self->streams;
    if (st->next)
        st->next->prev = st;
    self->streams = st;
    self->stream_count++;
    MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(rsp, "X-Accel-Buffering", "no");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, rsp);
    MHD_destroy_response(rsp); /* s_stream_free runs once the connection is done with it */
    return rc;
}

void cs_http_stream_send(cs_http_t *self, const char *text, size_t len)
{
    if (!self)
        return;
    for (s_stream_t *st = self->streams; st; st = st->next) {
        if (st->cut)
            continue;
        if (st->queue.len - st->sent + len > st->limit) {
            st->cut = true; /* it reconnects and starts again from a snapshot */
            self->streams_cut++;
            cs_log_info("http: an event stream fell %zu bytes behind: ended (its client starts "
                        "again from a snapshot)",
                        st->queue.len - st->sent);
        } else {
            cs_buf_append(&st->queue, text, len);
        }
        s_stream_resume(st);
    }
}

size_t cs_http_streams(const cs_http_t *self)
{
    return self ? self->stream_count : 0;
}

uint64_t cs_http_streams_cut(const cs_http_t *self)
{
    return self ? self->streams_cut : 0;
}

void cs_http_stream_path(cs_http_t *self, const char *path, cs_http_stream_start_fn *start,
                         void *arg)
{
    self->stream_path = path;
    self->stream_start = start;
    self->stream_arg = arg;
}

static enum MHD_Result s_on_request(void *arg, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_size, void **state)
{
    (void)version;
    (void)upload_data;
    cs_http_t *self = arg;
    cs_buf_t body = {0};
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        if (*upload_size) { /* a body is read and thrown away, then the refusal is sent */
            *upload_size = 0;
            return MHD_YES;
        }
        if (!*state) {
            *state = self;
            return MHD_YES;
        }
        cs_buf_puts(&body, "only GET and HEAD\n");
        return s_answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", &body);
    }
    if (self->token && strcmp(url, "/healthz") != 0) {
        const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        if (!given || strncmp(given, "Bearer ", 7) != 0 || !s_same_secret(given + 7, self->token)) {
            cs_buf_puts(&body, "a bearer token is required (Authorization: Bearer TOKEN)\n");
            return s_answer(conn, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8", &body);
        }
    }
    if (self->stream_path && strcmp(url, self->stream_path) == 0)
        return s_stream_open(self, conn);
    const char *type = "text/plain; charset=utf-8";
    int status = self->route(self->arg, url, &body, &type);
    if (body.failed) {
        cs_buf_free(&body);
        cs_buf_puts(&body, "out of memory\n");
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        type = "text/plain; charset=utf-8";
    }
    return s_answer(conn, status, type, &body);
}

/* Reads the token of path: its first line, without the line end; NULL (logged) when it
 * cannot be read, is empty or too short. The file should be readable by its owner only. */
static char *s_read_token(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cs_log_error("--http-token %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        cs_log_warn("--http-token %s: readable by others than its owner (chmod 600 it)", path);
    char text[S_TOKEN_MAX + 1];
    ssize_t got = read(fd, text, S_TOKEN_MAX);
    int saved = errno;
    close(fd);
    if (got < 0) {
        cs_log_error("--http-token %s: %s", path, strerror(saved));
        return NULL;
    }
    text[got] = '\0';
    text[strcspn(text, "\r\n")] = '\0';
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f) {
            cs_log_error("--http-token %s: the token holds a space or a byte that is not "
                         "printable ASCII",
                         path);
            return NULL;
        }
    }
    if (len < S_TOKEN_MIN) {
        cs_log_error("--http-token %s: the token has %zu characters; at least %d are needed", path,
                     len, S_TOKEN_MIN);
        return NULL;
    }
    return strdup(text);
}

/* Parses "HOST:PORT" or "[V6]:PORT" into an address; -1 (logged) when it is not one. */
static int s_resolve(const char *bind, struct sockaddr_storage *addr, socklen_t *addr_len)
{
    char host[256];
    const char *colon = strrchr(bind, ':');
    size_t len = colon ? (size_t)(colon - bind) : 0;
    if (!colon || len == 0 || len >= sizeof host || !colon[1]) {
        cs_log_error("--bind-http %s: expected ADDRESS:PORT (e.g. 127.0.0.1:7603, [::1]:7603) "
                     "or none",
                     bind);
        return -1;
    }
    memcpy(host, bind, len);
    host[len] = '\0';
    if (host[0] == '[' && host[len - 1] == ']') {
        memmove(host, host + 1, len - 2);
        host[len - 2] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        cs_log_error("--bind-http %s: the port is not a number from 0 to 65535", bind);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &found);
    if (rc != 0 || !found) {
        cs_log_error("--bind-http %s: %s", bind, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    *addr_len = found->ai_addrlen;
    freeaddrinfo(found);
    return 0;
}

static bool s_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
    if (addr->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)addr)->sin6_addr);
    return false;
}

cs_http_t *cs_http_new(const char *bind, const char *token_file, cs_http_route_fn *route, void *arg)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    if (s_resolve(bind, &addr, &addr_len) != 0) {
        errno = EINVAL;
        return NULL;
    }
    if (!token_file && !s_loopback(&addr)) {
        cs_log_error("--bind-http %s is not a loopback address: give --http-token FILE, whose "
                     "token every request must then carry (Authorization: Bearer TOKEN)",
                     bind);
        errno = EINVAL;
        return NULL;
    }
    cs_http_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->route = route;
    self->arg = arg;
    self->epoll_fd = -1;
    if (token_file &&
        (!(self->token_file = strdup(token_file)) || !(self->token = s_read_token(token_file)))) {
        cs_http_destroy(&self);
        errno = EINVAL;
        return NULL;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_on_request, self, MHD_OPTION_EXTERNAL_LOGGER, s_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)S_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)S_PER_IP_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)S_IDLE_S, MHD_OPTION_END);
    if (!self->daemon) {
        cs_log_error("--bind-http %s: cannot listen there (in use, or not an address of this "
                     "host)",
                     bind);
        cs_http_destroy(&self);
        errno = EADDRINUSE;
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    self->epoll_fd = info ? info->epoll_fd : -1;
    info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    if (self->epoll_fd < 0) {
        cs_log_error("--bind-http %s: the HTTP library has no epoll descriptor", bind);
        cs_http_destroy(&self);
        return NULL;
    }
    return self;
}

void cs_http_destroy(cs_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_http_t *self = *self_p;
    for (s_stream_t *st = self->streams; st; st = st->next) { /* none may stay suspended */
        st->cut = true;
        s_stream_resume(st);
    }
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    free(self->token);
    free(self->token_file);
    free(self);
    *self_p = NULL;
}

int cs_http_reload(cs_http_t *self)
{
    if (!self || !self->token_file)
        return 0;
    char *token = s_read_token(self->token_file);
    if (!token) {
        cs_log_warn("--http-token %s: kept the token read before", self->token_file);
        return -1;
    }
    bool changed = strcmp(token, self->token) != 0;
    free(self->token);
    self->token = token;
    if (changed)
        cs_log_info("--http-token %s: a new token is in force", self->token_file);
    return 0;
}

uint16_t cs_http_port(const cs_http_t *self)
{
    return self ? self->port : 0;
}

int cs_http_fd(const cs_http_t *self)
{
    return self ? self->epoll_fd : -1;
}

int64_t cs_http_next_ms(const cs_http_t *self)
{
    if (!self)
        return -1;
    int64_t keepalive = -1;
    if (self->streams) {
        int64_t now = cs_clock_mono_ms();
        keepalive = self->keepalive_at > now ? self->keepalive_at - now : 0;
    }
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(self->daemon, &ms) != MHD_YES)
        return keepalive;
    int64_t lib = ms > 1000 ? 1000 : (int64_t)ms;
    return keepalive >= 0 && keepalive < lib ? keepalive : lib;
}

void cs_http_run(cs_http_t *self)
{
    if (!self)
        return;
    int64_t now = cs_clock_mono_ms();
    if (self->streams && now >= self->keepalive_at) {
        static const char line[] = ": keepalive\n\n";
        cs_http_stream_send(self, line, sizeof line - 1);
        self->keepalive_at = now + S_KEEPALIVE_MS;
    } else if (!self->streams) {
        self->keepalive_at = now + S_KEEPALIVE_MS;
    }
    (void)MHD_run(self->daemon);
}
