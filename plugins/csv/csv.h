/* The csv plugin's reading of files: its config, an RFC 4180 record reader with PostgreSQL's
 * CSV rules, identifiers from file names and headers, and the scan of the configured paths.
 * Apart from main.c so that the unit tests link it. */
#ifndef CS_CSV_H
#define CS_CSV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CS_CSV_MAX_PATHS     50                 /* entries of "paths" */
#define CS_CSV_MAX_PATH      4096               /* bytes of one path or glob (PATH_MAX) */
#define CS_CSV_MAX_TABLES    10000              /* a schema's tables, _csv_skipped included */
#define CS_CSV_MAX_COLUMNS   1600               /* PostgreSQL's limit per table */
#define CS_CSV_MAX_HEADER    (1024 * 1024)      /* bytes of the first record */
#define CS_CSV_MAX_RECORD    (64 * 1024 * 1024) /* bytes of any other record */
#define CS_CSV_MAX_SCHEMA    (15 * 1024 * 1024) /* bytes of the tables printed by `schema` */
#define CS_CSV_NAME_MAX      63                 /* bytes of an identifier (NAMEDATALEN - 1) */
#define CS_CSV_SKIPPED_TABLE "_csv_skipped"

typedef enum { CS_CSV_HEADER_AUTO, CS_CSV_HEADER_ON, CS_CSV_HEADER_OFF } cs_csv_header_t;

/* A connection's config. */
typedef struct {
    char **paths; /* absolute paths or glob(3) patterns */
    size_t path_count;
    char separator;         /* one ASCII byte, not ", CR or LF; default ',' */
    char comment;           /* '\0': none */
    cs_csv_header_t header; /* default auto */
    bool direct;            /* "file" entries where file_fdw can read the file; default true */
} cs_csv_config_t;

/* Reads the config (the connection's JSON object). Returns 0, or -1 with the reason, naming
 * the key, in why. The caller frees it with cs_csv_config_free (also after a failure). */
int cs_csv_config_parse(json_t *config, cs_csv_config_t *out, char *why, size_t why_size);
void cs_csv_config_free(cs_csv_config_t *config);

/* Parses a header setting ("auto", "on", "off"); returns 0 or -1. */
int cs_csv_header_parse(const char *text, cs_csv_header_t *out);
const char *cs_csv_header_name(cs_csv_header_t header);

/* ---- records ------------------------------------------------------------------------------ */

/* Reads records as PostgreSQL's COPY ... CSV does: a quote opens and closes quoted text
 * anywhere in a field, "" in quoted text is a quote, quoted text holds separators and line
 * ends; a record ends at LF, CRLF or CR outside quoted text. A leading UTF-8 BOM is skipped
 * (and remembered); with a comment character, lines that start with it are skipped. */
typedef struct cs_csv_reader cs_csv_reader_t;

/* A reader of in (borrowed) whose records are at most max_record bytes. NULL: no memory. */
cs_csv_reader_t *cs_csv_reader_new(FILE *in, char separator, char comment, size_t max_record);
void cs_csv_reader_destroy(cs_csv_reader_t **self_p);

/* Reads the next record: 1, 0 at the end of the input, -1 with the reason in why (a quoted
 * field that never ends, a record over its bound of bytes or of CS_CSV_MAX_COLUMNS fields, a
 * read error). Blocks on the read. */
int cs_csv_reader_next(cs_csv_reader_t *self, char *why, size_t why_size);

/* The last record: its fields (NUL-terminated, borrowed until the next read), whether a field
 * had quoted text, the line it began on, whether it held a NUL byte. */
size_t cs_csv_reader_count(const cs_csv_reader_t *self);
const char *cs_csv_reader_field(const cs_csv_reader_t *self, size_t i, size_t *len);
bool cs_csv_reader_quoted(const cs_csv_reader_t *self, size_t i);
size_t cs_csv_reader_line(const cs_csv_reader_t *self);
bool cs_csv_reader_has_nul(const cs_csv_reader_t *self);
bool cs_csv_reader_bom(const cs_csv_reader_t *self);

