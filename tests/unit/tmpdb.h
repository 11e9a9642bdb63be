/*
 * tmpdb.h - a database file in a temporary directory, for the unit tests
 * that need one on disk (WAL, reopening, a second connection).
 *
 * Include after <cmocka.h> and "lienwatch/store.h". Define TMPDB_TAG (a
 * short word naming the test) before including; the directory is
 * $TMPDIR/lw-<tag>-XXXXXX (or /tmp), the file lw.db in it.
 */
#ifndef LW_TESTS_TMPDB_H
#define LW_TESTS_TMPDB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef TMPDB_TAG
#error "define TMPDB_TAG before including tmpdb.h"
#endif

struct tmp {
    char dir[256];  /* the directory */
    char path[300]; /* dir/lw.db */
};

static inline void tmp_make(struct tmp *t)
{
    const char *base = getenv("TMPDIR");

    snprintf(t->dir, sizeof(t->dir), "%s/lw-" TMPDB_TAG "-XXXXXX",
             base && base[0] ? base : "/tmp");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/lw.db", t->dir);
}

/* Removes the database with its WAL, shared-memory and journal files, and
 * the directory. */
static inline void tmp_remove(struct tmp *t)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[400];
    size_t i;

    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", t->path, suffixes[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* Opens path (lw_store_open with flags) or fails the test with the reason. */
static inline struct lw_store *open_ok(const char *path, int flags)
{
    struct lw_store *s = NULL;
    char err[512] = "";
    enum lw_err e = lw_store_open(&s, path, flags, err, sizeof(err));

    if (e != LW_OK)
        fail_msg("open %s: %s (%s)", path, lw_strerror(e), err);
    return s;
}

#endif
