/* The safetensors reader (see safetensors.h): files are memory-mapped read-only, headers parsed with
 * cJSON and checked field by field, tensors converted to float32 on request. */
#include "safetensors.h"

#include "bf16.h"
#include "fnv.h"
#include "json_file.h"
#include "path_join.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (100ull << 20) /* the format's own bound on the JSON header */
#define ST_MAX_INT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact integers */

static const struct {
    const char *name;
    st_dtype type;
    int size;
} dtypes[] = {
    {"F32", ST_F32, 4},   {"F16", ST_F16, 2},   {"BF16", ST_BF16, 2},    {"F64", ST_OTHER, 8},
    {"I64", ST_OTHER, 8}, {"I32", ST_OTHER, 4}, {"I16", ST_OTHER, 2},    {"I8", ST_OTHER, 1},
    {"U64", ST_OTHER, 8}, {"U32", ST_OTHER, 4}, {"U16", ST_OTHER, 2},    {"U8", ST_OTHER, 1},
    {"BOOL", ST_OTHER, 1}, {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};

void st_format_shape(const int64_t *shape, int ndim, char *buf, size_t n) {
    size_t at = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* a JSON number that is an exact integer in [0, 2^53] into *v */
static bool json_count(const cJSON *j, double *v) {
    if (!cJSON_IsNumber(j)) return false;
    *v = j->valuedouble;
    return *v >= 0 && *v <= ST_MAX_INT && *v == floor(*v);
}

/* maps path and appends it to s->files */
static int map_file(st_set *s, char *path, st_file **out, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        free(path);
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        free(path);
        return 1;
    }
    if (st.st_size < 8) {
        snprintf(err, errlen, "%s: truncated file: %lld bytes, fewer than the 8-byte header length", path,
                 (long long)st.st_size);
        close(fd);
        free(path);
        return 1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    st_file *grown = map == MAP_FAILED ? NULL : realloc(s->files, (size_t)(s->n_files + 1) * sizeof *grown);
    if (!grown) {
        snprintf(err, errlen, "%s: cannot map (%s)", path, map == MAP_FAILED ? strerror(errno) : "out of memory");
        if (map != MAP_FAILED) munmap(map, (size_t)st.st_size);
        free(path);
        return 1;
    }
    s->files = grown;
    *out = &s->files[s->n_files++];
    **out = (st_file){.path = path, .map = map, .size = (size_t)st.st_size};
    return 0;
}

static int push_tensor(st_set *s, const st_tensor *t, int *cap) {
    if (s->n_tensors == *cap) {
        int want = *cap ? 2 * *cap : 256;
        st_tensor *grown = realloc(s->tensors, (size_t)want * sizeof *grown);
        if (!grown) return 1;
        s->tensors = grown;
        *cap = want;
    }
    s->tensors[s->n_tensors++] = *t;
    return 0;
}

/* validates one header entry {dtype, shape, data_offsets} against the data section and records it */
static int parse_entry(st_set *s, int *cap, const st_file *f, const cJSON *e, const unsigned char *data,
                       size_t data_len, char *err, size_t errlen) {
    const char *name = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(off) ||
        cJSON_GetArraySize(off) != 2) {
        snprintf(err, errlen, "%s: tensor %s: header entry needs dtype, shape and data_offsets [begin, end]",
                 f->path, name);
        return 1;
    }
    st_tensor t = {.file = f->path, .dtype = ST_OTHER, .ndim = cJSON_GetArraySize(shape), .numel = 1};
    if (t.ndim > ST_MAX_DIMS) {
        snprintf(err, errlen, "%s: tensor %s: %d dimensions (at most %d supported)", f->path, name, t.ndim,
                 ST_MAX_DIMS);
        return 1;
    }
    const cJSON *j;
    int i = 0;
    cJSON_ArrayForEach(j, shape) {
        double v;
        if (!json_count(j, &v) || (v > 0 && (double)t.numel * v > ST_MAX_INT)) {
            snprintf(err, errlen, "%s: tensor %s: invalid shape (dimension %d)", f->path, name, i);
            return 1;
        }
        t.shape[i++] = (int64_t)v;
        t.numel *= (int64_t)v;
    }
    double begin, end;
    if (!json_count(cJSON_GetArrayItem(off, 0), &begin) || !json_count(cJSON_GetArrayItem(off, 1), &end) ||
        begin > end) {
        snprintf(err, errlen, "%s: tensor %s: data_offsets are not integers 0 <= begin <= end", f->path, name);
        return 1;
    }
    if (end > (double)data_len) {
        snprintf(err, errlen,
                 "%s: tensor %s: data_offsets [%.0f, %.0f) out of range: the data holds %zu bytes (truncated "
                 "file?)",
                 f->path, name, begin, end, data_len);
        return 1;
    }
    int elem = 0;
    snprintf(t.dtype_name, sizeof t.dtype_name, "%s", dt->valuestring);
    for (size_t k = 0; k < sizeof dtypes / sizeof *dtypes; k++)
        if (!strcmp(dt->valuestring, dtypes[k].name)) {
            t.dtype = dtypes[k].type;
            elem = dtypes[k].size;
        }
    t.nbytes = (size_t)(end - begin);
    if (elem && (double)t.numel * elem != end - begin) {
        char sh[128];
        st_format_shape(t.shape, t.ndim, sh, sizeof sh);
        snprintf(err, errlen,
                 "%s: tensor %s: data_offsets [%.0f, %.0f) hold %zu bytes but shape %s of %s needs %.0f",
                 f->path, name, begin, end, t.nbytes, sh, t.dtype_name, (double)t.numel * elem);
        return 1;
    }
    t.data = data + (size_t)begin;
    if (!(t.name = strdup(name)) || push_tensor(s, &t, cap)) {
        free(t.name);
        snprintf(err, errlen, "%s: out of memory reading the header", f->path);
        return 1;
    }
    return 0;
}

static int by_data(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* the n tensors of one file occupy disjoint bytes (empty ones aside): two names for the same bytes would
 * make an edit of one change the other */
static int check_overlap(const st_tensor *t, int n, const char *path, char *err, size_t errlen) {
    const st_tensor **by = malloc(((size_t)n + 1) * sizeof *by);
    int k = 0, rc = 0;
    for (int i = 0; i < n; i++)
        if (t[i].nbytes) by[k++] = &t[i];
    if (k > 1) qsort(by, (size_t)k, sizeof *by, by_data);
    for (int i = 1; i < k && !rc; i++)
        if ((const unsigned char *)by[i - 1]->data + by[i - 1]->nbytes > (const unsigned char *)by[i]->data) {
            snprintf(err, errlen, "%s: tensors %s and %s overlap in the data section", path, by[i - 1]->name,
                     by[i]->name);
            rc = 1;
        }
    free(by);
    return rc;
}

/* maps the file at path (taking ownership of the string) and records every tensor of its header */
static int open_file(st_set *s, int *cap, char *path, char *err, size_t errlen) {
    st_file *f;
    if (map_file(s, path, &f, err, errlen)) return 1;
    const unsigned char *b = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (hlen > f->size - 8) {
        snprintf(err, errlen, "%s: header length %" PRIu64 " beyond file size %zu (truncated file?)", f->path, hlen,
                 f->size);
        return 1;
    }
    if (hlen > ST_MAX_HEADER) {
        snprintf(err, errlen, "%s: header length %" PRIu64 " above the format's limit of 100 MiB", f->path, hlen);
        return 1;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)b + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: bad JSON header (%" PRIu64 " bytes): %s", f->path, hlen,
                 root ? "not a JSON object" : "invalid JSON");
        cJSON_Delete(root);
        return 1;
    }
    const unsigned char *data = b + 8 + hlen;
    size_t data_len = f->size - 8 - (size_t)hlen;
    const cJSON *e;
    int rc = 0;
    int first = s->n_tensors;
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__")) continue;
        if ((rc = parse_entry(s, cap, f, e, data, data_len, err, errlen))) break;
    }
    cJSON_Delete(root);
    return rc || check_overlap(s->tensors + first, s->n_tensors - first, f->path, err, errlen);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int sort_tensors(st_set *s, char *err, size_t errlen) {
    if (s->n_tensors > 1) qsort(s->tensors, (size_t)s->n_tensors, sizeof *s->tensors, by_name);
    for (int i = 1; i < s->n_tensors; i++)
        if (!strcmp(s->tensors[i - 1].name, s->tensors[i].name)) {
            snprintf(err, errlen, "tensor %s appears twice: in %s and in %s", s->tensors[i].name,
                     s->tensors[i - 1].file, s->tensors[i].file);
            return 1;
        }
    return 0;
}

