/*
 * fuzz_audithead.c - libFuzzer target: lw_audit_head_parse, which reads a
 * head as a person pastes it into 'lienwatch audit verify --head' or as a
 * broker hands out the retained <prefix>/audit/head message (whoever may
 * publish there can put anything in it).
 *
 * Invariants (a violation aborts): no crash or undefined behaviour; a head
 * accepted has 64 lowercase hexadecimal digits and an id >= -1; printing it
 * as "ID:HASH" (or the hash alone for id -1) and parsing that again gives
 * the same head.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_invariants.h"
#include "lienwatch/audit.h"

/* Longest input tried (a head is under 100 bytes; JSON may carry more). */
#define MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_audit_head h, again;
    char text[MAX_INPUT + 1], printed[LW_AUDIT_HASH_HEX + 32];

    if (size > MAX_INPUT)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (lw_audit_head_parse(text, &h) != LW_OK)
        return 0;
    FUZZ_REQUIRE(h.id >= -1);
    FUZZ_REQUIRE(strlen(h.hash) == LW_AUDIT_HASH_HEX);
    FUZZ_REQUIRE(strspn(h.hash, "0123456789abcdef") == LW_AUDIT_HASH_HEX);
    if (h.id < 0)
        snprintf(printed, sizeof(printed), "%s", h.hash);
    else
        snprintf(printed, sizeof(printed), "%lld:%s", (long long)h.id, h.hash);
    FUZZ_REQUIRE(lw_audit_head_parse(printed, &again) == LW_OK);
    FUZZ_REQUIRE(again.id == h.id && strcmp(again.hash, h.hash) == 0);
    return 0;
}
