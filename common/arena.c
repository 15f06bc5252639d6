/* An arena allocator: many small allocations freed at once (parse trees, loaded configs). */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#define S_CHUNK_SIZE  (64 * 1024) /* the largest regular chunk */
#define S_FIRST_CHUNK 1024        /* chunks start small and double: many small arenas stay small */
#define S_ALIGN       16
/* What arena objects need: pointers, int64_t, double (nothing of the project's is aligned
 * to 16), so that a 32-byte node packs after a 40-byte one without a gap. */
#define S_TYPE_ALIGN (_Alignof(void *) > _Alignof(double) ? _Alignof(void *) : _Alignof(double))

typedef struct s_chunk {
    struct s_chunk *next;
    size_t used;
    size_t size;
    _Alignas(S_ALIGN) unsigned char data[];
} s_chunk_t;

/* A block taken in by cs_arena_adopt. */
typedef struct s_adopted {
    struct s_adopted *next;
    void *block;
    size_t size;
} s_adopted_t;

struct cs_arena {
    s_chunk_t *chunks; /* the newest first */
    size_t next_size;  /* of the next regular chunk */
    s_adopted_t *adopted;
};

cs_arena_t *cs_arena_new(void)
{
    return calloc(1, sizeof(cs_arena_t));
}

cs_arena_t *cs_arena_new_sized(size_t size)
{
    cs_arena_t *self = cs_arena_new();
    if (!self || size == 0)
        return self;
    if (size > (size_t)-1 - sizeof(s_chunk_t) ||
        !(self->chunks = malloc(sizeof(s_chunk_t) + size))) {
        free(self);
        return NULL;
    }
    self->chunks->next = NULL;
    self->chunks->used = 0;
    self->chunks->size = size;
    return self;
}

/* size bytes at a multiple of align (a power of two, at most S_ALIGN) in the newest chunk,
 * or in a fresh one. */
static void *s_alloc(cs_arena_t *self, size_t size, size_t align)
{
    if (size == 0)
        size = 1;
    s_chunk_t *chunk = self->chunks;
    size_t at = chunk ? (chunk->used + align - 1) & ~(align - 1) : 0;
    if (!chunk || at > chunk->size || chunk->size - at < size) {
        /* Large requests get a chunk of their own, behind the current one, so that
         * the rest of the current chunk is not wasted. */
        if (self->next_size == 0)
            self->next_size = S_FIRST_CHUNK;
        size_t regular = self->next_size;
        size_t data_size = size > regular / 4 ? size : regular;
        if (data_size == regular && regular < S_CHUNK_SIZE)
            self->next_size = regular * 2;
        if (data_size > (size_t)-1 - sizeof(s_chunk_t))
            return NULL;
        s_chunk_t *fresh = malloc(sizeof(s_chunk_t) + data_size);
        if (!fresh)
            return NULL;
        fresh->used = 0;
        fresh->size = data_size;
        if (data_size != regular && chunk) {
            fresh->next = chunk->next;
            chunk->next = fresh;
        } else {
            fresh->next = chunk;
            self->chunks = fresh;
        }
        chunk = fresh;
        at = 0;
    }
    void *ptr = chunk->data + at;
    chunk->used = at + size;
    return ptr;
}

void *cs_arena_alloc(cs_arena_t *self, size_t size)
{
    /* A type's size is a multiple of its alignment: the largest power of two dividing size
     * (at most S_TYPE_ALIGN) aligns anything of that size, and a 40-byte struct wastes
     * nothing. */
    size_t align = size & (~size + 1);
    return s_alloc(self, size, align == 0 || align > S_TYPE_ALIGN ? S_TYPE_ALIGN : align);
}

char *cs_arena_alloc_text(cs_arena_t *self, size_t size)
{
    return s_alloc(self, size, 1);
}

char *cs_arena_strndup(cs_arena_t *self, const char *text, size_t len)
{
    char *copy = cs_arena_alloc_text(self, len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

void *cs_arena_grow(cs_arena_t *self, void *items, size_t count, size_t *cap, size_t elem_size)
{
    if (count < *cap)
        return items;
    size_t fresh_cap = *cap ? *cap * 2 : 4;
    if (fresh_cap > (size_t)-1 / elem_size)
        return NULL;
    void *fresh = cs_arena_alloc(self, fresh_cap * elem_size);
    if (!fresh)
        return NULL;
    if (count)
        memcpy(fresh, items, count * elem_size);
    *cap = fresh_cap;
    return fresh;
}

void *cs_arena_adopt(cs_arena_t *self, void **block_p, size_t size)
{
    void *block = *block_p;
    *block_p = NULL;
    s_adopted_t *adopted = malloc(sizeof *adopted); /* not in the chunks: they may be sized */
    if (!adopted) {
        free(block);
        return NULL;
    }
    *adopted = (s_adopted_t){self->adopted, block, size};
    self->adopted = adopted;
    return block;
}

void *cs_arena_disown(cs_arena_t *self, const void *block, size_t *size)
{
    for (s_adopted_t **at = &self->adopted; *at; at = &(*at)->next) {
        s_adopted_t *adopted = *at;
        if (adopted->block != block)
            continue;
        *at = adopted->next;
        void *taken = adopted->block;
        *size = adopted->size;
        free(adopted);
        return taken;
    }
    return NULL;
}

size_t cs_arena_bytes(const cs_arena_t *self)
{
    size_t bytes = 0;
    for (const s_chunk_t *chunk = self->chunks; chunk; chunk = chunk->next)
        bytes += sizeof *chunk + chunk->size;
    for (const s_adopted_t *adopted = self->adopted; adopted; adopted = adopted->next)
        bytes += adopted->size;
    return bytes;
}

void cs_arena_destroy(cs_arena_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_adopted_t *adopted = (*self_p)->adopted;
    while (adopted) {
        s_adopted_t *next = adopted->next;
        free(adopted->block);
        free(adopted);
        adopted = next;
    }
    s_chunk_t *chunk = (*self_p)->chunks;
    while (chunk) {
        s_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(*self_p);
    *self_p = NULL;
}
