/*
 * jsonarena.c - see jsonarena.h.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "jsonarena.h"

/* Alignment of every block handed out (max_align_t on x86-64). */
#define ARENA_ALIGN 16

static struct {
    char *buf;   /* the buffer, NULL before init */
    size_t cap;  /* its size */
    size_t used; /* bytes handed out since lwd_jsonarena_begin */
    bool active; /* inside a begin/end window */
} arena;

static void *arena_malloc(size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

    if (arena.active && need >= n && arena.cap - arena.used >= need) {
        void *p = arena.buf + arena.used;
        arena.used += need;
        return p;
    }
    return malloc(n);
}

static void arena_free(void *p)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)arena.buf;

    if (p && arena.buf && a >= lo && a < lo + arena.cap)
        return; /* reclaimed all at once by the next begin */
    free(p);
}

int lwd_jsonarena_init(size_t cap)
{
    arena.buf = malloc(cap);
    if (!arena.buf)
        return -1;
    arena.cap = cap;
    json_set_alloc_funcs(arena_malloc, arena_free);
    return 0;
}

void lwd_jsonarena_begin(void)
{
    arena.used = 0;
    arena.active = true;
}

void lwd_jsonarena_end(void)
{
    arena.active = false;
}

void lwd_jsonarena_release(void)
{
    json_set_alloc_funcs(malloc, free);
    free(arena.buf);
    arena.buf = NULL;
    arena.cap = 0;
}
