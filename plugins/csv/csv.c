/* The csv plugin's reading of files: config, records, names, headers and the scan of paths. */
#include "csv.h"

#include <czmq.h>
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Frees the *count strings of *items and the array, and empties both. */
static void s_strings_free(char ***items, size_t *count)
{
    for (size_t i = 0; i < *count; i++)
        free((*items)[i]);
    free(*items);
    *items = NULL;
    *count = 0;
}

/* ---- config ------------------------------------------------------------------------------- */

int cs_csv_header_parse(const char *text, cs_csv_header_t *out)
{
    static const char *const names[] = {"auto", "on", "off"};
    for (int i = 0; i < 3; i++) {
        if (text && strcmp(text, names[i]) == 0) {
            *out = (cs_csv_header_t)i;
            return 0;
        }
    }
    return -1;
}

const char *cs_csv_header_name(cs_csv_header_t header)
{
    return header == CS_CSV_HEADER_ON ? "on" : header == CS_CSV_HEADER_OFF ? "off" : "auto";
}

/* A one-character setting: '\0' when absent (or "" where empty is allowed); -1 with why. */
static int s_config_char(json_t *config, const char *key, bool empty_ok, char fallback, char *out,
                         char *why, size_t why_size)
{
    *out = fallback;
    json_t *v = json_object_get(config, key);
    if (!v)
        return 0;
    const char *text = json_string_value(v);
    size_t len = json_string_length(v);
    if (text && len == 0 && empty_ok) {
        *out = '\0';
        return 0;
    }
    if (!text || len != 1 || (unsigned char)text[0] > 0x7f || strchr("\"\r\n", text[0]) ||
        text[0] == '\0') {
        snprintf(why, why_size,
                 "csv: \"%s\" must be one ASCII character other than a double quote, CR and LF%s",
                 key, empty_ok ? ", or \"\"" : "");
        return -1;
    }
    *out = text[0];
    return 0;
}

