/* cs_curve: CURVE keys from czmq certificate files (as `connstate keygen` writes them), and
 * a client's or a worker's CURVE settings applied to its socket. */
#ifndef CS_CURVE_H
#define CS_CURVE_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_CURVE_KEY_SIZE  32    /* bytes of a public or secret key */
#define CS_CURVE_TEXT_SIZE 41    /* a key in Z85: 40 characters and the NUL */
#define CS_CURVE_FILE_MAX  65536 /* bytes of a certificate file read at most */

/* A key pair: a peer's own certificate. */
typedef struct {
    uint8_t public_key[CS_CURVE_KEY_SIZE];
    uint8_t secret_key[CS_CURVE_KEY_SIZE];
} cs_curve_pair_t;

/* A client's or a worker's CURVE settings: on, with its own pair and the server's key. */
typedef struct {
    bool on;
    cs_curve_pair_t own;
    uint8_t server[CS_CURVE_KEY_SIZE];
} cs_curve_client_t;

/* Loads an own certificate: FILE as keygen wrote it (its secret part, FILE_secret, is read)
 * or FILE_secret itself. Returns 0, or -1 with why naming the file and what is wrong. */
int cs_curve_load_pair(const char *file, cs_curve_pair_t *pair, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Loads the public key of a certificate (public or secret file). Returns 0, or -1 with why. */
int cs_curve_load_public(const char *file, uint8_t key[CS_CURVE_KEY_SIZE], char *why,
                         size_t why_size) __attribute__((warn_unused_result));

/* A client's settings from its own certificate and the server's public one: both given
 * (CURVE on), neither (off), or one of them only (an error: never plain text by mistake).
 * Returns 0, or -1 with why. */
int cs_curve_client_load(const char *cert, const char *server, cs_curve_client_t *out, char *why,
                         size_t why_size) __attribute__((warn_unused_result));

/* A supervisor's local worker's settings, from CS_CURVE_LOCAL_ENV: off when it is not set.
 * Returns 0, or -1 with why when it is set but not two keys. */
int cs_curve_local_load(cs_curve_client_t *out, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Puts a client's settings on a socket before it connects (nothing when off). */
void cs_curve_client_apply(const cs_curve_client_t *curve, zsock_t *sock);

/* A client socket's refusals: libzmq does not connect again after the server refused a key
 * (ZAP), so the client must see it, say it, and make a new socket later. */
typedef struct {
    zsock_t *pair; /* the socket's monitor; NULL: not watched (CURVE off) */
} cs_curve_watch_t;

/* Watches sock for refusals when curve is on; call it before the socket connects. Returns 0,
 * or -1. */
int cs_curve_watch(cs_curve_watch_t *watch, const cs_curve_client_t *curve, zsock_t *sock)
    __attribute__((warn_unused_result));

/* True when the server refused this client's key (or its handshake) since the last call. */
bool cs_curve_refused(cs_curve_watch_t *watch);

/* Stops watching (before the socket is destroyed). */
void cs_curve_unwatch(cs_curve_watch_t *watch);

/* A fresh key pair (the supervisor's local workers' own). Returns 0, or -1. */
int cs_curve_pair_new(cs_curve_pair_t *pair) __attribute__((warn_unused_result));

/* A key as Z85 text. */
void cs_curve_text(const uint8_t key[CS_CURVE_KEY_SIZE], char out[CS_CURVE_TEXT_SIZE]);

/* Reads a key from Z85 text (40 characters). Returns 0, or -1 when it is not one. */
int cs_curve_parse(const char *text, uint8_t key[CS_CURVE_KEY_SIZE])
    __attribute__((warn_unused_result));

/* The environment variable by which a supervisor hands its local workers their CURVE keys
 * (their own secret key and the supervisor's public key, in Z85, separated by a space):
 * never on a command line, and never in a file. */
#define CS_CURVE_LOCAL_ENV "CONNSTATE_CURVE_LOCAL"

#endif
