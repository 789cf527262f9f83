#include "d4s.h"

#include "file_read.h"
#include "normal_eq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D4S_MAGIC "KEDITD4S"
#define D4S_VERSION 2u /* 2: the batch sizes, so that a replay takes the same batches */
#define LOG_CHUNK 256 /* edits per upload when the log rebuilds a layer */

typedef struct d4s_layer_state {
    int layer;
    const float *C; /* (d_ff, d_ff) float32, the caller's */
    double *N;      /* (d, d_ff) Σ_t r_t k_tᵀ */
    double *S;      /* (d_ff, d_ff) Σ_t k_t k_tᵀ, NULL when not kept */
    double *L;      /* (d_ff, d_ff) Cholesky factor of A' = C + S/λ (lower triangle) */
    double *delta;  /* (d, d_ff) Δ = (N/(E−i))·(λC + S)⁻¹ */
} d4s_layer_state;

struct d4s_state {
    const backend *be;
    int d, d_ff, E;
    double lambda;
    d4s_opts o;
    d4s_layer_state *ly;          /* E layers */
    int64_t t, cap;         /* edits begun; log capacity in edits */
    double *log;            /* (cap, d + E·d_ff) host: r_t, then k_{t,0}, …, k_{t,E−1} */
    int64_t n_batch, batch_cap; /* batches begun; capacity of batch_len */
    int32_t *batch_len;     /* (batch_cap) edits of each batch, in order */
    int batch_n;            /* edits of the open batch (0: none) */
    unsigned char *done;    /* E flags: layer updated in the open batch */
    int scratch_n;          /* edits the batch scratch holds */
    double *Kt, *K, *Rt;    /* device (n, d_ff), (d_ff, n), (n, d) */
    double *u, *x, *e, *s1; /* device d_ff, d_ff, d, 1 */
};

static size_t rec_len(const d4s_state *s) { return (size_t)s->d + (size_t)s->E * s->d_ff; }
static double *rec_r(const d4s_state *s, int64_t t) { return s->log + (size_t)t * rec_len(s); }
static double *rec_k(const d4s_state *s, int64_t t, int i) { return rec_r(s, t) + s->d + (size_t)i * s->d_ff; }

static void free_dev(const backend *be, void *p) {
    if (p) be->free(p);
}

/* device scratch for batches of n edits */
static void ensure_scratch(d4s_state *s, int n) {
    if (n <= s->scratch_n) return;
    const backend *be = s->be;
    free_dev(be, s->Kt);
    free_dev(be, s->K);
    free_dev(be, s->Rt);
    s->Kt = be->alloc((size_t)n * s->d_ff * sizeof(double)); // (n, d_ff) keys as rows
    s->K = be->alloc((size_t)n * s->d_ff * sizeof(double));  // (d_ff, n) keys as columns
    s->Rt = be->alloc((size_t)n * s->d * sizeof(double));    // (n, d) residuals as rows
    s->scratch_n = n;
}

/* uploads the keys of layer i and the residuals of log records t0..t0+n−1 as Kt, K and Rt */
static void upload_batch(d4s_state *s, int64_t t0, int n, int i) {
    size_t kb = (size_t)n * s->d_ff, rb = (size_t)n * s->d;
    double *Kt = malloc(kb * sizeof(double)), *K = malloc(kb * sizeof(double)), *Rt = malloc(rb * sizeof(double));
    for (int j = 0; j < n; j++) {
        memcpy(Kt + (size_t)j * s->d_ff, rec_k(s, t0 + j, i), (size_t)s->d_ff * sizeof(double));
        memcpy(Rt + (size_t)j * s->d, rec_r(s, t0 + j), (size_t)s->d * sizeof(double));
    }
    neq_transpose(Kt, n, s->d_ff, K);
    ensure_scratch(s, n);
    s->be->to_device(s->Kt, Kt, kb * sizeof(double));
    s->be->to_device(s->K, K, kb * sizeof(double));
    s->be->to_device(s->Rt, Rt, rb * sizeof(double));
    free(Kt);
    free(K);
    free(Rt);
}

