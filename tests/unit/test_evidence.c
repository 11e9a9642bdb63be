/*
 * test_evidence.c - cmocka tests of lib/evidence.c: MANIFEST written and
 * read back (sorted, control characters in header texts, every refusal of
 * format), lines that are not understood (and the ones around them still
 * read), too many files, text without a final newline or with NUL bytes;
 * public keys as base64, PEM and from a key file (never its secret); secret
 * key files written and read, damaged ones refused, a public key refused as
 * a secret one; a signature made with a parsed key verifies with the
 * parsed public key (libsodium).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lienwatch/evidence.h"

static const char sha_a[] =
    "054d13483b1663ebdec607369d82b8e80a9725fdc56f6396adb140d7517a3662";
static const char sha_b[] =
    "01a79708056c910cab3a794a953a43333f189bb8a8100c65d6beafac2936fe78";

static void add(struct lw_manifest *m, const char *name, const char *sha)
{
    snprintf(m->files[m->nfiles].name, sizeof(m->files[0].name), "%s", name);
    snprintf(m->files[m->nfiles].sha256, sizeof(m->files[0].sha256), "%s", sha);
    m->nfiles++;
}

static void test_manifest_roundtrip(void **state)
{
    struct lw_manifest *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
    char *text = NULL;
    size_t len = 0;

    (void)state;
    snprintf(m->created, sizeof(m->created), "2026-12-05T22:00:49.897Z");
    snprintf(m->device, sizeof(m->device), "car/1\nsha  evil");
    snprintf(m->from, sizeof(m->from), "2026-11-23T00:00:00Z");
    snprintf(m->to, sizeof(m->to), "2026-11-24T23:59:59.999Z");
    snprintf(m->record, sizeof(m->record), "6:%s", sha_a);
    snprintf(m->head, sizeof(m->head), "7:%s", sha_b);
    snprintf(m->key, sizeof(m->key),
             "+eFkn2f4BPUGeqttDgTE1vP7+NQyQbamQq+za8PWw4c=");
    add(m, "vehicle.json", sha_a);
    add(m, "history.csv", sha_b);
    add(m, "account.json", sha_a);
    assert_int_equal(lw_manifest_format(m, &text, &len), LW_OK);
    assert_int_equal(len, strlen(text));
    /* sorted by name, in sha256sum's format, after the comments */
    assert_non_null(strstr(text, "# lienwatch evidence bundle, format 1\n"
                                 "# created: 2026-12-05T22:00:49.897Z\n"
                                 "# device: car/1?sha  evil\n"));
    assert_non_null(strstr(text, "\n# audit head at export: 7:"));
    {
        char want[300];

        snprintf(want, sizeof(want),
                 "%s  account.json\n%s  history.csv\n%s  "
                 "vehicle.json\n",
                 sha_a, sha_b, sha_a);
        assert_non_null(strstr(text, want));
        assert_string_equal(text + len - strlen(want), want);
    }
    assert_string_equal(m->files[0].name, "account.json");
    assert_int_equal(lw_manifest_parse(text, len, r), LW_OK);
    assert_int_equal(r->bad_line, 0);
    assert_int_equal(r->nfiles, 3);
    assert_string_equal(r->files[2].name, "vehicle.json");
    assert_string_equal(r->files[1].sha256, sha_b);
    assert_string_equal(r->device, "car/1?sha  evil");
    assert_string_equal(r->head, m->head);
    assert_string_equal(r->record, m->record);
    assert_string_equal(r->key, m->key);
    assert_string_equal(r->created, m->created);
    assert_string_equal(r->to, m->to);
    /* without the final newline, the last line still counts */
    assert_int_equal(lw_manifest_parse(text, len - 1, r), LW_OK);
    assert_int_equal(r->nfiles, 3);
    free(text);
    free(m);
    free(r);
}

static void test_manifest_refusals(void **state)
{
    struct lw_manifest *m = calloc(1, sizeof(*m));
    char *text = NULL;
    size_t len;
    static const char *const bad_names[] = {
        "",           ".hidden",   "a/b",  "a\\b",
        "with space", "tab\tname", "\x7f", "caf\xc3\xa9",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        memset(m, 0, sizeof(*m));
        add(m, bad_names[i], sha_a);
        assert_int_equal(lw_manifest_format(m, &text, &len), LW_ERR_INVAL);
        assert_false(lw_manifest_name_ok(bad_names[i]));
    }
    memset(m, 0, sizeof(*m));
    add(m, "ok.json",
        "054D13483B1663EBDEC607369D82B8E80A9725FDC56F6396ADB140D7517A3662");
    assert_int_equal(lw_manifest_format(m, &text, &len), LW_ERR_INVAL);
    memset(m, 0, sizeof(*m));
    add(m, "ok.json", "054d");
    assert_int_equal(lw_manifest_format(m, &text, &len), LW_ERR_INVAL);
    memset(m, 0, sizeof(*m));
    m->nfiles = LW_MANIFEST_MAX_FILES + 1;
    assert_int_equal(lw_manifest_format(m, &text, &len), LW_ERR_INVAL);
    assert_true(lw_manifest_name_ok("MANIFEST.sig"));
    free(m);
}

