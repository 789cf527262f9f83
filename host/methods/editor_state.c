/* editor_journal / editor_replay: a fixed header naming the method, layers and model shape, each matrix's
 * last increment norm, then the method's part with its length: ROME, MEMIT and PMET the factors of each
 * layer's Δ (n, α, U, V), D4S and D4S-P their log records of the call (ops->journal), AlphaEdit both
 * (the factors, then its reduced keys), FT and GRACE a snapshot of their state (ops->save). Host byte
 * order (blob.h): a record resumes on the machine type that wrote it. */
#include "blob.h"
#include "editor.h"
#include "editor_impl.h"

#include <stdio.h>

#define JOURNAL_MAGIC "KEDITJ01"

typedef struct journal_header {
    char magic[8];
    int32_t method, E, d, d_ff;
} journal_header;

/* the record's kind: the editor's factors, the method's own journal, or a snapshot */
static bool uses_factors(const editor *e) { return e->ops->journal_factors; }
bool editor_journal_is_snapshot(const editor *e) { return !e->ops->edits_w_out; }

static void put_factors(const editor *e, blob *b) {
    int d = e->m->cfg.d, f = e->m->cfg.d_ff;
    for (int i = 0; i < e->E; i++) {
        const delta_factors *x = &e->fac[i];
        int32_t n = x->n;
        blob_put(b, &n, sizeof n);
        blob_put(b, &x->alpha, sizeof x->alpha);
        blob_put(b, x->U, (size_t)n * d * sizeof(double));
        blob_put(b, x->V, (size_t)n * f * sizeof(double));
    }
}

int editor_journal(const editor *e, void **buf, size_t *n, char *err, size_t errlen) {
    const char *name = method_name(e->hp.method);
    if (!e->prepared) {
        snprintf(err, errlen, "%s: journal before editor_prepare", name);
        return -1;
    }
    blob own = {0};
    if (uses_factors(e)) put_factors(e, &own);
    if (e->ops->journal && e->ops->journal(e, &own, err, errlen)) {
        free(own.p);
        return -1;
    }
    if (!uses_factors(e) && !e->ops->journal && e->ops->save) {
        void *p = NULL;
        size_t k = 0;
        if (e->ops->save(e, &p, &k, err, errlen)) return -1;
        blob_put(&own, p, k);
        free(p);
    }
    journal_header h = {.method = e->hp.method, .E = e->E, .d = e->m->cfg.d, .d_ff = e->m->cfg.d_ff};
    memcpy(h.magic, JOURNAL_MAGIC, 8);
    blob b = {0};
    blob_put(&b, &h, sizeof h);
    for (int i = 0; i < e->E; i++) {
        int32_t l = e->hp.layers[i];
        blob_put(&b, &l, sizeof l);
    }
    blob_put(&b, e->inc_fro, (size_t)e->E * sizeof(double));
    uint64_t len = own.len;
    blob_put(&b, &len, sizeof len);
    blob_put(&b, own.p, own.len);
    bool failed = b.failed || own.failed;
    free(own.p);
    if (failed) {
        free(b.p);
        snprintf(err, errlen, "%s: out of memory writing the edit's record", name);
        return -1;
    }
    *buf = b.p;
    *n = b.len;
    return 0;
}

/* checks record k's header against the editor; on success *part is its method part and inc its norms */
static int open_record(const editor *e, int k, const void *rec, size_t n, blob_reader *part, double *inc, char *err,
                       size_t errlen) {
    const char *name = method_name(e->hp.method);
    blob_reader r = {rec, n, 0};
    journal_header h;
    if (!blob_get(&r, &h, sizeof h) || memcmp(h.magic, JOURNAL_MAGIC, 8)) {
        snprintf(err, errlen, "%s: record %d is not an edit record (bad magic or too short)", name, k);
        return -1;
    }
    bool same = h.method == (int32_t)e->hp.method && h.E == e->E && h.d == e->m->cfg.d && h.d_ff == e->m->cfg.d_ff;
    for (int i = 0; same && i < e->E; i++) {
        int32_t l;
        same = blob_get(&r, &l, sizeof l) && l == e->hp.layers[i];
    }
    if (!same) {
        snprintf(err, errlen, "%s: record %d was written by %s with %d layers (d %d, d_ff %d), not by this run's "
                 "method, layers and model", name, k, method_name((edit_method)h.method), h.E, h.d, h.d_ff);
        return -1;
    }
    uint64_t len;
    if (!blob_get(&r, inc, (size_t)e->E * sizeof(double)) || !blob_get(&r, &len, sizeof len) || len != n - r.at) {
        snprintf(err, errlen, "%s: record %d is truncated or malformed (%zu bytes)", name, k, n);
        return -1;
    }
    *part = (blob_reader){r.p + r.at, (size_t)len, 0};
    return 0;
}

/* W ← W + Δ of each layer, Δ made again from the record's factors */
static int replay_factors(editor *e, int k, blob_reader *r, char *err, size_t errlen) {
    int d = e->m->cfg.d, f = e->m->cfg.d_ff;
    for (int i = 0; i < e->E; i++) {
        int32_t n;
        delta_factors x = {0};
        bool ok = blob_get(r, &n, sizeof n) && n > 0 && n <= 1 << 20 && blob_get(r, &x.alpha, sizeof x.alpha);
        size_t ub = (size_t)(ok ? n : 0) * d * sizeof(double), vb = (size_t)(ok ? n : 0) * f * sizeof(double);
        ok = ok && r->len - r->at >= ub + vb;
        if (!ok) {
            snprintf(err, errlen, "%s: record %d: the factors of layer %d are malformed", method_name(e->hp.method), k,
                     e->hp.layers[i]);
            return -1;
        }
        x.n = n;
        x.U = malloc(ub);
        x.V = malloc(vb);
        blob_get(r, x.U, ub);
        blob_get(r, x.V, vb);
        delta_from_factors(e->m->be, d, f, &x, e->delta[i]);
        editor_add_delta(e, i);
        delta_factors_free(&x);
    }
    if (!e->ops->replay && r->at != r->len) { // else the method's part follows
        snprintf(err, errlen, "%s: record %d has %zu bytes after its factors", method_name(e->hp.method), k,
                 r->len - r->at);
        return -1;
    }
    return 0;
}

int editor_replay(editor *e, int n, const void *const *rec, const size_t *len, char *err, size_t errlen) {
    const char *name = method_name(e->hp.method);
    if (!e->prepared) {
        snprintf(err, errlen, "%s: replay before editor_prepare", name);
        return -1;
    }
    if (n < 1) return 0;
    if (editor_journal_is_snapshot(e) && n != 1) {
        snprintf(err, errlen, "%s: a snapshot resumes from one record, not %d", name, n);
        return -1;
    }
    double *inc = malloc((size_t)e->E * sizeof(double));
    blob_reader *parts = calloc((size_t)n, sizeof *parts);
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) rc = open_record(e, k, rec[k], len[k], &parts[k], inc, err, errlen);
    for (int k = 0; k < n && !rc && uses_factors(e); k++) rc = replay_factors(e, k, &parts[k], err, errlen);
    if (!rc && e->ops->replay) rc = e->ops->replay(e, n, parts, err, errlen);
    else if (!rc && editor_journal_is_snapshot(e) && e->ops->load)
        rc = e->ops->load(e, parts[0].p, parts[0].len, err, errlen);
    if (!rc) memcpy(e->inc_fro, inc, (size_t)e->E * sizeof(double)); // as after the last call
    free(inc);
    free(parts);
    return rc;
}
