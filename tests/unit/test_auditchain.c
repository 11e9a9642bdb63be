/*
 * test_auditchain.c - cmocka tests of the audit trail's chain (audit.h):
 * the canonical content byte for byte, the hash against values computed
 * independently (Python's hashlib over the documented encoding), appending
 * (heads, the hash each record chains to, two writers interleaved, the
 * refusals), the triggers, and lw_audit_verify on an intact trail and on
 * trails tampered with through a second SQLite connection after dropping
 * the triggers, as someone holding the file would: a record changed,
 * removed, inserted (at the end, and in the middle with the records after
 * it renumbered), reordered, without a hash, with a column of another type,
 * and records removed from the end (caught against a head only), and a
 * chain recomputed after a change (caught against a head only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "lienwatch/audit.h"
#include "lienwatch/store.h"

/* 2026-11-23T00:00:00Z */
#define T0 INT64_C(1795392000000)
#define SEC INT64_C(1000)
/* Records in the tampering tests. */
#define NREC 40

#define TMPDB_TAG "chain"
#include "tmpdb.h"

/* Runs sql on path through a connection of its own (the attacker's);
 * returns SQLite's result code, the message into msg when given. */
static int raw_sql(const char *path, const char *sql, char *msg, size_t len)
{
    sqlite3 *db = NULL;
    char *m = NULL;
    int rc;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    rc = sqlite3_exec(db, sql, NULL, NULL, &m);
    if (msg && len)
        snprintf(msg, len, "%s", m ? m : "");
    sqlite3_free(m);
    sqlite3_close(db);
    return rc;
}

