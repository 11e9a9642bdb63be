/*
 * fuzz_spill.c - libFuzzer target: the spill file reader (lib/spill.c) on
 * arbitrary file contents. The spill is the daemon's own output, but it is
 * read back from disk at start, where anything may have happened to it.
 *
 * Invariants checked for each input:
 *   - the result is LW_OK, LW_ERR_INVAL (with a sentence) or LW_ERR_NOMEM;
 *     on LW_ERR_INVAL no record was handed out;
 *   - an accepted file's records, written again with lw_spill_create/add/
 *     commit, read back as the same records (same kinds, ids and times,
 *     doubles bit for bit): what is merged is what was spilled.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lienwatch/spill.h"

/* Aborts with a message naming the broken invariant. */
#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Records kept per input for the round trip. */
#define KEEP_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct got {
    struct lw_spill_rec r[KEEP_MAX]; /* the first records */
    size_t n;                        /* records handed out */
};

static int take(void *ctx, const struct lw_spill_rec *r)
{
    struct got *g = ctx;

    if (g->n < KEEP_MAX)
        g->r[g->n] = *r;
    g->n++;
    return 0;
}

static char in_path[64], out_path[64];

static void remove_files(void)
{
    unlink(in_path);
    unlink(out_path);
}

/* Files in /dev/shm when there is one: a commit fsyncs, which tmpfs does
 * for free. */
static void paths(void)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    if (in_path[0])
        return;
    snprintf(in_path, sizeof(in_path), "%s/fuzz_spill.%d.in", dir,
             (int)getpid());
    snprintf(out_path, sizeof(out_path), "%s/fuzz_spill.%d.out", dir,
             (int)getpid());
    atexit(remove_files);
}

static bool same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0;
}

static bool same_fix(const struct lw_fix *a, const struct lw_fix *b)
{
    return strcmp(a->device, b->device) == 0 &&
           a->fix_time_ms == b->fix_time_ms &&
           a->recv_time_ms == b->recv_time_ms &&
           same_double(a->lat_deg, b->lat_deg) &&
           same_double(a->lon_deg, b->lon_deg) &&
           same_double(a->speed_mps, b->speed_mps) &&
           same_double(a->course_deg, b->course_deg) &&
           same_double(a->accuracy_m, b->accuracy_m) &&
           same_double(a->alt_m, b->alt_m) &&
           a->battery_pct == b->battery_pct && a->trigger == b->trigger;
}

static bool same(const struct lw_spill_rec *a, const struct lw_spill_rec *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case LW_SPILL_FIX:
        return same_fix(&a->fix, &b->fix);
    case LW_SPILL_HEARD:
        return strcmp(a->fix.device, b->fix.device) == 0 &&
               a->fix.recv_time_ms == b->fix.recv_time_ms;
    case LW_SPILL_ACCOUNT:
        return strcmp(a->account.account, b->account.account) == 0 &&
               strcmp(a->account.status, b->account.status) == 0 &&
               a->account.days_past_due == b->account.days_past_due &&
               a->updated_ms == b->updated_ms;
    case LW_SPILL_ALERT:
        return a->alert.kind == b->alert.kind &&
               strcmp(a->alert.device, b->alert.device) == 0 &&
               strcmp(a->alert.fence, b->alert.fence) == 0 &&
               a->alert.raised_ms == b->alert.raised_ms &&
               a->alert.late == b->alert.late &&
               a->alert.has_fix == b->alert.has_fix &&
               (!a->alert.has_fix || same_fix(&a->alert.fix, &b->alert.fix));
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct got g, back;
    struct lw_spill *sp;
    char err[512] = "";
    FILE *f;
    enum lw_err rc;

    paths();
    f = fopen(in_path, "w");
    REQUIRE(f != NULL);
    REQUIRE(fwrite(data, 1, size, f) == size);
    REQUIRE(fclose(f) == 0);
    memset(&g, 0, sizeof(g));
    rc = lw_spill_read(in_path, take, &g, err, sizeof(err));
    REQUIRE(rc == LW_OK || rc == LW_ERR_INVAL || rc == LW_ERR_NOMEM);
    if (rc != LW_OK) {
        REQUIRE(g.n == 0);
        REQUIRE(err[0] != '\0');
        return 0;
    }
    if (g.n > KEEP_MAX)
        return 0;
    REQUIRE(lw_spill_create(&sp, out_path, err, sizeof(err)) == LW_OK);
    for (size_t i = 0; i < g.n; i++)
        REQUIRE(lw_spill_add(sp, &g.r[i]) == LW_OK);
    REQUIRE(lw_spill_commit(sp, err, sizeof(err)) == LW_OK);
    memset(&back, 0, sizeof(back));
    REQUIRE(lw_spill_read(out_path, take, &back, err, sizeof(err)) == LW_OK);
    REQUIRE(back.n == g.n);
    for (size_t i = 0; i < g.n; i++)
        REQUIRE(same(&g.r[i], &back.r[i]));
    return 0;
}