static void test_manifest_parse_bad(void **state)
{
    struct lw_manifest *m = calloc(1, sizeof(*m));
    /* room for LW_MANIFEST_MAX_FILES + 1 lines of ~75 bytes */
    char text[(LW_MANIFEST_MAX_FILES + 1) * 80];
    int n;

    (void)state;
    /* a line that is neither: reported, the others read */
    n = snprintf(text, sizeof(text),
                 "# device: d\n%s  a.json\nnot a line\n%s  b.json\n"
                 "%s *c.json\n%s  ../d\n# unknown: x\n",
                 sha_a, sha_b, sha_a, sha_b);
    assert_int_equal(lw_manifest_parse(text, (size_t)n, m), LW_ERR_INVAL);
    assert_int_equal(m->bad_line, 3);
    assert_int_equal(m->nfiles, 2);
    assert_string_equal(m->files[1].name, "b.json");
    assert_string_equal(m->device, "d");
    /* a NUL inside a line */
    n = snprintf(text, sizeof(text), "%s  a.json\n", sha_a);
    text[LW_AUDIT_HASH_HEX + 3] = '\0';
    assert_int_equal(lw_manifest_parse(text, (size_t)n, m), LW_ERR_INVAL);
    assert_int_equal(m->nfiles, 0);
    /* upper-case hex is not what the format writes */
    n = snprintf(text, sizeof(text),
                 "054D13483B1663EBDEC607369D82B8E80A9725FDC56F6396ADB140D7517A"
                 "3662  a.json\n");
    assert_int_equal(lw_manifest_parse(text, (size_t)n, m), LW_ERR_INVAL);
    /* too many files: the first LW_MANIFEST_MAX_FILES are kept */
    n = 0;
    for (int i = 0; i <= LW_MANIFEST_MAX_FILES; i++)
        n +=
            snprintf(text + n, sizeof(text) - (size_t)n, "%s  f%d\n", sha_a, i);
    assert_true((size_t)n < sizeof(text));
    assert_int_equal(lw_manifest_parse(text, (size_t)n, m), LW_ERR_RANGE);
    assert_int_equal(m->nfiles, LW_MANIFEST_MAX_FILES);
    assert_int_equal(lw_manifest_parse("", 0, m), LW_OK);
    assert_int_equal(m->nfiles, 0);
    assert_int_equal(lw_manifest_parse(NULL, 0, m), LW_ERR_INVAL);
    free(m);
}

static void test_keys(void **state)
{
    unsigned char pk[LW_EVIDENCE_PK_BYTES], sk[LW_EVIDENCE_SK_BYTES];
    unsigned char pk2[LW_EVIDENCE_PK_BYTES], sk2[LW_EVIDENCE_SK_BYTES];
    unsigned char sig[LW_EVIDENCE_SIG_BYTES];
    char file[LW_EVIDENCE_SK_FILE_LEN], b64[LW_EVIDENCE_PK_B64];
    char pem[LW_EVIDENCE_PEM_LEN], text[512];
    static const unsigned char msg[] = "MANIFEST bytes";
    char *line3;

    (void)state;
    crypto_sign_keypair(pk, sk);
    lw_evidence_sk_file(sk, file);
    assert_int_equal(lw_evidence_sk_parse(file, strlen(file), sk2, pk2), LW_OK);
    assert_memory_equal(sk2, sk, sizeof(sk));
    assert_memory_equal(pk2, pk, sizeof(pk));
    /* what a parsed key signs, the parsed public key verifies */
    crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk2);
    memset(pk2, 0, sizeof(pk2));
    lw_evidence_pk_b64(pk, b64);
    assert_int_equal(strlen(b64), 44);
    snprintf(text, sizeof(text), "  %s\n", b64);
    assert_int_equal(lw_evidence_pk_parse(text, strlen(text), pk2), LW_OK);
    assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), pk2),
                     0);
    /* PEM, and the key file's public line */
    lw_evidence_pk_pem(pk, pem);
    assert_non_null(
        strstr(pem, "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    memset(pk2, 0, sizeof(pk2));
    assert_int_equal(lw_evidence_pk_parse(pem, strlen(pem), pk2), LW_OK);
    assert_memory_equal(pk2, pk, sizeof(pk));
    memset(pk2, 0, sizeof(pk2));
    assert_int_equal(lw_evidence_pk_parse(file, strlen(file), pk2), LW_OK);
    assert_memory_equal(pk2, pk, sizeof(pk));
    /* a public key is not a secret key, and the other way round */
    assert_int_equal(lw_evidence_sk_parse(b64, strlen(b64), sk2, pk2),
                     LW_ERR_INVAL);
    line3 = strrchr(file, '#');
    line3 = strchr(line3, '\n') + 1;
    assert_int_equal(lw_evidence_pk_parse(line3, strlen(line3), pk2),
                     LW_ERR_INVAL);
    /* a damaged secret key: its public half no longer matches */
    line3[50] = line3[50] == 'A' ? 'B' : 'A';
    assert_int_equal(lw_evidence_sk_parse(file, strlen(file), sk2, pk2),
                     LW_ERR_INVAL);
    /* not keys at all */
    assert_int_equal(lw_evidence_pk_parse("", 0, pk2), LW_ERR_INVAL);
    assert_int_equal(lw_evidence_pk_parse("AAAA", 4, pk2), LW_ERR_INVAL);
    snprintf(text, sizeof(text), "%s trailing", b64);
    assert_int_equal(lw_evidence_pk_parse(text, strlen(text), pk2),
                     LW_ERR_INVAL);
    snprintf(text, sizeof(text),
             "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VxAyEA%s\n"
             "-----END PUBLIC KEY-----\n",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=");
    assert_int_equal(lw_evidence_pk_parse(text, strlen(text), pk2),
                     LW_ERR_INVAL); /* Ed448's prefix */
    assert_int_equal(lw_evidence_sk_parse("# only comments\n", 16, sk2, pk2),
                     LW_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_roundtrip),
        cmocka_unit_test(test_manifest_refusals),
        cmocka_unit_test(test_manifest_parse_bad),
        cmocka_unit_test(test_keys),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("evidence", tests, NULL, NULL);
}