static bool file_is_open(const st_set *s, const char *path) {
    for (int i = 0; i < s->n_files; i++)
        if (!strcmp(s->files[i].path, path)) return true;
    return false;
}

/* opens every shard the index's weight_map names, then checks that each tensor is where it says */
static int open_index(const char *dir, const char *index_path, st_set *s, char *err, size_t errlen) {
    cJSON *root = json_file_read(index_path, err, errlen);
    if (!root) return 1;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map"), *e;
    int rc = 0, cap = 0;
    if (!cJSON_IsObject(map) || !map->child) {
        snprintf(err, errlen, "%s: bad index: no weight_map object naming tensors and their files", index_path);
        rc = 1;
    }
    for (e = rc ? NULL : map->child; e && !rc; e = e->next) {
        if (!cJSON_IsString(e) || !*e->valuestring || strchr(e->valuestring, '/')) {
            snprintf(err, errlen, "%s: bad index: weight_map entry %s is not a file name in the folder", index_path,
                     e->string);
            rc = 1;
            break;
        }
        char *path = path_join(dir, e->valuestring);
        if (!path) {
            snprintf(err, errlen, "%s: out of memory", index_path);
            rc = 1;
        } else if (file_is_open(s, path))
            free(path);
        else
            rc = open_file(s, &cap, path, err, errlen);
    }
    if (!rc) rc = sort_tensors(s, err, errlen);
    for (e = rc ? NULL : map->child; e && !rc; e = e->next) {
        const st_tensor *t = st_find(s, e->string);
        if (!t || strcmp(base_name(t->file), e->valuestring)) {
            snprintf(err, errlen, "%s: bad index: weight_map puts tensor %s in %s but %s", index_path, e->string,
                     e->valuestring, t ? "it is in another file" : "that file has no such tensor");
            rc = 1;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int st_open_dir(const char *dir, st_set *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    char *index = path_join(dir, "model.safetensors.index.json"), *single = path_join(dir, "model.safetensors");
    int rc = 0, cap = 0;
    if (!index || !single) {
        snprintf(err, errlen, "%s: out of memory", dir);
        rc = 1;
    } else if (access(index, F_OK) == 0)
        rc = open_index(dir, index, s, err, errlen);
    else if (access(single, F_OK) == 0) {
        rc = open_file(s, &cap, single, err, errlen);
        single = NULL; /* owned by s now */
        if (!rc) rc = sort_tensors(s, err, errlen);
    } else {
        snprintf(err, errlen, "%s: no model.safetensors or model.safetensors.index.json (pytorch_model.bin is not read: save "
                 "the model with safe_serialization=True)",
                 dir);
        rc = 1;
    }
    free(index);
    free(single);
    if (rc) st_close(s);
    return rc;
}

int st_open_file(const char *path, st_set *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    int cap = 0;
    char *own = strdup(path);
    if (!own) {
        snprintf(err, errlen, "%s: out of memory", path);
        return 1;
    }
    int rc = open_file(s, &cap, own, err, errlen); /* own belongs to s from here on */
    if (!rc) rc = sort_tensors(s, err, errlen);
    if (rc) st_close(s);
    return rc;
}

void st_close(st_set *s) {
    for (int i = 0; i < s->n_tensors; i++) free(s->tensors[i].name);
    for (int i = 0; i < s->n_files; i++) {
        munmap(s->files[i].map, s->files[i].size);
        free(s->files[i].path);
    }
    free(s->tensors);
    free(s->files);
    memset(s, 0, sizeof *s);
}

const st_tensor *st_find(const st_set *s, const char *name) {
    st_tensor key = {.name = (char *)name};
    return s->n_tensors ? bsearch(&key, s->tensors, (size_t)s->n_tensors, sizeof key, by_name) : NULL;
}

/* IEEE binary16 → binary32, exact (subnormals, infinities and NaN included) */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        float v = (float)man * 0x1p-24f; /* subnormal (or zero): man·2^−24 */
        return sign ? -v : v;
    }
    bits = sign | (exp == 0x1f ? 0x7f800000u : (exp + 112u) << 23) | man << 13; /* rebias 15 → 127 */
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int st_read_f32(const st_tensor *t, float *dst, char *err, size_t errlen) {
    const unsigned char *src = t->data;
    int64_t n = t->numel;
    switch (t->dtype) {
    case ST_F32: memcpy(dst, src, t->nbytes); return 0;
    case ST_F16:
#pragma omp parallel for if (n >= (1 << 20))
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
        return 0;
    case ST_BF16:
#pragma omp parallel for if (n >= (1 << 20))
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = bf16_to_f32(h);
        }
        return 0;
    default:
        snprintf(err, errlen, "%s: tensor %s: unsupported dtype %s (F32, F16 or BF16 expected)", t->file, t->name,
                 t->dtype_name);
        return 1;
    }
}

uint64_t st_checksum(const st_set *s) {
    uint64_t h = FNV1A64_OFFSET;
#pragma omp parallel for ordered schedule(dynamic, 1)
    for (int i = 0; i < s->n_tensors; i++) {
        const st_tensor *t = &s->tensors[i];
        uint64_t th = fnv1a64(fnv1a64(FNV1A64_OFFSET, t->name, strlen(t->name)), t->data, t->nbytes);
#pragma omp ordered
        h = fnv1a64(h, &th, sizeof th);
    }
    return h;
}
