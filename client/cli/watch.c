/* connstate watch: the dashboard. A live view on a terminal; JSON lines otherwise. */
#include "cli.h"

#include "connstate.h"
#include "cs_clock.h"

#include <czmq.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_RECENT 10

static volatile sig_atomic_t s_stop = 0;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static const cs_cli_command_t s_command = {
    .name = "watch",
    .usage = "Usage: connstate watch [--publish EP] [--control EP] [--format table|json]\n"
             "                       [--curve-cert FILE --curve-server FILE] [PREFIX]\n"
             "Follows every state change of the supervisor (connections starting with\n"
             "PREFIX). On a terminal: a live view of counts, latest changes and errors. With\n"
             "--format json or without a terminal: one JSON object per line per change, the\n"
             "snapshot's rows first, between {\"snapshot\":\"begin\"} and\n"
             "{\"snapshot\":\"end\",\"seq\":N}. A resync (a gap, a supervisor restart) is another\n"
             "such pair around the rows that differ from those shown; a row that is gone is a\n"
             "line with status \"deleted\". A line (an object) says when the supervisor's\n"
             "database becomes unavailable, when it is a standby, and when it is back. Keeps\n"
             "running across supervisor restarts and database outages; Ctrl-C stops.\n",
    .options = CS_CLI_PUBLISH | CS_CLI_CONTROL | CS_CLI_FORMAT | CS_CLI_CURVE,
    .formats = {"table", "json"},
    .format_by_tty = true,
    .max_args = 1,
};

typedef struct {
    bool json;
    connstate_sub_t *sub;
    char recent[S_RECENT][256];
    int recent_next;
    bool dirty;
    connstate_supervisor_state_t supervisor; /* as last shown */
    int64_t db_down_since;
    char supervisor_line[128]; /* while it is not active: what the view's header says */
    uint64_t snapshots;        /* json: the snapshots whose end line was written */
    bool in_snapshot;          /* json: a begin line was written, its end not yet */
} s_watch_t;

static void s_json_puts(const char *line)
{
    fputs(line, stdout);
    fflush(stdout);
}

/* json: the begin line before a snapshot's first row (from the change callback). */
static void s_snapshot_begin(s_watch_t *w)
{
    if (!w->in_snapshot)
        s_json_puts("{\"snapshot\":\"begin\"}\n");
    w->in_snapshot = true;
}

/* json: once a snapshot's rows were all reported (a live change follows, or the turn of the
 * loop is over), its end line; both lines for one with no row to report (a resync that
 * found nothing changed). */
static void s_snapshot_end(s_watch_t *w)
{
    uint64_t seq;
    uint64_t applied = connstate_sub_snapshots(w->sub, &seq);
    if (applied == w->snapshots)
        return;
    s_snapshot_begin(w);
    char line[64];
    snprintf(line, sizeof line, "{\"snapshot\":\"end\",\"seq\":%llu}\n", (unsigned long long)seq);
    s_json_puts(line);
    w->snapshots = applied;
    w->in_snapshot = false;
}

static void s_json_line(const connstate_change_t *c)
{
    cs_buf_t line = {0};
    cs_buf_printf(&line, "{\"seq\":%llu,\"connection_name\":", (unsigned long long)c->seq);
    cs_buf_json_string(&line, c->connection, strlen(c->connection));
    cs_buf_printf(&line, ",\"status\":\"%s\",\"error\":", c->status);
    cs_buf_json_text(&line, c->error);
    cs_buf_puts(&line, ",\"time_changed\":\"");
    cs_buf_time(&line, c->time_changed_us);
    cs_buf_puts(&line, "\"}\n");
    fputs(cs_buf_str(&line), stdout);
    fflush(stdout);
    cs_buf_free(&line);
}

static void s_on_change(const connstate_change_t *c, void *arg)
{
    s_watch_t *w = arg;
    if (w->json) {
        if (c->snapshot)
            s_snapshot_begin(w);
        else
            s_snapshot_end(w);
        s_json_line(c);
        return;
    }
    w->dirty = true;
    if (c->snapshot)
        return; /* the view shows the snapshot as counts, not as a flood of changes */
    cs_buf_t t = {0};
    cs_buf_time(&t, c->time_changed_us);
    snprintf(w->recent[w->recent_next], sizeof w->recent[0], "%.8s  %-9s %s%s%.80s",
             cs_buf_str(&t) + 11, c->status, c->connection, c->error ? ": " : "",
             c->error ? c->error : "");
    cs_buf_free(&t);
    w->recent_next = (w->recent_next + 1) % S_RECENT;
}

/* The supervisor's database state changed (its heartbeats say): one line, or one JSON
 * object, each time. Nothing while it is active from the start. */
