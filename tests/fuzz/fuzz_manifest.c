/*
 * fuzz_manifest.c - libFuzzer target: what 'lienwatch evidence verify'
 * reads from a bundle someone hands over (lib/evidence.c): MANIFEST, a
 * public key (--pubkey text or file, PEM) and a secret key file.
 *
 * Invariants (a violation aborts): no crash or undefined behaviour, no
 * read past the input (it is handed over without a terminator); a parsed
 * MANIFEST has at most LW_MANIFEST_MAX_FILES files, each with a good name
 * and 64 lowercase hex digits, and every text NUL-terminated within its
 * buffer; written again (lw_manifest_format) and parsed again it gives the
 * same files and header texts, with no line refused; a public key that
 * parses is 32 bytes whose base64 parses back to the same; a secret key
 * that parses has a public half matching its seed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_invariants.h"
#include "lienwatch/evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool terminated(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

/* Control characters in header texts come back as '?'. */
static bool same_text(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (*a != *b && !((unsigned char)*a < ' ' || *a == 0x7f))
            return false;
    return *a == *b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lw_manifest m, again;
    unsigned char pk[LW_EVIDENCE_PK_BYTES], pk2[LW_EVIDENCE_PK_BYTES];
    unsigned char sk[LW_EVIDENCE_SK_BYTES], derived[LW_EVIDENCE_PK_BYTES];
    char b64[LW_EVIDENCE_PK_B64];
    /* a copy of exactly size bytes: ASan sees any read past it */
    char *in = malloc(size ? size : 1);
    char *text = NULL;
    size_t len = 0;
    enum lw_err e;
    int i;

    FUZZ_REQUIRE(in != NULL && sodium_init() >= 0);
    memcpy(in, data, size);

    e = lw_manifest_parse(in, size, &m);
    FUZZ_REQUIRE(e == LW_OK || e == LW_ERR_INVAL || e == LW_ERR_RANGE);
    FUZZ_REQUIRE(m.nfiles >= 0 && m.nfiles <= LW_MANIFEST_MAX_FILES);
    FUZZ_REQUIRE((e == LW_ERR_INVAL) == (m.bad_line > 0));
    FUZZ_REQUIRE(terminated(m.device, sizeof(m.device)) &&
                 terminated(m.head, sizeof(m.head)) &&
                 terminated(m.key, sizeof(m.key)) &&
                 terminated(m.created, sizeof(m.created)));
    for (i = 0; i < m.nfiles; i++) {
        FUZZ_REQUIRE(lw_manifest_name_ok(m.files[i].name));
        FUZZ_REQUIRE(strlen(m.files[i].sha256) == LW_AUDIT_HASH_HEX);
    }
    if (lw_manifest_format(&m, &text, &len) == LW_OK) {
        FUZZ_REQUIRE(lw_manifest_parse(text, len, &again) == LW_OK);
        FUZZ_REQUIRE(again.nfiles == m.nfiles);
        for (i = 0; i < m.nfiles; i++)
            FUZZ_REQUIRE(!strcmp(again.files[i].name, m.files[i].name) &&
                         !strcmp(again.files[i].sha256, m.files[i].sha256));
        FUZZ_REQUIRE(same_text(m.device, again.device) &&
                     same_text(m.head, again.head) &&
                     same_text(m.key, again.key));
        free(text);
    }

    if (lw_evidence_pk_parse(in, size, pk) == LW_OK) {
        lw_evidence_pk_b64(pk, b64);
        FUZZ_REQUIRE(strlen(b64) == LW_EVIDENCE_PK_B64 - 1);
        FUZZ_REQUIRE(lw_evidence_pk_parse(b64, strlen(b64), pk2) == LW_OK);
        FUZZ_REQUIRE(memcmp(pk, pk2, sizeof(pk)) == 0);
    }
    if (lw_evidence_sk_parse(in, size, sk, pk) == LW_OK) {
        crypto_sign_ed25519_sk_to_pk(derived, sk);
        FUZZ_REQUIRE(memcmp(derived, pk, sizeof(pk)) == 0);
    }
    free(in);
    return 0;
}
