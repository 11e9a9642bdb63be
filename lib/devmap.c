/*
 * devmap.c - see devmap.h.
 */
#include <stdlib.h>
#include <string.h>

#include "devmap.h"

/* First table size; doubled when more than 3/4 full. */
#define DEVMAP_INITIAL 1024

/* FNV-1a: short keys, good enough spread for linear probing. */
static uint64_t hash(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* The slot holding device, or the empty slot where it would go. */
static struct lw_dstate **probe(struct lw_dstate **slots, size_t cap,
                             const char *device)
{
    size_t i = hash(device) & (cap - 1);

    while (slots[i] && strcmp(slots[i]->device, device) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static bool grow(struct lw_devmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : DEVMAP_INITIAL;
    struct lw_dstate **n = calloc(ncap, sizeof(*n));

    if (!n)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i])
            *probe(n, ncap, m->slots[i]->device) = m->slots[i];
    }
    free(m->slots);
    m->slots = n;
    m->cap = ncap;
    return true;
}

struct lw_dstate *lw_devmap_get(struct lw_devmap *m, const char *device,
                               bool create)
{
    struct lw_dstate **slot, *d;

    if (m->cap == 0) {
        if (!create || !grow(m))
            return NULL;
    }
    slot = probe(m->slots, m->cap, device);
    if (*slot || !create)
        return *slot;
    if ((m->count + 1) * 4 > m->cap * 3) {
        if (!grow(m))
            return NULL;
        slot = probe(m->slots, m->cap, device);
    }
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->device = strdup(device);
    if (!d->device) {
        free(d);
        return NULL;
    }
    *slot = d;
    m->count++;
    return d;
}

void lw_devmap_each(struct lw_devmap *m,
                    void (*fn)(void *ctx, struct lw_dstate *d), void *ctx)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i])
            fn(ctx, m->slots[i]);
    }
}

void lw_dextras_free(struct lw_dextras *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->nalerts; i++)
        free(x->alerts[i].fence);
    free(x->alerts);
    free(x->vin);
    free(x->plate);
    free(x->description);
    free(x->account);
    free(x->fleet);
    free(x->role);
    for (size_t i = 0; i < x->ntrackers; i++)
        free(x->trackers[i]);
    free(x->trackers);
    free(x);
}

void lw_devmap_release(struct lw_devmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i])
            continue;
        free(m->slots[i]->device);
        lw_dextras_free(m->slots[i]->extras);
        free(m->slots[i]->places_text);
        free(m->slots[i]);
    }
    free(m->slots);
    memset(m, 0, sizeof(*m));
}
