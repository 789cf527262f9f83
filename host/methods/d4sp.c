/* D4S-P behind editor.h (editing-spec §11.6): D4S (§4, §10.3: live model W₀ + Δ_t, z_t and r_t = δ_t once
 * on W₀, each layer's keys on W₀ with this edit's lower layers written in) solved in the null space of
 * C on W₀ (nullspace.h, U: d_ff × m). Per edited layer l at position i of E, all float64:
 *   Ñ = Σ_t r_t k̃_tᵀ (d × m),  S̃ = Σ_t k̃_t k̃_tᵀ (m × m),  k̃ = Uᵀk,
 *   Δ_t = (Ñ/(E−i))·(S̃ + μΛ + αI)⁻¹·Uᵀ,
 * with μ = mom2_update_weight and α = L2. P = I (τ above C's largest eigenvalue), μ = λ, α = 0 is D4S.
 * One Cholesky of the m × m system per layer and edit (D4S's exact path; the incremental path of §11.6.3
 * is not implemented). The call's record is its log records (r_t, then k̃_{t,l} of every layer); the replay
 * of every record accumulates Ñ and S̃ with the edits' own operations and solves once, so the state and
 * W = W₀ + Δ_t are bitwise the running ones. */
#include "editor_impl.h"
#include "normal_eq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct d4sp_layer {
    nullspace ns;
    double *N;     /* device (d, m): Ñ */
    double *S;     /* device (m, m): S̃ */
    double *base;  /* device (m, m): μΛ + αI */
    size_t at;     /* offset of k̃ in a log record */
} d4sp_layer;

typedef struct d4sp_state {
    d4sp_layer *ly;
    size_t rec;    /* doubles per log record: d + Σ m_l */
    double *last;  /* host (n, rec): the last call's log records */
    int n;
} d4sp_state;

static d4sp_state *state(const editor *e) { return e->priv; }

static int d4sp_reset(editor *e, char *err, size_t errlen) {
    d4sp_state *s = state(e);
    int d = e->m->cfg.d;
    for (int i = 0; i < e->E; i++) {
        d4sp_layer *l = &s->ly[i];
        e->m->be->zero(l->N, (size_t)d * l->ns.m * sizeof(double));
        e->m->be->zero(l->S, (size_t)l->ns.m * l->ns.m * sizeof(double));
    }
    free(s->last);
    s->last = NULL;
    s->n = 0;
    return 0;
}

static int d4sp_prepare(editor *e, char *err, size_t errlen) {
    const backend *be = e->m->be;
    d4sp_state *s = calloc(1, sizeof *s);
    e->priv = s;
    s->ly = calloc((size_t)e->E, sizeof *s->ly);
    s->rec = (size_t)e->m->cfg.d;
    for (int i = 0; i < e->E; i++) {
        d4sp_layer *l = &s->ly[i];
        if (editor_nullspace(e, i, &l->ns, err, errlen)) return -1;
        int m = l->ns.m;
        l->N = be->alloc((size_t)e->m->cfg.d * m * sizeof(double));
        l->S = be->alloc((size_t)m * m * sizeof(double));
        l->base = be->alloc((size_t)m * m * sizeof(double));
        nullspace_diag(be, &l->ns, e->hp.lambda, e->hp.l2, l->base);
        l->at = s->rec;
        s->rec += (size_t)m;
    }
    return d4sp_reset(e, err, errlen);
}

/* Layer i takes n log records (host, rec doubles each): Ñ += R·K̃ and S̃ += K̃K̃ᵀ */
static void take_records(editor *e, int i, int n, const double *recs) {
    const backend *be = e->m->be;
    d4sp_state *s = state(e);
    d4sp_layer *l = &s->ly[i];
    int d = e->m->cfg.d, m = l->ns.m;
    double *R = malloc((size_t)n * d * sizeof(double)), *Kr = malloc((size_t)n * m * sizeof(double));
    double *KT = malloc((size_t)n * m * sizeof(double));
    for (int j = 0; j < n; j++) {
        memcpy(R + (size_t)j * d, recs + (size_t)j * s->rec, (size_t)d * sizeof(double));
        memcpy(Kr + (size_t)j * m, recs + (size_t)j * s->rec + l->at, (size_t)m * sizeof(double));
    }
    neq_transpose(Kr, n, m, KT);
    double *Rd = be->alloc((size_t)n * d * sizeof(double));  // (n, d) residuals as rows
    double *Kd = be->alloc((size_t)n * m * sizeof(double));  // (n, m) reduced keys as rows
    double *KTd = be->alloc((size_t)n * m * sizeof(double)); // (m, n) reduced keys as columns
    be->to_device(Rd, R, (size_t)n * d * sizeof(double));
    be->to_device(Kd, Kr, (size_t)n * m * sizeof(double));
    be->to_device(KTd, KT, (size_t)n * m * sizeof(double));
    be->dgemm(true, false, d, m, n, 1.0, Rd, d, Kd, m, 1.0, l->N, m); // Ñ += R·K̃
    be->dsyrk_acc(m, n, 1.0, KTd, n, l->S, m);                        // S̃ += K̃K̃ᵀ
    be->free(Rd), be->free(Kd), be->free(KTd);
    free(R), free(Kr), free(KT);
}

