/*
 * auditchain.h - the audit trail's chain (audit.h, "The chain"): the
 * canonical content of a record, its SHA-256, the hexadecimal form stored
 * in the table, and the migration step that chains the records written
 * before schema 5. Private to lib/ (audit.c and schema.c use it); it sits on
 * the SQL layer (db.h) and libsodium only, so schema.c can call it without
 * a link cycle through the store.
 */
#ifndef LIENWATCH_AUDITCHAIN_H
#define LIENWATCH_AUDITCHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "lienwatch/audit.h"

/* The twelve texts of a record in chain order, each with its length in
 * bytes (p NULL: SQL NULL). Borrowed. */
struct lw_audit_texts {
    const char *p[LW_AUDIT_NTEXT]; /* the bytes, or NULL */
    size_t n[LW_AUDIT_NTEXT];      /* their length (0 for NULL) */
};

/* The texts of r (NUL-terminated strings) in chain order. */
void lw_auditchain_texts(const struct lw_audit_rec *r,
                         struct lw_audit_texts *t);

/*
 * The canonical content of the record (id, at_ms, t) chained to prev (32
 * bytes, NULL: the first record), into buf when it fits (len bytes; buf may
 * be NULL with len 0), or its SHA-256 into hash (32 bytes) when hash is not
 * NULL. Returns the content's length in bytes.
 */
size_t lw_auditchain_encode(const unsigned char *prev, int64_t id,
                            int64_t at_ms, const struct lw_audit_texts *t,
                            unsigned char *buf, size_t len,
                            unsigned char *hash);

/* 32 bytes as 64 lowercase hexadecimal digits and a NUL, into out. */
void lw_auditchain_hex(const unsigned char *h, char *out);

/* Decodes exactly 64 lowercase hexadecimal digits (n bytes at hex, not
 * NUL-terminated) into out (32 bytes). False for anything else. */
bool lw_auditchain_unhex(const char *hex, size_t n, unsigned char *out);

/*
 * Migration 5's step: computes and stores the hash of every record of
 * table audit that has none, in id order, chained from the first (the
 * table has the columns of schema 5 and no triggers yet). Runs in the
 * migration's transaction. Returns LW_OK or the class of the failure (the
 * reason recorded in db).
 */
enum lw_err lw_auditchain_migrate(struct lw_db *db);

#endif
