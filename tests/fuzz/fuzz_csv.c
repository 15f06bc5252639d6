/* libFuzzer target: the csv plugin's record reader and names on arbitrary bytes. The first
 * two bytes choose the separator and the comment character; the rest is the file. Every
 * record read, written as `rows` writes it and read again, gives the same fields; every table
 * name is an identifier; column names made unique are unique and at most 63 bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/csv/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes the record's fields as `rows` does, reads them back, and compares. */
static void s_round_trip(const cs_csv_reader_t *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return;
    size_t n = cs_csv_reader_count(r);
    fputs("first\n", out); /* the record is not the stream's first: a BOM in it is data */
    for (size_t i = 0; i < n; i++) {
        size_t flen;
        const char *f = cs_csv_reader_field(r, i, &flen);
        if (i)
            fputc(',', out);
        cs_csv_write_field(out, f, flen);
    }
    fputc('\n', out);
    fclose(out);
    FILE *in = fmemopen(text, len, "r");
    cs_csv_reader_t *again = in ? cs_csv_reader_new(in, ',', '\0', 1 << 20) : NULL;
    char why[200];
    if (again) {
        if (cs_csv_reader_next(again, why, sizeof why) != 1 ||
            cs_csv_reader_next(again, why, sizeof why) != 1 || cs_csv_reader_count(again) != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            size_t a, b;
            const char *fa = cs_csv_reader_field(r, i, &a);
            const char *fb = cs_csv_reader_field(again, i, &b);
            if (a != b || memcmp(fa, fb, a) != 0)
                abort();
        }
    }
    cs_csv_reader_destroy(&again);
    if (in)
        fclose(in);
    free(text);
}

/* The record's fields as column names made unique: unique, 1-63 bytes. */
static void s_columns(const cs_csv_reader_t *r)
{
    cs_csv_names_t *names = cs_csv_names_new();
    char **taken = calloc(cs_csv_reader_count(r) + 1, sizeof *taken);
    size_t n = cs_csv_reader_count(r);
    for (size_t i = 0; names && taken && i < n; i++) {
        char base[CS_CSV_NAME_MAX + 1], name[CS_CSV_NAME_MAX + 1];
        size_t len;
        const char *f = cs_csv_reader_field(r, i, &len);
        snprintf(base, sizeof base, "%s", len ? f : "column");
        cs_csv_cut(base, CS_CSV_NAME_MAX);
        if (cs_csv_names_take(names, base, name) != 0)
            abort();
        if (strlen(name) == 0 || strlen(name) > CS_CSV_NAME_MAX)
            abort();
        if (cs_csv_utf8_valid(base, strlen(base)) && !cs_csv_utf8_valid(name, strlen(name)))
            abort();
        for (size_t k = 0; k < i; k++)
            if (strcmp(taken[k], name) == 0)
                abort();
        taken[i] = strdup(name);
    }
    for (size_t i = 0; taken && i < n; i++)
        free(taken[i]);
    free(taken);
    cs_csv_names_destroy(&names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char separators[] = ",;\t|: ";
    char separator = separators[data[0] % (sizeof separators - 1)];
    char comment = data[1] % 3 == 0 ? '#' : data[1] % 3 == 1 ? ';' : '\0';
    if (comment == separator)
        comment = '\0';
    /* the table name of the bytes as a file name */
    char path[300] = "/d/", name[CS_CSV_NAME_MAX + 1];
    size_t plen = size - 2 < 200 ? size - 2 : 200;
    for (size_t i = 0; i < plen; i++)
        path[3 + i] = data[2 + i] ? (char)data[2 + i] : 'x';
    path[3 + plen] = '\0';
    cs_csv_table_name(path, name);
    if (!*name || strlen(name) > CS_CSV_NAME_MAX || (name[0] >= '0' && name[0] <= '9') ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
        abort();

    FILE *in = fmemopen((void *)(data + 2), size - 2, "r");
    if (!in)
        return 0;
    cs_csv_reader_t *r = cs_csv_reader_new(in, separator, comment, 4096);
    char why[200];
    size_t line = 0;
    int rc;
    while (r && (rc = cs_csv_reader_next(r, why, sizeof why)) == 1) {
        if (cs_csv_reader_count(r) == 0 || cs_csv_reader_line(r) <= line)
            abort();
        line = cs_csv_reader_line(r);
        if (separator == ',')
            s_round_trip(r);
        if (!cs_csv_reader_has_nul(r)) /* such a record is no header: never named */
            s_columns(r);
    }
    if (r && rc < 0 && !*why)
        abort(); /* an error says why */
    cs_csv_reader_destroy(&r);
    fclose(in);
    return 0;
}
