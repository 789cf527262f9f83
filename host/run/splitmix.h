/* splitmix64: the one seeded generator of the dataset code (the selection shuffle, the MQD builder).
 * Portable and reproducible; tests/reference/make_dataset_ref.py re-implements it. */
#ifndef KEDIT_SPLITMIX_H
#define KEDIT_SPLITMIX_H

#include <stdint.h>

/* advances *state and returns the next 64-bit value */
static inline uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