static void raw_ok(const char *path, const char *sql)
{
    char msg[256];

    if (raw_sql(path, sql, msg, sizeof(msg)) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

/* The record of the known-answer test. */
static const struct lw_audit_rec kat1 = {
    .at_ms = T0,
    .who = "ann",
    .action = "locate",
    .device = "car/1",
    .reason = "order 17",
    .via = "cli",
    .as_name = "Ann Smith",
    .basis = "watched",
    .detail = "\xc3\xa9", /* U+00E9 */
};
static const struct lw_audit_rec kat2 = {
    .at_ms = -5,
    .who = "lienwatchd",
    .action = "purge",
    .device = "",
    .via = "daemon",
    .detail = "x",
};
/* hashlib.sha256 over the documented encoding of kat1 (first record) and
 * kat2 (chained to it, id 2) */
static const char kat1_hash[] =
    "054d13483b1663ebdec607369d82b8e80a9725fdc56f6396adb140d7517a3662";
static const char kat2_hash[] =
    "01a79708056c910cab3a794a953a43333f189bb8a8100c65d6beafac2936fe78";

static void hex_of(const unsigned char *h, char *out)
{
    sodium_bin2hex(out, LW_AUDIT_HASH_HEX + 1, h, LW_AUDIT_HASH_BYTES);
}

/* ---- the encoding ---------------------------------------------------------
 */

/* Appends a 4-byte length and the text, or FF FF FF FF for NULL. */
static size_t text_field(unsigned char *b, const char *s)
{
    size_t n;

    if (!s) {
        memset(b, 0xFF, 4);
        return 4;
    }
    n = strlen(s);
    b[0] = (unsigned char)(n >> 24);
    b[1] = (unsigned char)(n >> 16);
    b[2] = (unsigned char)(n >> 8);
    b[3] = (unsigned char)n;
    memcpy(b + 4, s, n);
    return 4 + n;
}

static void test_canonical_bytes(void **state)
{
    unsigned char want[512], got[512], prev[LW_AUDIT_HASH_BYTES];
    const char *texts[LW_AUDIT_NTEXT] = {
        kat1.who,    kat1.action,  kat1.device,  kat1.reason,
        kat1.role,   kat1.via,     kat1.as_name, kat1.os_detail,
        kat1.client, kat1.case_id, kat1.basis,   kat1.detail,
    };
    size_t n = 0, len;
    int i;

    (void)state;
    for (i = 0; i < LW_AUDIT_HASH_BYTES; i++)
        prev[i] = (unsigned char)(i * 7 + 1);
    memcpy(want, "LWAUDIT1", 8);
    n = 8;
    memcpy(want + n, prev, sizeof(prev));
    n += sizeof(prev);
    /* id 258 and at_ms T0, big-endian */
    memcpy(want + n, "\x00\x00\x00\x00\x00\x00\x01\x02", 8);
    n += 8;
    for (i = 7; i >= 0; i--)
        want[n++] = (unsigned char)((uint64_t)T0 >> (8 * i));
    for (i = 0; i < LW_AUDIT_NTEXT; i++)
        n += text_field(want + n, texts[i]);

    len = lw_audit_canonical(prev, 258, &kat1, got, sizeof(got));
    assert_int_equal(len, n);
    assert_memory_equal(got, want, n);
    /* the size alone, and a buffer too small: nothing written past it */
    assert_int_equal(lw_audit_canonical(prev, 258, &kat1, NULL, 0), n);
    memset(got, 0xAA, sizeof(got));
    assert_int_equal(lw_audit_canonical(prev, 258, &kat1, got, 10), n);
    assert_int_equal(got[10], 0xAA);
    /* negative numbers in two's complement */
    len = lw_audit_canonical(NULL, -1, &kat2, got, sizeof(got));
    assert_memory_equal(got + 8 + 32, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    assert_memory_equal(got + 8 + 32 + 8, "\xff\xff\xff\xff\xff\xff\xff\xfb",
                        8);
    assert_int_equal(len, 8 + 32 + 16 + (4 + 10) + (4 + 5) + (4 + 0) + 4 + 4 +
                              (4 + 6) + 4 + 4 + 4 + 4 + 4 + (4 + 1));
}

static void test_known_answers(void **state)
{
    unsigned char h1[LW_AUDIT_HASH_BYTES], h2[LW_AUDIT_HASH_BYTES];
    char hex[LW_AUDIT_HASH_HEX + 1];

    (void)state;
    lw_audit_hash(NULL, 1, &kat1, h1);
    hex_of(h1, hex);
    assert_string_equal(hex, kat1_hash);
    lw_audit_hash(h1, 2, &kat2, h2);
    hex_of(h2, hex);
    assert_string_equal(hex, kat2_hash);
}

/* Every field counts, NULL is not "", and moving bytes between fields
 * changes the hash. */
static void test_unambiguous(void **state)
{
    unsigned char base[LW_AUDIT_HASH_BYTES], h[LW_AUDIT_HASH_BYTES];
    struct lw_audit_rec r = kat1;

    (void)state;
    lw_audit_hash(NULL, 1, &r, base);
    r.role = "";
    lw_audit_hash(NULL, 1, &r, h);
    assert_memory_not_equal(h, base, sizeof(h));
    r = kat1;
    r.who = "an";
    r.action = "nlocate";
    lw_audit_hash(NULL, 1, &r, h);
    assert_memory_not_equal(h, base, sizeof(h));
    r = kat1;
    r.at_ms++;
    lw_audit_hash(NULL, 1, &r, h);
    assert_memory_not_equal(h, base, sizeof(h));
    lw_audit_hash(NULL, 2, &kat1, h);
    assert_memory_not_equal(h, base, sizeof(h));
    lw_audit_hash(h, 1, &kat1, h);
    assert_memory_not_equal(h, base, sizeof(h));
    for (int i = 0; i < LW_AUDIT_NTEXT; i++) {
        const char **f[LW_AUDIT_NTEXT] = {
            &r.who,    &r.action,  &r.device,  &r.reason,
            &r.role,   &r.via,     &r.as_name, &r.os_detail,
            &r.client, &r.case_id, &r.basis,   &r.detail,
        };

        r = kat1;
        *f[i] = "changed";
        lw_audit_hash(NULL, 1, &r, h);
        assert_memory_not_equal(h, base, sizeof(h));
    }
}

/* ---- appending ------------------------------------------------------------
 */

struct seen {
    int n;                                      /* records */
    int64_t id[NREC + 8];                       /* their ids */
    char hash[NREC + 8][LW_AUDIT_HASH_HEX + 1]; /* their hashes */
    char prev[NREC + 8][LW_AUDIT_HASH_HEX + 1]; /* what they chain to */
    char who[NREC + 8][32];                     /* their who */
    char as[NREC + 8][32];                      /* as_name, "(null)" */
};

static int seen_cb(void *ctx, const struct lw_audit_entry *a)
{
    struct seen *s = ctx;

    if (s->n >= NREC + 8)
        return 1;
    s->id[s->n] = a->id;
    snprintf(s->hash[s->n], sizeof(s->hash[0]), "%s", a->hash ? a->hash : "");
    snprintf(s->prev[s->n], sizeof(s->prev[0]), "%s", a->prev_hash);
    snprintf(s->who[s->n], sizeof(s->who[0]), "%s", a->who);
    snprintf(s->as[s->n], sizeof(s->as[0]), "%s",
             a->as_name ? a->as_name : "(null)");
    s->n++;
    return 0;
}

static void test_append_chain(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_audit_head h, head;
    struct seen v = {0};
    static const char zeros[] =
        "0000000000000000000000000000000000000000000000000000000000000000";

    (void)state;
    assert_int_equal(lw_audit_head(s, &head), LW_OK);
    assert_int_equal(head.id, 0);
    assert_string_equal(head.hash, zeros);
    assert_int_equal(lw_audit_append(s, &kat1, &h), LW_OK);
    assert_int_equal(h.id, 1);
    assert_string_equal(h.hash, kat1_hash);
    assert_int_equal(lw_audit_append(s, &kat2, &h), LW_OK);
    assert_int_equal(h.id, 2);
    assert_string_equal(h.hash, kat2_hash);
    assert_int_equal(lw_audit_head(s, &head), LW_OK);
    assert_int_equal(head.id, 2);
    assert_string_equal(head.hash, kat2_hash);
    /* the short form chains too */
    assert_int_equal(lw_audit_add(s, T0, "bob", "history", NULL, NULL), LW_OK);
    assert_int_equal(lw_audit_list(s, NULL, seen_cb, &v), LW_OK);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.prev[0], zeros);
    assert_string_equal(v.hash[0], kat1_hash);
    assert_string_equal(v.prev[1], kat1_hash);
    assert_string_equal(v.prev[2], kat2_hash);
    assert_string_equal(v.as[0], "Ann Smith");
    assert_string_equal(v.as[2], "(null)");
    /* one device's records still carry what they chain to */
    v = (struct seen){0};
    assert_int_equal(lw_audit_list(s, "", seen_cb, &v), LW_OK);
    assert_int_equal(v.n, 1);
    assert_int_equal(v.id[0], 2);
    assert_string_equal(v.prev[0], kat1_hash);
    lw_store_close(s);
}

/* Two writers (the daemon's and the CLI's handles) take turns: every record
 * chains to the one before, whoever wrote it. */
static void test_two_writers(void **state)
{
    struct tmp t;
    struct lw_store *a, *b;
    struct lw_audit_verdict v;
    struct lw_audit_rec r = {.at_ms = T0, .action = "locate"};

    (void)state;
    tmp_make(&t);
    a = open_ok(t.path, 0);
    b = open_ok(t.path, LW_STORE_NOMIGRATE);
    for (int i = 0; i < 20; i++) {
        r.who = i % 2 ? "cli" : "daemon";
        r.at_ms = T0 + i;
        assert_int_equal(lw_audit_append(i % 3 ? a : b, &r, NULL), LW_OK);
    }
    /* a record in the caller's transaction, rolled back, leaves no trace */
    assert_int_equal(lw_store_begin(a), LW_OK);
    assert_int_equal(lw_audit_append(a, &r, NULL), LW_OK);
    assert_int_equal(lw_store_rollback(a), LW_OK);
    assert_int_equal(lw_audit_append(b, &r, NULL), LW_OK);
    assert_int_equal(lw_audit_verify(a, NULL, &v), LW_OK);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    assert_true(v.guarded);
    assert_int_equal(v.rows, 21);
    assert_int_equal(v.head.id, 21);
    lw_store_close(a);
    lw_store_close(b);
    tmp_remove(&t);
}

static void test_append_refusals(void **state)
{
    struct tmp t;
    struct lw_store *s, *r;
    struct lw_audit_rec rec = kat1;
    char *big = malloc(LW_AUDIT_TEXT_MAX + 2);
    struct lw_audit_head h;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', LW_AUDIT_TEXT_MAX + 1);
    big[LW_AUDIT_TEXT_MAX + 1] = '\0';
    tmp_make(&t);
    s = open_ok(t.path, 0);
    assert_int_equal(lw_audit_append(NULL, &kat1, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_audit_append(s, NULL, NULL), LW_ERR_INVAL);
    rec.who = "";
    assert_int_equal(lw_audit_append(s, &rec, NULL), LW_ERR_INVAL);
    rec = kat1;
    rec.action = NULL;
    assert_int_equal(lw_audit_append(s, &rec, NULL), LW_ERR_INVAL);
    rec = kat1;
    rec.detail = big;
    assert_int_equal(lw_audit_append(s, &rec, NULL), LW_ERR_RANGE);
    big[LW_AUDIT_TEXT_MAX] = '\0';
    assert_int_equal(lw_audit_append(s, &rec, NULL), LW_OK);
    r = open_ok(t.path, LW_STORE_RDONLY);
    assert_int_equal(lw_audit_append(r, &kat1, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_audit_head(r, &h), LW_OK);
    assert_int_equal(h.id, 1);
    lw_store_close(r);
    lw_store_close(s);
    free(big);
    tmp_remove(&t);
}

/* The triggers refuse changes and records without the chain. */
static void test_triggers(void **state)
{
    struct tmp t;
    struct lw_store *s;
    char msg[256];

    (void)state;
    tmp_make(&t);
    s = open_ok(t.path, 0);
    assert_int_equal(lw_audit_append(s, &kat1, NULL), LW_OK);
    assert_int_equal(lw_audit_append(s, &kat2, NULL), LW_OK);
    assert_int_equal(
        raw_sql(t.path, "UPDATE audit SET reason = 'forged'", msg, sizeof(msg)),
        SQLITE_CONSTRAINT);
    assert_non_null(strstr(msg, "never changed"));
    assert_int_equal(
        raw_sql(t.path, "DELETE FROM audit WHERE id = 2", msg, sizeof(msg)),
        SQLITE_CONSTRAINT);
    assert_non_null(strstr(msg, "never deleted"));
    assert_int_equal(raw_sql(t.path,
                             "INSERT INTO audit (at_ms, who, action) "
                             "VALUES (1, 'x', 'locate')",
                             msg, sizeof(msg)),
                     SQLITE_CONSTRAINT);
    assert_non_null(strstr(msg, "chain hash"));
    /* a well-formed hash, but in the middle: refused too */
    assert_int_equal(
        raw_sql(t.path,
                "INSERT INTO audit (id, at_ms, who, action, hash) VALUES "
                "(0, 1, 'x', 'locate', '" /* 64 digits */
                "00000000000000000000000000000000"
                "00000000000000000000000000000000')",
                msg, sizeof(msg)),
        SQLITE_CONSTRAINT);
    lw_store_close(s);
    tmp_remove(&t);
}

/* ---- verification ---------------------------------------------------------
 */

/* A file with NREC records of every shape; *heads gets each one's head. */
static void fill(struct tmp *t, struct lw_audit_head *heads)
{
    static const char *const actions[] = {
        "locate", "history", "vehicle set", "alert ack", "evidence",
    };
    struct lw_store *s;
    char dev[32], why[64];

    tmp_make(t);
    s = open_ok(t->path, 0);
    for (int i = 0; i < NREC; i++) {
        struct lw_audit_rec r = {
            .at_ms = T0 + i * SEC,
            .who = i % 3 ? "ann" : "bob",
            .action = actions[i % 5],
            .device = i % 4 ? dev : NULL,
            .reason = i % 2 ? why : NULL,
            .via = "cli",
            .as_name = i % 7 ? NULL : "agent 7",
            .detail = i % 5 == 2 ? "plate=AB-123" : NULL,
        };

        snprintf(dev, sizeof(dev), "car/%d", i % 6);
        snprintf(why, sizeof(why), "case %d; it's \"urgent\"", i);
        assert_int_equal(lw_audit_append(s, &r, &heads[i]), LW_OK);
        assert_int_equal(heads[i].id, i + 1);
    }
    lw_store_close(s);
    /* the attacker's first move */
    raw_ok(t->path, "DROP TRIGGER audit_no_update; DROP TRIGGER "
                    "audit_no_delete; DROP TRIGGER audit_chained");
}

/* Verifies path (expecting expect, may be NULL) into *v. */
static void verify(const char *path, const struct lw_audit_head *expect,
                   struct lw_audit_verdict *v)
{
    struct lw_store *s = open_ok(path, LW_STORE_RDONLY);

    assert_int_equal(lw_audit_verify(s, expect, v), LW_OK);
    lw_store_close(s);
}

static void test_verify_intact(void **state)
{
    struct lw_audit_head heads[NREC], h;
    struct lw_audit_verdict v;
    struct tmp t;

    (void)state;
    fill(&t, heads);
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    assert_false(v.guarded); /* fill dropped the triggers */
    assert_int_equal(v.rows, NREC);
    assert_int_equal(v.head.id, NREC);
    assert_string_equal(v.head.hash, heads[NREC - 1].hash);
    assert_string_equal(v.detail, "");
    /* any earlier head is in the chain: by id and hash, or by hash alone */
    verify(t.path, &heads[9], &v);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    assert_true(v.head_found);
    h = heads[NREC - 1];
    h.id = -1;
    verify(t.path, &h, &v);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    assert_true(v.head_found);
    /* a head with a wrong hash, or one past the end */
    h = heads[9];
    h.hash[0] = h.hash[0] == '0' ? '1' : '0';
    verify(t.path, &h, &v);
    assert_int_equal(v.problem, LW_AUDIT_HEAD_DIFFERS);
    assert_int_equal(v.head.id, 10);
    h = heads[9];
    h.id = NREC + 1;
    verify(t.path, &h, &v);
    assert_int_equal(v.problem, LW_AUDIT_HEAD_MISSING);
    /* the empty trail's head is the start of every trail */
    h.id = 0;
    memset(h.hash, '0', LW_AUDIT_HASH_HEX);
    verify(t.path, &h, &v);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    tmp_remove(&t);
}

static void test_verify_changed(void **state)
{
    struct lw_audit_head heads[NREC];
    struct lw_audit_verdict v;
    struct tmp t;

    (void)state;
    fill(&t, heads);
    raw_ok(t.path, "UPDATE audit SET reason = 'forged' WHERE id = 17");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_CHANGED);
    assert_int_equal(v.bad_id, 17);
    assert_int_equal(v.rows, 16);
    assert_int_equal(v.head.id, 16);
    assert_non_null(strstr(v.detail, "record 17 was changed"));
    tmp_remove(&t);

    /* a NULL made "" is a change too; so is the time */
    fill(&t, heads);
    raw_ok(t.path, "UPDATE audit SET device = '' WHERE id = 1");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_CHANGED);
    assert_int_equal(v.bad_id, 1);
    assert_int_equal(v.rows, 0);
    tmp_remove(&t);
    fill(&t, heads);
    raw_ok(t.path, "UPDATE audit SET at_ms = at_ms + 1 WHERE id = 40");
    verify(t.path, NULL, &v);
    assert_int_equal(v.bad_id, 40);
    assert_int_equal(v.problem, LW_AUDIT_BROKEN); /* the last: ambiguous */
    assert_non_null(strstr(v.detail, "the last"));
    tmp_remove(&t);
}

static void test_verify_removed(void **state)
{
    struct lw_audit_head heads[NREC];
    struct lw_audit_verdict v;
    struct tmp t;

    (void)state;
    fill(&t, heads);
    raw_ok(t.path, "DELETE FROM audit WHERE id = 23");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_REMOVED);
    assert_int_equal(v.bad_id, 24);
    assert_int_equal(v.from_id, 23);
    assert_int_equal(v.to_id, 23);
    assert_non_null(strstr(v.detail, "record 23 was removed"));
    tmp_remove(&t);

    fill(&t, heads);
    raw_ok(t.path, "DELETE FROM audit WHERE id BETWEEN 1 AND 3");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_REMOVED);
    assert_int_equal(v.bad_id, 4);
    assert_int_equal(v.from_id, 1);
    assert_int_equal(v.to_id, 3);
    tmp_remove(&t);

    /* the next-to-last: the last then chains to nothing */
    fill(&t, heads);
    raw_ok(t.path, "DELETE FROM audit WHERE id = 39");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_REMOVED);
    assert_int_equal(v.bad_id, 40);
    assert_int_equal(v.from_id, 39);
    tmp_remove(&t);
}

