/* The embedded PostgreSQL cluster (initdb, start, stop), and which database a program uses. */
#include "common.h"

#include "cs_embedded.h"
#include "cs_pg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_PORT     "5432"
#define S_DATABASE "connstate"

/* Under root, PostgreSQL (which refuses to run as root) runs as the postgres user. */
struct cs_embedded {
    char *data_dir;
    char bindir[256];
    bool started; /* by us: stop it on exit */
};

char *cs_embedded_default_dir(void)
{
    const char *env = getenv("CONNSTATE_DATA_DIR");
    if (env && *env)
        return strdup(env);
    if (geteuid() == 0)
        return strdup("/var/lib/connstate/db");
    return cs_home_path(NULL, "db");
}

/* A conninfo value in single quotes, with \ and ' escaped. */
static void s_conninfo_value(cs_buf_t *out, const char *value)
{
    cs_buf_putc(out, '\'');
    for (const char *p = value; *p; p++) {
        if (*p == '\'' || *p == '\\')
            cs_buf_putc(out, '\\');
        cs_buf_putc(out, *p);
    }
    cs_buf_putc(out, '\'');
}

char *cs_embedded_conninfo(const char *data_dir)
{
    cs_buf_t info = {0};
    cs_buf_puts(&info, "host=");
    s_conninfo_value(&info, data_dir);
    cs_buf_puts(&info, " port=" S_PORT " user=postgres dbname=" S_DATABASE);
    return cs_buf_take(&info);
}

char *cs_db_resolve(const char *db, const char *data_dir, bool *embedded)
{
    *embedded = false;
    if (db && *db)
        return strdup(db);
    const char *env = getenv("CONNSTATE_DB");
    if (env && *env)
        return strdup(env);
    *embedded = true;
    if (data_dir && *data_dir)
        return cs_embedded_conninfo(data_dir);
    char *dir = cs_embedded_default_dir();
    char *conninfo = dir ? cs_embedded_conninfo(dir) : NULL;
    free(dir);
    return conninfo;
}

/* The newest PostgreSQL server binaries: 15 preferred (Debian 12), else the highest. */
static int s_find_bindir(char *out, size_t size)
{
    snprintf(out, size, "/usr/lib/postgresql/15/bin");
    char probe[300];
    snprintf(probe, sizeof probe, "%s/initdb", out);
    if (access(probe, X_OK) == 0)
        return 0;
    DIR *d = opendir("/usr/lib/postgresql");
    int best = -1;
    struct dirent *entry;
    while (d && (entry = readdir(d)) != NULL) {
        int version = atoi(entry->d_name);
        snprintf(probe, sizeof probe, "/usr/lib/postgresql/%s/bin/initdb", entry->d_name);
        if (version > best && access(probe, X_OK) == 0)
            best = version;
    }
    if (d)
        closedir(d);
    if (best < 0) {
        cs_log_error("embedded database: no PostgreSQL server found under /usr/lib/postgresql "
                     "(deploy/install-deps.sh installs postgresql-15)");
        return -1;
    }
    snprintf(out, size, "/usr/lib/postgresql/%d/bin", best);
    return 0;
}

/* The account PostgreSQL runs as when we are root. */
static struct passwd *s_server_user(void)
{
    struct passwd *pw = getpwnam("postgres");
    return pw ? pw : getpwnam("nobody");
}

/* Runs argv (blocking) as the server user when root, with stdout and stderr appended to
 * log_path (opened by us, so it may live where that user cannot write). When must_reach is
 * set, the child first checks that the user can enter it. Returns the exit status, or -1
 * when the child could not be run. */
