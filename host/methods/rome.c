#include "rome.h"

#include "editor_impl.h"
#include "keys.h"
#include "normal_eq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rome_left_vector(const backend *be, int d_ff, const double *k_mean, const float *C, double *u, char *err,
                     size_t errlen) {
    for (int j = 0; j < d_ff; j++) u[j] = k_mean[j];
    if (C) {
        double *L = be->alloc((size_t)d_ff * d_ff * sizeof(double)); // (d_ff, d_ff) factor of C
        double *ud = be->alloc((size_t)d_ff * sizeof(double));
        neq_load_cov(be, d_ff, C, L);
        int rc = be->potrf(d_ff, L);
        if (!rc) {
            be->to_device(ud, u, (size_t)d_ff * sizeof(double));
            be->potrs_right(d_ff, 1, L, ud); // u = C⁻¹k̄
            be->to_host(u, ud, (size_t)d_ff * sizeof(double));
        }
        be->free(L);
        be->free(ud);
        if (rc) {
            snprintf(err, errlen, "ROME: the covariance C is not positive definite (leading minor %d of %d)", rc, d_ff);
            return -1;
        }
    }
    double norm = 0;
    for (int j = 0; j < d_ff; j++) norm += u[j] * u[j];
    norm = sqrt(norm);
    if (!(norm > 0)) {
        snprintf(err, errlen, "ROME: the key of the subject is zero, no update direction");
        return -1;
    }
    for (int j = 0; j < d_ff; j++) u[j] /= norm; // u ← u/‖u‖
    return 0;
}

int rome_delta(const backend *be, int d, int d_ff, const double *u, const double *k_star, const double *z_minus_m,
               double *delta, delta_factors *fac, char *err, size_t errlen) {
    double ku = 0;
    for (int j = 0; j < d_ff; j++) ku += k_star[j] * u[j];
    if (ku == 0 || !isfinite(ku)) {
        snprintf(err, errlen, "ROME: k*ᵀu is %g, the update is undefined", ku);
        return -1;
    }
    delta_factors f = {.n = 1, .alpha = 1.0, .U = malloc((size_t)d * sizeof(double)),
                       .V = malloc((size_t)d_ff * sizeof(double))};
    for (int j = 0; j < d; j++) f.U[j] = z_minus_m[j] / ku; // v = (z − m*)/(k*ᵀu)
    memcpy(f.V, u, (size_t)d_ff * sizeof(double));
    delta_from_factors(be, d, d_ff, &f, delta); // Δ = v·uᵀ
    if (fac) *fac = f;
    else delta_factors_free(&f);
    return 0;
}

/* ---- the ROME edit behind editor.h: one request per call, applied in place (W ← W + v·uᵀ) ---- */

static int rome_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    if (n != 1) {
        snprintf(err, errlen, "ROME edits one request per call (got %d)", n);
        return -1;
    }
    model *m = e->m;
    int L = e->hp.layers[0], d = m->cfg.d, f = m->cfg.d_ff;
    double *kbar = malloc((size_t)f * sizeof(double)), *u = malloc((size_t)f * sizeof(double));
    double *kstar_d = malloc((size_t)f * sizeof(double)), *zm = malloc((size_t)d * sizeof(double));
    float *z0 = malloc((size_t)d * sizeof(float)), *delta = malloc((size_t)d * sizeof(float));
    float *kstar = malloc((size_t)f * sizeof(float)), *mstar = malloc((size_t)d * sizeof(float));
    int rc = keys_mean(m, p, L, kbar); // k̄ over the ROME templates (one group: uniform)
    if (rc) snprintf(err, errlen, "ROME: the key forward failed");
    editor_mark(e, PHASE_KEYS);
    if (!rc) rc = rome_left_vector(m->be, f, kbar, e->hp.mom2_adjustment ? e->C[0] : NULL, u, err, errlen);
    editor_mark(e, PHASE_SOLVE);
    z_result zr;
    z_opts zo = editor_z_opts(e, SITE_MLP_OUT, L);
    if (!rc && (rc = compute_z(m, p, &zo, z0, delta, &zr))) snprintf(err, errlen, "ROME: compute_v failed");
    editor_mark(e, PHASE_Z);
    site_kind sites[2] = {SITE_MLP_KEY, SITE_MLP_OUT};
    int layers[2] = {L, L};
    float *outs[2] = {kstar, mstar};
    if (!rc && (rc = capture_bare(m, p, 2, sites, layers, outs))) snprintf(err, errlen, "ROME: the k*, m* forward failed");
    editor_mark(e, PHASE_KEYS);
    if (!rc) {
        for (int j = 0; j < f; j++) kstar_d[j] = kstar[j];
        for (int j = 0; j < d; j++) zm[j] = ((double)z0[j] + delta[j]) - mstar[j]; // z − m*
        rc = rome_delta(m->be, d, f, u, kstar_d, zm, e->delta[0], &e->fac[0], err, errlen);
    }
    editor_mark(e, PHASE_SOLVE);
    if (!rc) {
        editor_add_delta(e, 0);
        editor_mark(e, PHASE_APPLY);
        out[0] = (edit_outcome){.prob_init = zr.prob_init, .prob_final = zr.prob_final, .loss_init = zr.loss_init,
                                .loss_final = zr.loss_final, .z_passes = zr.passes};
    }
    free(kbar), free(u), free(kstar_d), free(zm), free(z0), free(delta), free(kstar), free(mstar);
    return rc;
}

const edit_method_ops rome_ops = {.edit = rome_edit, .journal_factors = true, .needs_cov = false, .edits_w_out = true};
