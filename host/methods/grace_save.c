/* GRACE's codebook as bytes and back (grace.h's grace_save / grace_load): the run's resume state. */
#include "grace_impl.h"

#include "blob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRACE_MAGIC "KEDITGR1"

typedef struct grace_header {
    char magic[8];
    int32_t layer, which, dk, dv, n;
    uint64_t rng;
} grace_header;

int grace_save(const grace_state *g, void **buf, size_t *len, char *err, size_t errlen) {
    grace_header h = {.layer = g->h.layer, .which = g->h.which, .dk = g->dk, .dv = g->dv, .n = g->n, .rng = g->rng};
    memcpy(h.magic, GRACE_MAGIC, 8);
    blob b = {0};
    blob_put(&b, &h, sizeof h);
    for (int i = 0; i < g->n; i++) {
        int32_t nl = g->n_label[i];
        blob_put(&b, g->keys + (size_t)i * g->dk, (size_t)g->dk * sizeof(float));
        blob_put(&b, g->values + (size_t)i * g->dv, (size_t)g->dv * sizeof(float));
        blob_put(&b, &g->eps[i], sizeof(double));
        blob_put(&b, &nl, sizeof nl);
        blob_put(&b, g->label[i], (size_t)nl * sizeof(int));
    }
    if (b.failed) {
        free(b.p);
        snprintf(err, errlen, "GRACE: out of memory saving the codebook");
        return -1;
    }
    *buf = b.p;
    *len = b.len;
    return 0;
}

int grace_load(grace_state *g, const void *buf, size_t len, char *err, size_t errlen) {
    blob_reader r = {buf, len, 0};
    grace_header h;
    if (!blob_get(&r, &h, sizeof h) || memcmp(h.magic, GRACE_MAGIC, 8)) {
        snprintf(err, errlen, "GRACE state: not a GRACE codebook (bad magic or too short)");
        return -1;
    }
    if (h.layer != g->h.layer || h.which != g->h.which || h.dk != g->dk || h.dv != g->dv || h.n < 0) {
        snprintf(err, errlen, "GRACE state: saved for layer %d matrix %d (key %d, value %d), not this run's layer %d "
                 "matrix %d (key %d, value %d)", h.layer, h.which, h.dk, h.dv, g->h.layer, g->h.which, g->dk, g->dv);
        return -1;
    }
    grace_reset(g);
    float *k = malloc((size_t)g->dk * sizeof(float)), *v = malloc((size_t)g->dv * sizeof(float));
    int rc = 0;
    for (int i = 0; i < h.n && !rc; i++) {
        double eps;
        int32_t nl;
        if (!blob_get(&r, k, (size_t)g->dk * sizeof(float)) || !blob_get(&r, v, (size_t)g->dv * sizeof(float)) ||
            !blob_get(&r, &eps, sizeof eps) || !blob_get(&r, &nl, sizeof nl) || nl < 0 ||
            (size_t)nl * sizeof(int) > len - r.at) {
            rc = -1;
            break;
        }
        int *label = malloc((size_t)(nl > 0 ? nl : 1) * sizeof(int));
        blob_get(&r, label, (size_t)nl * sizeof(int));
        grace_add_key(g, k, v, eps, label, nl);
        free(label);
    }
    free(k);
    free(v);
    if (rc || r.at != len) {
        snprintf(err, errlen, "GRACE state: truncated or malformed codebook (%zu of %zu bytes read)", r.at, len);
        grace_reset(g);
        return -1;
    }
    g->rng = h.rng;
    return 0;
}