int cs_csv_config_parse(json_t *config, cs_csv_config_t *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    out->separator = ',';
    out->direct = true;
    const char *key;
    json_t *value;
    json_object_foreach(config, key, value)
    {
        if (strcmp(key, "paths") && strcmp(key, "separator") && strcmp(key, "comment") &&
            strcmp(key, "header") && strcmp(key, "direct") && strcmp(key, "options")) {
            snprintf(why, why_size,
                     "csv: unknown key \"%.64s\" (the keys are paths, separator, comment, header "
                     "and direct)",
                     key);
            return -1;
        }
    }
    json_t *paths = json_object_get(config, "paths");
    size_t n = json_array_size(paths);
    if (!json_is_array(paths) || n == 0 || n > CS_CSV_MAX_PATHS) {
        snprintf(why, why_size,
                 "csv: \"paths\" must be a list of 1 to %d absolute paths or globs of at most %d "
                 "bytes",
                 CS_CSV_MAX_PATHS, CS_CSV_MAX_PATH);
        return -1;
    }
    out->paths = calloc(n, sizeof *out->paths);
    if (!out->paths) {
        snprintf(why, why_size, "csv: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(paths, i);
        const char *text = json_string_value(p);
        size_t len = json_string_length(p);
        if (!text || len == 0 || len > CS_CSV_MAX_PATH || strlen(text) != len || text[0] != '/') {
            snprintf(why, why_size,
                     "csv: \"paths\" entry %zu must be an absolute path or glob of 1 to %d bytes "
                     "without NUL",
                     i + 1, CS_CSV_MAX_PATH);
            return -1;
        }
        if (!(out->paths[i] = strdup(text))) {
            snprintf(why, why_size, "csv: out of memory");
            return -1;
        }
        out->path_count = i + 1;
    }
    if (s_config_char(config, "separator", false, ',', &out->separator, why, why_size) ||
        s_config_char(config, "comment", true, '\0', &out->comment, why, why_size))
        return -1;
    if (out->comment && out->comment == out->separator) {
        snprintf(why, why_size, "csv: \"comment\" and \"separator\" must differ");
        return -1;
    }
    json_t *header = json_object_get(config, "header");
    if (header && cs_csv_header_parse(json_string_value(header), &out->header) != 0) {
        snprintf(why, why_size, "csv: \"header\" must be \"auto\", \"on\" or \"off\"");
        return -1;
    }
    json_t *direct = json_object_get(config, "direct");
    if (direct && !json_is_boolean(direct)) {
        snprintf(why, why_size, "csv: \"direct\" must be true or false");
        return -1;
    }
    if (direct)
        out->direct = json_is_true(direct);
    return 0;
}

void cs_csv_config_free(cs_csv_config_t *config)
{
    s_strings_free(&config->paths, &config->path_count);
}

/* ---- records ------------------------------------------------------------------------------ */

#define S_INPUT 65536

struct cs_csv_reader {
    FILE *in;
    char separator, comment;
    size_t max_record;
    unsigned char input[S_INPUT]; /* read ahead: [pos, end) */
    size_t pos, end;
    bool started, bom, has_nul, too_many;
    char *data; /* the record's fields, each NUL-terminated */
    size_t len, cap;
    size_t *starts, *lens;
    bool *quoted;
    size_t count, fields_cap;
    size_t line; /* the next line's number */
    size_t record_line;
    bool plain_stop[256];  /* the bytes that end a run outside quoted text */
    bool quoted_stop[256]; /* ... inside it */
};

cs_csv_reader_t *cs_csv_reader_new(FILE *in, char separator, char comment, size_t max_record)
{
    cs_csv_reader_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->in = in;
    self->separator = separator;
    self->comment = comment;
    self->max_record = max_record;
    self->line = 1;
    const unsigned char stops[] = {'"', '\n', '\r', '\0'};
    for (size_t i = 0; i < sizeof stops; i++)
        self->plain_stop[stops[i]] = self->quoted_stop[stops[i]] = true;
    self->plain_stop[(unsigned char)separator] = true;
    return self;
}

void cs_csv_reader_destroy(cs_csv_reader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_csv_reader_t *self = *self_p;
    free(self->data);
    free(self->starts);
    free(self->lens);
    free(self->quoted);
    free(self);
    *self_p = NULL;
}

static int s_peek(cs_csv_reader_t *self)
{
    if (self->pos == self->end) {
        self->pos = 0;
        self->end = fread(self->input, 1, sizeof self->input, self->in);
        if (self->end == 0)
            return EOF;
    }
    return self->input[self->pos];
}

static int s_get(cs_csv_reader_t *self)
{
    int c = s_peek(self);
    if (c != EOF)
        self->pos++;
    return c;
}

/* Appends a byte to the record; -1 past its bound or out of memory. */
static int s_put(cs_csv_reader_t *self, char c)
{
    if (self->len >= self->max_record)
        return -1;
    if (self->len + 1 >= self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        char *data = realloc(self->data, cap);
        if (!data)
            return -1;
        self->data = data;
        self->cap = cap;
    }
    self->data[self->len++] = c;
    return 0;
}

/* Appends the run of bytes at the read position up to the next one of stop (or the input's
 * end) to the record, a buffer at a time; -1 past its bound or out of memory. */
static int s_put_run(cs_csv_reader_t *self, const bool *stop)
{
    for (;;) {
        if (s_peek(self) == EOF)
            return 0;
        const unsigned char *from = self->input + self->pos, *end = self->input + self->end;
        const unsigned char *to = from;
        while (to < end && !stop[*to])
            to++;
        size_t n = (size_t)(to - from);
        if (self->len + n > self->max_record)
            return -1;
        if (self->len + n + 1 >= self->cap) {
            size_t cap = self->cap ? self->cap : 256;
            while (self->len + n + 1 >= cap)
                cap *= 2;
            char *data = realloc(self->data, cap);
            if (!data)
                return -1;
            self->data = data;
            self->cap = cap;
        }
        memcpy(self->data + self->len, from, n);
        self->len += n;
        self->pos += n;
        if (to < end)
            return 0;
    }
}

/* Starts a field; -1 past CS_CSV_MAX_COLUMNS fields or out of memory. */
static int s_field_start(cs_csv_reader_t *self)
{
    if (self->count == CS_CSV_MAX_COLUMNS) {
        self->too_many = true;
        return -1;
    }
    if (self->count == self->fields_cap) {
        size_t cap = self->fields_cap ? self->fields_cap * 2 : 16;
        size_t *starts = realloc(self->starts, cap * sizeof *starts);
        if (starts)
            self->starts = starts;
        size_t *lens = starts ? realloc(self->lens, cap * sizeof *lens) : NULL;
        if (lens)
            self->lens = lens;
        bool *quoted = lens ? realloc(self->quoted, cap * sizeof *quoted) : NULL;
        if (!quoted)
            return -1;
        self->quoted = quoted;
        self->fields_cap = cap;
    }
    self->starts[self->count] = self->len;
    self->quoted[self->count] = false;
    self->lens[self->count] = 0;
    self->count++;
    return 0;
}

static int s_field_end(cs_csv_reader_t *self)
{
    size_t i = self->count - 1;
    self->lens[i] = self->len - self->starts[i];
    return s_put(self, '\0');
}

/* Consumes the end of a line after c ('\r' or '\n'), counting it. */
static void s_line_end(cs_csv_reader_t *self, int c)
{
    if (c == '\r' && s_peek(self) == '\n')
        s_get(self);
    self->line++;
}

int cs_csv_reader_next(cs_csv_reader_t *self, char *why, size_t why_size)
{
    self->len = 0;
    self->count = 0;
    self->has_nul = false;
    self->too_many = false;
    if (!self->started) {
        self->started = true;
        if (s_peek(self) == 0xEF && self->end - self->pos >= 3 &&
            memcmp(self->input + self->pos, "\xEF\xBB\xBF", 3) == 0) {
            self->pos += 3;
            self->bom = true;
        }
    }
    for (;;) { /* comment lines, then the record */
        int c = s_peek(self);
        if (c == EOF) {
            if (ferror(self->in)) {
                snprintf(why, why_size, "read error on line %zu: %s", self->line, strerror(errno));
                return -1;
            }
            return 0;
        }
        if (!self->comment || c != (unsigned char)self->comment)
            break;
        while ((c = s_get(self)) != EOF && c != '\n' && c != '\r')
            ;
        if (c != EOF)
            s_line_end(self, c);
    }
    self->record_line = self->line;
    bool in_quote = false;
    size_t quote_line = 0;
    if (s_field_start(self))
        goto too_long;
    for (;;) {
        if (s_put_run(self, in_quote ? self->quoted_stop : self->plain_stop))
            goto too_long;
        int c = s_get(self);
        if (c == EOF) {
            if (ferror(self->in)) {
                snprintf(why, why_size, "read error on line %zu: %s", self->line, strerror(errno));
                return -1;
            }
            if (in_quote) {
                snprintf(why, why_size, "the quoted field that starts on line %zu never ends",
                         quote_line);
                return -1;
            }
            break;
        }
        if (c == 0)
            self->has_nul = true;
        if (in_quote) {
            if (c == '"') {
                if (s_peek(self) != '"') {
                    in_quote = false;
                    continue;
                }
                s_get(self);
            } else if (c == '\n' || (c == '\r' && s_peek(self) != '\n')) {
                self->line++;
            }
            if (s_put(self, (char)c))
                goto too_long;
            continue;
        }
        if (c == '"') {
            in_quote = true;
            quote_line = self->line;
            self->quoted[self->count - 1] = true;
            continue;
        }
        if (c == (unsigned char)self->separator) {
            if (s_field_end(self) || s_field_start(self))
                goto too_long;
            continue;
        }
        if (c == '\n' || c == '\r') {
            s_line_end(self, c);
            break;
        }
        if (s_put(self, (char)c))
            goto too_long;
    }
    if (s_field_end(self))
        goto too_long;
    return 1;
too_long:
    if (self->too_many)
        snprintf(why, why_size,
                 "the record on line %zu has more than %d fields (PostgreSQL's limit)",
                 self->record_line, CS_CSV_MAX_COLUMNS);
    else
        snprintf(why, why_size,
                 "the record on line %zu is longer than %zu bytes (or memory ran out)",
                 self->record_line, self->max_record);
    return -1;
}

size_t cs_csv_reader_count(const cs_csv_reader_t *self)
{
    return self->count;
}

const char *cs_csv_reader_field(const cs_csv_reader_t *self, size_t i, size_t *len)
{
    if (len)
        *len = self->lens[i];
    return self->data + self->starts[i];
}

bool cs_csv_reader_quoted(const cs_csv_reader_t *self, size_t i)
{
    return self->quoted[i];
}

size_t cs_csv_reader_line(const cs_csv_reader_t *self)
{
    return self->record_line;
}

bool cs_csv_reader_has_nul(const cs_csv_reader_t *self)
{
    return self->has_nul;
}

bool cs_csv_reader_bom(const cs_csv_reader_t *self)
{
    return self->bom;
}

void cs_csv_write_field(FILE *out, const char *field, size_t len)
{
    bool quote = len == 0 || (len == 2 && field[0] == '\\' && field[1] == '.');
    for (size_t i = 0; i < len && !quote; i++)
        quote = field[i] == '"' || field[i] == ',' || field[i] == '\r' || field[i] == '\n';
    if (!quote) {
        fwrite_unlocked(field, 1, len, out);
        return;
    }
    putc_unlocked('"', out);
    for (size_t i = 0; i < len; i++) {
        if (field[i] == '"')
            putc_unlocked('"', out);
        putc_unlocked(field[i], out);
    }
    putc_unlocked('"', out);
}

/* ---- names -------------------------------------------------------------------------------- */

void cs_csv_cut(char *text, size_t max)
{
    size_t len = strlen(text);
    if (len <= max)
        return;
    size_t pos = max;
    while (pos > 0 && ((unsigned char)text[pos] & 0xC0) == 0x80)
        pos--;
    text[pos] = '\0';
}

bool cs_csv_utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

void cs_csv_table_name(const char *path, char *out)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    size_t o = 0;
    bool replaced = false; /* the last byte written stands for a run of other bytes */
    for (size_t i = 0; i < len && o < CS_CSV_NAME_MAX; i++) {
        char c = base[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            if (o == 0 && c >= '0' && c <= '9')
                out[o++] = '_';
            if (o < CS_CSV_NAME_MAX)
                out[o++] = c;
            replaced = false;
        } else if (!replaced) {
            out[o++] = '_';
            replaced = true;
        }
    }
    if (replaced && o > 1)
        o--;
    if (o == 0)
        out[o++] = '_';
    out[o] = '\0';
}