static void test_verify_tail(void **state)
{
    struct lw_audit_head heads[NREC];
    struct lw_audit_verdict v;
    struct tmp t;

    (void)state;
    fill(&t, heads);
    raw_ok(t.path, "DELETE FROM audit WHERE id > 35");
    /* a shorter chain is still a chain ... */
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    assert_int_equal(v.head.id, 35);
    /* ... but not one that holds the head published before */
    verify(t.path, &heads[NREC - 1], &v);
    assert_int_equal(v.problem, LW_AUDIT_HEAD_MISSING);
    assert_int_equal(v.head.id, 35);
    assert_non_null(strstr(v.detail, "ends at record 35"));
    assert_non_null(strstr(v.detail, "removed"));
    verify(t.path, &heads[30], &v);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    tmp_remove(&t);
}

static void test_verify_inserted(void **state)
{
    struct lw_audit_head heads[NREC];
    struct lw_audit_verdict v;
    struct tmp t;

    (void)state;
    /* in the middle: the records from 12 on moved up by one */
    fill(&t, heads);
    raw_ok(t.path, "UPDATE audit SET id = -id WHERE id >= 12;"
                   "UPDATE audit SET id = 1 - id WHERE id < 0;"
                   "INSERT INTO audit (id, at_ms, who, action, device, hash) "
                   "VALUES (12, 1, 'mallory', 'locate', 'car/1', "
                   "'0123456789abcdef0123456789abcdef"
                   "0123456789abcdef0123456789abcdef')");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_INSERTED);
    assert_int_equal(v.bad_id, 12);
    assert_int_equal(v.rows, 11);
    assert_non_null(strstr(v.detail, "record 12 was inserted"));
    assert_non_null(strstr(v.detail, "renumbered"));
    tmp_remove(&t);

    /* with a copy of a genuine record's hash, the same */
    fill(&t, heads);
    raw_ok(t.path, "UPDATE audit SET id = -id WHERE id >= 30;"
                   "UPDATE audit SET id = 1 - id WHERE id < 0;"
                   "INSERT INTO audit (id, at_ms, who, action, hash) "
                   "SELECT 30, at_ms, 'mallory', action, hash FROM audit "
                   "WHERE id = 31");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_INSERTED);
    assert_int_equal(v.bad_id, 30);
    tmp_remove(&t);

    /* at the end, with a hash made up */
    fill(&t, heads);
    raw_ok(t.path, "INSERT INTO audit (at_ms, who, action, hash) VALUES "
                   "(1, 'mallory', 'locate', '0123456789abcdef0123456789abcdef"
                   "0123456789abcdef0123456789abcdef')");
    verify(t.path, NULL, &v);
    assert_int_equal(v.bad_id, NREC + 1);
    assert_int_equal(v.rows, NREC);
    assert_int_not_equal(v.problem, LW_AUDIT_INTACT);
    tmp_remove(&t);

    /* without a hash at all */
    fill(&t, heads);
    raw_ok(t.path, "INSERT INTO audit (at_ms, who, action) VALUES "
                   "(1, 'mallory', 'locate')");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_UNCHAINED);
    assert_int_equal(v.bad_id, NREC + 1);
    tmp_remove(&t);
}

