/*
 * evidence.c - the evidence bundle's MANIFEST and key texts (evidence.h).
 * Base64 and Ed25519 are libsodium's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lienwatch/evidence.h"

/* DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32
 * key bytes. */
static const unsigned char spki_prefix[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                            0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
#define SPKI_LEN (sizeof(spki_prefix) + LW_EVIDENCE_PK_BYTES)
/* Room for the base64 of the SubjectPublicKeyInfo. */
#define SPKI_B64 64
#define PEM_BEGIN "-----BEGIN PUBLIC KEY-----"
#define PEM_END "-----END PUBLIC KEY-----"
#define PK_LINE "# public key: "
#define FIRST_LINE "# lienwatch evidence bundle, format 1\n"
/* The known comments, "# <key>: <value>". */
#define C_CREATED "created"
#define C_DEVICE "device"
#define C_FROM "from"
#define C_TO "to"
#define C_RECORD "export audit record"
#define C_HEAD "audit head at export"
#define C_KEY "signing key (Ed25519, base64)"
#define SEPARATOR "  "
#define DEL 0x7f
/* Base64 texts are ignored around these. */
#define B64_IGNORE " \t\r\n"

_Static_assert(LW_EVIDENCE_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "pk");
_Static_assert(LW_EVIDENCE_SK_BYTES == crypto_sign_SECRETKEYBYTES, "sk");
_Static_assert(LW_EVIDENCE_SIG_BYTES == crypto_sign_BYTES, "sig");

bool lw_manifest_name_ok(const char *name)
{
    size_t n = 0;

    if (!name || !*name || *name == '.')
        return false;
    for (; name[n]; n++)
        if (name[n] <= ' ' || name[n] >= DEL || name[n] == '/' ||
            name[n] == '\\')
            return false;
    return n <= LW_MANIFEST_NAME_MAX;
}

static bool hex64(const char *s)
{
    return strlen(s) == LW_AUDIT_HASH_HEX &&
           strspn(s, "0123456789abcdef") == LW_AUDIT_HASH_HEX;
}

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct lw_manifest_file *)a)->name,
                  ((const struct lw_manifest_file *)b)->name);
}

/* "# key: value\n" with control characters of value as '?'. */
static void put_comment(FILE *f, const char *key, const char *value)
{
    fprintf(f, "# %s: ", key);
    for (; *value; value++)
        fputc((unsigned char)*value < ' ' || *value == DEL ? '?' : *value, f);
    fputc('\n', f);
}

enum lw_err lw_manifest_format(struct lw_manifest *m, char **text, size_t *len)
{
    FILE *f;
    int i;

    if (!m || !text || !len || m->nfiles < 0 ||
        m->nfiles > LW_MANIFEST_MAX_FILES)
        return LW_ERR_INVAL;
    for (i = 0; i < m->nfiles; i++)
        if (!lw_manifest_name_ok(m->files[i].name) ||
            !hex64(m->files[i].sha256))
            return LW_ERR_INVAL;
    qsort(m->files, (size_t)m->nfiles, sizeof(m->files[0]), file_cmp);
    *text = NULL;
    *len = 0;
    f = open_memstream(text, len);
    if (!f)
        return LW_ERR_NOMEM;
    fputs(FIRST_LINE, f);
    put_comment(f, C_CREATED, m->created);
    put_comment(f, C_DEVICE, m->device);
    put_comment(f, C_FROM, m->from);
    put_comment(f, C_TO, m->to);
    put_comment(f, C_RECORD, m->record);
    put_comment(f, C_HEAD, m->head);
    put_comment(f, C_KEY, m->key);
    for (i = 0; i < m->nfiles; i++)
        fprintf(f, "%s" SEPARATOR "%s\n", m->files[i].sha256, m->files[i].name);
    if (fclose(f) != 0 || !*text) {
        free(*text);
        *text = NULL;
        return LW_ERR_NOMEM;
    }
    return LW_OK;
}

/* When line (n bytes) is "# key: value", copies value into out (len
 * bytes, truncated) and returns true. */
