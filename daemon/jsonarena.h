/*
 * jsonarena.h - a bump allocator for jansson while one payload is decoded.
 *
 * Decoding an OwnTracks message makes jansson allocate a dozen small blocks
 * (the object, its hash table, keys, numbers) and free them all before the
 * decoder returns. Between json_arena_begin and json_arena_end those
 * allocations come from one reused buffer and their frees cost nothing;
 * outside that window, and when the buffer is full, jansson uses malloc as
 * usual. Nothing allocated inside the window may outlive it: the decoder
 * (lib/decode.c) copies what it needs and releases every JSON value before
 * it returns.
 *
 * jansson's allocator hooks are process-wide, so this is process state:
 * init once at start-up, before any other jansson use.
 */
#ifndef LW_DAEMON_JSONARENA_H
#define LW_DAEMON_JSONARENA_H

#include <stddef.h>

/* Installs the allocator with a buffer of cap bytes. 0, or -1 (no memory:
 * jansson keeps malloc). */
int json_arena_init(size_t cap);
void json_arena_begin(void);
void json_arena_end(void);
/* Frees the buffer; call after the last jansson value is gone. */
void json_arena_release(void);

#endif