static void test_verify_reordered(void **state)
{
    struct lw_audit_head heads[NREC];
    struct lw_audit_verdict v;
    struct tmp t;

    (void)state;
    fill(&t, heads);
    raw_ok(t.path, "UPDATE audit SET id = -1 WHERE id = 8;"
                   "UPDATE audit SET id = 8 WHERE id = 20;"
                   "UPDATE audit SET id = 20 WHERE id = -1");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_REORDERED);
    assert_int_equal(v.bad_id, 8);
    assert_int_equal(v.to_id, 21);
    assert_non_null(strstr(v.detail, "reordered"));
    tmp_remove(&t);
}

static void test_verify_malformed(void **state)
{
    struct lw_audit_head heads[NREC];
    struct lw_audit_verdict v;
    struct tmp t;

    (void)state;
    fill(&t, heads);
    /* the same text as a blob: SQLite's value differs, so does the record */
    raw_ok(t.path, "UPDATE audit SET who = CAST(who AS BLOB) WHERE id = 5");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_MALFORMED);
    assert_int_equal(v.bad_id, 5);
    tmp_remove(&t);
    fill(&t, heads);
    raw_ok(t.path, "UPDATE audit SET at_ms = at_ms + 0.5 WHERE id = 6");
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_MALFORMED);
    assert_int_equal(v.bad_id, 6);
    tmp_remove(&t);
}

