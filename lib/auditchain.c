/*
 * auditchain.c - the audit chain's encoding and hash (auditchain.h).
 *
 * The content is streamed into SHA-256 (libsodium's crypto_hash_sha256)
 * field by field, never built whole: a record of twelve 16 KiB texts costs
 * no buffer. The same code writes the bytes out for lw_audit_canonical, so
 * what the documentation shows and what is hashed cannot drift apart.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auditchain.h"

/* The 4-byte length that stands for SQL NULL. */
#define NULL_LEN UINT32_C(0xFFFFFFFF)
/* Bytes of the tag, of an integer and of a length in the content. */
#define TAG_BYTES 8
#define INT_BYTES 8
#define LEN_BYTES 4
#define BITS_PER_BYTE 8
#define BYTE_MASK 0xFFu

_Static_assert(sizeof(LW_AUDIT_TAG) - 1 == TAG_BYTES, "the tag is 8 bytes");
_Static_assert(crypto_hash_sha256_BYTES == LW_AUDIT_HASH_BYTES,
               "SHA-256 is 32 bytes");

/* Where the content goes: a hash state, a buffer, or both. */
struct sink {
    crypto_hash_sha256_state *h; /* NULL: no hash */
    unsigned char *buf;          /* NULL: no copy */
    size_t len;                  /* room in buf */
    size_t n;                    /* bytes of content so far */
};

static void put(struct sink *k, const void *p, size_t n)
{
    if (k->h && n)
        crypto_hash_sha256_update(k->h, p, n);
    if (k->buf && k->n <= k->len && n <= k->len - k->n && n)
        memcpy(k->buf + k->n, p, n);
    k->n += n;
}

static void put_be(struct sink *k, uint64_t v, int bytes)
{
    unsigned char b[INT_BYTES];
    int i;

    for (i = bytes - 1; i >= 0; i--) {
        b[i] = (unsigned char)(v & BYTE_MASK);
        v >>= BITS_PER_BYTE;
    }
    put(k, b, (size_t)bytes);
}

static void put_text(struct sink *k, const char *p, size_t n)
{
    if (!p) {
        put_be(k, NULL_LEN, LEN_BYTES);
        return;
    }
    put_be(k, (uint64_t)n, LEN_BYTES);
    put(k, p, n);
}

void lw_auditchain_texts(const struct lw_audit_rec *r, struct lw_audit_texts *t)
{
    /* chain order: the table's text columns in column order */
    const char *v[LW_AUDIT_NTEXT] = {
        r->who,     r->action,    r->device, r->reason,  r->role,  r->via,
        r->as_name, r->os_detail, r->client, r->case_id, r->basis, r->detail,
    };
    int i;

    for (i = 0; i < LW_AUDIT_NTEXT; i++) {
        t->p[i] = v[i];
        t->n[i] = v[i] ? strlen(v[i]) : 0;
    }
}

size_t lw_auditchain_encode(const unsigned char *prev, int64_t id,
                            int64_t at_ms, const struct lw_audit_texts *t,
                            unsigned char *buf, size_t len, unsigned char *hash)
{
    static const unsigned char zero[LW_AUDIT_HASH_BYTES];
    crypto_hash_sha256_state h;
    struct sink k = {.buf = buf, .len = len};
    int i;

    if (hash) {
        crypto_hash_sha256_init(&h);
        k.h = &h;
    }
    put(&k, LW_AUDIT_TAG, TAG_BYTES);
    put(&k, prev ? prev : zero, LW_AUDIT_HASH_BYTES);
    put_be(&k, (uint64_t)id, INT_BYTES);
    put_be(&k, (uint64_t)at_ms, INT_BYTES);
    for (i = 0; i < LW_AUDIT_NTEXT; i++)
        put_text(&k, t->p[i], t->n[i]);
    if (hash)
        crypto_hash_sha256_final(&h, hash);
    return k.n;
}

size_t lw_audit_canonical(const unsigned char *prev, int64_t id,
                          const struct lw_audit_rec *r, unsigned char *buf,
                          size_t len)
{
    struct lw_audit_texts t;

    if (!r)
        return 0;
    lw_auditchain_texts(r, &t);
    return lw_auditchain_encode(prev, id, r->at_ms, &t, buf, len, NULL);
}

