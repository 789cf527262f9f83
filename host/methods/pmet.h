/* PMET (editing-spec §3, §10.8): MEMIT's machinery with two target vectors optimised jointly at the last
 * edited layer L, and the update written into the FFN (W_out) only.
 *
 * Target vectors. δ_attn is added to the attention output projection's output (SITE_ATTN_OUT) and δ_mlp
 * to W_out's output (SITE_MLP_OUT) of block L, at the lookup index (subject's last token) of every
 * rewriting prompt and of the KL prompt. With a₀, m₀ those sites' values at the bare prompt's lookup
 * index (first pass) and p_init the KL prompt's next-token distribution there, Adam (adam.h: β
 * 0.9/0.999, ε 1e-8) minimises
 *   nll_factor·mean_i[−Σ_t log p(y_t | prompt i)]/|y| + kl_factor·KL(p ‖ p_init)
 *   + wd·(‖δ_mlp‖/‖m₀‖² + ‖δ_attn‖/‖a₀‖²).
 * Each pass, before stepping: a loss below stop_loss ends it; when the target is the argmax at every
 * target position of every rewriting prompt, nll_factor becomes 0.1·nll_factor for the rest of the edit
 * and a KL(p ‖ p_init) ≤ 0.01 ends it; the last pass does not step. After a step each δ is clamped
 * separately, ‖δ_mlp‖ ≤ clamp·‖m₀‖, ‖δ_attn‖ ≤ clamp·‖a₀‖. z_mlp = m₀ + δ_mlp (z_attn = a₀ + δ_attn is
 * reported; the published configurations update W_out only).
 *
 * Update. For the edited layers l_i (i = 0..E−1, ascending), on the current model (lower layers already
 * carrying this call's update): K the template-averaged keys of layer l_i, R = z_mlp − m_L(current) the
 * W_out-output residual at layer L on the bare prompt, and
 *   Δ_i = (R/√(E−i))·Kᵀ·(λC_i + K·Kᵀ)⁻¹   (float64, memit.h),
 * added to W_out of l_i before the next layer's keys are taken. Updates accumulate across edits. */
#ifndef KEDIT_PMET_H
#define KEDIT_PMET_H

#include "delta_factors.h"
#include "phase_clock.h"
#include "prompts.h"
#include "transformer.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct pmet_z_opts {
    int layer;                /* L */
    int steps;                /* v_num_grad_steps: forward passes at most */
    float lr;                 /* v_lr */
    float weight_decay;       /* v_weight_decay */
    float kl_factor;
    float clamp_norm_factor;
    float nll_factor;         /* nll_loss_factor (1 in every published configuration) */
    float stop_loss;          /* 5e-2 in the references */
} pmet_z_opts;

typedef struct pmet_z_result {
    double prob_init, prob_final; /* mean over rewriting prompts of exp(−NLL_i), first and last pass */
    double loss_init, loss_final; /* total loss of the first and last pass */
    int passes;                   /* forward passes run */
    int nll_drop_pass;            /* the pass that lowered nll_factor (−1: none) */
} pmet_z_result;

/* The joint optimisation for one request. a0, m0, delta_attn, delta_mlp: d floats each (host),
 * written. Non-zero on a forward or backward failure. */
int pmet_compute_zs(const model *m, const edit_prompts *p, const pmet_z_opts *o, float *a0, float *m0,
                    float *delta_attn, float *delta_mlp, pmet_z_result *r);

/* Δ_i of edited layer position i of E (model layer `layer`, z layer L) for n requests (p[0..n)) with
 * targets z_mlp (n × d, host), on the current model; C: device float32 (d_ff × d_ff); delta: device
 * float64 (d × d_ff); its factors (delta_factors.h) go to fac when it is not NULL. The caller adds it to W_out of `layer` before the next position. clk (may be NULL)
 * gets the key forwards (PHASE_KEYS) and the solve (PHASE_SOLVE). Non-zero with a message in err on a
 * forward failure or a system that is not positive definite. */
int pmet_layer_delta(const model *m, const edit_prompts *p, int n, const float *z_mlp, int L, int layer, int i,
                     int E, const float *C, double lambda, double *delta, delta_factors *fac, phase_clock *clk,
                     char *err, size_t errlen);

/* One edit of n requests: z_mlp of each (pmet_compute_zs on the current model, zr[j] its result, zr may
 * be NULL), then for i = 0..E−1 Δ_i (pmet_layer_delta) into delta[i] (device d × d_ff float64) and its
 * factors into fac[i] (fac: E, or NULL), handed
 * to apply(ctx, i), which must add it to W_out of layers[i] (as editor_add_delta does) before the next
 * layer's keys are taken. C: E device covariances. clk (may be NULL) gets the phases: the target vectors
 * (PHASE_Z), each layer's key forwards, solve and apply. Non-zero with a message in err on failure. */
int pmet_edit(const model *m, const edit_prompts *p, int n, const pmet_z_opts *o, int E, const int *layers,
              float *const *C, double lambda, double *const *delta, delta_factors *fac,
              void (*apply)(void *ctx, int i), void *ctx, phase_clock *clk, pmet_z_result *zr, char *err,
              size_t errlen);

#endif