/* A chain recomputed after a change passes alone: only a head copied out
 * before the change shows it. */
static void test_verify_recomputed(void **state)
{
    struct lw_audit_head heads[NREC], h;
    struct lw_audit_verdict v;
    struct tmp t;

    (void)state;
    fill(&t, heads);
    /* rebuild the chain from record 10 on with the library itself, as a
     * forger would with any SHA-256 */
    raw_ok(t.path, "CREATE TABLE keep AS SELECT * FROM audit WHERE id >= 10;"
                   "DELETE FROM audit WHERE id >= 10;"
                   "UPDATE keep SET reason = 'forged' WHERE id = 10");
    for (int id = 10; id <= NREC; id++) {
        char sql[512];

        snprintf(sql, sizeof(sql),
                 "INSERT INTO audit SELECT * FROM keep WHERE id = %d", id);
        raw_ok(t.path, sql);
        /* the forged hash */
        {
            struct lw_audit_rec r = {0};
            sqlite3 *db;
            sqlite3_stmt *st;
            unsigned char prev[LW_AUDIT_HASH_BYTES], hh[LW_AUDIT_HASH_BYTES];
            char hex[LW_AUDIT_HASH_HEX + 1];

            assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
            assert_int_equal(
                sqlite3_prepare_v2(db,
                                   "SELECT at_ms, who, action, device, "
                                   "reason, via, as_name, detail, "
                                   "(SELECT hash FROM audit WHERE id = ?1 - 1)"
                                   " FROM audit WHERE id = ?1",
                                   -1, &st, NULL),
                SQLITE_OK);
            sqlite3_bind_int(st, 1, id);
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            r.at_ms = sqlite3_column_int64(st, 0);
            r.who = (const char *)sqlite3_column_text(st, 1);
            r.action = (const char *)sqlite3_column_text(st, 2);
            r.device = (const char *)sqlite3_column_text(st, 3);
            r.reason = (const char *)sqlite3_column_text(st, 4);
            r.via = (const char *)sqlite3_column_text(st, 5);
            r.as_name = (const char *)sqlite3_column_text(st, 6);
            r.detail = (const char *)sqlite3_column_text(st, 7);
            assert_int_equal(
                sodium_hex2bin(prev, sizeof(prev),
                               (const char *)sqlite3_column_text(st, 8),
                               LW_AUDIT_HASH_HEX, NULL, NULL, NULL),
                0);
            lw_audit_hash(prev, id, &r, hh);
            hex_of(hh, hex);
            sqlite3_finalize(st);
            snprintf(sql, sizeof(sql),
                     "UPDATE audit SET hash = '%s' WHERE id = %d", hex, id);
            assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL),
                             SQLITE_OK);
            sqlite3_close(db);
        }
    }
    verify(t.path, NULL, &v);
    assert_int_equal(v.problem, LW_AUDIT_INTACT); /* alone: undetectable */
    verify(t.path, &heads[NREC - 1], &v);
    assert_int_equal(v.problem, LW_AUDIT_HEAD_DIFFERS);
    assert_int_equal(v.head.id, NREC);
    h = heads[NREC - 1];
    h.id = -1; /* the hash alone: no record has it any more */
    verify(t.path, &h, &v);
    assert_int_equal(v.problem, LW_AUDIT_HEAD_MISSING);
    verify(t.path, &heads[8], &v); /* before the change: still there */
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    tmp_remove(&t);
}

