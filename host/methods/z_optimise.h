/* The optimisation of target vectors that compute_z (one δ) and PMET (δ_attn and δ_mlp) share, editing-spec
 * §10.10–10.12 and §10.8; private to those two. Each δ_s is added at (site_s, block L) at the lookup index
 * of every rewriting prompt and of the KL prompt, all in one right-padded batch (z_batch). With δ = 0,
 * each x₀_s, the site's value at the bare prompt's lookup index, is captured, and the first pass gives
 * p_init, the KL prompt's next-token distribution. Every pass the method's loss (z_loss) sets the gradient
 * and says whether to stop; the last pass does not step. Otherwise, per δ_s: ∂ wd·‖δ_s‖/‖x₀_s‖² is added
 * to its gradient, one Adam step (adam.h) is taken and ‖δ_s‖ is clamped to clamp_norm_factor·‖x₀_s‖.
 * The blocks that no δ changes run once: those below L, and block L itself when every δ sits on its
 * output (W_out's or the block's: compute_z), where each pass then starts at block L+1 from block L's
 * output plus the δs; PMET's δ_attn feeds block L's MLP, so its passes start at block L. */
#ifndef KEDIT_Z_OPTIMISE_H
#define KEDIT_Z_OPTIMISE_H

#include "prompts.h"
#include "transformer.h"
#include "z_result.h"

#include <stdbool.h>

/* the rewriting prompts (context ids + y[:-1]) then the KL prompt, and the logit rows of the loss: |y|
 * per rewriting prompt (row i·|y| + j predicts y_j), then the KL row at the KL prompt's lookup index */
typedef struct z_batch {
    int n, ny;      /* rewriting prompts, target tokens */
    int n_seq, rows;
    int *len;
    int **ids;
    kpos *lookups;  /* n_seq positions where the δs are added */
    kpos *logit_at; /* rows */
    int *y;         /* rows labels (0 on the KL row) */
    int kl_row;     /* n·|y| */
} z_batch;

/* one optimised offset */
typedef struct z_site {
    site_kind site;
    float *x0;    /* d floats, written: x₀ */
    float *delta; /* d floats, written: δ */
} z_site;

/* what the method's loss sees of one pass */
typedef struct z_pass {
    int it;                   /* the pass, from 0 */
    fwd_state *s;             /* the pass's forward, for transformer_loss */
    const z_batch *b;
    const float *logits;      /* host (rows × vocab): on the first pass, and on every pass when asked */
    const kl_term *kl;        /* the KL row against p_init on the device, weight kl_factor */
    const double *delta_norm; /* ‖δ_s‖ per site, before this pass's step */
    const double *x0_norm2;   /* ‖x₀_s‖² per site */
    float *w_nll;             /* rows, 0 before the first pass: the loss's NLL weights, kept across passes */
    float *row_loss;          /* rows: scratch for transformer_loss's loss per row */
} z_pass;

/* the method's part: eval sets the loss's gradient in pass->s (transformer_loss) and returns the pass's
 * loss, with *prob the mean over rewriting prompts of exp(−NLL_i) and *stop set to end the optimisation
 * after this pass */
typedef struct z_loss {
    double (*eval)(void *ctx, const z_pass *pass, double *prob, bool *stop);
    void *ctx;
    bool host_logits; /* every pass's logits on the host (else the first pass's only) */
} z_loss;

typedef struct z_loop_opts {
    int layer; /* L */
    int steps; /* forward passes at most */
    float lr, weight_decay, kl_factor, clamp_norm_factor;
} z_loop_opts;

/* Optimises the n_sites δs for one request, filling r. Non-zero on a forward or backward failure. */
int z_optimise(const model *m, const edit_prompts *p, const z_loop_opts *o, const z_site *sites, int n_sites,
               const z_loss *loss, z_result *r);

#endif
