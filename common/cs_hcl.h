/* cs_hcl: the parse tree of the .spc language and its parser.
 * HCL-style blocks and attributes. Everything in a tree lives in the arena it was parsed
 * into. */
#ifndef CS_HCL_H
#define CS_HCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_arena.h"

/* Limits of the language, so that hostile files cannot exhaust memory or the stack. */
#define CS_CONFIG_MAX_FILE   (16u * 1024 * 1024) /* bytes in one .spc file */
#define CS_CONFIG_MAX_DEPTH  32                  /* nesting of blocks, lists and objects */
#define CS_CONFIG_MAX_ERRORS 100 /* errors kept per file; one more says how many followed */

/* Where something was written: 1-based line and column (bytes). file is borrowed. */
typedef struct {
    const char *file;
    int line;
    int col;
} cs_pos_t;

/* A position in the file that holds it, where the file is known from elsewhere. */
typedef struct {
    int line;
    int col;
} cs_line_col_t;

typedef enum {
    CS_VAL_STRING,
    CS_VAL_INT,
    CS_VAL_FLOAT,
    CS_VAL_BOOL,
    CS_VAL_NULL,
    CS_VAL_LIST,
    CS_VAL_OBJECT,
    CS_VAL_REFERENCE /* an unquoted traversal such as plugin.aws_high: its text in via.str */
} cs_value_type_t;

typedef struct cs_value cs_value_t;
typedef struct cs_block cs_block_t;

/* An attribute of a body, or an entry of an object: key = value. */
typedef struct {
    const char *key;
    cs_value_t *value;
    cs_pos_t pos;
} cs_attr_t;

/* A value's node holds as much of via as its type uses: a number, true, false or null ends
 * after 8 bytes of it. Read only the member of its type, and never copy a node by value. */
struct cs_value {
    cs_value_type_t type;
    cs_pos_t pos;
    union {
        struct {
            const char *ptr; /* NUL-terminated; len excludes the NUL (no NUL inside) */
            size_t len;
        } str;
        int64_t i;
        double f;
        bool b;
        struct {
            cs_value_t **items;
            size_t count;
        } list;
        struct {
            cs_attr_t *items; /* in written order */
            size_t count;
        } object;
    } via;
};

/* One item of a block body: an attribute or a nested block, in written order. */
typedef struct {
    cs_attr_t *attr; /* exactly one of attr and block is set */
    cs_block_t *block;
} cs_item_t;

/* A block without labels ends before labels (most nested blocks have none): read labels
 * and label_pos only when label_count says there are some, and never copy a block by
 * value. */
struct cs_block {
    const char *type;
    cs_pos_t pos;      /* the block type word */
    cs_line_col_t end; /* the closing brace */
    cs_item_t *items;
    uint32_t count; /* a file of CS_CONFIG_MAX_FILE bytes holds fewer items */
    uint32_t label_count;
    const char **labels;
    cs_pos_t *label_pos;
};

/* The items of a block's body by key (an attribute's name or a block's type), then in
 * written order, as indices into block->items; NULL when the body has fewer than two items
 * (then there is nothing to order). Sorted once, by the parser, for the checks and both
 * JSON forms of the body. Borrowed from the tree. */
const uint32_t *cs_hcl_sorted(const cs_block_t *block);

/* Whether the item at sorted[i] (i > 0) has the key of the one at sorted[i - 1]: the runs of
 * equal keys without comparing them again. The block must have a sorted order. */
static inline bool cs_hcl_same_key(const cs_block_t *block, uint32_t i)
{
    const unsigned char *bits = (const unsigned char *)(const void *)(block->items + block->count) +
                                ((block->count * sizeof(uint32_t) + 7) & ~(size_t)7);
    return bits[i / 8] >> (i % 8) & 1;
}

/* The key of a body's item: its attribute's name or its block's type. Borrowed. */
static inline const char *cs_hcl_item_key(const cs_item_t *item)
{
    return item->attr ? item->attr->key : item->block->type;
}

/* A parsed file: its top-level items. Everything lives in the arena. */
typedef struct {
    const char *file;
    cs_item_t *items;
    uint32_t count;
} cs_hcl_file_t;

/* One error: FILE:LINE:COL: message (the parser's, and every error a load collects). Its
 * strings are owned by the arena or the config that holds it. */
typedef struct {
    const char *file;
    int line;
    int col;
    const char *message;
} cs_config_error_t;

/* Parses one file (len bytes of text, need not be NUL-terminated) into the arena. Returns
 * the tree, or NULL with one error written to *error (allocated in the arena; file is
 * borrowed and must outlive the tree). Never blocks. */
cs_hcl_file_t *cs_hcl_parse(cs_arena_t *arena, const char *file, const char *text, size_t len,
                            cs_config_error_t *error);

#endif
