/* CURVE keys from czmq certificate files, and a peer's settings applied to its socket. */
#include "common.h"

#include "cs_curve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool s_zero(const uint8_t key[CS_CURVE_KEY_SIZE])
{
    uint8_t any = 0;
    for (int i = 0; i < CS_CURVE_KEY_SIZE; i++)
        any |= key[i];
    return any == 0;
}

/* The file czmq would read for file (FILE_secret when it exists, as zcert_load does) must be
 * a regular file of a sane size: a directory or a device would hang or mislead it. */
static int s_check_file(const char *file, char *why, size_t why_size)
{
    char secret[4096];
    snprintf(secret, sizeof secret, "%s_secret", file);
    struct stat st;
    const char *read_path = stat(secret, &st) == 0 ? secret : file;
    if (stat(read_path, &st) != 0) {
        snprintf(why, why_size, "%s: %s", file, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CS_CURVE_FILE_MAX) {
        snprintf(why, why_size, "%s: not a certificate file (%s)", read_path,
                 !S_ISREG(st.st_mode) ? "not a regular file" : "larger than 64 KiB");
        return -1;
    }
    return 0;
}

static zcert_t *s_load(const char *file, char *why, size_t why_size)
{
    if (!file || !*file) {
        snprintf(why, why_size, "no certificate file given");
        return NULL;
    }
    if (s_check_file(file, why, why_size) != 0)
        return NULL;
    zcert_t *cert = zcert_load(file);
    if (!cert)
        snprintf(why, why_size, "%s: not a certificate (write one with `connstate keygen`)", file);
    else if (s_zero(zcert_public_key(cert))) {
        snprintf(why, why_size, "%s: holds no public key (write one with `connstate keygen`)",
                 file);
        zcert_destroy(&cert);
    }
    return cert;
}

int cs_curve_load_pair(const char *file, cs_curve_pair_t *pair, char *why, size_t why_size)
{
    zcert_t *cert = s_load(file, why, why_size);
    if (!cert)
        return -1;
    int rc = 0;
    if (s_zero(zcert_secret_key(cert))) {
        snprintf(why, why_size,
                 "%s: holds no secret key: give the certificate keygen wrote (FILE, with "
                 "FILE_secret beside it)",
                 file);
        rc = -1;
    } else {
        memcpy(pair->public_key, zcert_public_key(cert), CS_CURVE_KEY_SIZE);
        memcpy(pair->secret_key, zcert_secret_key(cert), CS_CURVE_KEY_SIZE);
    }
    zcert_destroy(&cert);
    return rc;
}

int cs_curve_load_public(const char *file, uint8_t key[CS_CURVE_KEY_SIZE], char *why,
                         size_t why_size)
{
    zcert_t *cert = s_load(file, why, why_size);
    if (!cert)
        return -1;
    memcpy(key, zcert_public_key(cert), CS_CURVE_KEY_SIZE);
    zcert_destroy(&cert);
    return 0;
}

int cs_curve_client_load(const char *cert, const char *server, cs_curve_client_t *out, char *why,
                         size_t why_size)
{
    memset(out, 0, sizeof *out);
    bool has_cert = cert && *cert, has_server = server && *server;
    if (!has_cert && !has_server)
        return 0;
    if (!has_cert || !has_server) {
        snprintf(why, why_size,
                 "CURVE needs both --curve-cert (own certificate) and "
                 "--curve-server (the supervisor's public one)");
        return -1;
    }
    if (cs_curve_load_pair(cert, &out->own, why, why_size) != 0 ||
        cs_curve_load_public(server, out->server, why, why_size) != 0)
        return -1;
    out->on = true;
    return 0;
}

int cs_curve_local_load(cs_curve_client_t *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    const char *text = getenv(CS_CURVE_LOCAL_ENV);
    if (!text || !*text)
        return 0;
    char secret[CS_CURVE_TEXT_SIZE], server[CS_CURVE_TEXT_SIZE];
    if (strlen(text) != 2 * (CS_CURVE_TEXT_SIZE - 1) + 1 || text[CS_CURVE_TEXT_SIZE - 1] != ' ') {
        snprintf(why, why_size, "%s is not two CURVE keys", CS_CURVE_LOCAL_ENV);
        return -1;
    }
    memcpy(secret, text, CS_CURVE_TEXT_SIZE - 1);
    secret[CS_CURVE_TEXT_SIZE - 1] = '\0';
    memcpy(server, text + CS_CURVE_TEXT_SIZE, CS_CURVE_TEXT_SIZE);
    char public_text[CS_CURVE_TEXT_SIZE];
    if (cs_curve_parse(secret, out->own.secret_key) != 0 ||
        cs_curve_parse(server, out->server) != 0 || zmq_curve_public(public_text, secret) != 0 ||
        cs_curve_parse(public_text, out->own.public_key) != 0) {
        snprintf(why, why_size, "%s is not two CURVE keys", CS_CURVE_LOCAL_ENV);
        return -1;
    }
    out->on = true;
    return 0;
}

void cs_curve_client_apply(const cs_curve_client_t *curve, zsock_t *sock)
{
    if (!curve || !curve->on)
        return;
    void *handle = zsock_resolve(sock);
    zmq_setsockopt(handle, ZMQ_CURVE_SERVERKEY, curve->server, CS_CURVE_KEY_SIZE);
    zmq_setsockopt(handle, ZMQ_CURVE_PUBLICKEY, curve->own.public_key, CS_CURVE_KEY_SIZE);
    zmq_setsockopt(handle, ZMQ_CURVE_SECRETKEY, curve->own.secret_key, CS_CURVE_KEY_SIZE);
}

int cs_curve_pair_new(cs_curve_pair_t *pair)
{
    char public_text[CS_CURVE_TEXT_SIZE], secret_text[CS_CURVE_TEXT_SIZE];
    if (zmq_curve_keypair(public_text, secret_text) != 0)
        return -1;
    return cs_curve_parse(public_text, pair->public_key) == 0 &&
                   cs_curve_parse(secret_text, pair->secret_key) == 0
               ? 0
               : -1;
}

void cs_curve_text(const uint8_t key[CS_CURVE_KEY_SIZE], char out[CS_CURVE_TEXT_SIZE])
{
    if (!zmq_z85_encode(out, key, CS_CURVE_KEY_SIZE))
        out[0] = '\0';
}

int cs_curve_parse(const char *text, uint8_t key[CS_CURVE_KEY_SIZE])
{
    if (!text || strlen(text) != CS_CURVE_TEXT_SIZE - 1)
        return -1;
    return zmq_z85_decode(key, text) ? 0 : -1;
}

int cs_curve_watch(cs_curve_watch_t *watch, const cs_curve_client_t *curve, zsock_t *sock)
{
    watch->pair = NULL;
    if (!curve || !curve->on)
        return 0;
    static unsigned counter;
    char endpoint[80];
    snprintf(endpoint, sizeof endpoint, "inproc://connstate-curve-watch-%d-%u", (int)getpid(),
             ++counter);
    if (zmq_socket_monitor(zsock_resolve(sock), endpoint,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) !=
            0 ||
        !(watch->pair = zsock_new(ZMQ_PAIR)) || zsock_connect(watch->pair, "%s", endpoint) != 0) {
        zsock_destroy(&watch->pair);
        return -1;
    }
    return 0;
}

bool cs_curve_refused(cs_curve_watch_t *watch)
{
    bool refused = false;
    while (watch->pair && (zsock_events(watch->pair) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv(watch->pair);
        zframe_t *head = msg ? zmsg_first(msg) : NULL;
        refused = refused || (head && zframe_size(head) == 6);
        zmsg_destroy(&msg);
    }
    return refused;
}

void cs_curve_unwatch(cs_curve_watch_t *watch)
{
    zsock_destroy(&watch->pair);
}
