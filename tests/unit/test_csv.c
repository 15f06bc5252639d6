/* Unit tests of the csv plugin's reading of files (plugins/csv/csv.c): its config, records
 * (quoting, line ends, BOM, comments, bounds), names, headers, the scan and direct reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../plugins/csv/csv.h"

static char s_dir[64];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/connstate-unit-csv.XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", s_dir);
    assert_int_equal(system(command), 0);
    return 0;
}

/* Writes len bytes to s_dir/name; returns the path (static). */
static const char *s_file(const char *name, const char *content, size_t len)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
    return path;
}

/* Parses config JSON; returns the rc, the reason in why. */
static int s_config(const char *json, cs_csv_config_t *config, char *why, size_t why_size)
{
    json_error_t error;
    json_t *doc = json_loads(json, 0, &error);
    assert_non_null(doc);
    int rc = cs_csv_config_parse(doc, config, why, why_size);
    json_decref(doc);
    return rc;
}

static void test_config(void **state)
{
    (void)state;
    cs_csv_config_t c;
    char why[300];
    assert_int_equal(s_config("{\"paths\": [\"/a/*.csv\", \"/b.csv\"]}", &c, why, sizeof why), 0);
    assert_int_equal(c.path_count, 2);
    assert_string_equal(c.paths[1], "/b.csv");
    assert_int_equal(c.separator, ',');
    assert_int_equal(c.comment, '\0');
    assert_int_equal(c.header, CS_CSV_HEADER_AUTO);
    assert_true(c.direct);
    cs_csv_config_free(&c);
    assert_int_equal(s_config("{\"paths\": [\"/a\"], \"separator\": \"\\t\", \"comment\": \"#\", "
                              "\"header\": \"off\", \"direct\": false}",
                              &c, why, sizeof why),
                     0);
    assert_int_equal(c.separator, '\t');
    assert_int_equal(c.comment, '#');
    assert_int_equal(c.header, CS_CSV_HEADER_OFF);
    assert_false(c.direct);
    cs_csv_config_free(&c);
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{}", "csv: \"paths\" must be a list of 1 to 50"},
        {"{\"paths\": []}", "csv: \"paths\" must be a list"},
        {"{\"paths\": \"/a\"}", "csv: \"paths\" must be a list"},
        {"{\"paths\": [\"a.csv\"]}", "csv: \"paths\" entry 1 must be an absolute path"},
        {"{\"paths\": [\"/a\", 3]}", "csv: \"paths\" entry 2 must be"},
        {"{\"paths\": [\"/a\"], \"separator\": \";;\"}", "csv: \"separator\" must be one ASCII"},
        {"{\"paths\": [\"/a\"], \"separator\": \"\\\"\"}", "csv: \"separator\" must be one"},
        {"{\"paths\": [\"/a\"], \"separator\": \"\"}", "csv: \"separator\" must be one"},
        {"{\"paths\": [\"/a\"], \"comment\": \"\\n\"}", "csv: \"comment\" must be one"},
        {"{\"paths\": [\"/a\"], \"comment\": \",\"}", "csv: \"comment\" and \"separator\""},
        {"{\"paths\": [\"/a\"], \"header\": true}", "csv: \"header\" must be \"auto\""},
        {"{\"paths\": [\"/a\"], \"direct\": \"no\"}", "csv: \"direct\" must be true or false"},
        {"{\"paths\": [\"/a\"], \"seperator\": \";\"}", "csv: unknown key \"seperator\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        assert_int_equal(s_config(bad[i].json, &c, why, sizeof why), -1);
        if (strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
            fail_msg("%s: \"%s\"", bad[i].json, why);
        cs_csv_config_free(&c);
    }
    /* 51 paths: one too many */
    char json[1024] = "{\"paths\": [";
    for (int i = 0; i <= CS_CSV_MAX_PATHS; i++)
        strcat(json, i ? ", \"/x\"" : "\"/x\"");
    strcat(json, "]}");
    assert_int_equal(s_config(json, &c, why, sizeof why), -1);
    cs_csv_config_free(&c);
}

/* Reads every record of text; returns them as "f1|f2;f1|f2;" (quoted fields as [f]), or the
 * error as "error: ...". */
