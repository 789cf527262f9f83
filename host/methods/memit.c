#include "memit.h"

#include "editor_impl.h"
#include "keys.h"
#include "normal_eq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int memit_delta(const backend *be, int d, int d_ff, int n, const double *K, const double *R, const float *C,
                double lambda, double split, double *delta, delta_factors *fac, char *err, size_t errlen) {
    size_t kb = (size_t)n * d_ff * sizeof(double);
    double *Kh = malloc(kb);
    neq_transpose(K, n, d_ff, Kh);
    double *Kc = be->alloc(kb);                                   // (d_ff, n) keys as columns
    double *X = be->alloc(kb);                                    // (n, d_ff) keys as rows, then (A'⁻¹K)ᵀ
    double *L = be->alloc((size_t)d_ff * d_ff * sizeof(double));  // (d_ff, d_ff) factor of C + KKᵀ/λ
    be->to_device(Kc, Kh, kb);
    be->to_device(X, K, kb);
    free(Kh);
    neq_load_cov(be, d_ff, C, L);
    be->dsyrk_acc(d_ff, n, 1.0 / lambda, Kc, n, L, d_ff);                  // A' = C + KKᵀ/λ
    int rc = neq_factor(be, d_ff, L, "MEMIT", err, errlen);
    if (!rc) {
        be->potrs_right(d_ff, n, L, X); // X = Kᵀ·A'⁻¹
        delta_factors f = {.n = n, .alpha = 1.0 / (lambda * split), .U = malloc((size_t)n * d * sizeof(double)),
                           .V = malloc(kb)};
        memcpy(f.U, R, (size_t)n * d * sizeof(double));
        be->to_host(f.V, X, kb);
        delta_from_factors(be, d, d_ff, &f, delta); // Δ = Rᵀ·X/(λ(E−i)) = (R/(E−i))·Kᵀ·(λC + KKᵀ)⁻¹
        if (fac) *fac = f;
        else delta_factors_free(&f);
    }
    void *dev[] = {Kc, X, L};
    for (size_t j = 0; j < sizeof dev / sizeof *dev; j++) be->free(dev[j]);
    return rc ? -1 : 0;
}

/* ---- MEMIT's edit loop, and the MEMIT edit behind editor.h: z on the current model, then layer by layer
 * keys on the current model (lower layers already updated), residuals re-measured, Δ added in place ---- */

int memit_edit_layers(editor *e, const edit_prompts *p, int n, edit_outcome *out, layer_solve_fn solve, char *err,
                      size_t errlen) {
    model *m = e->m;
    const char *name = method_name(e->hp.method);
    int E = e->E, L = e->hp.layers[E - 1], d = m->cfg.d, f = m->cfg.d_ff;
    float *z = malloc((size_t)n * d * sizeof(float)), *delta = malloc((size_t)d * sizeof(float));
    float *h = malloc((size_t)d * sizeof(float));
    double *K = malloc((size_t)n * f * sizeof(double)), *R = malloc((size_t)n * d * sizeof(double));
    z_opts zo = editor_z_opts(e, SITE_BLOCK_OUT, L);
    int rc = 0;
    for (int j = 0; j < n && !rc; j++) { // z_j = z₀ + δ at block L
        z_result zr;
        float *zj = z + (size_t)j * d;
        if ((rc = compute_z(m, &p[j], &zo, zj, delta, &zr))) snprintf(err, errlen, "%s: compute_z failed", name);
        for (int c = 0; c < d; c++) zj[c] += delta[c];
        out[j] = (edit_outcome){.prob_init = zr.prob_init, .prob_final = zr.prob_final, .loss_init = zr.loss_init,
                                .loss_final = zr.loss_final, .z_passes = zr.passes};
    }
    editor_mark(e, PHASE_Z);
    site_kind site = SITE_BLOCK_OUT;
    for (int i = 0; i < E && !rc; i++) {
        for (int j = 0; j < n && !rc; j++) {
            float *outs[1] = {h};
            rc = keys_mean(m, &p[j], e->hp.layers[i], K + (size_t)j * f) || capture_bare(m, &p[j], 1, &site, &L, outs);
            for (int c = 0; c < d; c++) R[(size_t)j * d + c] = (double)z[(size_t)j * d + c] - h[c]; // R = Z − H_L
        }
        if (rc) snprintf(err, errlen, "%s: the key/residual forward at layer %d failed", name, e->hp.layers[i]);
        editor_mark(e, PHASE_KEYS);
        if (!rc) rc = solve(e, i, n, K, R, err, errlen);
        editor_mark(e, PHASE_SOLVE);
        if (!rc) editor_add_delta(e, i);
        editor_mark(e, PHASE_APPLY);
    }
    free(z), free(delta), free(h), free(K), free(R);
    return rc;
}

static int memit_solve(editor *e, int i, int n, const double *K, const double *R, char *err, size_t errlen) {
    return memit_delta(e->m->be, e->m->cfg.d, e->m->cfg.d_ff, n, K, R, e->C[i], e->hp.lambda, (double)(e->E - i),
                       e->delta[i], &e->fac[i], err, errlen);
}

static int memit_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    return memit_edit_layers(e, p, n, out, memit_solve, err, errlen);
}

const edit_method_ops memit_ops = {.edit = memit_edit, .journal_factors = true, .needs_cov = true, .edits_w_out = true};
