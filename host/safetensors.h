/* A memory-mapped safetensors reader: one file, or the shards named by model.safetensors.index.json.
 * Each file is [8-byte little-endian header length N][N bytes of JSON header][data]; the header maps
 * tensor names to {dtype, shape, data_offsets [begin, end) relative to the data}. Every header field is
 * validated at open; tensors are converted to float32 one at a time, on request. */
#ifndef KEDIT_SAFETENSORS_H
#define KEDIT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum { ST_F32 = 0, ST_F16, ST_BF16, ST_OTHER } st_dtype; /* ST_OTHER: stored, not convertible */

typedef struct st_tensor {
    char *name;
    char dtype_name[16];    /* as the header spells it, for messages */
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data;       /* into the file's mapping */
    size_t nbytes;
    const char *file;       /* path of the file holding it */
} st_tensor;

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
} st_file;

typedef struct st_set {
    st_file *files;
    int n_files;
    st_tensor *tensors; /* sorted by name */
    int n_tensors;
} st_set;

/* Opens the checkpoint in folder dir: model.safetensors.index.json with its shards when present, else
 * model.safetensors. Returns non-zero with a message naming the file, tensor and problem in err; s is
 * then empty (nothing to close). */
int st_open_dir(const char *dir, st_set *s, char *err, size_t errlen);
/* Opens one safetensors file (any name), e.g. a file of reference tensors. */
int st_open_file(const char *path, st_set *s, char *err, size_t errlen);
void st_close(st_set *s);

/* the tensor with this exact name, or NULL */
const st_tensor *st_find(const st_set *s, const char *name);

/* converts t (F32, F16 or BF16) into dst (t->numel floats); non-zero with a message for other dtypes */
int st_read_f32(const st_tensor *t, float *dst, char *err, size_t errlen);

/* "[2, 3]" into buf */
void st_format_shape(const int64_t *shape, int ndim, char *buf, size_t n);

/* FNV-1a 64 over every tensor in name order (each tensor's name, then its bytes as stored), combined
 * from per-tensor hashes so that it runs in parallel; the same tensors give the same value whether
 * stored in one file or in shards. */
uint64_t st_checksum(const st_set *s);

#endif