struct cs_csv_names {
    zhashx_t *taken; /* name -> its owner (borrowed, may be NULL) */
};

cs_csv_names_t *cs_csv_names_new(void)
{
    cs_csv_names_t *self = calloc(1, sizeof *self);
    if (self)
        self->taken = zhashx_new();
    return self;
}

void cs_csv_names_destroy(cs_csv_names_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->taken);
    free(*self_p);
    *self_p = NULL;
}

int cs_csv_names_take(cs_csv_names_t *self, const char *name, char *out)
{
    snprintf(out, CS_CSV_NAME_MAX + 1, "%s", name);
    cs_csv_cut(out, CS_CSV_NAME_MAX);
    for (unsigned long n = 2; zhashx_lookup(self->taken, out); n++) {
        char suffix[24];
        snprintf(suffix, sizeof suffix, "_%lu", n);
        snprintf(out, CS_CSV_NAME_MAX + 1, "%s", name);
        cs_csv_cut(out, CS_CSV_NAME_MAX - strlen(suffix));
        strcat(out, suffix);
    }
    return zhashx_insert(self->taken, out, (void *)1) == 0 ? 0 : -1;
}

void cs_csv_letters(size_t index, char *out)
{
    char reversed[8];
    size_t n = 0;
    size_t v = index + 1;
    while (v > 0 && n < 7) {
        v--;
        reversed[n++] = (char)('a' + v % 26);
        v /= 26;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = reversed[n - 1 - i];
    out[n] = '\0';
}

/* ---- a file's header ---------------------------------------------------------------------- */

void cs_csv_head_free(cs_csv_head_t *head)
{
    s_strings_free(&head->columns, &head->count);
}

/* Whether the record's fields are all non-empty and distinct ("auto"'s header). */
static bool s_looks_like_header(const cs_csv_reader_t *reader)
{
    zhashx_t *seen = zhashx_new();
    bool header = true;
    for (size_t i = 0; i < cs_csv_reader_count(reader) && header; i++) {
        size_t len;
        const char *field = cs_csv_reader_field(reader, i, &len);
        if (len == 0 || zhashx_insert(seen, field, (void *)1) != 0)
            header = false;
    }
    zhashx_destroy(&seen);
    return header;
}

/* The columns of a head from the first record. */
static int s_head_columns(const cs_csv_reader_t *reader, cs_csv_head_t *head)
{
    size_t n = cs_csv_reader_count(reader);
    head->columns = calloc(n, sizeof *head->columns);
    cs_csv_names_t *names = cs_csv_names_new();
    int rc = head->columns && names ? 0 : -1;
    /* PostgreSQL's system columns are taken: a header's "xmin" is column "xmin_2" (a foreign
     * table with a column of that name cannot be created) */
    static const char *const system[] = {"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"};
    for (size_t i = 0; i < sizeof system / sizeof *system && rc == 0; i++) {
        char taken[CS_CSV_NAME_MAX + 1];
        rc = cs_csv_names_take(names, system[i], taken);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char base[CS_CSV_NAME_MAX + 1], name[CS_CSV_NAME_MAX + 1];
        size_t len;
        const char *field = cs_csv_reader_field(reader, i, &len);
        if (!head->header)
            cs_csv_letters(i, base);
        else if (len == 0)
            snprintf(base, sizeof base, "column_%zu", i + 1);
        else {
            snprintf(base, sizeof base, "%s", field);
            cs_csv_cut(base, CS_CSV_NAME_MAX);
        }
        rc = cs_csv_names_take(names, base, name);
        if (rc == 0 && !(head->columns[i] = strdup(name)))
            rc = -1;
        head->count = i + 1;
    }
    cs_csv_names_destroy(&names);
    return rc;
}

int cs_csv_head_read(const char *path, const cs_csv_config_t *config, cs_csv_head_t *head,
                     char *why, size_t why_size)
{
    memset(head, 0, sizeof *head);
    FILE *in = fopen(path, "re");
    if (!in) {
        snprintf(why, why_size, "cannot open it: %s", strerror(errno));
        return -1;
    }
    cs_csv_reader_t *reader =
        cs_csv_reader_new(in, config->separator, config->comment, CS_CSV_MAX_HEADER);
    char detail[200];
    int rc = reader ? cs_csv_reader_next(reader, detail, sizeof detail) : -1;
    if (rc < 0)
        snprintf(why, why_size, "its first record cannot be read: %s",
                 reader ? detail : "out of memory");
    else if (rc == 0)
        snprintf(why, why_size, "%s", ftell(in) == 0 ? "empty file" : "no record in it");
    rc = rc == 1 ? 0 : -1;
    size_t n = rc == 0 ? cs_csv_reader_count(reader) : 0;
    size_t len0 = 0;
    if (rc == 0)
        cs_csv_reader_field(reader, 0, &len0);
    if (rc == 0 && cs_csv_reader_has_nul(reader)) {
        snprintf(why, why_size, "not text: a NUL byte in its first record");
        rc = -1;
    } else if (rc == 0 && n == 1 && len0 == 0 && !cs_csv_reader_quoted(reader, 0)) {
        snprintf(why, why_size, "its first line is blank");
        rc = -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len;
        const char *field = cs_csv_reader_field(reader, i, &len);
        if (!cs_csv_utf8_valid(field, len)) {
            snprintf(why, why_size, "its first record is not valid UTF-8 (field %zu)", i + 1);
            rc = -1;
        }
    }
    if (rc == 0) {
        head->bom = cs_csv_reader_bom(reader);
        head->header = config->header == CS_CSV_HEADER_ON ||
                       (config->header == CS_CSV_HEADER_AUTO && s_looks_like_header(reader));
        if (s_head_columns(reader, head) != 0) {
            snprintf(why, why_size, "out of memory");
            rc = -1;
        }
    }
    cs_csv_reader_destroy(&reader);
    fclose(in);
    return rc;
}

bool cs_csv_direct(const cs_csv_config_t *config, const cs_csv_head_t *head)
{
    return config->direct && !config->comment && (!head->bom || head->header);
}

/* ---- the scan ----------------------------------------------------------------------------- */

static int s_compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every path the patterns match, sorted, each once (a malloc'd array of malloc'd strings). */
static char **s_expand(const cs_csv_config_t *config, size_t *count)
{
    char **all = NULL;
    size_t n = 0;
    *count = 0;
    for (size_t p = 0; p < config->path_count; p++) {
        glob_t g;
        memset(&g, 0, sizeof g);
        int rc = glob(config->paths[p], 0, NULL, &g);
        if (rc != 0 && rc != GLOB_NOMATCH) {
            globfree(&g);
            if (rc == GLOB_NOSPACE)
                goto fail;
            continue; /* GLOB_ABORTED: an unreadable directory matches nothing */
        }
        if (rc == GLOB_NOMATCH) {
            globfree(&g);
            continue;
        }
        char **grown = realloc(all, (n + g.gl_pathc + 1) * sizeof *all);
        if (!grown) {
            globfree(&g);
            goto fail;
        }
        all = grown;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            if (!(all[n] = strdup(g.gl_pathv[i]))) {
                globfree(&g);
                goto fail;
            }
            n++;
        }
        globfree(&g);
    }
    if (n > 1)
        qsort(all, n, sizeof *all, s_compare_paths);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept && strcmp(all[kept - 1], all[i]) == 0)
            free(all[i]);
        else
            all[kept++] = all[i];
    }
    *count = kept;
    if (!all)
        all = calloc(1, sizeof *all);
    return all;