static bool take_comment(const char *line, size_t n, const char *key, char *out,
                         size_t len)
{
    size_t k = strlen(key), v;

    if (n < 2 + k + 2 || memcmp(line, "# ", 2) != 0 ||
        memcmp(line + 2, key, k) != 0 || memcmp(line + 2 + k, ": ", 2) != 0)
        return false;
    v = n - (2 + k + 2);
    if (v > len - 1)
        v = len - 1;
    memcpy(out, line + 2 + k + 2, v);
    out[v] = '\0';
    return true;
}

/* Reads one "<hash>  <name>" line (n bytes) into file; false when it is
 * not one. */
static bool take_file(const char *line, size_t n, struct lw_manifest_file *file)
{
    size_t name_len;
    size_t i;

    if (n < LW_AUDIT_HASH_HEX + 3 ||
        memcmp(line + LW_AUDIT_HASH_HEX, SEPARATOR, 2) != 0)
        return false;
    for (i = 0; i < LW_AUDIT_HASH_HEX; i++)
        if (!strchr("0123456789abcdef", line[i]) || !line[i])
            return false;
    name_len = n - LW_AUDIT_HASH_HEX - 2;
    if (name_len > LW_MANIFEST_NAME_MAX ||
        memchr(line + LW_AUDIT_HASH_HEX + 2, '\0', name_len))
        return false;
    memcpy(file->sha256, line, LW_AUDIT_HASH_HEX);
    file->sha256[LW_AUDIT_HASH_HEX] = '\0';
    memcpy(file->name, line + LW_AUDIT_HASH_HEX + 2, name_len);
    file->name[name_len] = '\0';
    return lw_manifest_name_ok(file->name);
}

enum lw_err lw_manifest_parse(const char *text, size_t len,
                              struct lw_manifest *m)
{
    size_t pos = 0;
    int no = 0;
    enum lw_err e = LW_OK;

    if (!m)
        return LW_ERR_INVAL;
    memset(m, 0, sizeof(*m));
    if (!text)
        return LW_ERR_INVAL;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        struct lw_manifest_file file;

        pos += n + (nl ? 1 : 0);
        no++;
        if (n > 0 && line[0] == '#') {
            if (!memchr(line, '\0', n) &&
                !take_comment(line, n, C_CREATED, m->created,
                              sizeof(m->created)) &&
                !take_comment(line, n, C_DEVICE, m->device,
                              sizeof(m->device)) &&
                !take_comment(line, n, C_FROM, m->from, sizeof(m->from)) &&
                !take_comment(line, n, C_TO, m->to, sizeof(m->to)) &&
                !take_comment(line, n, C_RECORD, m->record,
                              sizeof(m->record)) &&
                !take_comment(line, n, C_HEAD, m->head, sizeof(m->head)))
                take_comment(line, n, C_KEY, m->key, sizeof(m->key));
            continue;
        }
        if (!take_file(line, n, &file)) {
            if (!m->bad_line)
                m->bad_line = no;
            if (e == LW_OK)
                e = LW_ERR_INVAL;
            continue;
        }
        if (m->nfiles == LW_MANIFEST_MAX_FILES) {
            e = LW_ERR_RANGE;
            continue;
        }
        m->files[m->nfiles++] = file;
    }
    return e;
}

/* ---- keys ------------------------------------------------------------------
 */

void lw_evidence_pk_b64(const unsigned char *pk, char *out)
{
    sodium_bin2base64(out, LW_EVIDENCE_PK_B64, pk, LW_EVIDENCE_PK_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
}

/* Decodes base64 (n bytes, spaces and newlines around ignored) into exactly
 * want bytes. */
static bool unb64(const char *s, size_t n, unsigned char *out, size_t want)
{
    size_t got = 0;
    const char *end = NULL;

    if (sodium_base642bin(out, want, s, n, B64_IGNORE, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != want)
        return false;
    /* nothing but blanks after it */
    for (; end < s + n; end++)
        if (!strchr(B64_IGNORE, *end) || !*end)
            return false;
    return true;
}

/* The first occurrence of needle (NUL-terminated) in hay (n bytes). */
static const char *find(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle));
}

