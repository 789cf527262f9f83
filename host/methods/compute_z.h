/* compute_z (MEMIT, D4S: δ on the block output of the last edited layer L) and ROME's compute_v (δ on the
 * W_out output of its layer), editing-spec §2 and §10.10–10.12. One vector δ ∈ R^d, added at the lookup
 * index (subject's last token) of every rewriting prompt and of the KL prompt, is optimised by Adam
 * (adam.h: β 0.9/0.999, ε 1e-8, no Adam weight decay) on
 *   mean_i [−Σ_t log p(y_t | rewriting prompt i)]/|y|  +  kl_factor·KL(p_cur ‖ p_init)(KL prompt)
 *   + weight_decay·‖δ‖/‖z₀‖²,
 * with z₀ the site's value at the bare prompt's lookup index (δ = 0) and p_init the KL prompt's
 * next-token distribution on the first pass. A step that brings the loss under stop_loss ends it; the
 * last iteration does not step; after each step ‖δ‖ is clamped to clamp_norm_factor·‖z₀‖. z = z₀ + δ.
 * The rewriting prompts are right-padded in one batch (each sequence computed as if unpadded); blocks
 * 0…L, which δ does not change, run once, and every pass runs blocks L+1… from their output plus δ (the
 * loop, shared with PMET: z_optimise.h). */
#ifndef KEDIT_COMPUTE_Z_H
#define KEDIT_COMPUTE_Z_H

#include "prompts.h"
#include "transformer.h"
#include "z_result.h"

typedef struct z_opts {
    site_kind site;  /* SITE_BLOCK_OUT (MEMIT, D4S) or SITE_MLP_OUT (ROME) */
    int layer;       /* L */
    int steps;       /* v_num_grad_steps: forward passes at most */
    float lr;        /* v_lr */
    float weight_decay, kl_factor, clamp_norm_factor;
    float stop_loss; /* 5e-2 in the references */
} z_opts;

/* z0 and delta: d floats each (host), written; z = z0 + delta. Non-zero on a forward/backward failure. */
int compute_z(const model *m, const edit_prompts *p, const z_opts *o, float *z0, float *delta, z_result *r);

#endif
