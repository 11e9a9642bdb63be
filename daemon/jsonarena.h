/*
 * jsonarena.h - a bump allocator for jansson while one payload is decoded.
 *
 * Decoding an OwnTracks message makes jansson allocate a dozen small blocks
 * (the object, its hash table, keys, numbers) and free them all before the
 * decoder returns. Between lwd_jsonarena_begin and lwd_jsonarena_end those
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
int lwd_jsonarena_init(size_t cap);
void lwd_jsonarena_begin(void);
void lwd_jsonarena_end(void);
/* Frees the buffer; call after the last jansson value is gone. */
void lwd_jsonarena_release(void);

#endif
