/* FT-L (editing-spec §3, §10.9): fine-tune one MLP matrix of one block, and its bias, with Adam on the
 * "prompt_last" objective. For a prompt x (P tokens) and target y:
 *   L = (1/|y|)·Σ_t −log p(y_t | x)   (every target token scored at the last prompt position, P − 1),
 * one optimiser step per request and epoch, skipped when L < stop_loss; an edit stops once an epoch's
 * mean loss is < stop_loss (EE: 1e-2). With a norm constraint ε every step is followed by the L∞ box W ∈ [W_pre − ε, W_pre + ε]
 * (bias likewise), W_pre the weights at the start of this edit. Adam's moments start at zero in every
 * edit; the weights are written in place on the model, so updates accumulate across edits. W₀ (the
 * weights when the state was made) is kept for ft_reset and the norms. */
#ifndef KEDIT_FT_H
#define KEDIT_FT_H

#include "model.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct ft_hparams {
    int layer;             /* the block whose matrix is trained */
    int which;             /* 0: W_out (c_proj / fc_out / down_proj), 1: W_in (c_fc / fc_in / gate_proj) */
    int num_steps;         /* epochs per edit (EE num_steps) */
    float lr;              /* Adam learning rate (adam.h's β₁, β₂, ε; no weight decay) */
    float norm_constraint; /* ε of the L∞ box; 0: none (EE norm_constraint: false) */
    float stop_loss;       /* no step below this loss, and an epoch mean below it ends the edit (EE: 1e-2) */
} ft_hparams;

/* one request as token ids: the prompt (BOS included where the tokenizer adds it) and the target
 * (leading space, no BOS; editing-spec §10.10) */
typedef struct ft_request {
    const int *prompt;
    int n_prompt;
    const int *target;
    int n_target;
} ft_request;

typedef struct ft_result {
    int epochs;            /* epochs run */
    int steps;             /* optimiser steps taken */
    double loss_first;     /* mean loss of the first epoch */
    double loss_last;      /* mean loss of the last epoch */
} ft_result;

/* The fields of an FT hyper-parameter file (EasyEdit's names): "layers" (one), "rewrite_module_tmp" (the
 * matrix: …c_proj / fc_out / down_proj or …c_fc / fc_in / gate_proj), "num_steps", "lr",
 * "norm_constraint" (a number, or false for none), "objective_optimization" ("prompt_last"),
 * "weight_decay" (0 if present), and kedit's optional "stop_loss" (default 1e-2). Non-zero with
 * "<path>: field … problem" in err. */
int ft_hparams_parse(const cJSON *root, const char *path, ft_hparams *h, char *err, size_t errlen);

typedef struct ft_state ft_state;

/* Checks the hyper-parameters against m (layer in range, which 0/1, num_steps ≥ 1, lr > 0, ε ≥ 0, stop_loss ≥ 0) and
 * keeps W₀. NULL with a message in err on failure. */
ft_state *ft_create(model *m, const ft_hparams *h, char *err, size_t errlen);
void ft_free(ft_state *s);

/* One edit of n requests (batch size 1: one step per request per epoch). Non-zero with a message in err
 * on a bad request (empty prompt or target, too long, ids outside the vocabulary). */
int ft_edit(ft_state *s, const ft_request *r, int n, ft_result *res, char *err, size_t errlen);

/* The editor's form of an edit (editor_impl.h's edit op): request j is p[j]'s bare prompt (ctx[0]) and
 * target y; out[j] gets the objective's first- and last-epoch loss and exp(−loss) as the probability
 * (the geometric-mean probability of the target tokens at the last prompt position), and the steps. */
struct edit_prompts;
struct edit_outcome;
int ft_edit_prompts(ft_state *s, const struct edit_prompts *p, int n, struct edit_outcome *out, char *err,
                    size_t errlen);

/* the trained matrix and bias on the model (device) and their W₀ copies (device; b, b0 NULL without bias) */
void ft_weights(const ft_state *s, const linear **W, const float **W0, const float **b0);

/* the model's matrix and bias back to W₀ */
void ft_reset(ft_state *s);

/* the trained matrix and bias as bytes ("KEDITFT1", layer, which, out, in, has_bias, then W and b as
 * float32), and back onto the model; *buf is malloc'd */
int ft_save(const ft_state *s, void **buf, size_t *len, char *err, size_t errlen);
int ft_load(ft_state *s, const void *buf, size_t len, char *err, size_t errlen);

#endif