/* adds Σ_t r_t k_{t,i}ᵀ over the whole log to N (if not NULL) and alpha·Σ_t k_{t,i}k_{t,i}ᵀ to Sdst */
static void accumulate_log(d4s_state *s, int i, double *N, double *Sdst, double alpha) {
    const backend *be = s->be;
    for (int64_t t0 = 0; t0 < s->t; t0 += LOG_CHUNK) {
        int n = (int)(s->t - t0 < LOG_CHUNK ? s->t - t0 : LOG_CHUNK);
        upload_batch(s, t0, n, i);
        if (N) be->dgemm(true, false, s->d, s->d_ff, n, 1.0, s->Rt, s->d, s->Kt, s->d_ff, 1.0, N, s->d_ff); // N += R·Kᵀ
        be->dsyrk_acc(s->d_ff, n, alpha, s->K, n, Sdst, s->d_ff); // Sdst += α·K·Kᵀ
    }
}

static void layer_name(const d4s_state *s, int i, char *buf, size_t n) {
    snprintf(buf, n, "D4S layer %d (after %lld edits)", s->ly[i].layer, (long long)s->t);
}

/* L = chol(C + S/λ) and Δ = (N/(λ(E−i)))·A'⁻¹; S from memory, or from the log when not kept */
static int refactor_layer(d4s_state *s, int i, char *err, size_t errlen) {
    const backend *be = s->be;
    d4s_layer_state *l = &s->ly[i];
    neq_load_cov(be, s->d_ff, l->C, l->L);
    if (l->S) be->f64_axpy((int64_t)s->d_ff * s->d_ff, 1.0 / s->lambda, l->S, l->L);
    else accumulate_log(s, i, NULL, l->L, 1.0 / s->lambda);
    char what[96];
    layer_name(s, i, what, sizeof what);
    if (neq_factor(be, s->d_ff, l->L, what, err, errlen)) return -1;
    neq_solve(be, s->d, s->d_ff, l->L, l->N, s->lambda, (double)(s->E - i), l->delta);
    return 0;
}

/* N, S, the factor and Δ of layer i recomputed from the whole log */
static int rebuild_layer(d4s_state *s, int i, char *err, size_t errlen) {
    const backend *be = s->be;
    d4s_layer_state *l = &s->ly[i];
    be->zero(l->N, (size_t)s->d * s->d_ff * sizeof(double));
    if (l->S) {
        be->zero(l->S, (size_t)s->d_ff * s->d_ff * sizeof(double));
        accumulate_log(s, i, l->N, l->S, 1.0);
        return refactor_layer(s, i, err, errlen);
    }
    neq_load_cov(be, s->d_ff, l->C, l->L);
    accumulate_log(s, i, l->N, l->L, 1.0 / s->lambda);
    char what[96];
    layer_name(s, i, what, sizeof what);
    if (neq_factor(be, s->d_ff, l->L, what, err, errlen)) return -1;
    neq_solve(be, s->d, s->d_ff, l->L, l->N, s->lambda, (double)(s->E - i), l->delta);
    return 0;
}

void d4s_free(d4s_state *s) {
    if (!s) return;
    const backend *be = s->be;
    for (int i = 0; s->ly && i < s->E; i++) {
        free_dev(be, s->ly[i].N);
        free_dev(be, s->ly[i].S);
        free_dev(be, s->ly[i].L);
        free_dev(be, s->ly[i].delta);
    }
    void *dev[] = {s->Kt, s->K, s->Rt, s->u, s->x, s->e, s->s1};
    for (size_t j = 0; j < sizeof dev / sizeof *dev; j++) free_dev(be, dev[j]);
    free(s->ly);
    free(s->log);
    free(s->batch_len);
    free(s->done);
    free(s);
}

/* the matrices of an empty state, not yet factored */
static d4s_state *alloc_state(const backend *be, int d, int d_ff, int E, const int *layers, double lambda,
                              const float *const *C, const d4s_opts *o, char *err, size_t errlen) {
    if (d <= 0 || d_ff <= 0 || E <= 0 || !(lambda > 0)) {
        snprintf(err, errlen, "D4S: invalid sizes or λ (d %d, d_ff %d, layers %d, λ %g)", d, d_ff, E, lambda);
        return NULL;
    }
    d4s_state *s = calloc(1, sizeof *s);
    s->be = be;
    s->d = d;
    s->d_ff = d_ff;
    s->E = E;
    s->lambda = lambda;
    s->o = *o;
    if (s->o.solve == D4S_EXACT) s->o.keep_S = true;
    s->ly = calloc((size_t)E, sizeof *s->ly);
    s->done = calloc((size_t)E, 1);
    size_t ff = (size_t)d_ff * d_ff * sizeof(double), nd = (size_t)d * d_ff * sizeof(double);
    for (int i = 0; i < E; i++) {
        d4s_layer_state *l = &s->ly[i];
        l->layer = layers[i];
        l->C = C[i];
        l->N = be->alloc(nd);
        l->S = s->o.keep_S ? be->alloc(ff) : NULL;
        l->L = be->alloc(ff);
        l->delta = be->alloc(nd);
    }
    s->u = be->alloc((size_t)d_ff * sizeof(double));
    s->x = be->alloc((size_t)d_ff * sizeof(double));
    s->e = be->alloc((size_t)d * sizeof(double));
    s->s1 = be->alloc(sizeof(double));
    return s;
}

