/* FNV-1a 64 over words (see fnv.h). */
#include "fnv.h"

#include <string.h>

#define FNV_PRIME 0x100000001b3ull

uint64_t fnv1a64(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * FNV_PRIME;
    }
    for (; i < n; i++) h = (h ^ b[i]) * FNV_PRIME;
    return h;
}
