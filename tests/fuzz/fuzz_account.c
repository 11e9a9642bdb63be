/*
 * fuzz_account.c - libFuzzer target: account status payloads through
 * lw_decode. Seeds are written by tests/fuzz/run.sh (there is no shared data
 * for this topic).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_invariants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(LW_SRC_ACCOUNT, "L-2026-0042", data, size);
    return 0;
}