d4s_state *d4s_create(const backend *be, int d, int d_ff, int E, const int *layers, double lambda,
                      const float *const *C, const d4s_opts *o, char *err, size_t errlen) {
    d4s_state *s = alloc_state(be, d, d_ff, E, layers, lambda, C, o, err, errlen);
    if (s && d4s_reset(s, err, errlen)) {
        d4s_free(s);
        return NULL;
    }
    return s;
}

int d4s_reset(d4s_state *s, char *err, size_t errlen) {
    s->t = 0;
    s->n_batch = 0;
    s->batch_n = 0;
    memset(s->done, 0, (size_t)s->E);
    for (int i = 0; i < s->E; i++)
        if (rebuild_layer(s, i, err, errlen)) return -1;
    return 0;
}

int d4s_begin(d4s_state *s, int n, const double *r, char *err, size_t errlen) {
    for (int i = 0; s->batch_n && i < s->E; i++)
        if (!s->done[i]) {
            snprintf(err, errlen, "D4S: layer %d has no keys for edit %lld yet", s->ly[i].layer, (long long)s->t);
            return -1;
        }
    if (n <= 0) {
        snprintf(err, errlen, "D4S: a batch needs at least one edit (got %d)", n);
        return -1;
    }
    if (s->t + n > s->cap) {
        int64_t cap = s->cap ? s->cap : 64;
        while (cap < s->t + n) cap *= 2;
        double *log = realloc(s->log, (size_t)cap * rec_len(s) * sizeof(double));
        if (!log) {
            snprintf(err, errlen, "D4S: out of memory growing the edit log to %lld edits", (long long)cap);
            return -1;
        }
        s->log = log;
        s->cap = cap;
    }
    if (s->n_batch == s->batch_cap) {
        int64_t bc = s->batch_cap ? 2 * s->batch_cap : 64;
        int32_t *bl = realloc(s->batch_len, (size_t)bc * sizeof *bl);
        if (!bl) {
            snprintf(err, errlen, "D4S: out of memory growing the batch list to %lld batches", (long long)bc);
            return -1;
        }
        s->batch_len = bl;
        s->batch_cap = bc;
    }
    s->batch_len[s->n_batch++] = n;
    for (int j = 0; j < n; j++) {
        memcpy(rec_r(s, s->t + j), r + (size_t)j * s->d, (size_t)s->d * sizeof(double));
        memset(rec_k(s, s->t + j, 0), 0, (size_t)s->E * s->d_ff * sizeof(double));
    }
    s->t += n;
    s->batch_n = n;
    memset(s->done, 0, (size_t)s->E);
    return 0;
}

/* one recursive-least-squares step of the factor and Δ of layer i with key k and residual r (device) */
static void rls_step(d4s_state *s, int i, const double *k, const double *r) {
    const backend *be = s->be;
    d4s_layer_state *l = &s->ly[i];
    int d = s->d, f = s->d_ff;
    be->copy(s->u, k, (size_t)f * sizeof(double));
    be->potrs_right(f, 1, l->L, s->u);                                   // u' = A'⁻¹k  (A' = A/λ)
    double ku = neq_dot(be, f, k, s->u, s->s1);                          // kᵀu'
    be->dgemm(false, true, d, 1, f, -1.0, l->delta, f, k, f, 0.0, s->e, 1); // e = −Δk
    be->f64_axpy(d, 1.0 / (s->E - i), r, s->e);                          // e = r' − Δk
    be->dger_acc(d, f, 1.0 / (s->lambda + ku), s->e, s->u, l->delta, f); // Δ += e·u'ᵀ/(λ + kᵀu')
    be->zero(s->x, (size_t)f * sizeof(double));
    be->f64_axpy(f, 1.0 / sqrt(s->lambda), k, s->x);                     // x = k/√λ
    be->chol_update(f, l->L, s->x);                                      // A' += x·xᵀ
}

