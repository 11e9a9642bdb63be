/*
 * evidence.h - the formats of an evidence bundle ('lienwatch evidence'):
 * its MANIFEST, and the Ed25519 keys that sign it, as text.
 *
 * MANIFEST (format 1) is plain text that 'sha256sum -c' reads as it is:
 *
 *     # lienwatch evidence bundle, format 1
 *     # created: <ISO 8601 UTC>
 *     # device: <device id>
 *     # from: <ISO 8601 UTC>
 *     # to: <ISO 8601 UTC>
 *     # export audit record: <id>:<hash>
 *     # audit head at export: <id>:<hash>
 *     # signing key (Ed25519, base64): <public key>
 *     <64 lowercase hex digits>  <file name>      one line per file, by name
 *
 * Lines end with "\n". Comment values are written with control characters
 * as '?'; file names are printable ASCII without '/', '\\' or a leading dot.
 * MANIFEST.sig is the base64 of the 64-byte Ed25519 signature
 * (crypto_sign_detached) of MANIFEST's exact bytes, and a newline.
 *
 * Keys. A public key is written as the base64 (standard alphabet, padded)
 * of its 32 bytes: 44 characters. A secret key file holds two comment
 * lines (the second "# public key: <base64>") and the base64 of libsodium's
 * 64-byte Ed25519 secret key (its 32-byte seed, then its public key); a
 * parse checks the public half against the seed, so a damaged file, or a
 * public key given where the secret one is expected, is refused. The
 * public key also goes into bundles as a PEM SubjectPublicKeyInfo (RFC
 * 8410), which openssl reads.
 *
 * Pure: no files, no clock. Texts passed in are borrowed; parses never read
 * past the length given.
 */
#ifndef LIENWATCH_EVIDENCE_H
#define LIENWATCH_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/audit.h"
#include "lienwatch/err.h"
#include "lienwatch/fix.h"
#include "lienwatch/timeutil.h"

/* Most files a MANIFEST lists, and the longest file name. */
#define LW_MANIFEST_MAX_FILES 64
#define LW_MANIFEST_NAME_MAX 255
/* Key and signature sizes (libsodium's Ed25519), and their base64 texts
 * with the NUL. */
#define LW_EVIDENCE_PK_BYTES 32
#define LW_EVIDENCE_SK_BYTES 64
#define LW_EVIDENCE_SIG_BYTES 64
#define LW_EVIDENCE_PK_B64 45
#define LW_EVIDENCE_SK_B64 89
#define LW_EVIDENCE_SIG_B64 89
/* Room for a secret key file's text and a PEM public key, with the NUL. */
#define LW_EVIDENCE_SK_FILE_LEN 256
#define LW_EVIDENCE_PEM_LEN 128
/* Room for "ID:HASH". */
#define LW_MANIFEST_HEAD_LEN (LW_AUDIT_HASH_HEX + 24)

/* One file of a bundle. */
struct lw_manifest_file {
    char name[LW_MANIFEST_NAME_MAX + 1]; /* its name in the folder */
    char sha256[LW_AUDIT_HASH_HEX + 1];  /* its SHA-256, lowercase hex */
};

/* What a MANIFEST says. Every text is NUL-terminated ("" when absent). */
struct lw_manifest {
    char created[LW_TIME_BUFLEN];      /* when the bundle was made */
    char device[LW_DEVICE_MAX + 1];    /* the device */
    char from[LW_TIME_BUFLEN];         /* the range's start */
    char to[LW_TIME_BUFLEN];           /* and end */
    char record[LW_MANIFEST_HEAD_LEN]; /* the export's audit record */
    char head[LW_MANIFEST_HEAD_LEN];   /* the audit head at export */
    char key[LW_EVIDENCE_PK_B64];      /* the signing key, base64 */
    struct lw_manifest_file files[LW_MANIFEST_MAX_FILES]; /* the files */
    int nfiles;                                           /* entries in files */
    int bad_line; /* parse: the first line not
                     understood (1-based), 0 */
};

/*
 * Whether name may be a file of a bundle: 1 to LW_MANIFEST_NAME_MAX bytes
 * of printable ASCII, no space, '/' or '\\', not starting with '.'.
 */
bool lw_manifest_name_ok(const char *name);

/*
 * Writes m as MANIFEST text (the files sorted by name, in m too; header
 * texts with control characters as '?') into a new NUL-terminated string
 * *text (caller frees) of *len bytes. Returns LW_OK; LW_ERR_INVAL for a
 * file name that lw_manifest_name_ok refuses, a hash that is not 64
 * lowercase hexadecimal digits or more than LW_MANIFEST_MAX_FILES files;
 * LW_ERR_NOMEM.
 */
enum lw_err lw_manifest_format(struct lw_manifest *m, char **text, size_t *len);

/*
 * Parses MANIFEST text (len bytes; need not be NUL-terminated; a NUL byte
 * is a line that is not understood) into *m. Comment lines other than the
 * known ones are ignored. Returns LW_OK; LW_ERR_INVAL when a line is
 * neither a comment nor "<hash>  <name>" with a good name (m->bad_line
 * says which; the lines around it are still read); LW_ERR_RANGE for more
 * than LW_MANIFEST_MAX_FILES files (those past it are not kept).
 */
enum lw_err lw_manifest_parse(const char *text, size_t len,
                              struct lw_manifest *m);

/* The base64 of a public key (LW_EVIDENCE_PK_B64 bytes into out). */
void lw_evidence_pk_b64(const unsigned char *pk, char *out);

/*
 * A public key from text (len bytes): its base64 as keygen prints it (with
 * spaces and newlines around), a PEM public key (Ed25519
 * SubjectPublicKeyInfo), or a secret key file (its "# public key:" line,
 * never the secret). Returns LW_OK or LW_ERR_INVAL.
 */
enum lw_err lw_evidence_pk_parse(const char *text, size_t len,
                                 unsigned char *pk);

/* pk as a PEM SubjectPublicKeyInfo, lines ending in "\n", into out
 * (LW_EVIDENCE_PEM_LEN bytes). */
void lw_evidence_pk_pem(const unsigned char *pk, char *out);

/*
 * The text of a secret key file for sk (LW_EVIDENCE_SK_BYTES, as
 * crypto_sign_keypair makes it) into out (LW_EVIDENCE_SK_FILE_LEN bytes).
 */
void lw_evidence_sk_file(const unsigned char *sk, char *out);

/*
 * The secret key of a key file's text (len bytes) into sk
 * (LW_EVIDENCE_SK_BYTES) and its public key into pk: the first line that is
 * not empty and not a '#' comment, base64 of 64 bytes whose public half is
 * the seed's. Returns LW_OK or LW_ERR_INVAL (nothing kept in sk).
 */
enum lw_err lw_evidence_sk_parse(const char *text, size_t len,
                                 unsigned char *sk, unsigned char *pk);

#endif
