/* The one random generator of kedit and its tests: splitmix64 (Steele, Lea & Flood 2014; the generator of
 * editing-spec §10.2's shuffle), uniforms with 53 random bits, and Box–Muller normals over them. A state is
 * a plain uint64_t that the caller seeds and owns. */
#ifndef KEDIT_RNG_H
#define KEDIT_RNG_H

#include <math.h>
#include <stdint.h>

/* the next 64 random bits; advances *x */
static inline uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1): 53 random bits */
static inline double rng_uniform01(uint64_t *x) { return (double)(splitmix64(x) >> 11) * (1.0 / 9007199254740992.0); }

/* uniform in (0, 1): the 53 bits shifted by half a step, so that log() never sees 0 */
static inline double rng_uniform_open(uint64_t *x) {
    return ((double)(splitmix64(x) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* a standard normal (Box–Muller: two open uniforms, the cosine branch) */
static inline double rng_gauss(uint64_t *x) {
    double u0 = rng_uniform_open(x), u1 = rng_uniform_open(x);
    return sqrt(-2.0 * log(u0)) * cos(6.283185307179586 * u1);
}

#endif