static char *s_records(const char *text, size_t len, char separator, char comment, size_t max)
{
    static char out[4096];
    FILE *in = fmemopen((void *)text, len, "r");
    assert_non_null(in);
    cs_csv_reader_t *r = cs_csv_reader_new(in, separator, comment, max);
    assert_non_null(r);
    out[0] = '\0';
    char why[200];
    int rc;
    while ((rc = cs_csv_reader_next(r, why, sizeof why)) == 1) {
        char line[16];
        snprintf(line, sizeof line, "%zu:", cs_csv_reader_line(r));
        strcat(out, line);
        for (size_t i = 0; i < cs_csv_reader_count(r); i++) {
            size_t flen;
            const char *f = cs_csv_reader_field(r, i, &flen);
            assert_int_equal(strlen(f), flen);
            if (i)
                strcat(out, "|");
            strcat(out, cs_csv_reader_quoted(r, i) ? "[" : "");
            strcat(out, f);
            strcat(out, cs_csv_reader_quoted(r, i) ? "]" : "");
        }
        strcat(out, ";");
    }
    if (rc < 0) {
        strcat(out, "error: ");
        strcat(out, why);
    }
    cs_csv_reader_destroy(&r);
    assert_null(r);
    fclose(in);
    return out;
}

#define RECORDS(text) s_records(text, sizeof text - 1, ',', '\0', 1 << 20)

static void test_reader(void **state)
{
    (void)state;
    assert_string_equal(RECORDS(""), "");
    assert_string_equal(RECORDS("a,b\n1,2\n"), "1:a|b;2:1|2;");
    assert_string_equal(RECORDS("a,b\n1,2"), "1:a|b;2:1|2;");       /* no final line end */
    assert_string_equal(RECORDS("a,b\r\n1,2\r\n"), "1:a|b;2:1|2;"); /* CRLF */
    assert_string_equal(RECORDS("a,b\r1,2\r"), "1:a|b;2:1|2;");     /* CR */
    assert_string_equal(RECORDS("a,,\n\n"), "1:a||;2:;");           /* empty fields, blank */
    assert_string_equal(RECORDS("\"a,b\",\"c\"\"d\"\n"), "1:[a,b]|[c\"d];"); /* RFC 4180 */
    assert_string_equal(RECORDS("\"\",x\n"), "1:[]|x;");                     /* quoted empty */
    assert_string_equal(RECORDS("\"line\nnext\",\"cr\r\nlf\"\nz\n"),
                        "1:[line\nnext]|[cr\r\nlf];4:z;"); /* embedded line ends, lines counted */
    /* PostgreSQL's rule: a quote opens and closes quoted text anywhere in a field */
    assert_string_equal(RECORDS("ab\"c,d\"e,f\n"), "1:[abc,de]|f;");
    assert_string_equal(RECORDS("\"a\"b\n"), "1:[ab];");
    assert_string_equal(RECORDS("\xef\xbb\xbf"
                                "a,b\n"),
                        "1:a|b;");                                       /* BOM */
    assert_string_equal(RECORDS("x\xef\xbb\xbf\n"), "1:x\xef\xbb\xbf;"); /* only a leading one */
    assert_string_equal(RECORDS("a,\"open\nnever closed\n"),
                        "error: the quoted field that starts on line 1 never ends");
    assert_string_equal(s_records("a;b\n", 4, ';', '\0', 100), "1:a|b;");
    assert_string_equal(s_records("#c\na,b\n#d,e\n\"#q\"\n#", 18, ',', '#', 100),
                        "2:a|b;4:[#q];"); /* comment lines skipped, a quoted # is data */
    assert_string_equal(s_records("abcdefghij\n", 11, ',', '\0', 5),
                        "error: the record on line 1 is longer than 5 bytes (or memory ran out)");
    /* more than 1600 fields */
    char *wide = malloc(4000);
    assert_non_null(wide);
    memset(wide, ',', 1700);
    assert_string_equal(s_records(wide, 1700, ',', '\0', 1 << 20),
                        "error: the record on line 1 has more than 1600 fields (PostgreSQL's "
                        "limit)");
    free(wide);
    /* NUL bytes and the BOM are reported */
    FILE *in = fmemopen((void *)"\xef\xbb\xbf"
                                "a\0b\n",
                        7, "r");
    cs_csv_reader_t *r = cs_csv_reader_new(in, ',', '\0', 100);
    char why[100];
    assert_int_equal(cs_csv_reader_next(r, why, sizeof why), 1);
    assert_true(cs_csv_reader_has_nul(r));
    assert_true(cs_csv_reader_bom(r));
    assert_int_equal(cs_csv_reader_next(r, why, sizeof why), 0);
    cs_csv_reader_destroy(&r);
    cs_csv_reader_destroy(&r); /* idempotent */
    fclose(in);
}