/* whether the batch of edits t0 … t0+n−1 ends past a multiple of K (an incremental refactorisation) */
static bool crosses_refactor(const d4s_state *s, int64_t t0, int n) {
    int K = s->o.refactor_every;
    return s->o.solve == D4S_INCREMENTAL && K > 0 && (t0 + n) / K > t0 / K;
}

/* Layer i takes log records t0 … t0+n−1 as one batch: N += R·Kᵀ and S += K·Kᵀ (exact: one rank-n
 * update each; incremental: n rank-1 updates), with steps the incremental path's n RLS steps of the
 * factor and Δ, then with refactor the factor and Δ recomputed. An edit takes every step; a replay skips
 * the steps a later refactorisation overwrites, with the same operations on N and S. */
static int take_batch(d4s_state *s, int i, int64_t t0, int n, bool steps, bool refactor, char *err,
                      size_t errlen) {
    const backend *be = s->be;
    d4s_layer_state *l = &s->ly[i];
    int d = s->d, f = s->d_ff;
    upload_batch(s, t0, n, i);
    if (s->o.solve == D4S_EXACT) {
        be->dgemm(true, false, d, f, n, 1.0, s->Rt, d, s->Kt, f, 1.0, l->N, f); // N += R·Kᵀ
        be->dsyrk_acc(f, n, 1.0, s->K, n, l->S, f);                            // S += K·Kᵀ
    } else {
        for (int j = 0; j < n; j++) {
            const double *k = s->Kt + (size_t)j * f, *r = s->Rt + (size_t)j * d;
            if (steps) rls_step(s, i, k, r);
            be->dger_acc(d, f, 1.0, r, k, l->N, f);           // N += r·kᵀ
            if (l->S) be->dger_acc(f, f, 1.0, k, k, l->S, f); // S += k·kᵀ
        }
    }
    return refactor ? refactor_layer(s, i, err, errlen) : 0;
}

int d4s_update_layer(d4s_state *s, int i, const double *k, char *err, size_t errlen) {
    if (i < 0 || i >= s->E) {
        snprintf(err, errlen, "D4S: layer position %d outside 0..%d", i, s->E - 1);
        return -1;
    }
    if (!s->batch_n || s->done[i]) {
        snprintf(err, errlen, "D4S: layer %d updated without a new d4s_begin", s->ly[i].layer);
        return -1;
    }
    int n = s->batch_n, f = s->d_ff;
    int64_t t0 = s->t - n;
    for (int j = 0; j < n; j++) memcpy(rec_k(s, t0 + j, i), k + (size_t)j * f, (size_t)f * sizeof(double));
    s->done[i] = 1;
    bool refactor = s->o.solve == D4S_EXACT || crosses_refactor(s, t0, n);
    return take_batch(s, i, t0, n, true, refactor, err, errlen);
}

const double *d4s_delta(const d4s_state *s, int i) { return s->ly[i].delta; }
const double *d4s_factor(const d4s_state *s, int i) { return s->ly[i].L; }
int64_t d4s_edits(const d4s_state *s) { return s->t; }
int d4s_layer(const d4s_state *s, int i) { return s->ly[i].layer; }
int d4s_n_layers(const d4s_state *s) { return s->E; }
double d4s_lambda(const d4s_state *s) { return s->lambda; }
void d4s_dims(const d4s_state *s, int *d, int *d_ff) {
    *d = s->d;
    *d_ff = s->d_ff;
}

/* ---- serialisation: fixed header, the layer list, the batch sizes, then the log ---- */

typedef struct d4s_header {
    char magic[8];
    uint32_t version;
    int32_t d, d_ff, E;
    double lambda;
    int64_t t, n_batch;
} d4s_header;