static int s_run(char *const argv[], const char *log_path, const char *must_reach)
{
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    struct passwd *pw = geteuid() == 0 ? s_server_user() : NULL;
    if (geteuid() == 0 && !pw) {
        cs_log_error("embedded database: running as root, but there is no postgres or nobody "
                     "user to run PostgreSQL as");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        cs_log_error("embedded database: fork: %s", strerror(errno));
        if (log_fd >= 0)
            close(log_fd);
        return -1;
    }
    if (pid == 0) {
        if (pw && (setgid(pw->pw_gid) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
                   setuid(pw->pw_uid) != 0))
            _exit(126);
        if (must_reach && access(must_reach, X_OK) != 0)
            _exit(125);
        if (log_fd >= 0) {
            dup2(log_fd, STDOUT_FILENO);
            dup2(log_fd, STDERR_FILENO);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    if (log_fd >= 0)
        close(log_fd);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (!WIFEXITED(status))
        return -1;
    if (WEXITSTATUS(status) == 125)
        cs_log_error("embedded database: the %s user cannot enter %s: choose a --data-dir it "
                     "can reach (e.g. under /var/lib)",
                     pw ? pw->pw_name : "current", must_reach);
    return WEXITSTATUS(status);
}

/* mkdir -p, as ourselves. */
static int s_mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void s_log_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char lines[8][512];
    int count = 0;
    while (fgets(lines[count % 8], sizeof lines[0], f))
        count++;
    fclose(f);
    for (int i = count > 8 ? count - 8 : 0; i < count; i++) {
        lines[i % 8][strcspn(lines[i % 8], "\n")] = '\0';
        cs_log_error("embedded database: %s", lines[i % 8]);
    }
}

static int s_create_database(cs_embedded_t *self)
{
    cs_buf_t info = {0};
    cs_buf_puts(&info, "host=");
    s_conninfo_value(&info, self->data_dir);
    cs_buf_puts(&info, " port=" S_PORT " user=postgres dbname=postgres");
    char err[512];
    PGconn *conn = cs_pg_connect(cs_buf_str(&info), "connstate-setup", err, sizeof err);
    cs_buf_free(&info);
    if (!conn) {
        cs_log_error("embedded database: cannot connect: %s", err);
        return -1;
    }
    int rc = 0;
    PGresult *res =
        cs_pg_query(conn, "embedded database: checking the database",
                    "SELECT 1 FROM pg_database WHERE datname = '" S_DATABASE "'", 0, NULL);
    if (!res)
        rc = -1;
    else if (PQntuples(res) == 0)
        rc = cs_pg_exec(conn, "embedded database: creating the database",
                        "CREATE DATABASE " S_DATABASE);
    PQclear(res);
    PQfinish(conn);
    return rc;
}

/* Starts the server unless it runs (pg_ctl status). Returns 0 when it ran, 1 when it was
 * started, -1 when it could not be (logged). */
static int s_start_server(cs_embedded_t *self, bool again)
{
    const char *data_dir = self->data_dir;
    char log_path[4200];
    snprintf(log_path, sizeof log_path, "%s/postgresql.log", data_dir);
    char pg_ctl[300];
    snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", self->bindir);
    char *const status_argv[] = {pg_ctl, "-D", (char *)data_dir, "status", NULL};
    if (s_run(status_argv, "/dev/null", data_dir) == 0) {
        if (!again)
            cs_log_info("embedded database: already running in %s", data_dir);
        return 0;
    }
    char options[4400];
    snprintf(options, sizeof options,
             "-c listen_addresses= -c unix_socket_directories='%s' -p " S_PORT
             " -c max_connections=200",
             data_dir);
    char *const start_argv[] = {pg_ctl, "-D", (char *)data_dir, "-l",    log_path, "-w", "-t",
                                "60",   "-o", options,          "start", NULL};
    if (again)
        cs_log_warn("embedded database: PostgreSQL is not running in %s: starting it again",
                    data_dir);
    if (s_run(start_argv, "/dev/null", data_dir) != 0) {
        cs_log_error("embedded database: PostgreSQL did not start; %s says:", log_path);
        s_log_tail(log_path);
        return -1;
    }
    self->started = true;
    cs_log_info("embedded database: started in %s", data_dir);
    return 1;
}

int cs_embedded_ensure(cs_embedded_t *self)
{
    return s_start_server(self, true);
}

cs_embedded_t *cs_embedded_start(const char *data_dir)
{
    cs_embedded_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->data_dir = strdup(data_dir);
    if (!self->data_dir || s_find_bindir(self->bindir, sizeof self->bindir))
        goto fail;

    char path[4200];
    snprintf(path, sizeof path, "%s/PG_VERSION", data_dir);
    if (access(path, F_OK) != 0) {
        if (s_mkdirs(data_dir, 0700) != 0) {
            cs_log_error("embedded database: cannot create %s: %s", data_dir, strerror(errno));
            goto fail;
        }
        struct passwd *pw = geteuid() == 0 ? s_server_user() : NULL;
        if (pw && chown(data_dir, pw->pw_uid, pw->pw_gid) != 0) {
            cs_log_error("embedded database: cannot hand %s to %s: %s", data_dir, pw->pw_name,
                         strerror(errno));
            goto fail;
        }
        cs_log_info("embedded database: creating a cluster in %s", data_dir);
        char initdb[300];
        snprintf(initdb, sizeof initdb, "%s/initdb", self->bindir);
        char *const argv[] = {initdb,         "-D", (char *)data_dir, "-U",         "postgres",
                              "--auth=trust", "-E", "UTF8",           "--locale=C", NULL};
        char init_log[4200];
        snprintf(init_log, sizeof init_log, "%s.initdb.log", data_dir);
        int rc = s_run(argv, init_log, data_dir);
        if (rc != 0) {
            cs_log_error("embedded database: initdb in %s failed (exit %d); %s says:", data_dir, rc,
                         init_log);
            s_log_tail(init_log);
            goto fail;
        }
        unlink(init_log);
    }

    if (s_start_server(self, false) < 0)
        goto fail;
    if (s_create_database(self) != 0)
        goto fail;
    return self;
fail:
    cs_embedded_stop(&self);
    return NULL;
}

void cs_embedded_stop(cs_embedded_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_embedded_t *self = *self_p;
    if (self->started) {
        char pg_ctl[300];
        snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", self->bindir);
        char *const argv[] = {pg_ctl, "-D", self->data_dir, "-m", "fast", "-w", "stop", NULL};
        if (s_run(argv, "/dev/null", NULL) == 0)
            cs_log_info("embedded database: stopped");
        else
            cs_log_error("embedded database: pg_ctl stop failed");
    }
    free(self->data_dir);
    free(self);
    *self_p = NULL;
}