static void test_write_field(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    const char *fields[] = {"plain", "", "a,b", "say \"hi\"", "two\nlines", "cr\r", "\\.", "\\.x"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        cs_csv_write_field(out, fields[i], strlen(fields[i]));
        fputc(';', out);
    }
    fclose(out);
    assert_string_equal(
        text, "plain;\"\";\"a,b\";\"say \"\"hi\"\"\";\"two\nlines\";\"cr\r\";\"\\.\";\\.x;");
    free(text);
}

static void test_names(void **state)
{
    (void)state;
    char name[CS_CSV_NAME_MAX + 1];
    static const struct {
        const char *path, *name;
    } cases[] = {
        {"/d/sales.csv", "sales"},
        {"/d/Sales Report.CSV", "sales_report"},
        {"/d/2024-q1.csv", "_2024_q1"},
        {"/d/data.tar.csv", "data_tar"},
        {"/d/a__b.csv", "a__b"},
        {"/d/data (1).csv", "data_1"},
        {"/d/caf\xc3\xa9.csv", "caf"},
        {"/d/\xc3\xa9t\xc3\xa9.csv", "_t"},
        {"/d/.csv", "_csv"},
        {"/d/noext", "noext"},
        {"/d/%%%.csv", "_"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cs_csv_table_name(cases[i].path, name);
        assert_string_equal(name, cases[i].name);
    }
    char long_path[200] = "/d/";
    memset(long_path + 3, 'x', 100);
    strcpy(long_path + 103, ".csv");
    cs_csv_table_name(long_path, name);
    assert_int_equal(strlen(name), 63);

    cs_csv_names_t *names = cs_csv_names_new();
    assert_non_null(names);
    assert_int_equal(cs_csv_names_take(names, "a", name), 0);
    assert_string_equal(name, "a");
    assert_int_equal(cs_csv_names_take(names, "a", name), 0);
    assert_string_equal(name, "a_2");
    assert_int_equal(cs_csv_names_take(names, "a_2", name), 0);
    assert_string_equal(name, "a_2_2");
    assert_int_equal(cs_csv_names_take(names, "a", name), 0);
    assert_string_equal(name, "a_3");
    /* 63 bytes taken: the suffix replaces the end, on a UTF-8 boundary */
    char x63[64];
    memset(x63, 'x', 63);
    x63[63] = '\0';
    assert_int_equal(cs_csv_names_take(names, x63, name), 0);
    assert_int_equal(cs_csv_names_take(names, x63, name), 0);
    assert_int_equal(strlen(name), 63);
    assert_string_equal(name + 61, "_2");
    char wide[64]; /* 31 two-byte characters and a byte: 63 */
    for (int i = 0; i < 31; i++)
        memcpy(wide + 2 * i, "\xc3\xa9", 2);
    wide[62] = 'z';
    wide[63] = '\0';
    assert_int_equal(cs_csv_names_take(names, wide, name), 0);
    assert_int_equal(cs_csv_names_take(names, wide, name), 0);
    assert_int_equal(strlen(name), 62); /* 30 characters and _2 */
    assert_true(cs_csv_utf8_valid(name, strlen(name)));
    cs_csv_names_destroy(&names);
    assert_null(names);
    cs_csv_names_destroy(&names);

    char letters[8];
    size_t indexes[] = {0, 25, 26, 51, 701, 702, 1599};
    const char *want[] = {"a", "z", "aa", "az", "zz", "aaa", "bin"};
    for (size_t i = 0; i < sizeof indexes / sizeof *indexes; i++) {
        cs_csv_letters(indexes[i], letters);
        assert_string_equal(letters, want[i]);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(cs_csv_utf8_valid("plain", 5));
    assert_true(cs_csv_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    assert_false(cs_csv_utf8_valid("\xc3", 1));             /* cut */
    assert_false(cs_csv_utf8_valid("\xe2\x82", 2));         /* cut */
    assert_false(cs_csv_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(cs_csv_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(cs_csv_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(cs_csv_utf8_valid("\xff", 1));
    char cut[] = "ab\xc3\xa9";
    cs_csv_cut(cut, 3);
    assert_string_equal(cut, "ab");
}

/* Reads the head of content with header h; returns "h|bom|col,col" or "skip: why". */
static char *s_head(const char *content, size_t len, cs_csv_header_t h)
{
    static char out[16384]; /* 1600 columns of up to 3 letters and commas */
    cs_csv_config_t config = {.separator = ',', .header = h, .direct = true};
    cs_csv_head_t head;
    char why[300];
    const char *path = s_file("head.csv", content, len);
    if (cs_csv_head_read(path, &config, &head, why, sizeof why) != 0) {
        snprintf(out, sizeof out, "skip: %s", why);
    } else {
        snprintf(out, sizeof out, "%d|%d|", head.header, head.bom);
        for (size_t i = 0; i < head.count; i++) {
            strcat(out, i ? "," : "");
            strcat(out, head.columns[i]);
        }
    }
    cs_csv_head_free(&head);
    return out;
}

#define HEAD(text, h) s_head(text, sizeof text - 1, h)

static void test_head(void **state)
{
    (void)state;
    assert_string_equal(HEAD("id,name\n1,a\n", CS_CSV_HEADER_AUTO), "1|0|id,name");
    assert_string_equal(HEAD("id,name\n", CS_CSV_HEADER_OFF), "0|0|a,b");
    assert_string_equal(HEAD("x,x,\n", CS_CSV_HEADER_AUTO), "0|0|a,b,c"); /* not a header */
    assert_string_equal(HEAD("x,x,,X\n", CS_CSV_HEADER_ON), "1|0|x,x_2,column_3,X");
    /* PostgreSQL's system column names are not a table's columns */
    assert_string_equal(HEAD("xmin,ymin,xmax,ctid,XMIN\n1,2,3,4,5\n", CS_CSV_HEADER_ON),
                        "1|0|xmin_2,ymin,xmax_2,ctid_2,XMIN");
    assert_string_equal(HEAD("\xef\xbb\xbf"
                             "a,b\r\n",
                             CS_CSV_HEADER_AUTO),
                        "1|1|a,b");
    assert_string_equal(HEAD("\"multi\nline\",b\n", CS_CSV_HEADER_ON), "1|0|multi\nline,b");
    assert_string_equal(HEAD("", CS_CSV_HEADER_AUTO), "skip: empty file");
    assert_string_equal(HEAD("\n", CS_CSV_HEADER_AUTO), "skip: its first line is blank");
    assert_string_equal(HEAD("a\0b\n", CS_CSV_HEADER_AUTO),
                        "skip: not text: a NUL byte in its first record");
    assert_string_equal(HEAD("ok,\xff\n", CS_CSV_HEADER_AUTO),
                        "skip: its first record is not valid UTF-8 (field 2)");
    assert_string_equal(HEAD("\"never closed\n", CS_CSV_HEADER_AUTO),
                        "skip: its first record cannot be read: the quoted field that starts on "
                        "line 1 never ends");
    /* a name cut to 63 bytes; two that are the same once cut */
    char longer[200];
    memset(longer, 'n', 70);
    longer[70] = ',';
    memset(longer + 71, 'n', 71);
    strcpy(longer + 142, "\n");
    char *got = s_head(longer, strlen(longer), CS_CSV_HEADER_ON);
    assert_int_equal(strlen(got), 4 + 63 + 1 + 63);
    assert_string_equal(got + strlen(got) - 2, "_2");
    /* 1600 columns are a table, 1601 are not; a header over 1 MiB is not */
    size_t big = CS_CSV_MAX_HEADER + 10;
    char *text = malloc(big);
    assert_non_null(text);
    for (int i = 0; i < 1600; i++)
        text[i] = i < 1599 ? ',' : '\n';
    assert_int_equal(strncmp(s_head(text, 1600, CS_CSV_HEADER_OFF), "0|0|a,b,", 8), 0);
    text[1599] = ',';
    text[1600] = '\n';
    assert_string_equal(s_head(text, 1601, CS_CSV_HEADER_OFF),
                        "skip: its first record cannot be read: the record on line 1 has more "
                        "than 1600 fields (PostgreSQL's limit)");
    memset(text, 'x', big);
    assert_string_equal(s_head(text, big, CS_CSV_HEADER_ON),
                        "skip: its first record cannot be read: the record on line 1 is longer "
                        "than 1048576 bytes (or memory ran out)");
    free(text);
    char path[128];
    snprintf(path, sizeof path, "%s/missing.csv", s_dir);
    cs_csv_config_t config = {.separator = ','};
    cs_csv_head_t head;
    char why[300];
    assert_int_equal(cs_csv_head_read(path, &config, &head, why, sizeof why), -1);
    assert_string_equal(why, "cannot open it: No such file or directory");
    cs_csv_head_free(&head);
}

static void test_direct(void **state)
{
    (void)state;
    cs_csv_config_t config = {.separator = ',', .direct = true};
    cs_csv_head_t head = {.header = true};
    assert_true(cs_csv_direct(&config, &head));
    head.bom = true; /* file_fdw skips the header line, BOM and all */
    assert_true(cs_csv_direct(&config, &head));
    head.header = false; /* ... but would read a BOM into the first row */
    assert_false(cs_csv_direct(&config, &head));
    head.bom = false;
    assert_true(cs_csv_direct(&config, &head));
    config.comment = '#';
    assert_false(cs_csv_direct(&config, &head));
    config.comment = '\0';
    config.direct = false;
    assert_false(cs_csv_direct(&config, &head));
}

static void test_scan(void **state)
{
    (void)state;
    char sub[128], pattern[160], pattern2[160], fifo[160];
    snprintf(sub, sizeof sub, "%s/scan", s_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    s_file("scan/b.csv", "n\n1\n", 4);
    s_file("scan/B.CSV", "m\n2\n", 4);
    s_file("scan/_csv_skipped.csv", "k\n", 2);
    s_file("scan/empty.csv", "", 0);
    snprintf(pattern, sizeof pattern, "%s/scan/dir.csv", s_dir);
    assert_int_equal(mkdir(pattern, 0755), 0);
    snprintf(fifo, sizeof fifo, "%s/scan/pipe.csv", s_dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    snprintf(pattern, sizeof pattern, "%s/scan/*.csv", s_dir);
    snprintf(pattern2, sizeof pattern2, "%s/scan/*", s_dir); /* overlaps: each file once */
    char *paths[] = {pattern, pattern2};
    cs_csv_config_t config = {
        .paths = paths, .path_count = 2, .separator = ',', .header = CS_CSV_HEADER_AUTO};
    cs_csv_scan_t scan;
    assert_int_equal(cs_csv_scan(&config, &scan), 0);
    /* sorted by path (bytes): B.CSV _csv_skipped.csv b.csv empty.csv pipe.csv; dir.csv left out */
    assert_int_equal(scan.count, 5);
    assert_string_equal(scan.files[0].name, "b");
    assert_null(scan.files[0].note);
    assert_string_equal(scan.files[1].name, "_csv_skipped_2");
    assert_string_equal(scan.files[1].note,
                        "named _csv_skipped_2: _csv_skipped is taken by the table _csv_skipped");
    assert_string_equal(scan.files[2].name, "b_2");
    char note[300];
    snprintf(note, sizeof note, "named b_2: b is taken by %s/scan/B.CSV", s_dir);
    assert_string_equal(scan.files[2].note, note);
    assert_string_equal(scan.files[3].skipped, "empty file");
    assert_string_equal(scan.files[3].name, "");
    assert_string_equal(scan.files[4].skipped, "not a regular file");
    cs_csv_scan_free(&scan);
    assert_int_equal(scan.count, 0);
    /* nothing matched: no file, no error */
    snprintf(pattern, sizeof pattern, "%s/none/*.csv", s_dir);
    config.path_count = 1;
    assert_int_equal(cs_csv_scan(&config, &scan), 0);
    assert_int_equal(scan.count, 0);
    cs_csv_scan_free(&scan);
}

/* At most 10,000 tables (_csv_skipped and 9,999 files); a path that is not UTF-8 is no table. */
static void test_scan_bounds(void **state)
{
    (void)state;
    char dir[128], pattern[160], path[200];
    snprintf(dir, sizeof dir, "%s/bounds", s_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int i = 0; i < CS_CSV_MAX_TABLES; i++) {
        snprintf(path, sizeof path, "%s/f%05d.csv", dir, i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("id\n", f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/bad\xff.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("id\n", f);
    fclose(f);
    snprintf(pattern, sizeof pattern, "%s/*.csv", dir);
    char *paths[] = {pattern};
    cs_csv_config_t config = {.paths = paths, .path_count = 1, .separator = ','};
    cs_csv_scan_t scan;
    assert_int_equal(cs_csv_scan(&config, &scan), 0);
    assert_int_equal(scan.count, CS_CSV_MAX_TABLES + 1);
    assert_string_equal(scan.files[0].skipped, "its path is not valid UTF-8"); /* 'b' < 'f' */
    assert_string_equal(scan.files[CS_CSV_MAX_TABLES - 1].name, "f09998");
    assert_null(scan.files[CS_CSV_MAX_TABLES - 1].skipped);
    assert_string_equal(scan.files[CS_CSV_MAX_TABLES].skipped,
                        "more than 9999 files: a schema has at most 10000 tables");
    cs_csv_scan_free(&scan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),      cmocka_unit_test(test_reader),
        cmocka_unit_test(test_write_field), cmocka_unit_test(test_names),
        cmocka_unit_test(test_utf8),        cmocka_unit_test(test_head),
        cmocka_unit_test(test_direct),      cmocka_unit_test(test_scan),
        cmocka_unit_test(test_scan_bounds),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