static void test_head_parse(void **state)
{
    struct lw_audit_head h;
    char text[200];

    (void)state;
    snprintf(text, sizeof(text), "17:%s", kat1_hash);
    assert_int_equal(lw_audit_head_parse(text, &h), LW_OK);
    assert_int_equal(h.id, 17);
    assert_string_equal(h.hash, kat1_hash);
    snprintf(text, sizeof(text), "  17 %s\n", kat1_hash);
    assert_int_equal(lw_audit_head_parse(text, &h), LW_OK);
    assert_int_equal(h.id, 17);
    snprintf(text, sizeof(text), "%s\n", kat2_hash);
    assert_int_equal(lw_audit_head_parse(text, &h), LW_OK);
    assert_int_equal(h.id, -1);
    assert_string_equal(h.hash, kat2_hash);
    snprintf(text, sizeof(text),
             "{\"id\": 3, \"hash\": \"%s\", \"time\": \"x\"}", kat1_hash);
    assert_int_equal(lw_audit_head_parse(text, &h), LW_OK);
    assert_int_equal(h.id, 3);
    /* upper case is taken, stored lower */
    snprintf(
        text, sizeof(text), "4:%s",
        "054D13483B1663EBDEC607369D82B8E80A9725FDC56F6396ADB140D7517A3662");
    assert_int_equal(lw_audit_head_parse(text, &h), LW_OK);
    assert_string_equal(h.hash, kat1_hash);
    /* refused */
    assert_int_equal(lw_audit_head_parse("", &h), LW_ERR_INVAL);
    assert_int_equal(lw_audit_head_parse("17:abc", &h), LW_ERR_INVAL);
    snprintf(text, sizeof(text), "-1:%s", kat1_hash);
    assert_int_equal(lw_audit_head_parse(text, &h), LW_ERR_INVAL);
    snprintf(text, sizeof(text), "x:%s", kat1_hash);
    assert_int_equal(lw_audit_head_parse(text, &h), LW_ERR_INVAL);
    snprintf(text, sizeof(text), "1:%s trailing", kat1_hash);
    assert_int_equal(lw_audit_head_parse(text, &h), LW_ERR_INVAL);
    snprintf(text, sizeof(text), "1:%.63sg", kat1_hash);
    assert_int_equal(lw_audit_head_parse(text, &h), LW_ERR_INVAL);
    assert_int_equal(lw_audit_head_parse("{\"id\": 1}", &h), LW_ERR_INVAL);
    assert_int_equal(lw_audit_head_parse(NULL, &h), LW_ERR_INVAL);
}

