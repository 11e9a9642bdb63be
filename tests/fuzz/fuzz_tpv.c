/*
 * fuzz_tpv.c - libFuzzer target: gpsd TPV payloads through lw_decode (and so
 * the ISO 8601 parser on the "time" member). Seeds: the TPV and SKY lines of
 * the gpsd .chk files (copied at run time by tests/fuzz/run.sh).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_invariants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(LW_SRC_TPV, "fuzz-gps", data, size);
    return 0;
}
