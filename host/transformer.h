/* The transformer, written once against backend.h: a batched forward over sequences of different
 * lengths (right padding, per-sequence positions, so padding never changes a number) with hooks that
 * capture, add to or replace activations, and the backward the editing methods need (gradients with
 * respect to activations at chosen sites, and the weight gradient of one MLP matrix). */
#ifndef KEDIT_TRANSFORMER_H
#define KEDIT_TRANSFORMER_H

#include "model.h"

/* Activation sites inside block `layer`. */
typedef enum {
    SITE_RESID_IN = 0, /* block input (residual stream before the block), d */
    SITE_ATTN_NORM,    /* LN1 output: the input of q, k, v (and of the MLP for GPT-J), d */
    SITE_ATTN_CTX,     /* attention context: the input of the output projection o, d */
    SITE_ATTN_OUT,     /* output of o (bias included), d */
    SITE_MLP_NORM,     /* the input of W_in (LN2 output; LN1 output for GPT-J), d */
    SITE_MLP_PRE,      /* output of W_in (pre-activation; Llama: the gate), d_ff */
    SITE_MLP_KEY,      /* input of W_out (post-activation): the key k, d_ff */
    SITE_MLP_OUT,      /* output of W_out (bias included), d */
    SITE_BLOCK_OUT,    /* block output (residual stream after the block), d */
    SITE_COUNT
} site_kind;

typedef struct kpos {
    int seq, pos; /* sequence index in the batch, token position in it */
} kpos;

typedef enum {
    HOOK_CAPTURE, /* copy the site's value at the positions into data (n × dim) */
    HOOK_ADD,     /* add data to the site's value at the positions (ATTN_OUT, MLP_PRE, MLP_KEY, MLP_OUT, BLOCK_OUT) */
    HOOK_REPLACE, /* set the site's value at the positions to data (ATTN_OUT, MLP_PRE, MLP_OUT: linear outputs) */
} hook_kind;

typedef struct khook {
    hook_kind kind;
    site_kind site;
    int layer;
    int n;            /* number of positions */
    const kpos *at;   /* n positions */
    float *data;      /* host memory: (n × dim), or (1 × dim) when shared (ADD/REPLACE only) */
    bool shared;      /* one vector applied at every position */
} khook;

typedef struct kbatch {
    int n_seq;
    const int *len;         /* n_seq lengths, each ≥ 1 */
    const int *const *ids;  /* n_seq token-id arrays */
} kbatch;

typedef struct fwd_opts {
    const khook *hooks;
    int n_hooks;
    /* logits: at the n_logit positions logit_at (device copy kept for loss and backward); if
     * logits_host is not NULL they are also copied there (n_logit × vocab). With logit_at NULL and
     * n_logit −1, logits are computed at every real token, in batch order. */
    int n_logit;
    const kpos *logit_at;
    float *logits_host;
    /* keep the activations the backward needs, for blocks ≥ bwd_from_layer; −1 keeps nothing */
    int bwd_from_layer;
    /* stop after block stop_layer (no logits); −1 runs the whole model */
    int stop_layer;
    /* start at block start_layer (0: from the embeddings; n_layer: at the final norm) with its input, the
     * residual stream, in start_resid: a device buffer of an earlier forward of the same batch
     * (fwd_state_take_resid), copied, never changed. The blocks below are not run; hooks at
     * (start_layer − 1, SITE_BLOCK_OUT) apply to the copy, and the backward gives the gradient there.
     * This is how an optimisation over a δ at block L runs the unchanged blocks once, not every step. */
    int start_layer;
    const float *start_resid;
} fwd_opts;

typedef struct fwd_state fwd_state; /* activations of one forward, owned by the caller */

/* Runs the forward. Returns NULL with a message on stderr on bad input (positions out of range). */
fwd_state *transformer_forward(const model *m, const kbatch *b, const fwd_opts *o);
void fwd_state_free(fwd_state *s);

/* The residual stream entering block `layer` ≥ 1 (block layer − 1's output) of a forward whose last block
 * was layer − 1 (stop_layer = layer − 1, or a whole forward for layer n_layer), handed over as a device
 * buffer in the batch's padded layout for fwd_opts.start_resid; free it with the backend's free. NULL
 * for any other layer. */
float *fwd_state_take_resid(fwd_state *s, int layer);

/* A KL term of transformer_loss: weight·KL(p ‖ p_ref) on one logit row, p_ref given by its
 * log-probabilities (vocab floats) in device memory, uploaded once for all the passes that compare with
 * it. */
typedef struct kl_term {
    int row;
    float weight;
    const float *ref_logp;
} kl_term;

/* The loss on the logit rows of the last forward: Σ_r w_nll[r]·NLL(row r, y[r]), rows with weight 0
 * skipped, plus the KL term (NULL: none; skipped at weight 0). The gradient with respect to the logits is
 * kept in s for the backward. Returns the loss; row_loss_host (NULL or n_logit floats) gets it per row. */
double transformer_loss(const model *m, fwd_state *s, const int *y, const float *w_nll, const kl_term *kl,
                        float *row_loss_host);

typedef struct bwd_opts {
    /* gradients of the loss with respect to the site values at the hooks' positions, written to each
     * hook's data (n × dim; summed into 1 × dim when shared). Sites at layers ≥ bwd_from_layer. */
    const khook *grads;
    int n_grads;
    /* weight gradient of one MLP matrix of block wgrad_layer when dW is not NULL: W_out (which 0) or
     * W_in (which 1), written to dW (out × in) and db (out; may be NULL) in host memory */
    int wgrad_layer, wgrad_which;
    float *dW, *db;
} bwd_opts;

/* Backpropagates the loss of transformer_loss from the logits down to the lowest requested site. */
int transformer_backward(const model *m, fwd_state *s, const bwd_opts *o);

/* The width of a site's value (d or d_ff). */
int site_dim(const model_config *c, site_kind s);
const char *site_name(site_kind s);

#endif
