/* A streaming safetensors writer for float32 tensors: the header (names, shapes, data offsets) is written
 * first, then each tensor's values, produced one tensor at a time by a callback, so a model far larger
 * than host memory can be written from the device. The file is [8-byte little-endian header length
 * N][N bytes of JSON header, padded with spaces to a multiple of 8][data, tensors back to back]. */
#ifndef KEDIT_SAFETENSORS_WRITE_H
#define KEDIT_SAFETENSORS_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct stw_tensor {
    char name[128];
    int ndim; /* 1 or 2 */
    int64_t shape[2];
} stw_tensor;

/* writes tensor i's values (the product of its shape, row-major) to dst; non-zero with a message in err */
typedef int (*stw_fill)(void *ctx, int i, float *dst, char *err, size_t errlen);

/* Writes the n tensors to path as F32 with metadata {"format": "pt"}, in the order given, and flushes
 * the file to disk (fsync). Non-zero with a message naming the file (and the tensor) in err. */
int stw_write_f32(const char *path, const stw_tensor *t, int n, stw_fill fill, void *ctx, char *err, size_t errlen);

#endif