void lw_audit_hash(const unsigned char *prev, int64_t id,
                   const struct lw_audit_rec *r, unsigned char *out)
{
    struct lw_audit_texts t;

    if (!r || !out)
        return;
    lw_auditchain_texts(r, &t);
    lw_auditchain_encode(prev, id, r->at_ms, &t, NULL, 0, out);
}

void lw_auditchain_hex(const unsigned char *h, char *out)
{
    sodium_bin2hex(out, LW_AUDIT_HASH_HEX + 1, h, LW_AUDIT_HASH_BYTES);
}

/* 0..15 for a lowercase hexadecimal digit, -1 otherwise. */
static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool lw_auditchain_unhex(const char *hex, size_t n, unsigned char *out)
{
    size_t i;

    if (!hex || n != LW_AUDIT_HASH_HEX)
        return false;
    for (i = 0; i < LW_AUDIT_HASH_BYTES; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* ---- migration 5 ----------------------------------------------------------
 */

/* Records hashed per step of the migration: their hashes are kept in memory
 * and written after the step's SELECT has ended (a table is not written
 * while a statement walks it). */
#define CHAIN_STEP 1000

static const char SQL_ROWS[] =
    "SELECT id, at_ms, who, action, device, reason, role, via, as_name, "
    "os_detail, client, case_id, basis, detail FROM audit WHERE id > ?1 "
    "ORDER BY id LIMIT ?2";
static const char SQL_SET_HASH[] = "UPDATE audit SET hash = ?2 WHERE id = ?1";

/* The chain so far, while the migration walks the records. */
struct chaining {
    unsigned char prev[LW_AUDIT_HASH_BYTES];     /* hash of the record before */
    bool first;                                  /* no record yet */
    int n;                                       /* records in this step */
    int64_t id[CHAIN_STEP];                      /* their ids */
    char hex[CHAIN_STEP][LW_AUDIT_HASH_HEX + 1]; /* their hashes */
};

static int chain_row(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct chaining *c = ctx;
    struct lw_audit_texts t;
    unsigned char h[LW_AUDIT_HASH_BYTES];
    int64_t id = sqlite3_column_int64(st, 0);
    int i;

    (void)cbp;
    for (i = 0; i < LW_AUDIT_NTEXT; i++) {
        int col = 2 + i;

        if (sqlite3_column_type(st, col) == SQLITE_NULL) {
            t.p[i] = NULL;
            t.n[i] = 0;
        } else {
            t.p[i] = (const char *)sqlite3_column_text(st, col);
            t.n[i] = (size_t)sqlite3_column_bytes(st, col);
        }
    }
    lw_auditchain_encode(c->first ? NULL : c->prev, id,
                         sqlite3_column_int64(st, 1), &t, NULL, 0, h);
    c->id[c->n] = id;
    lw_auditchain_hex(h, c->hex[c->n]);
    c->n++;
    memcpy(c->prev, h, sizeof(h));
    c->first = false;
    return 0;
}

enum lw_err lw_auditchain_migrate(struct lw_db *db)
{
    struct chaining *c = calloc(1, sizeof(*c));
    int64_t last = INT64_MIN;
    sqlite3_stmt *st;
    enum lw_err e = LW_OK;
    int i;

    if (!c)
        return LW_ERR_NOMEM;
    if (sodium_init() < 0) {
        lw_db_seterr(db, "libsodium could not be initialised");
        e = LW_ERR_NOMEM;
        goto out;
    }
    c->first = true;
    do {
        c->n = 0;
        st = lw_db_stmt(db, SQL_ROWS, &e);
        if (!st)
            goto out;
        lw_db_bind_int64(db, st, 1, last);
        lw_db_bind_int(db, st, 2, CHAIN_STEP);
        e = lw_db_each_row(db, st, chain_row, NULL, c,
                           "reading the audit trail");
        for (i = 0; e == LW_OK && i < c->n; i++) {
            st = lw_db_stmt(db, SQL_SET_HASH, &e);
            if (!st)
                break;
            lw_db_bind_int64(db, st, 1, c->id[i]);
            lw_db_bind_text(db, st, 2, c->hex[i]);
            e = lw_db_run(db, st, "chaining the audit trail");
        }
        if (c->n)
            last = c->id[c->n - 1];
    } while (e == LW_OK && c->n == CHAIN_STEP);
out:
    free(c);
    return e;
}
