/*
 * fuzz_owntracks.c - libFuzzer target: OwnTracks payloads through lw_decode.
 * Seeds: the OwnTracks fixtures and the JSON of demo-iphone.rec (copied at
 * run time by tests/fuzz/run.sh). Checks the invariants in fuzz_invariants.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_invariants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(LW_SRC_OWNTRACKS, "fuzz/phone", data, size);
    return 0;
}
