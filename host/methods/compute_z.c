/* compute_z and compute_v (compute_z.h): one δ on z_optimise's loop, with the loss of the references,
 * mean NLL + kl_factor·KL(p ‖ p_init) from the device plus wd·‖δ‖/‖z₀‖², stopping under stop_loss. */
#include "compute_z.h"

#include "z_optimise.h"

#include <math.h>
#include <stdlib.h>

typedef struct z_loss_ctx {
    const model *m;
    const z_opts *o;
} z_loss_ctx;

static double z_loss_eval(void *ctx, const z_pass *pass, double *prob, bool *stop) {
    z_loss_ctx *c = ctx;
    const z_batch *b = pass->b;
    int n = b->n, ny = b->ny;
    if (pass->it == 0) // 1/(n·|y|) on the target rows, 0 on the KL row: mean over prompts of Σ_t(−log p)/|y|
        for (int q = 0; q < n * ny; q++) pass->w_nll[q] = 1.0f / (float)(n * ny);
    double loss = transformer_loss(c->m, pass->s, b->y, pass->w_nll, pass->kl, pass->row_loss); // NLL + kl·KL
    *prob = 0;
    for (int i = 0; i < n; i++) {
        double nll_i = 0; // Σ_t −log p(y_t)/|y| = n·Σ_t row_loss
        for (int j = 0; j < ny; j++) nll_i += pass->row_loss[i * ny + j];
        *prob += exp(-nll_i * n) / n;
    }
    loss += c->o->weight_decay * pass->delta_norm[0] / pass->x0_norm2[0]; // + wd·‖δ‖/‖z₀‖²
    *stop = loss < c->o->stop_loss;
    return loss;
}

int compute_z(const model *m, const edit_prompts *p, const z_opts *o, float *z0, float *delta, z_result *r) {
    z_loss_ctx c = {m, o};
    z_loop_opts lo = {o->layer, o->steps, o->lr, o->weight_decay, o->kl_factor, o->clamp_norm_factor};
    z_site site = {o->site, z0, delta};
    z_loss loss = {z_loss_eval, &c, false};
    return z_optimise(m, p, &lo, &site, 1, &loss, r);
}
