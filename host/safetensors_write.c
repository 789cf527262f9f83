/* The safetensors writer (see safetensors_write.h): header built with cJSON, data streamed tensor by
 * tensor through one host buffer sized for the largest tensor. */
#include "safetensors_write.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian: floats are written as the host stores them"
#endif

static int64_t numel(const stw_tensor *t) { return t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1]; }

/* the header JSON, or NULL when out of memory */
static char *header_json(const stw_tensor *t, int n) {
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    double offset = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        double shape[2] = {(double)t[i].shape[0], (double)t[i].shape[1]};
        double end = offset + 4.0 * (double)numel(&t[i]);
        double offsets[2] = {offset, end};
        cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(shape, t[i].ndim));
        cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offsets, 2));
        offset = end;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static int fail(FILE *f, const char *path, const char *what, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: %s (%s)", path, what, strerror(errno));
    if (f) fclose(f);
    return 1;
}

int stw_write_f32(const char *path, const stw_tensor *t, int n, stw_fill fill, void *ctx, char *err, size_t errlen) {
    for (int i = 0; i < n; i++)
        if (t[i].ndim < 1 || t[i].ndim > 2 || t[i].shape[0] < 0 || (t[i].ndim == 2 && t[i].shape[1] < 0)) {
            snprintf(err, errlen, "%s: tensor %s: invalid shape", path, t[i].name);
            return 1;
        }
    char *header = header_json(t, n);
    if (!header) {
        snprintf(err, errlen, "%s: out of memory building the header", path);
        return 1;
    }
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8; /* data starts 8-byte aligned */
    unsigned char len_le[8];
    for (int b = 0; b < 8; b++) len_le[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(header);
        return fail(NULL, path, "cannot create", err, errlen);
    }
    int ok = fwrite(len_le, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen;
    for (size_t pad = hlen; ok && pad < padded; pad++) ok = fputc(' ', f) != EOF;
    free(header);
    if (!ok) return fail(f, path, "write error", err, errlen);
    int64_t most = 1;
    for (int i = 0; i < n; i++)
        if (numel(&t[i]) > most) most = numel(&t[i]);
    float *buf = malloc((size_t)most * sizeof *buf); /* (most) values of one tensor */
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory for a tensor of %lld values", path, (long long)most);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        size_t count = (size_t)numel(&t[i]);
        if (fill(ctx, i, buf, err, errlen))
            rc = 1;
        else if (fwrite(buf, sizeof *buf, count, f) != count)
            rc = fail(NULL, path, "write error", err, errlen);
    }
    free(buf);
    if (rc) {
        fclose(f);
        return 1;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) return fail(f, path, "cannot flush to disk", err, errlen);
    if (fclose(f) != 0) return fail(NULL, path, "cannot close", err, errlen);
    return 0;
}