static void s_check_supervisor(s_watch_t *w)
{
    int64_t since;
    connstate_supervisor_state_t now = connstate_sub_supervisor_state(w->sub, &since);
    if (now == w->supervisor && since == w->db_down_since)
        return;
    connstate_supervisor_state_t was = w->supervisor;
    w->supervisor = now;
    w->db_down_since = since;
    if (now == CONNSTATE_SUPERVISOR_UNKNOWN ||
        (now == CONNSTATE_SUPERVISOR_ACTIVE && was == CONNSTATE_SUPERVISOR_UNKNOWN))
        return;
    const char *name = "active";
    char line[128];
    cs_buf_t when = {0};
    if (now == CONNSTATE_SUPERVISOR_DB_DOWN) {
        name = "database_unavailable";
        cs_buf_time(&when, since);
        snprintf(line, sizeof line, "supervisor: database unavailable since %.8s UTC",
                 cs_buf_str(&when) + 11);
    } else if (now == CONNSTATE_SUPERVISOR_STANDBY) {
        name = "standby";
        snprintf(line, sizeof line, "supervisor: standby (another supervisor is active)");
    } else if (was == CONNSTATE_SUPERVISOR_STANDBY) {
        snprintf(line, sizeof line, "supervisor: active (it took over the database)");
    } else {
        snprintf(line, sizeof line, "supervisor: database available again");
    }
    snprintf(w->supervisor_line, sizeof w->supervisor_line, "%s",
             now == CONNSTATE_SUPERVISOR_ACTIVE ? "" : line);
    if (w->json) {
        cs_buf_t out = {0};
        cs_buf_printf(&out, "{\"supervisor\":\"%s\",\"db_down_since\":", name);
        if (since)
            cs_buf_printf(&out, "\"%s\"", cs_buf_str(&when));
        else
            cs_buf_puts(&out, "null");
        cs_buf_puts(&out, ",\"message\":");
        cs_buf_json_string(&out, line, strlen(line));
        cs_buf_puts(&out, "}\n");
        fputs(cs_buf_str(&out), stdout);
        fflush(stdout);
        cs_buf_free(&out);
    } else {
        cs_buf_t t = {0};
        cs_buf_time(&t, cs_clock_wall_us());
        snprintf(w->recent[w->recent_next], sizeof w->recent[0], "%.8s  %s", cs_buf_str(&t) + 11,
                 line);
        cs_buf_free(&t);
        w->recent_next = (w->recent_next + 1) % S_RECENT;
        w->dirty = true;
    }
    cs_buf_free(&when);
}

typedef struct {
    cs_buf_t *out;
    int shown;
} s_errors_t;

static void s_add_error(const connstate_change_t *c, void *arg)
{
    s_errors_t *e = arg;
    if (strcmp(c->status, "error") != 0 || e->shown >= 10)
        return;
    cs_buf_printf(e->out, "  %s: %.100s\n", c->connection, c->error ? c->error : "");
    e->shown++;
}

static void s_draw(s_watch_t *w, const char *publish)
{
    static const char *const order[] = {"ready",    "updating", "pending",
                                        "deleting", "error",    "disabled"};
    connstate_sub_t *sub = w->sub;
    cs_buf_t out = {0};
    cs_buf_puts(&out, "\033[H\033[2J"); /* home, clear */
    cs_buf_printf(&out, "connstate watch  %s  %s  seq %llu  resyncs %llu\n\n", publish,
                  connstate_sub_synced(sub) ? "live" : "syncing...",
                  (unsigned long long)connstate_sub_seq(sub),
                  (unsigned long long)connstate_sub_resyncs(sub));
    if (w->supervisor_line[0])
        cs_buf_printf(&out, "%s\n\n", w->supervisor_line);
    size_t total = connstate_sub_size(sub);
    size_t settled = total - connstate_sub_count(sub, "pending") -
                     connstate_sub_count(sub, "updating") - connstate_sub_count(sub, "deleting");
    int width = 40, filled = total ? (int)(settled * (size_t)width / total) : 0;
    cs_buf_putc(&out, '[');
    for (int i = 0; i < width; i++)
        cs_buf_putc(&out, i < filled ? '#' : '-');
    cs_buf_printf(&out, "] %zu of %zu settled\n", settled, total);
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        cs_buf_printf(&out, "%s%s %zu", i ? "   " : "", order[i],
                      connstate_sub_count(sub, order[i]));
    cs_buf_puts(&out, "\n\nLatest changes:\n");
    for (int i = 0; i < S_RECENT; i++) {
        int at = (w->recent_next - 1 - i + 2 * S_RECENT) % S_RECENT;
        if (w->recent[at][0])
            cs_buf_printf(&out, "  %s\n", w->recent[at]);
    }
    cs_buf_puts(&out, "\nErrors:\n");
    s_errors_t errors = {&out, 0};
    connstate_sub_foreach(sub, s_add_error, &errors);
    if (!errors.shown)
        cs_buf_puts(&out, "  none\n");
    fputs(cs_buf_str(&out), stdout);
    fflush(stdout);
    cs_buf_free(&out);
    w->dirty = false;
}

int cs_cli_watch(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    const char *prefix = args.argc ? args.argv[0] : "";
    cs_curve_client_t curve; /* checked here, for a message naming the command */
    if (cs_cli_curve(&args, &curve) != 0)
        return 2;

    zsys_handler_set(NULL);
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    s_watch_t w = {0};
    w.json = args.format ? strcmp(args.format, "json") == 0 : !isatty(STDOUT_FILENO);
    w.sub = connstate_sub_new_curve(args.publish, args.control, prefix, args.curve_cert,
                                    args.curve_server, s_on_change, &w);
    if (!w.sub) {
        fprintf(stderr, "connstate watch: cannot connect to %s and %s\n", args.publish,
                args.control);
        return 2;
    }
    int64_t last_draw = 0;
    while (!s_stop) {
        if (connstate_sub_run(w.sub, 100) != 0 && !s_stop)
            break;
        if (w.json)
            s_snapshot_end(&w);
        s_check_supervisor(&w);
        if (!w.json && (w.dirty || zclock_mono() - last_draw > 1000) &&
            zclock_mono() - last_draw >= 100) {
            s_draw(&w, args.publish);
            last_draw = zclock_mono();
        }
        if (w.json && ferror(stdout))
            break; /* the reader went away */
    }
    connstate_sub_destroy(&w.sub);
    return 0;
}
