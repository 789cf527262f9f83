/* PMET (pmet.h): its loss on z_optimise's loop (the device's NLL and KL, with the nll_factor drop and
 * the KL stop of §10.8), the residuals and keys of each edited layer, and an edit's layers in turn. */
#include "pmet.h"

#include "keys.h"
#include "memit.h"
#include "z_optimise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define PMET_NLL_DROP 0.1 /* nll_factor multiplier once the target is the argmax everywhere */
#define PMET_KL_STOP 0.01 /* with the target the argmax everywhere, a KL(p ‖ p_init) this small ends it */

/* whether the target is the argmax at every target row of the pass's host logits */
static bool target_is_argmax(const z_batch *b, int V, const float *logits) {
    for (int r = 0; r < b->n * b->ny; r++) {
        const float *x = logits + (size_t)r * V;
        for (int v = 0; v < V; v++)
            if (x[v] > x[b->y[r]]) return false;
    }
    return true;
}

typedef struct zs_loss_ctx {
    const model *m;
    const pmet_z_opts *o;
    double nll_factor;  /* o->nll_factor, then PMET_NLL_DROP·o->nll_factor once the target is the argmax */
    int nll_drop_pass;  /* the pass that lowered it (−1: none) */
} zs_loss_ctx;

/* PMET's loss (sites: δ_attn, δ_mlp), taken once, on the device (transformer_loss, which also sets the
 * gradient): nll_factor·NLL + kl·KL per row, read back and unweighted for the probability and the stop rule */
static double zs_loss_eval(void *ctx, const z_pass *pass, double *prob, bool *stop) {
    zs_loss_ctx *c = ctx;
    const pmet_z_opts *o = c->o;
    const z_batch *b = pass->b;
    int n = b->n, ny = b->ny;
    double w = c->nll_factor / (n * ny); // per target row: the mean over prompts of each prompt's mean NLL
    for (int q = 0; q < n * ny; q++) pass->w_nll[q] = (float)w;
    double loss = transformer_loss(c->m, pass->s, b->y, pass->w_nll, pass->kl, pass->row_loss);
    *prob = 0;
    for (int i = 0; i < n; i++) {
        double nll_i = 0; // Σ_t −log p(y_t)/|y| of prompt i
        for (int j = 0; j < ny; j++) nll_i += pass->row_loss[i * ny + j] / (double)pass->w_nll[i * ny + j] / ny;
        *prob += exp(-nll_i) / n;
    }
    double kl = pass->row_loss[b->kl_row] / o->kl_factor; // KL(p ‖ p_init) of the KL prompt
    const double *dn = pass->delta_norm, *x0n2 = pass->x0_norm2;
    loss += o->weight_decay * (dn[1] / x0n2[1] + dn[0] / x0n2[0]); // + wd·(‖δ_mlp‖/‖m₀‖² + ‖δ_attn‖/‖a₀‖²)
    *stop = loss < o->stop_loss;
    if (!*stop && target_is_argmax(b, c->m->cfg.vocab, pass->logits)) {
        if (c->nll_drop_pass < 0) c->nll_drop_pass = pass->it;
        c->nll_factor = PMET_NLL_DROP * o->nll_factor; // for the rest of this edit (§10.8)
        *stop = kl <= PMET_KL_STOP;
    }
    return loss;
}

int pmet_compute_zs(const model *m, const edit_prompts *p, const pmet_z_opts *o, float *a0, float *m0,
                    float *delta_attn, float *delta_mlp, pmet_z_result *r) {
    zs_loss_ctx c = {m, o, o->nll_factor, -1};
    z_loop_opts lo = {o->layer, o->steps, o->lr, o->weight_decay, o->kl_factor, o->clamp_norm_factor};
    z_site sites[2] = {{SITE_ATTN_OUT, a0, delta_attn}, {SITE_MLP_OUT, m0, delta_mlp}};
    z_loss loss = {zs_loss_eval, &c, true};
    z_result zr;
    int rc = z_optimise(m, p, &lo, sites, 2, &loss, &zr);
    *r = (pmet_z_result){.prob_init = zr.prob_init, .prob_final = zr.prob_final, .loss_init = zr.loss_init,
                         .loss_final = zr.loss_final, .passes = zr.passes, .nll_drop_pass = c.nll_drop_pass};
    return rc;
}

int pmet_layer_delta(const model *m, const edit_prompts *p, int n, const float *z_mlp, int L, int layer, int i,
                     int E, const float *C, double lambda, double *delta, delta_factors *fac, phase_clock *clk,
                     char *err, size_t errlen) {
    int d = m->cfg.d, f = m->cfg.d_ff;
    double *K = malloc((size_t)n * f * sizeof(double)); // (n, d_ff) template-averaged keys as rows
    double *R = malloc((size_t)n * d * sizeof(double)); // (n, d) residuals z_mlp − m_L as rows
    float *mL = malloc((size_t)d * sizeof(float));
    site_kind site = SITE_MLP_OUT;
    int rc = 0;
    for (int j = 0; j < n && !rc; j++) {
        rc = keys_mean(m, &p[j], layer, K + (size_t)j * f) || capture_bare(m, &p[j], 1, &site, &L, &mL);
        for (int q = 0; q < d && !rc; q++) R[(size_t)j * d + q] = (double)z_mlp[(size_t)j * d + q] - mL[q];
    }
    if (rc) snprintf(err, errlen, "PMET: a forward pass for the keys of layer %d failed", layer);
    phase_mark(clk, PHASE_KEYS);
    if (!rc) rc = memit_delta(m->be, d, f, n, K, R, C, lambda, sqrt((double)(E - i)), delta, fac, err,
                                  errlen); // R/√(E−i)
    phase_mark(clk, PHASE_SOLVE);
    free(K);
    free(R);
    free(mL);
    return rc;
}

int pmet_edit(const model *m, const edit_prompts *p, int n, const pmet_z_opts *o, int E, const int *layers,
              float *const *C, double lambda, double *const *delta, delta_factors *fac,
              void (*apply)(void *ctx, int i), void *ctx, phase_clock *clk, pmet_z_result *zr, char *err,
              size_t errlen) {
    if (E < 1 || o->layer != layers[E - 1]) {
        snprintf(err, errlen, "PMET: the z layer %d is not the last edited layer", o->layer);
        return -1;
    }
    int d = m->cfg.d, rc = 0;
    float *z = malloc((size_t)n * d * sizeof(float)); // (n, d) z_mlp = m₀ + δ_mlp per request
    float *a0 = malloc((size_t)d * sizeof(float)), *da = malloc((size_t)d * sizeof(float));
    for (int j = 0; j < n && !rc; j++) {
        pmet_z_result r;
        float *zj = z + (size_t)j * d, *dm = malloc((size_t)d * sizeof(float));
        rc = pmet_compute_zs(m, &p[j], o, a0, zj, da, dm, &r); // zj ← m₀
        for (int q = 0; q < d; q++) zj[q] += dm[q];
        if (zr) zr[j] = r;
        free(dm);
        if (rc) snprintf(err, errlen, "PMET: the target vectors of request %d failed (see the message above)", j);
    }
    phase_mark(clk, PHASE_Z);
    for (int i = 0; i < E && !rc; i++) {
        rc = pmet_layer_delta(m, p, n, z, o->layer, layers[i], i, E, C[i], lambda, delta[i], fac ? &fac[i] : NULL,
                              clk, err, errlen);
        if (!rc) apply(ctx, i);
        phase_mark(clk, PHASE_APPLY);
    }
    free(z), free(a0), free(da);
    return rc;
}