int d4s_serialise(const d4s_state *s, void **buf, size_t *len, char *err, size_t errlen) {
    for (int i = 0; s->batch_n && i < s->E; i++)
        if (!s->done[i]) {
            snprintf(err, errlen, "D4S: cannot save while edit %lld lacks the keys of layer %d", (long long)s->t,
                     s->ly[i].layer);
            return -1;
        }
    d4s_header h = {.version = D4S_VERSION, .d = s->d, .d_ff = s->d_ff, .E = s->E, .lambda = s->lambda, .t = s->t,
                    .n_batch = s->n_batch};
    memcpy(h.magic, D4S_MAGIC, 8);
    size_t layer_bytes = (size_t)s->E * sizeof(int32_t), batch_bytes = (size_t)s->n_batch * sizeof(int32_t);
    size_t log_bytes = (size_t)s->t * rec_len(s) * sizeof(double);
    *len = sizeof h + layer_bytes + batch_bytes + log_bytes;
    unsigned char *p = malloc(*len);
    if (!p) {
        snprintf(err, errlen, "D4S: out of memory serialising %zu bytes", *len);
        return -1;
    }
    memcpy(p, &h, sizeof h);
    for (int i = 0; i < s->E; i++) {
        int32_t li = s->ly[i].layer;
        memcpy(p + sizeof h + (size_t)i * sizeof li, &li, sizeof li);
    }
    if (batch_bytes) memcpy(p + sizeof h + layer_bytes, s->batch_len, batch_bytes);
    if (log_bytes) memcpy(p + sizeof h + layer_bytes + batch_bytes, s->log, log_bytes);
    *buf = p;
    return 0;
}

/* Layer i of an empty state takes the logged batches in order, as the edits did: every batch moves N
 * and S; the factor and Δ are recomputed where the edits recomputed them last (exact: after the last
 * batch; incremental: at the last refactorisation, with RLS steps only for the batches after it). The
 * edits' operations on the same inputs, so the state is bitwise the one that wrote the log. */
static int replay_layer(d4s_state *s, int i, int64_t T, char *err, size_t errlen) {
    int64_t last_refactor = -1, t = 0; // incremental: the last batch whose update refactorised
    for (int64_t b = 0; b < s->n_batch; t += s->batch_len[b++])
        if (crosses_refactor(s, t, s->batch_len[b])) last_refactor = b;
    s->t = 0;
    int rc = 0;
    for (int64_t b = 0; b < s->n_batch && !rc; b++) {
        int n = s->batch_len[b];
        int64_t t0 = s->t;
        s->t += n;
        bool refactor = s->o.solve == D4S_EXACT ? b == s->n_batch - 1 : b == last_refactor;
        rc = take_batch(s, i, t0, n, b > last_refactor, refactor, err, errlen);
    }
    s->t = T;
    return rc;
}

const double *d4s_last_batch(const d4s_state *s, int *n) {
    *n = s->n_batch > 0 ? s->batch_len[s->n_batch - 1] : 0;
    return *n ? rec_r(s, s->t - *n) : NULL;
}

size_t d4s_record_len(const d4s_state *s) { return rec_len(s); }

d4s_state *d4s_from_log(const backend *be, int d, int d_ff, int E, const int *layers, double lambda,
                        int64_t n_batch, const int32_t *batch_len, const double *log, const float *const *C,
                        const d4s_opts *o, char *err, size_t errlen) {
    int64_t t = 0;
    for (int64_t b = 0; b < n_batch; b++) {
        if (batch_len[b] <= 0) {
            snprintf(err, errlen, "D4S state: batch %lld has %d edits", (long long)b, batch_len[b]);
            return NULL;
        }
        t += batch_len[b];
    }
    d4s_state *s = alloc_state(be, d, d_ff, E, layers, lambda, C, o, err, errlen);
    if (!s || d4s_reset(s, err, errlen)) { // the empty state of d4s_create
        d4s_free(s);
        return NULL;
    }
    size_t rec = rec_len(s);
    s->batch_len = malloc((size_t)(n_batch > 0 ? n_batch : 1) * sizeof(int32_t));
    s->log = t > 0 ? malloc((size_t)t * rec * sizeof(double)) : NULL;
    if (!s->batch_len || (t > 0 && !s->log)) {
        snprintf(err, errlen, "D4S state: out of memory for a log of %lld edits", (long long)t);
        d4s_free(s);
        return NULL;
    }
    if (n_batch) memcpy(s->batch_len, batch_len, (size_t)n_batch * sizeof(int32_t));
    if (t > 0) memcpy(s->log, log, (size_t)t * rec * sizeof(double));
    s->cap = t;
    s->batch_cap = s->n_batch = n_batch;
    for (int i = 0; i < s->E; i++)
        if (replay_layer(s, i, t, err, errlen)) {
            d4s_free(s);
            return NULL;
        }
    if (n_batch > 0) { // as after the last batch's d4s_update_layer calls
        s->batch_n = s->batch_len[n_batch - 1];
        memset(s->done, 1, (size_t)s->E);
    }
    return s;
}

