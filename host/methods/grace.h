/* GRACE (editing-spec §3, §10.7): a codebook adapter on one MLP matrix of one block; the model's weights
 * never change. The adapter's query is the matrix's input at a token, its value replaces the matrix's
 * output there:
 *   W_out adapter (which 0): query SITE_MLP_KEY (d_ff), value SITE_MLP_OUT (d)
 *   W_in  adapter (which 1): query SITE_MLP_NORM (d),   value SITE_MLP_PRE (d_ff)
 * The codebook holds keys k_i, values v_i, radii ε_i and labels (the target's token ids). A query q is
 * matched by its nearest key j (Euclidean; ties to the older key) when ‖q − k_j‖ ≤ ε_j (+ 1e-5·‖k_j‖ for
 * float32 recomputation: the query that expanded ε_j lies exactly on the boundary).
 *
 * An edit (prompt x of P tokens, target y) takes q at the last prompt token (P − 1), then with the
 * nearest key j at distance d:
 *   empty codebook, or d > ε₀ + ε_j      add (q, v_new, ε₀, y)
 *   else, label of j ≠ y                 add (q, v_new, d/2, y) and split: ε_j = d/2 − 1e-5
 *   else                                 expand: ε_j = max(ε_j, d)
 * v_new is cold, U[0,1)^{d_out}, from the state's seeded generator. The value of the key that then
 * matches q is trained with Adam (lr edit_lr, n_iter steps, moments fresh per edit) on the causal-LM
 * loss of x ‖ y with the prompt masked, L = (1/|y|)·Σ_t −log p(y_t | x, y_<t), the value replacing the
 * output at P − 1. The codebook persists across edits.
 *
 * At evaluation every scored position is a query (grace_eval_hooks): a forward that stops at the
 * adapter's block captures the queries, the matches are decided here, and the caller's full forward
 * carries REPLACE hooks at the matched positions (exact: a replacement at block l changes nothing at
 * or below block l's MLP input). */
#ifndef KEDIT_GRACE_H
#define KEDIT_GRACE_H

#include "transformer.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct grace_hparams {
    int layer;      /* the block of the wrapped matrix */
    int which;      /* 0: W_out (down_proj / fc_out / c_proj), 1: W_in (c_fc / fc_in / gate_proj) */
    int n_iter;     /* Adam steps per edit */
    float edit_lr;  /* Adam learning rate (adam.h's β₁, β₂, ε) */
    double eps;     /* ε₀, the radius of a new key */
    uint64_t seed;  /* of the cold value initialisation */
    bool score_by_generation; /* EE's scoring (greedy |y| tokens, grace_generate) rather than teacher forcing */
} grace_hparams;

/* The fields of a GRACE hyper-parameter file (EasyEdit's names): "layers" (one), "inner_params" (the
 * wrapped module, e.g. "transformer.h[35].mlp.c_fc.weight": its matrix, and its layer if bracketed, which
 * must equal layers[0]), "edit_lr", "n_iter", "eps", and the variants kedit implements, checked when
 * present: "dist_fn" "euc", "val_init" "cold", "eps_expand" "coverage", "replacement" "replace_last";
 * kedit's optional "seed" (0) and "scoring" ("teacher_forced" or "generation"). Non-zero with
 * "<path>: field … problem" in err. */
int grace_hparams_parse(const cJSON *root, const char *path, grace_hparams *h, char *err, size_t errlen);

typedef enum { GRACE_ADDED = 0, GRACE_SPLIT = 1, GRACE_EXPANDED = 2, GRACE_MATCHED = 3 } grace_action;

typedef struct grace_result {
    grace_action action; /* what the edit did to the codebook (MATCHED: within ε, same label, unchanged) */
    int nearest;         /* the nearest key before the edit (−1 when the codebook was empty) */
    double distance;     /* its distance to the query */
    int trained;         /* the key whose value was trained (−1 when none matched the query) */
    double loss_first, loss_last; /* the loss before the first and the last Adam step */
} grace_result;

typedef struct grace_state grace_state;

/* NULL with a message in err on bad hyper-parameters (layer, which, n_iter ≥ 1, lr > 0, ε₀ > 0) */
grace_state *grace_create(const model *m, const grace_hparams *h, char *err, size_t errlen);
void grace_free(grace_state *g);

/* One edit. cold_value (d_out floats) replaces the generator's draw for a key this edit adds (tests read
 * it from a fixture); NULL draws it. Non-zero with a message in err on a bad request. */
int grace_edit(grace_state *g, const int *prompt, int n_prompt, const int *target, int n_target,
               const float *cold_value, grace_result *res, char *err, size_t errlen);

/* The editor's form of n edits (editor_impl.h's edit op), one after another: request j is p[j]'s bare
 * prompt (ctx[0]) and target y; out[j] gets the training loss before the first and the last step, exp(−loss)
 * as the probability, and the steps. */
struct edit_prompts;
struct edit_outcome;
int grace_edit_prompts(grace_state *g, const struct edit_prompts *p, int n, struct edit_outcome *out, char *err,
                       size_t errlen);

/* the codebook: n keys (n × dim_key), values (n × dim_value), radii; host memory owned by g */
int grace_size(const grace_state *g);
void grace_dims(const grace_state *g, int *dim_key, int *dim_value);
const float *grace_keys(const grace_state *g);
const float *grace_values(const grace_state *g);
const double *grace_eps(const grace_state *g);
double grace_values_norm(const grace_state *g); /* ‖values‖_F, recorded after every edit (§10.13) */

/* back to an empty codebook (the generator restarts from the seed) */
void grace_reset(grace_state *g);

/* The hook that makes a forward of batch b behave as the model with the adapter, given the positions at
 * which the adapter is queried (n of them; e.g. grace_scored_positions). Runs the query pass. hook.n is 0
 * when nothing matched. Non-zero on a forward error. Free with grace_hook_free. */
typedef struct grace_hook {
    khook hook; /* HOOK_REPLACE at (layer, value site), hook.at / hook.data owned here */
    int *matched_key; /* per hook position: the codebook key used */
} grace_hook;
int grace_eval_hooks(const grace_state *g, const kbatch *b, const kpos *at, int n, grace_hook *out, char *err,
                     size_t errlen);
void grace_hook_free(grace_hook *h);

/* The teacher-forced scored positions of a batch of prompt ‖ target sequences: rows n_prompt[i] − 1 …
 * len[i] − 2 of each (malloc'd, *n set) */
kpos *grace_scored_positions(const kbatch *b, const int *n_prompt, int *n);

/* EE's generation-based scoring: greedy decoding of `steps` tokens after the prompt, the adapter queried
 * at the last prompt token and at every generated token (as a decoder with a cache would). out: steps
 * tokens. */
int grace_generate(const grace_state *g, const int *prompt, int n_prompt, int steps, int *out, char *err,
                   size_t errlen);

/* the codebook as bytes ("KEDITGR1", layer, which, dims, generator state, then per key: key, value, ε,
 * label), and back (the hyper-parameters must match); *buf is malloc'd */
int grace_save(const grace_state *g, void **buf, size_t *len, char *err, size_t errlen);
int grace_load(grace_state *g, const void *buf, size_t len, char *err, size_t errlen);

#endif
