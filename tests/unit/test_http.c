/* Unit tests of http.c: the addresses and tokens it refuses (EINVAL), a GET answered through
 * the route from the caller's own loop, the bearer token, the methods it refuses, and an event
 * stream that starts with its snapshot and gets what is sent after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../supervisor/supervisor.h"

static int s_route(void *arg, const char *path, cs_buf_t *body, const char **type)
{
    (void)arg;
    cs_buf_printf(body, "hello path=%s", path);
    *type = "text/plain";
    return strcmp(path, "/missing") == 0 ? 404 : 200;
}

static void s_stream_start(void *arg, cs_buf_t *out)
{
    (void)arg;
    cs_buf_puts(out, "event: snapshot\ndata: {}\n\n");
}

/* Runs the server and reads the client's socket fd into got until got holds until (NULL:
 * until the server closes), at most 5 s. Returns true when the server closed the socket. */
static bool s_read(cs_http_t *http, int fd, cs_buf_t *got, const char *until)
{
    int64_t deadline = cs_clock_mono_ms() + 5000;
    while (cs_clock_mono_ms() < deadline && !(until && strstr(cs_buf_str(got), until))) {
        struct pollfd fds[2] = {{cs_http_fd(http), POLLIN, 0}, {fd, POLLIN, 0}};
        poll(fds, 2, 20);
        cs_http_run(http);
        char buf[65536];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            cs_buf_append(got, buf, (size_t)n);
        if (n == 0)
            return true;
    }
    return false;
}

/* Sends request to the server and runs it until the answer is complete (the server closes,
 * or until holds the text), at most 5 s. Returns what came back (the caller frees it). */
static char *s_exchange(cs_http_t *http, const char *request, const char *until, int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(cs_http_port(http))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    cs_buf_t got = {0};
    (void)s_read(http, fd, &got, until);
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return cs_buf_take(&got);
}

