/* connstate plan: what a refresh would do now, connection by connection, with the reason;
 * changes nothing. */
#include "cli.h"

#include "cs_embedded.h"
#include "cs_plugin.h"

#include "../../supervisor/supervisor.h"

#include <stdlib.h>
#include <string.h>

#define S_PLUGIN_TIMEOUT_MS 30000 /* the supervisor's default --plugin-timeout */

static const cs_cli_command_t s_command = {
    .name = "plan",
    .usage = "Usage: connstate plan [--db CONNINFO | --data-dir DIR] [--config-dir DIR]\n"
             "                      [--plugin-dir DIR] [--format table|json] [NAME...]\n"
             "Computes, from the config directory and the database, what a refresh would do\n"
             "now to every connection (or to the NAMEs), with the reason: build (new), rebuild\n"
             "(config changed), rebuild (schema missing), delete (left the config), keep (its\n"
             "file failed to load: FILE:LINE:COL ...), error (...), comments, ready, ... It\n"
             "changes nothing: its session is read-only and takes no lock, so a running\n"
             "supervisor is not disturbed; the plugins are asked for their info.\n"
             "Exit status: 0 when nothing would change, 1 when something would, 2 on an error\n"
             "(a usage error, a database or directory that cannot be read).\n",
    .options = CS_CLI_DB | CS_CLI_DATA_DIR | CS_CLI_CONFIG_DIR | CS_CLI_PLUGIN_DIR | CS_CLI_FORMAT,
    .formats = {"table", "json"},
    .max_args = -1,
};

typedef struct {
    const cs_cli_args_t *args;
    cs_buf_t out;
    size_t shown, changes;
    size_t by_action[16];
    const char *actions[16];
    size_t action_count;
    bool *seen; /* of each NAME given: the plan decided it */
} s_plan_t;

/* Whether the row is one asked for (every one when no NAME was given); notes it seen. */
static bool s_wanted(s_plan_t *p, const char *name)
{
    if (!p->args->argc)
        return true;
    bool wanted = false;
    for (int i = 0; i < p->args->argc; i++) {
        if (strcmp(p->args->argv[i], name) == 0) {
            wanted = true;
            if (p->seen)
                p->seen[i] = true;
        }
    }
    return wanted;
}

static void s_row(void *arg, const cs_dryrun_row_t *row)
{
    s_plan_t *p = arg;
    if (!s_wanted(p, row->name))
        return;
    if (p->args->json) {
        cs_buf_puts(&p->out, p->shown ? ",\n {\"connection_name\":" : "\n {\"connection_name\":");
        cs_buf_json_string(&p->out, row->name, strlen(row->name));
        cs_buf_printf(&p->out, ",\"action\":\"%s\",\"plan\":", row->action);
        cs_buf_json_string(&p->out, row->text, strlen(row->text));
        cs_buf_printf(&p->out, ",\"change\":%s}", row->change ? "true" : "false");
    } else {
        cs_buf_printf(&p->out, "%-30s %s\n", row->name, row->text);
    }
    p->shown++;
    p->changes += row->change;
    size_t i = 0;
    while (i < p->action_count && strcmp(p->actions[i], row->action) != 0)
        i++;
    if (i == p->action_count && i < sizeof p->actions / sizeof *p->actions)
        p->actions[p->action_count++] = row->action;
    if (i < p->action_count)
        p->by_action[i]++;
}

int cs_cli_plan(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    if (!getenv("CONNSTATE_LOG_LEVEL") && cs_log_set_level("warn") != 0)
        return 2; /* the modules' progress lines are the supervisor's, not this command's */
    bool embedded;
    char *conninfo = cs_db_resolve(args.db, args.data_dir, &embedded);
    char *config_dir = args.config_dir ? strdup(args.config_dir) : cs_config_default_dir();
    char *plugin_dir = args.plugin_dir ? strdup(args.plugin_dir) : cs_plugin_default_dir();
    if (!conninfo || !config_dir || !plugin_dir) {
        fprintf(stderr, "connstate plan: %s\n",
                !conninfo     ? "no --db and no home directory for the embedded database"
                : !config_dir ? "no --config-dir and no home directory"
                              : "the bundled plugins were not found; give --plugin-dir");
        free(conninfo);
        free(config_dir);
        free(plugin_dir);
        return 2;
    }
    s_plan_t plan = {.args = &args};
    plan.seen = args.argc ? calloc((size_t)args.argc, sizeof *plan.seen) : NULL;
    if (args.json)
        cs_buf_putc(&plan.out, '[');
    char why[CS_PROTO_MAX_ERROR + 256];
    rc = cs_dryrun(conninfo, config_dir, plugin_dir, S_PLUGIN_TIMEOUT_MS, s_row, &plan, why,
                   sizeof why);
    free(conninfo);
    if (rc != 0) {
        fprintf(stderr, "connstate plan: %s\n", why);
        cs_buf_free(&plan.out);
        free(plan.seen);
        free(config_dir);
        free(plugin_dir);
        return 2;
    }
    int unknown = 0;
    for (int i = 0; i < args.argc; i++) {
        if (!plan.seen || !plan.seen[i]) {
            fprintf(stderr,
                    "connstate plan: no connection named \"%s\" (not in the config, the state "
                    "table or the database's schemas)\n",
                    args.argv[i]);
            unknown++;
        }
    }
    free(plan.seen);
    if (args.json) {
        cs_buf_puts(&plan.out, plan.shown ? "\n]\n" : "]\n");
    } else {
        cs_buf_printf(&plan.out, "%s%zu connection%s", plan.shown ? "\n" : "", plan.shown,
                      plan.shown == 1 ? "" : "s");
        for (size_t i = 0; i < plan.action_count; i++)
            cs_buf_printf(&plan.out, "%s%zu %s", i ? ", " : ": ", plan.by_action[i],
                          plan.actions[i]);
        cs_buf_printf(&plan.out, "; %s\n",
                      plan.changes ? "a refresh would change something" : "nothing would change");
    }
    fputs(cs_buf_str(&plan.out), stdout);
    cs_buf_free(&plan.out);
    free(config_dir);
    free(plugin_dir);
    return unknown ? 2 : plan.changes ? 1 : 0;
}
