/* connstate keygen: a CURVE certificate pair in czmq's zcert format, for the supervisor, a
 * worker or a client. */
#include "cli.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const cs_cli_command_t s_command = {
    .name = "keygen",
    .usage = "Usage: connstate keygen FILE\n"
             "Writes a new CURVE certificate pair in czmq's format: FILE, the public\n"
             "certificate (give it to the peers that must admit this key), and FILE_secret,\n"
             "the secret one (mode 0600: keep it on this host). Refuses to overwrite either.\n"
             "Exit status: 0 when both were written, 1 when they could not be, 2 on a usage\n"
             "error.\n",
    .options = 0,
    .max_args = 1,
    .min_args = 1,
    .args = "the certificate's file name",
};

/* Creates path, which must not exist, with mode (so that a later rewrite keeps it). */
static int s_reserve(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "connstate keygen: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (not overwritten)" : "");
        return -1;
    }
    close(fd);
    return 0;
}

int cs_cli_keygen(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    const char *public_path = args.argv[0];
    char secret_path[4096];
    if (snprintf(secret_path, sizeof secret_path, "%s_secret", public_path) >=
        (int)sizeof secret_path) {
        fprintf(stderr, "connstate keygen: the file name is too long\n");
        return 2;
    }
    if (s_reserve(secret_path, 0600) != 0)
        return 1;
    if (s_reserve(public_path, 0644) != 0) {
        unlink(secret_path);
        return 1;
    }
    zsys_handler_set(NULL);
    zcert_t *cert = zcert_new();
    bool ok = cert && zcert_save_secret(cert, secret_path) == 0 && chmod(secret_path, 0600) == 0 &&
              zcert_save_public(cert, public_path) == 0;
    if (!ok) {
        fprintf(stderr, "connstate keygen: cannot write %s: %s\n", public_path, strerror(errno));
        unlink(secret_path);
        unlink(public_path);
    } else {
        printf("public certificate %s (public key %s)\nsecret certificate %s (mode 0600)\n",
               public_path, zcert_public_txt(cert), secret_path);
    }
    zcert_destroy(&cert);
    return ok ? 0 : 1;
}