static void test_refusals(void **state)
{
    (void)state;
    const char *bad[] = {"nonsense",        "127.0.0.1",      "127.0.0.1:",
                         "127.0.0.1:99999", "127.0.0.1:http", "no-such-host.invalid:1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        assert_null(cs_http_new(bad[i], NULL, s_route, NULL));
        assert_int_equal(errno, EINVAL);
    }
    /* off loopback only with a token; a token must be long enough and readable */
    errno = 0;
    assert_null(cs_http_new("0.0.0.0:0", NULL, s_route, NULL));
    assert_int_equal(errno, EINVAL);
    char path[] = "/tmp/connstate-unit-token.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "short\n", 6), 6);
    close(fd);
    errno = 0;
    assert_null(cs_http_new("127.0.0.1:0", path, s_route, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(cs_http_new("127.0.0.1:0", "/nonexistent/token", s_route, NULL));
    assert_int_equal(errno, EINVAL);
    unlink(path);
    cs_http_t *none = NULL;
    cs_http_destroy(&none); /* idempotent on NULL */
    assert_int_equal(cs_http_fd(NULL), -1);
    assert_int_equal(cs_http_next_ms(NULL), -1);
}

static void test_get_and_methods(void **state)
{
    (void)state;
    cs_http_t *http = cs_http_new("127.0.0.1:0", NULL, s_route, NULL);
    assert_non_null(http);
    assert_true(cs_http_port(http) > 0);
    assert_true(cs_http_fd(http) >= 0);
    /* the same port again: in use */
    char again[32];
    snprintf(again, sizeof again, "127.0.0.1:%u", cs_http_port(http));
    errno = 0;
    assert_null(cs_http_new(again, NULL, s_route, NULL));
    assert_int_equal(errno, EADDRINUSE);

    char *rsp = s_exchange(http, "GET /x?y=1 HTTP/1.0\r\n\r\n", NULL, NULL);
    assert_non_null(strstr(rsp, " 200 "));
    assert_non_null(strstr(rsp, "\r\n\r\nhello path=/x"));
    assert_non_null(strstr(rsp, "Cache-Control: no-store"));
    free(rsp);
    rsp = s_exchange(http, "GET /missing HTTP/1.0\r\n\r\n", NULL, NULL);
    assert_non_null(strstr(rsp, " 404 "));
    free(rsp);
    rsp = s_exchange(http, "POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", NULL, NULL);
    assert_non_null(strstr(rsp, " 405 "));
    assert_non_null(strstr(rsp, "Allow: GET, HEAD"));
    free(rsp);
    rsp = s_exchange(http, "garbage\r\n\r\n", NULL, NULL); /* not HTTP: an error, no crash */
    assert_null(strstr(rsp, "hello"));
    free(rsp);
    cs_http_destroy(&http);
    assert_null(http);
}

static void test_token(void **state)
{
    (void)state;
    char path[] = "/tmp/connstate-unit-token.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *token = "0123456789abcdef-unit\n";
    assert_int_equal(write(fd, token, strlen(token)), (ssize_t)strlen(token));
    close(fd);
    cs_http_t *http = cs_http_new("127.0.0.1:0", path, s_route, NULL);
    unlink(path);
    assert_non_null(http);
    char *rsp = s_exchange(http, "GET /metrics HTTP/1.0\r\n\r\n", NULL, NULL);
    assert_non_null(strstr(rsp, " 401 "));
    assert_non_null(strstr(rsp, "WWW-Authenticate: Bearer"));
    free(rsp);
    rsp = s_exchange(http,
                     "GET /metrics HTTP/1.0\r\nAuthorization: Bearer 0123456789abcdef-unix\r\n\r\n",
                     NULL, NULL);
    assert_non_null(strstr(rsp, " 401 "));
    free(rsp);
    rsp = s_exchange(http,
                     "GET /metrics HTTP/1.0\r\nAuthorization: Bearer 0123456789abcdef-unit\r\n\r\n",
                     NULL, NULL);
    assert_non_null(strstr(rsp, " 200 "));
    free(rsp);
    rsp = s_exchange(http, "GET /healthz HTTP/1.0\r\n\r\n", NULL, NULL); /* needs none */
    assert_non_null(strstr(rsp, " 200 "));
    free(rsp);
    cs_http_destroy(&http);
}

static void test_stream(void **state)
{
    (void)state;
    cs_http_t *http = cs_http_new("127.0.0.1:0", NULL, s_route, NULL);
    assert_non_null(http);
    cs_http_stream_path(http, "/events", s_stream_start, NULL);
    int fd;
    char *rsp = s_exchange(http, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "data: {}\n\n", &fd);
    assert_non_null(strstr(rsp, "Content-Type: text/event-stream"));
    assert_non_null(strstr(rsp, "retry: 2000\n\nevent: snapshot\ndata: {}\n\n"));
    free(rsp);
    assert_int_equal(cs_http_streams(http), 1);
    const char *event = "event: change\ndata: 1\n\n";
    cs_http_stream_send(http, event, strlen(event));
    cs_buf_t got = {0};
    (void)s_read(http, fd, &got, event);
    assert_non_null(strstr(cs_buf_str(&got), event));
    /* a client that reads nothing more: past its bound (4 MB behind) its stream is ended */
    static char big[64 * 1024];
    memset(big, 'x', sizeof big - 2);
    memcpy(big + sizeof big - 2, "\n\n", 2);
    for (int i = 0; i < 200 && cs_http_streams_cut(http) == 0; i++) {
        cs_http_stream_send(http, big, sizeof big);
        cs_http_run(http);
    }
    assert_int_equal(cs_http_streams_cut(http), 1);
    cs_buf_reset(&got); /* ... and the client sees its end once it reads */
    assert_true(s_read(http, fd, &got, NULL));
    cs_buf_free(&got);
    assert_int_equal(cs_http_streams(http), 0);
    close(fd);
    /* one left open (suspended) at the end: destroyed without a leak or a hang */
    rsp = s_exchange(http, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "data: {}\n\n", &fd);
    free(rsp);
    assert_int_equal(cs_http_streams(http), 1);
    cs_http_destroy(&http);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_get_and_methods),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