/* Δ_i = (Ñ/(E−i))·(S̃ + μΛ + αI)⁻¹·Uᵀ, then W = W₀ + Δ_i */
static int solve_layer(editor *e, int i, char *err, size_t errlen) {
    const backend *be = e->m->be;
    d4sp_layer *l = &state(e)->ly[i];
    int d = e->m->cfg.d, f = e->m->cfg.d_ff, m = l->ns.m;
    double *A = be->alloc((size_t)m * m * sizeof(double));  // (m, m) S̃ + μΛ + αI, then its factor
    double *B = be->alloc((size_t)d * m * sizeof(double));  // (d, m) Ñ/(E−i), then ·A⁻¹
    double *D = be->alloc((size_t)d * f * sizeof(double));  // (d, d_ff) Δ
    be->copy(A, l->base, (size_t)m * m * sizeof(double));
    be->f64_axpy((int64_t)m * m, 1.0, l->S, A);
    be->f64_axpy((int64_t)d * m, 1.0 / (e->E - i), l->N, B);
    char what[80];
    snprintf(what, sizeof what, "D4S-P layer %d", e->hp.layers[i]);
    int rc = nullspace_factor(be, m, A, what, err, errlen);
    if (!rc) {
        nullspace_solve(be, &l->ns, f, d, A, B, 1.0, D); // Δ = (Ñ/(E−i))·A⁻¹·Uᵀ
        editor_set_delta(e, i, D);                      // W_l = W₀_l + Δ_{t,l}
    }
    be->free(A), be->free(B), be->free(D);
    return rc ? -1 : 0;
}

static int d4sp_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    model *m = e->m;
    const backend *be = m->be;
    d4sp_state *s = state(e);
    int E = e->E, f = m->cfg.d_ff;
    double *K = malloc((size_t)n * f * sizeof(double));
    free(s->last);
    s->last = calloc((size_t)n * s->rec, sizeof(double));
    s->n = n;
    int rc = editor_residuals_on_w0(e, p, n, s->last, (size_t)s->rec, out, err, errlen);
    for (int i = 0; i < E && !rc; i++) {
        d4sp_layer *l = &s->ly[i];
        int mm = l->ns.m;
        rc = editor_keys(e, p, n, i, K, err, errlen);
        editor_mark(e, PHASE_KEYS);
        if (rc) break;
        double *Kd = be->alloc((size_t)n * f * sizeof(double)), *Kt = be->alloc((size_t)n * mm * sizeof(double));
        double *Kh = malloc((size_t)n * mm * sizeof(double));
        be->to_device(Kd, K, (size_t)n * f * sizeof(double));
        be->dgemm(false, true, n, mm, f, 1.0, Kd, f, l->ns.Ut, f, 0.0, Kt, mm); // k̃_j = Uᵀk_j (rows)
        be->to_host(Kh, Kt, (size_t)n * mm * sizeof(double));
        for (int j = 0; j < n; j++) memcpy(s->last + (size_t)j * s->rec + l->at, Kh + (size_t)j * mm, (size_t)mm * sizeof(double));
        be->free(Kd), be->free(Kt), free(Kh);
        take_records(e, i, n, s->last);
        rc = solve_layer(e, i, err, errlen);
        editor_mark(e, PHASE_SOLVE);
    }
    free(K);
    return rc;
}

static void d4sp_free(editor *e) {
    d4sp_state *s = state(e);
    for (int i = 0; i < e->E; i++) {
        d4sp_layer *l = &s->ly[i];
        void *dev[] = {l->N, l->S, l->base};
        for (int k = 0; k < 3; k++)
            if (dev[k]) e->m->be->free(dev[k]);
        nullspace_free(e->m->be, &l->ns);
    }
    free(s->ly);
    free(s->last);
    free(s);
}

/* the call's log records: their count, then each record */
static int d4sp_journal(const editor *e, blob *b, char *err, size_t errlen) {
    const d4sp_state *s = state(e);
    int32_t n = s->n;
    blob_put(b, &n, sizeof n);
    blob_put(b, s->last, (size_t)s->n * s->rec * sizeof(double));
    return 0;
}

static int d4sp_replay(editor *e, int n, blob_reader *parts, char *err, size_t errlen) {
    d4sp_state *s = state(e);
    for (int k = 0; k < n; k++) {
        int32_t c;
        if (!blob_get(&parts[k], &c, sizeof c) || c < 1 ||
            parts[k].len - parts[k].at != (size_t)c * s->rec * sizeof(double)) {
            snprintf(err, errlen, "D4S-P: record %d does not hold whole log records", k);
            return -1;
        }
        free(s->last);
        s->last = malloc((size_t)c * s->rec * sizeof(double));
        s->n = c;
        blob_get(&parts[k], s->last, (size_t)c * s->rec * sizeof(double));
        for (int i = 0; i < e->E; i++) take_records(e, i, c, s->last);
    }
    for (int i = 0; i < e->E; i++)
        if (solve_layer(e, i, err, errlen)) return -1;
    return 0;
}

static int d4sp_dim(const editor *e, int i) { return state(e)->ly[i].ns.m; }

const edit_method_ops d4sp_ops = {.prepare = d4sp_prepare, .edit = d4sp_edit, .reset = d4sp_reset, .free = d4sp_free,
                                  .journal = d4sp_journal, .replay = d4sp_replay, .nullspace_dim = d4sp_dim,
                                  .needs_cov = true, .edits_w_out = true};
