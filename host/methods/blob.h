/* A growable byte buffer and a bounds-checked reader, for the methods' saved states (little-endian
 * machine layout: the states are resumed on the machine type that wrote them). */
#ifndef KEDIT_BLOB_H
#define KEDIT_BLOB_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct blob {
    unsigned char *p;
    size_t len, cap;
    bool failed; /* an allocation failed: the content is incomplete */
} blob;

static inline void blob_put(blob *b, const void *src, size_t n) {
    if (b->failed || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

typedef struct blob_reader {
    const unsigned char *p;
    size_t len, at;
} blob_reader;

/* copies the next n bytes to dst; false (nothing copied) when fewer remain */
static inline bool blob_get(blob_reader *r, void *dst, size_t n) {
    if (n > r->len - r->at) return false;
    memcpy(dst, r->p + r->at, n);
    r->at += n;
    return true;
}

#endif