/* Writes one field as the rows output does: RFC 4180, always quoted when empty (an empty
 * string, never NULL), when it holds ", a comma, CR or LF, or is \. (PostgreSQL's end of
 * data). */
void cs_csv_write_field(FILE *out, const char *field, size_t len);

/* ---- names -------------------------------------------------------------------------------- */

/* The table name of a file: its base name without the last extension, lowercased, every run
 * of bytes other than [a-z0-9_] one '_' (none at the end), '_' before a leading digit, at most
 * 63 bytes; "_" when nothing is left. out has CS_CSV_NAME_MAX + 1 bytes. */
void cs_csv_table_name(const char *path, char *out);

/* A set of names taken, to make names unique: cs_csv_names_take returns name itself when it is
 * free, else name_2, name_3, ... (the name cut so that the suffix fits in 63 bytes, on a UTF-8
 * boundary), into out (CS_CSV_NAME_MAX + 1 bytes), and takes it. Returns 0, or -1 when out of
 * memory. */
typedef struct cs_csv_names cs_csv_names_t;
cs_csv_names_t *cs_csv_names_new(void);
void cs_csv_names_destroy(cs_csv_names_t **self_p);
int cs_csv_names_take(cs_csv_names_t *self, const char *name, char *out);

/* The generic name of column index (0-based) with no header: a ... z, aa, ab, ... (as
 * Steampipe's csv plugin and spreadsheets name them). out has 8 bytes. */
void cs_csv_letters(size_t index, char *out);

/* Cuts text to at most max bytes on a UTF-8 character boundary, in place. */
void cs_csv_cut(char *text, size_t max);

/* Whether len bytes are valid UTF-8. */
bool cs_csv_utf8_valid(const char *text, size_t len);

/* ---- a file's header ---------------------------------------------------------------------- */

typedef struct {
    char **columns; /* unique column names, at most 63 bytes each */
    size_t count;
    bool header; /* the first record is the header (not data) */
    bool bom;    /* the file starts with a UTF-8 BOM */
} cs_csv_head_t;

/* Reads the first record of path and decides its columns: with header "on" it is the header
 * (an empty name is column_N, a repeated one name_2, ...); "off": data, the columns a, b, ...;
 * "auto": the header when its fields are all non-empty and distinct, else data. Returns 0, or
 * -1 with why the file is not a table (unreadable, empty, a blank first line, a NUL byte or
 * invalid UTF-8 in the first record, a first record over 1 MiB or of more than 1600 fields).
 * The caller frees head with cs_csv_head_free (also after a failure). Blocks on the file. */
int cs_csv_head_read(const char *path, const cs_csv_config_t *config, cs_csv_head_t *head,
                     char *why, size_t why_size);
void cs_csv_head_free(cs_csv_head_t *head);

/* ---- the scan of the paths ---------------------------------------------------------------- */

typedef struct {
    char *path;
    char name[CS_CSV_NAME_MAX + 1]; /* the table's; "" when skipped */
    char *note;                     /* a name collision, said in its description; may be NULL */
    char *skipped;                  /* why it is not a table; NULL when it is one */
    cs_csv_head_t head;
} cs_csv_file_t;

typedef struct {
    cs_csv_file_t *files; /* sorted by path, each once */
    size_t count;
} cs_csv_scan_t;

/* Expands every path of config (glob(3); directories are left out), sorted by path, each file
 * once, reads each regular file's header and names its table (collisions: in path order, _2,
 * _3, ..., CS_CSV_SKIPPED_TABLE taken first). A file that is not a table, or one past
 * CS_CSV_MAX_TABLES tables, is kept with its reason in skipped. Returns 0, or -1 when out of
 * memory. cs_csv_scan_free frees it. Blocks on the file system. */
int cs_csv_scan(const cs_csv_config_t *config, cs_csv_scan_t *scan);
void cs_csv_scan_free(cs_csv_scan_t *scan);

/* Whether file_fdw reads the file the same way as `rows` (the "file" entry): direct reading
 * on, no comment character, and a BOM only in a header that file_fdw skips. */
bool cs_csv_direct(const cs_csv_config_t *config, const cs_csv_head_t *head);

#endif
