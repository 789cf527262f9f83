/* The FNV-1a 64 checksum behind kedit's identities: a model's weight bytes (its checksum, which keys the
 * statistics and template caches), a corpus, the inputs of a run and the records of its resumable state. */
#ifndef KEDIT_FNV_H
#define KEDIT_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_OFFSET 0xcbf29ce484222325ull

/* FNV-1a 64 continued from h over n bytes, taken 8 bytes (one little-endian word) at a time and then
 * byte by byte for the tail: h = (h ^ word)·prime. Start from FNV1A64_OFFSET. */
uint64_t fnv1a64(uint64_t h, const void *p, size_t n);

#endif
