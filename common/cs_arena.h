/* cs_arena: an allocator whose allocations are all freed at once.
 * For parse trees and loaded configs. None of these functions blocks. */
#ifndef CS_ARENA_H
#define CS_ARENA_H

#include <stddef.h>

typedef struct cs_arena cs_arena_t;

/* Returns an empty arena (the caller destroys it), or NULL when out of memory. */
cs_arena_t *cs_arena_new(void);

/* Returns an empty arena whose first chunk, allocated now, holds size bytes: allocations of
 * a known total fit in it with nothing to spare (later ones grow the arena as usual). The
 * caller destroys it; NULL when out of memory. */
cs_arena_t *cs_arena_new_sized(size_t size);

/* Returns size bytes aligned for any type of that size whose alignment is at most that of a
 * pointer or a double (not long double), owned by the arena, or NULL when out of memory. */
void *cs_arena_alloc(cs_arena_t *self, size_t size);

/* Returns size bytes with no alignment, for text, owned by the arena, or NULL when out of
 * memory: strings take their length and no more. */
char *cs_arena_alloc_text(cs_arena_t *self, size_t size);

/* Returns a NUL-terminated copy of len bytes of text, owned by the arena, or NULL. */
char *cs_arena_strndup(cs_arena_t *self, const char *text, size_t len);

/* Returns items when count < *cap, else a copy with twice the capacity (*cap updated; the
 * old copy stays in the arena); NULL when out of memory. For arena vectors:
 * items = cs_arena_grow(...); items[count++] = x */
void *cs_arena_grow(cs_arena_t *self, void *items, size_t count, size_t *cap, size_t elem_size);

/* Takes a malloc'ed block of size bytes into the arena (freed with it) and NULLs *block_p:
 * a large text built elsewhere is kept without a copy. Returns the block, or NULL when out
 * of memory (the block is then freed). */
void *cs_arena_adopt(cs_arena_t *self, void **block_p, size_t size);

/* Gives back a block that cs_arena_adopt took into the arena: it is the caller's again (to
 * free, or to adopt into another arena), and *size its size. Returns the block, or NULL when
 * the arena did not adopt it. */
void *cs_arena_disown(cs_arena_t *self, const void *block, size_t *size);

/* Returns the bytes the arena holds from the system (its chunks, used or not): what its
 * allocations cost in memory. */
size_t cs_arena_bytes(const cs_arena_t *self);

/* Frees every allocation and the arena, and NULLs *self_p. Idempotent. */
void cs_arena_destroy(cs_arena_t **self_p);

#endif