/* lw_audit_query's filters and pages. */
static void test_query(void **state)
{
    struct lw_audit_head heads[NREC];
    struct lw_audit_filter f = {0};
    struct seen v = {0};
    struct lw_store *s;
    struct tmp t;

    (void)state;
    fill(&t, heads);
    s = open_ok(t.path, LW_STORE_RDONLY);
    f.who = "bob";
    assert_int_equal(lw_audit_query(s, &f, seen_cb, &v), LW_OK);
    assert_int_equal(v.n, 14); /* i % 3 == 0 of 0..39 */
    for (int i = 0; i < v.n; i++)
        assert_string_equal(v.who[i], "bob");
    f = (struct lw_audit_filter){.action = "evidence", .device = "car/4"};
    v = (struct seen){0};
    assert_int_equal(lw_audit_query(s, &f, seen_cb, &v), LW_OK);
    /* i % 5 == 4, i % 6 == 4, i % 4 != 0: i = 34 */
    assert_int_equal(v.n, 1);
    assert_int_equal(v.id[0], 35);
    f = (struct lw_audit_filter){.after_id = 10, .limit = 5};
    v = (struct seen){0};
    assert_int_equal(lw_audit_query(s, &f, seen_cb, &v), LW_OK);
    assert_int_equal(v.n, 5);
    assert_int_equal(v.id[0], 11);
    assert_int_equal(v.id[4], 15);
    f = (struct lw_audit_filter){.from_ms = T0 + 5 * SEC,
                                 .to_ms = T0 + 7 * SEC};
    v = (struct seen){0};
    assert_int_equal(lw_audit_query(s, &f, seen_cb, &v), LW_OK);
    assert_int_equal(v.n, 3);
    assert_int_equal(v.id[0], 6);
    v = (struct seen){0};
    assert_int_equal(lw_audit_query(s, NULL, seen_cb, &v), LW_OK);
    assert_int_equal(v.n, NREC);
    assert_int_equal(lw_audit_query(s, NULL, NULL, NULL), LW_ERR_INVAL);
    lw_store_close(s);
    tmp_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_bytes),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_unambiguous),
        cmocka_unit_test(test_append_chain),
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_append_refusals),
        cmocka_unit_test(test_triggers),
        cmocka_unit_test(test_verify_intact),
        cmocka_unit_test(test_verify_changed),
        cmocka_unit_test(test_verify_removed),
        cmocka_unit_test(test_verify_tail),
        cmocka_unit_test(test_verify_inserted),
        cmocka_unit_test(test_verify_reordered),
        cmocka_unit_test(test_verify_malformed),
        cmocka_unit_test(test_verify_recomputed),
        cmocka_unit_test(test_head_parse),
        cmocka_unit_test(test_query),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("auditchain", tests, NULL, NULL);
}