d4s_state *d4s_deserialise(const backend *be, const void *buf, size_t len, const float *const *C,
                           const d4s_opts *o, char *err, size_t errlen) {
    d4s_header h;
    if (len < sizeof h) {
        snprintf(err, errlen, "D4S state: %zu bytes is shorter than its header", len);
        return NULL;
    }
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, D4S_MAGIC, 8) || h.version != D4S_VERSION) {
        snprintf(err, errlen, "D4S state: not a version-%u D4S state (bad magic or version)", D4S_VERSION);
        return NULL;
    }
    if (h.d <= 0 || h.d_ff <= 0 || h.E <= 0 || h.E > 4096 || h.t < 0 || h.n_batch < 0 || h.n_batch > h.t) {
        snprintf(err, errlen, "D4S state: invalid header (d %d, d_ff %d, layers %d, edits %lld, batches %lld)", h.d,
                 h.d_ff, h.E, (long long)h.t, (long long)h.n_batch);
        return NULL;
    }
    size_t rec = (size_t)h.d + (size_t)h.E * h.d_ff;
    size_t layer_bytes = (size_t)h.E * sizeof(int32_t), batch_bytes = (size_t)h.n_batch * sizeof(int32_t);
    size_t want = sizeof h + layer_bytes + batch_bytes + (size_t)h.t * rec * sizeof(double);
    if (len != want) {
        snprintf(err, errlen, "D4S state: %zu bytes, but its header (%lld edits) needs %zu", len, (long long)h.t,
                 want);
        return NULL;
    }
    const unsigned char *p = buf;
    int layers[h.E];
    for (int i = 0; i < h.E; i++) {
        int32_t li;
        memcpy(&li, p + sizeof h + (size_t)i * sizeof li, sizeof li);
        layers[i] = li;
    }
    int32_t *batch_len = malloc(batch_bytes + sizeof(int32_t));
    double *log = malloc((size_t)h.t * rec * sizeof(double) + sizeof(double));
    if (!batch_len || !log) {
        free(batch_len), free(log);
        snprintf(err, errlen, "D4S state: out of memory for a log of %lld edits", (long long)h.t);
        return NULL;
    }
    memcpy(batch_len, p + sizeof h + layer_bytes, batch_bytes);
    memcpy(log, p + sizeof h + layer_bytes + batch_bytes, (size_t)h.t * rec * sizeof(double));
    int64_t sum = 0;
    for (int64_t b = 0; b < h.n_batch; b++) sum += batch_len[b] > 0 ? batch_len[b] : h.t + 1;
    d4s_state *s = NULL;
    if (sum != h.t)
        snprintf(err, errlen, "D4S state: its batch sizes do not add up to its %lld edits", (long long)h.t);
    else
        s = d4s_from_log(be, h.d, h.d_ff, h.E, layers, h.lambda, h.n_batch, batch_len, log, C, o, err, errlen);
    free(batch_len);
    free(log);
    return s;
}

int d4s_save(const d4s_state *s, const char *path, char *err, size_t errlen) {
    void *buf;
    size_t len;
    if (d4s_serialise(s, &buf, &len, err, errlen)) return -1;
    FILE *f = fopen(path, "wb");
    int rc = !f || fwrite(buf, 1, len, f) != len;
    if (f && fclose(f)) rc = 1;
    free(buf);
    if (rc) snprintf(err, errlen, "%s: cannot write the D4S state", path);
    return rc ? -1 : 0;
}

d4s_state *d4s_load(const backend *be, const char *path, const float *const *C, const d4s_opts *o, char *err,
                    size_t errlen) {
    size_t n;
    void *buf = file_read_all(path, &n);
    if (!buf || n == 0) {
        snprintf(err, errlen, buf ? "%s: the D4S state is empty" : "%s: cannot read the D4S state", path);
        free(buf);
        return NULL;
    }
    d4s_state *s = d4s_deserialise(be, buf, n, C, o, err, errlen);
    free(buf);
    if (!s) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s", path, err);
        snprintf(err, errlen, "%s", msg);
    }
    return s;
}
