/* editor_save_state / editor_load_state: a fixed header naming the method, layers and model shape, each
 * matrix's last increment norm, the current W_out of every edited layer (methods that write W_out), then
 * the method's own bytes (D4S log, FT matrix and bias, GRACE codebook) with their length. Host byte order
 * (blob.h): a state resumes on the machine type that wrote it. */
#include "blob.h"
#include "editor_impl.h"

#include <stdio.h>

#define STATE_MAGIC "KEDITED1"

typedef struct state_header {
    char magic[8];
    int32_t method, E, d, d_ff;
} state_header;

static size_t w_bytes(const editor *e) { return (size_t)e->m->cfg.d * e->m->cfg.d_ff * sizeof(float); }

int editor_save_state(const editor *e, void **buf, size_t *n, char *err, size_t errlen) {
    if (!e->prepared) {
        snprintf(err, errlen, "%s: state saved before editor_prepare", method_name(e->hp.method));
        return -1;
    }
    void *own = NULL;
    size_t own_n = 0;
    if (e->ops->save && e->ops->save(e, &own, &own_n, err, errlen)) return -1;
    state_header h = {.method = e->hp.method, .E = e->E, .d = e->m->cfg.d, .d_ff = e->m->cfg.d_ff};
    memcpy(h.magic, STATE_MAGIC, 8);
    blob b = {0};
    blob_put(&b, &h, sizeof h);
    for (int i = 0; i < e->E; i++) {
        int32_t l = e->hp.layers[i];
        blob_put(&b, &l, sizeof l);
    }
    blob_put(&b, e->inc_fro, (size_t)e->E * sizeof(double));
    float *w = e->ops->edits_w_out ? malloc(w_bytes(e)) : NULL; // (d, d_ff) host copy of one W_out
    for (int i = 0; w && i < e->E; i++) {
        e->m->be->to_host(w, editor_w_out(e, i), w_bytes(e));
        blob_put(&b, w, w_bytes(e));
    }
    free(w);
    uint64_t len = own_n;
    blob_put(&b, &len, sizeof len);
    blob_put(&b, own, own_n);
    free(own);
    if (b.failed) {
        free(b.p);
        snprintf(err, errlen, "%s: out of memory saving the editor state", method_name(e->hp.method));
        return -1;
    }
    *buf = b.p;
    *n = b.len;
    return 0;
}

int editor_load_state(editor *e, const void *buf, size_t n, char *err, size_t errlen) {
    const char *name = method_name(e->hp.method);
    if (!e->prepared) {
        snprintf(err, errlen, "%s: state loaded before editor_prepare", name);
        return -1;
    }
    blob_reader r = {buf, n, 0};
    state_header h;
    if (!blob_get(&r, &h, sizeof h) || memcmp(h.magic, STATE_MAGIC, 8)) {
        snprintf(err, errlen, "%s: not an editor state (bad magic or too short)", name);
        return -1;
    }
    bool same = h.method == (int32_t)e->hp.method && h.E == e->E && h.d == e->m->cfg.d && h.d_ff == e->m->cfg.d_ff;
    for (int i = 0; same && i < e->E; i++) {
        int32_t l;
        same = blob_get(&r, &l, sizeof l) && l == e->hp.layers[i];
    }
    if (!same) {
        snprintf(err, errlen, "%s: the state was saved by %s with %d layers (d %d, d_ff %d), not by this run's "
                 "method, layers and model", name, method_name((edit_method)h.method), h.E, h.d, h.d_ff);
        return -1;
    }
    double *inc = malloc((size_t)e->E * sizeof(double));
    bool ok = blob_get(&r, inc, (size_t)e->E * sizeof(double));
    size_t wb = e->ops->edits_w_out ? (size_t)e->E * w_bytes(e) : 0;
    uint64_t own_n = 0;
    ok = ok && n - r.at >= wb;
    if (ok) {
        r.at += wb;
        ok = blob_get(&r, &own_n, sizeof own_n) && own_n == n - r.at;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: truncated or malformed editor state (%zu bytes)", name, n);
        free(inc);
        return -1;
    }
    const unsigned char *w = r.p + r.at - sizeof own_n - wb;
    for (int i = 0; i < e->E && wb; i++) e->m->be->to_device(editor_w_out(e, i), w + (size_t)i * w_bytes(e), w_bytes(e));
    int rc = 0;
    if (e->ops->load) rc = e->ops->load(e, r.p + r.at, (size_t)own_n, err, errlen);
    else if (own_n) rc = -1, snprintf(err, errlen, "%s: the state holds %llu bytes of method state, expected none",
                                      name, (unsigned long long)own_n);
    if (!rc) memcpy(e->inc_fro, inc, (size_t)e->E * sizeof(double));
    free(inc);
    return rc;
}