fail:
    s_strings_free(&all, &n);
    return NULL;
}

/* The length of text inside a JSON string (jansson's escapes). */
static size_t s_json_len(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        n += *p == '"' || *p == '\\' || *p == '\b' || *p == '\f' || *p == '\n' || *p == '\r' ||
                     *p == '\t'
                 ? 2
             : *p < 0x20 ? 6
                         : 1;
    return n;
}

/* What a table adds to the schema's output, at most: its fixed text, its name, the path (in
 * the description, args and "file"), the note, each column. */
static size_t s_table_bytes(const cs_csv_file_t *file)
{
    size_t bytes = 512 + s_json_len(file->name) + 3 * s_json_len(file->path) +
                   (file->note ? s_json_len(file->note) : 0);
    for (size_t c = 0; c < file->head.count; c++)
        bytes += 32 + s_json_len(file->head.columns[c]);
    return bytes;
}

int cs_csv_scan(const cs_csv_config_t *config, cs_csv_scan_t *scan)
{
    memset(scan, 0, sizeof *scan);
    size_t n;
    char **paths = s_expand(config, &n);
    if (!paths)
        return -1;
    scan->files = calloc(n ? n : 1, sizeof *scan->files);
    cs_csv_names_t *names = cs_csv_names_new();
    zhashx_t *owners = zhashx_new(); /* table name -> the path that took it */
    char taken[CS_CSV_NAME_MAX + 1];
    int rc =
        scan->files && names && cs_csv_names_take(names, CS_CSV_SKIPPED_TABLE, taken) == 0 ? 0 : -1;
    size_t tables = 1, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        bool is_dir = stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode);
        if (rc != 0 || is_dir) { /* a directory that a glob matched is no table: left out */
            free(paths[i]);
            continue;
        }
        cs_csv_file_t *file = &scan->files[scan->count++];
        file->path = paths[i];
        char why[300];
        if (stat(file->path, &st) != 0)
            snprintf(why, sizeof why, "cannot read it: %s", strerror(errno));
        else if (!S_ISREG(st.st_mode))
            snprintf(why, sizeof why, "not a regular file");
        else if (tables >= CS_CSV_MAX_TABLES)
            snprintf(why, sizeof why, "more than %d files: a schema has at most %d tables",
                     CS_CSV_MAX_TABLES - 1, CS_CSV_MAX_TABLES);
        else if (!cs_csv_utf8_valid(file->path, strlen(file->path)))
            snprintf(why, sizeof why, "its path is not valid UTF-8");
        else if (bytes > CS_CSV_MAX_SCHEMA)
            snprintf(why, sizeof why, "the schema's output would pass %d MiB",
                     CS_CSV_MAX_SCHEMA / (1024 * 1024));
        else if (cs_csv_head_read(file->path, config, &file->head, why, sizeof why) == 0) {
            char base[CS_CSV_NAME_MAX + 1];
            cs_csv_table_name(file->path, base);
            if (cs_csv_names_take(names, base, file->name) != 0)
                rc = -1;
            zhashx_insert(owners, file->name, file->path);
            const char *owner = zhashx_lookup(owners, base);
            if (strcmp(base, file->name) != 0 &&
                asprintf(&file->note, "named %s: %s is taken by %s", file->name, base,
                         owner ? owner : "the table " CS_CSV_SKIPPED_TABLE) < 0) {
                file->note = NULL;
                rc = -1;
            }
            bytes += s_table_bytes(file);
            if (bytes <= CS_CSV_MAX_SCHEMA) {
                tables++;
                continue;
            }
            /* this one and every later one are left out (its name stays taken) */
            file->name[0] = '\0';
            free(file->note);
            file->note = NULL;
            snprintf(why, sizeof why, "the schema's output would pass %d MiB",
                     CS_CSV_MAX_SCHEMA / (1024 * 1024));
        }
        cs_csv_head_free(&file->head);
        if (!(file->skipped = strdup(why)))
            rc = -1;
    }
    free(paths);
    zhashx_destroy(&owners);
    cs_csv_names_destroy(&names);
    if (rc != 0)
        cs_csv_scan_free(scan);
    return rc;
}

void cs_csv_scan_free(cs_csv_scan_t *scan)
{
    for (size_t i = 0; scan->files && i < scan->count; i++) {
        cs_csv_file_t *file = &scan->files[i];
        free(file->path);
        free(file->note);
        free(file->skipped);
        cs_csv_head_free(&file->head);
    }
    free(scan->files);
    scan->files = NULL;
    scan->count = 0;
}