enum lw_err lw_evidence_pk_parse(const char *text, size_t len,
                                 unsigned char *pk)
{
    unsigned char der[SPKI_LEN];
    const char *p, *end;

    if (!text || !pk)
        return LW_ERR_INVAL;
    if (unb64(text, len, pk, LW_EVIDENCE_PK_BYTES))
        return LW_OK;
    p = find(text, len, PEM_BEGIN);
    if (p) {
        p += strlen(PEM_BEGIN);
        end = find(p, len - (size_t)(p - text), PEM_END);
        if (!end || !unb64(p, (size_t)(end - p), der, sizeof(der)) ||
            memcmp(der, spki_prefix, sizeof(spki_prefix)) != 0)
            return LW_ERR_INVAL;
        memcpy(pk, der + sizeof(spki_prefix), LW_EVIDENCE_PK_BYTES);
        return LW_OK;
    }
    /* a secret key file: its public key line, never the secret */
    p = find(text, len, PK_LINE);
    if (!p)
        return LW_ERR_INVAL;
    p += strlen(PK_LINE);
    end = memchr(p, '\n', len - (size_t)(p - text));
    if (!end)
        end = text + len;
    return unb64(p, (size_t)(end - p), pk, LW_EVIDENCE_PK_BYTES) ? LW_OK
                                                                 : LW_ERR_INVAL;
}

void lw_evidence_pk_pem(const unsigned char *pk, char *out)
{
    unsigned char der[SPKI_LEN];
    char b64[SPKI_B64];

    memcpy(der, spki_prefix, sizeof(spki_prefix));
    memcpy(der + sizeof(spki_prefix), pk, LW_EVIDENCE_PK_BYTES);
    sodium_bin2base64(b64, sizeof(b64), der, sizeof(der),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, LW_EVIDENCE_PEM_LEN, PEM_BEGIN "\n%s\n" PEM_END "\n", b64);
}

void lw_evidence_sk_file(const unsigned char *sk, char *out)
{
    char skb[LW_EVIDENCE_SK_B64], pkb[LW_EVIDENCE_PK_B64];

    sodium_bin2base64(skb, sizeof(skb), sk, LW_EVIDENCE_SK_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    lw_evidence_pk_b64(sk + LW_EVIDENCE_SK_BYTES - LW_EVIDENCE_PK_BYTES, pkb);
    snprintf(out, LW_EVIDENCE_SK_FILE_LEN,
             "# lienwatch evidence signing key (Ed25519 secret key, base64). "
             "Keep it secret.\n" PK_LINE "%s\n%s\n",
             pkb, skb);
    sodium_memzero(skb, sizeof(skb));
}

enum lw_err lw_evidence_sk_parse(const char *text, size_t len,
                                 unsigned char *sk, unsigned char *pk)
{
    unsigned char stored[LW_EVIDENCE_SK_BYTES], seed[crypto_sign_SEEDBYTES];
    size_t pos = 0;
    bool ok = false;

    if (!text || !sk || !pk || sodium_init() < 0)
        return LW_ERR_INVAL;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        size_t skip = 0;

        while (skip < n && strchr(" \t\r", line[skip]) && line[skip])
            skip++;
        pos += n + (nl ? 1 : 0);
        if (skip >= n || line[skip] == '#')
            continue;
        ok = unb64(line, n, stored, sizeof(stored));
        break;
    }
    if (ok) {
        /* the public half must be the seed's */
        crypto_sign_ed25519_sk_to_seed(seed, stored);
        crypto_sign_seed_keypair(pk, sk, seed);
        ok = sodium_memcmp(sk, stored, sizeof(stored)) == 0;
        if (!ok)
            sodium_memzero(sk, LW_EVIDENCE_SK_BYTES);
    }
    sodium_memzero(stored, sizeof(stored));
    sodium_memzero(seed, sizeof(seed));
    return ok ? LW_OK : LW_ERR_INVAL;
}
