/* The helpers the methods behind the editor share (editor_impl.h): the phase mark, the compute_z settings
 * of the hyper-parameters, writing a Δ into W_out (added, or over W₀) and restoring W₀, and the weight
 * norms of a matrix. Below editor.c, which dispatches to the methods. */
#include "editor_impl.h"
#include "keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define Z_STOP_LOSS 5e-2f /* compute_z ends once the loss is below this (the references' constant) */

void editor_mark(editor *e, edit_phase ph) { phase_mark(&e->clock, ph); }

z_opts editor_z_opts(const editor *e, site_kind site, int layer) {
    const edit_hparams *h = &e->hp;
    return (z_opts){site, layer, h->v_num_grad_steps, h->v_lr, h->v_weight_decay, h->kl_factor,
                    h->clamp_norm_factor, Z_STOP_LOSS};
}

/* f32(delta[i]) in a new device buffer */
static float *delta_f32(editor *e, int i) {
    float *d = e->m->be->alloc(editor_w_elems(e) * sizeof(float)); // (d, d_ff)
    e->m->be->f64_to_f32(e->delta[i], d, (int64_t)editor_w_elems(e));
    return d;
}

void editor_add_delta(editor *e, int i) {
    const backend *be = e->m->be;
    float *d = delta_f32(e, i);
    be->axpy((int64_t)editor_w_elems(e), 1.0f, d, editor_w_out(e, i)); // W ← W + Δ
    e->inc_fro[i] = sqrt(be->sum_sq(d, (int64_t)editor_w_elems(e)));
    be->free(d);
}

void editor_set_delta(editor *e, int i, const double *delta_new) {
    const backend *be = e->m->be;
    float *old = delta_f32(e, i);
    be->copy(e->delta[i], delta_new, editor_w_elems(e) * sizeof(double));
    float *w = delta_f32(e, i);
    e->inc_fro[i] = sqrt(be->sum_sq_diff(w, old, (int64_t)editor_w_elems(e)));
    be->axpy((int64_t)editor_w_elems(e), 1.0f, e->W0[i], w); // W = W₀ + Δ
    be->copy(editor_w_out(e, i), w, editor_w_elems(e) * sizeof(float));
    be->free(w);
    be->free(old);
}

void editor_restore(editor *e) {
    for (int i = 0; e->W0 && i < e->E; i++) e->m->be->copy(editor_w_out(e, i), e->W0[i], editor_w_elems(e) * sizeof(float));
}

void editor_weight_norms(const backend *be, const float *w, const float *w0, int64_t n, double inc_fro,
                         layer_norms *out) {
    out->dev_l1_mean = be->sum_abs_diff(w, w0, n) / (double)n; // ‖W − W₀‖₁/numel
    out->dev_fro = sqrt(be->sum_sq_diff(w, w0, n));          // ‖W − W₀‖_F
    out->inc_fro = inc_fro;
    out->w_l1_mean = be->sum_abs(w, n) / (double)n;          // ‖W‖₁/numel
    out->codebook_size = out->values_norm = NAN;
}

int editor_nullspace(editor *e, int i, nullspace *ns, char *err, size_t errlen) {
    char msg[384];
    if (nullspace_get(e->m->be, e->m->cfg.d_ff, e->C[i], e->cov[i].eps, e->hp.nullspace_threshold, e->hp.layers[i], ns,
                      msg, sizeof msg)) {
        snprintf(err, errlen, "%s: %s", method_name(e->hp.method), msg);
        return -1;
    }
    fprintf(stderr, "kedit: %s layer %d: null space of C below τ = %g: m = %d of %d\n", method_name(e->hp.method),
            e->hp.layers[i], e->hp.nullspace_threshold, ns->m, e->m->cfg.d_ff);
    return 0;
}

int editor_residuals_on_w0(editor *e, const edit_prompts *p, int n, double *r, size_t stride, edit_outcome *out,
                           char *err, size_t errlen) {
    int d = e->m->cfg.d;
    float *z0 = malloc((size_t)d * sizeof(float)), *delta = malloc((size_t)d * sizeof(float));
    editor_restore(e); // z and r on W₀
    editor_mark(e, PHASE_APPLY);
    z_opts zo = editor_z_opts(e, SITE_BLOCK_OUT, e->hp.layers[e->E - 1]);
    int rc = 0;
    for (int j = 0; j < n && !rc; j++) {
        z_result zr;
        if ((rc = compute_z(e->m, &p[j], &zo, z0, delta, &zr)))
            snprintf(err, errlen, "%s: compute_z failed", method_name(e->hp.method));
        for (int c = 0; c < d; c++) r[(size_t)j * stride + c] = delta[c]; // r_t = z_t − h_L(W₀) = δ_t
        out[j] = (edit_outcome){.prob_init = zr.prob_init, .prob_final = zr.prob_final, .loss_init = zr.loss_init,
                                .loss_final = zr.loss_final, .z_passes = zr.passes};
    }
    editor_mark(e, PHASE_Z);
    free(z0), free(delta);
    return rc;
}

int editor_keys(const editor *e, const edit_prompts *p, int n, int i, double *K, char *err, size_t errlen) {
    int f = e->m->cfg.d_ff, layer = e->hp.layers[i];
    for (int j = 0; j < n; j++)
        if (keys_mean(e->m, &p[j], layer, K + (size_t)j * f)) {
            snprintf(err, errlen, "%s: the key forward at layer %d failed", method_name(e->hp.method), layer);
            return -1;
        }
    return 0;
}
