/*
 * rng.c - the simulator's seeded random numbers.
 *
 * xoshiro256** (Blackman and Vigna), seeded through splitmix64 as its
 * authors recommend. Our own generator rather than random(3) or drand48(3)
 * so that a --seed gives the same fleet on every libc, and so that each
 * vehicle can own an independent stream.
 */
#include <math.h>
#include <stdint.h>

#include "sim.h"

/* splitmix64 increment (the golden ratio in 64 bits). */
#define SPLITMIX_GAMMA UINT64_C(0x9E3779B97F4A7C15)
/* splitmix64 output mixing constants. */
#define SPLITMIX_MUL1 UINT64_C(0xBF58476D1CE4E5B9)
#define SPLITMIX_MUL2 UINT64_C(0x94D049BB133111EB)
/* Odd constant that separates streams of one seed. */
#define STREAM_MUL UINT64_C(0xD1B54A32D192ED03)
/* A double has 53 significant bits: the top 53 of 64 make [0, 1). */
#define UNIT_SHIFT 11
#define UNIT_SCALE 0x1.0p-53

/* Advances a splitmix64 state and returns its next output. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += SPLITMIX_GAMMA);

    z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
    z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
    return z ^ (z >> 31);
}

/* Rotates x left by k bits (0 < k < 64). */
static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream)
{
    /* Mixing the stream in through splitmix gives unrelated states even for
     * neighbouring (seed, stream) pairs. */
    uint64_t x = seed ^ (stream * STREAM_MUL);

    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sim_rng_unit(struct sim_rng *r)
{
    return (double)(sim_rng_next(r) >> UNIT_SHIFT) * UNIT_SCALE;
}

double sim_rng_range(struct sim_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * sim_rng_unit(r);
}

uint64_t sim_rng_below(struct sim_rng *r, uint64_t n)
{
    /* The modulo bias is below 2^-40 for any n we use: irrelevant here. */
    return sim_rng_next(r) % n;
}

double sim_rng_gauss(struct sim_rng *r)
{
    /* Box-Muller; 1 - unit is in (0, 1], so the log is finite. */
    double u1 = 1.0 - sim_rng_unit(r);
    double u2 = sim_rng_unit(r);

    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double sim_rng_logrange(struct sim_rng *r, double lo, double hi)
{
    return exp(sim_rng_range(r, log(lo), log(hi)));
}
