/* A program's options from one table: getopt's list, the values with their environment
 * fallbacks and defaults, range checks, and the --help text. */
#include "common.h"

#include "cs_options.h"
#include "cs_paths.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_HELP    (-2) /* getopt values of --help and --version */
#define S_VERSION (-3)

static const char **s_text_at(void *out, const cs_option_t *option)
{
    return (const char **)((char *)out + option->offset);
}

static long *s_number_at(void *out, const cs_option_t *option)
{
    return (long *)((char *)out + option->offset);
}

static bool *s_switch_at(void *out, const cs_option_t *option)
{
    return (bool *)((char *)out + option->offset);
}

#define S_COLUMN 23 /* the width of "--flag ARG" in the help */
#define S_WIDTH  92 /* longest help line */

void cs_options_usage(const cs_program_t *program, FILE *out)
{
    fputs(program->usage, out);
    fputc('\n', out);
    for (size_t i = 0; i < program->count; i++) {
        const cs_option_t *o = &program->options[i];
        char left[64], paren[160] = "";
        snprintf(left, sizeof left, "--%s%s%s", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
        const char *fallback = o->fallback_help ? o->fallback_help : o->fallback;
        if (o->env || fallback)
            snprintf(paren, sizeof paren, "(%s%s%s)", o->env ? o->env : "",
                     o->env && fallback ? ", " : "", fallback ? fallback : "");
        /* the help's lines as written; the variable and default after the last one, or on a
         * line of their own when that would be too long */
        const char *line = o->help;
        const char *label = left;
        if ((int)strlen(left) > S_COLUMN) { /* a long flag: on a line of its own */
            fprintf(out, "  %s\n", left);
            label = "";
        }
        for (;;) {
            const char *nl = strchr(line, '\n');
            int len = nl ? (int)(nl - line) : (int)strlen(line);
            fprintf(out, "  %-*s %.*s", S_COLUMN, label, len, line);
            label = "";
            if (!nl) {
                if (*paren && 3 + S_COLUMN + len + 1 + (int)strlen(paren) > S_WIDTH)
                    fprintf(out, "\n  %-*s %s", S_COLUMN, "", paren);
                else if (*paren)
                    fprintf(out, " %s", paren);
                fputc('\n', out);
                break;
            }
            fputc('\n', out);
            line = nl + 1;
        }
    }
    fprintf(out, "  %-*s show this help and exit\n", S_COLUMN, "--help");
    fprintf(out, "  %-*s show the version and exit\n", S_COLUMN, "--version");
    if (program->epilog) {
        fputc('\n', out);
        fputs(program->epilog, out);
    }
}

/* Sets one option from its text (flag, environment or fallback); false after saying why. */
static bool s_set(const cs_program_t *program, const cs_option_t *o, const char *text, void *out)
{
    if (o->kind == CS_OPTION_SWITCH) {
        *s_switch_at(out, o) =
            strcmp(text, "1") == 0 || strcmp(text, "true") == 0 || strcmp(text, "yes") == 0;
        return true;
    }
    if (o->kind == CS_OPTION_NUMBER) {
        char *end = NULL;
        errno = 0;
        long value = strtol(text, &end, 10);
        if (errno || !end || *end || end == text || value < o->lo || value > o->hi) {
            fprintf(stderr, "%s: --%s must be a number from %ld to %ld, not '%s'\n", program->name,
                    o->flag, o->lo, o->hi, text);
            return false;
        }
        *s_number_at(out, o) = value;
        return true;
    }
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    bool known = o->kind != CS_OPTION_LEVEL;
    for (size_t i = 0; !known && i < sizeof levels / sizeof *levels; i++)
        known = strcmp(text, levels[i]) == 0;
    if (!known) {
        fprintf(stderr, "%s: --%s must be error, warn, info or debug, not '%s'\n", program->name,
                o->flag, text);
        return false;
    }
    *s_text_at(out, o) = text;
    return true;
}

int cs_options_parse(const cs_program_t *program, int argc, char **argv, void *out)
{
    struct option *longs = calloc(program->count + 3, sizeof *longs);
    const char **given = calloc(program->count ? program->count : 1, sizeof *given);
    if (!longs || !given) {
        free(longs);
        free(given);
        fprintf(stderr, "%s: out of memory\n", program->name);
        return 2;
    }
    for (size_t i = 0; i < program->count; i++)
        longs[i] = (struct option){program->options[i].flag,
                                   program->options[i].kind == CS_OPTION_SWITCH ? no_argument
                                                                                : required_argument,
                                   NULL, (int)i};
    longs[program->count] = (struct option){"help", no_argument, NULL, S_HELP};
    longs[program->count + 1] = (struct option){"version", no_argument, NULL, S_VERSION};
    int rc = -1, opt;
    opterr = 0;
    optind = 1;
    while (rc < 0 && (opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (opt == S_HELP) {
            cs_options_usage(program, stdout);
            rc = 0;
        } else if (opt == S_VERSION) {
            printf("%s %s\n", program->name, program->version);
            rc = 0;
        } else if (opt >= 0 && (size_t)opt < program->count) {
            given[opt] = program->options[opt].kind == CS_OPTION_SWITCH ? "1" : optarg;
        } else {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", program->name,
                    argv[optind - 1]);
            cs_options_usage(program, stderr);
            rc = 2;
        }
    }
    if (rc < 0 && optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", program->name, argv[optind]);
        cs_options_usage(program, stderr);
        rc = 2;
    }
    for (size_t i = 0; rc < 0 && i < program->count; i++) {
        const cs_option_t *o = &program->options[i];
        const char *text = given[i] ? given[i]
                           : o->env ? cs_opt(NULL, o->env, o->fallback)
                                    : o->fallback;
        if (text && !s_set(program, o, text, out))
            rc = 2;
    }
    free(longs);
    free(given);
    return rc;
}
