/* bfloat16 (the upper 16 bits of an IEEE binary32) conversions, shared by the CPU backend, the loaders,
 * the model writer and the tests: widening is exact; narrowing rounds to nearest, ties to even, as
 * PyTorch's .to(torch.bfloat16) does (NaN stays a quiet NaN, never rounds to infinity). */
#ifndef KEDIT_BF16_H
#define KEDIT_BF16_H

#include <stdint.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: keep it, quiet */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                    /* round half to even */
}

#endif
