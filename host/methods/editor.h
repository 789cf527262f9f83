/* The method-agnostic editing interface the runner drives: create an editor for a model and a method's
 * hyper-parameters, prepare it (context templates, covariance statistics, method state), then edit —
 * each call computes the update of the request(s) and applies it to the model — and reset to the original
 * weights W₀. All eight methods are behind it (editor_impl.h's table): ROME, MEMIT, D4S, PMET, AlphaEdit
 * and D4S-P write the W_out matrices of their edited layers, FT-L trains one MLP matrix and its bias, GRACE leaves the weights
 * alone and adds a codebook adapter that is active in scoring through editor_eval_hooks. Sequential
 * semantics (editing-spec §3, §4, §10.3, §11): ROME, MEMIT, PMET, AlphaEdit and FT change the current weights
 * (W ← W + Δ), D4S and D4S-P set W = W₀ + Δ_t from their accumulated state, GRACE's codebook persists across edits.
 *
 * A run can stop and resume exactly: editor_journal gives the durable record of each edit call (a few
 * vectors per layer for the closed-form methods), and editor_replay of the records into a freshly created
 * and prepared editor (same model file, hyper-parameters, templates and covariances) makes the model and
 * the method's state bitwise what they were. */
#ifndef KEDIT_EDITOR_H
#define KEDIT_EDITOR_H

#include "covariance.h"
#include "d4s.h"
#include "edit_report.h"
#include "eval_hooks.h"
#include "hparams.h"
#include "prompts.h"
#include "templates.h"

typedef struct edit_request {
    const char *prompt;  /* with "{}" for the subject, or containing the subject */
    const char *subject;
    const char *target;  /* the new object; a leading space is added before tokenisation */
} edit_request;

typedef struct editor_resources {
    const tokenizer *tok;           /* needed for text requests, template generation and statistics */
    const ctx_templates *templates; /* given templates (copied); else templates_path or generated */
    const char *templates_path;     /* frozen templates file: loaded if present, else generated and saved */
    float *const *C;                /* given covariances per edited layer (device float32, copied); else cov */
    const cov_opts *cov;            /* corpus and cache for cov_get (max_tokens 0: the config's mom2_n_tokens) */
} editor_resources;

typedef struct editor editor;

/* the layers of h must exist in m; W₀ of each edited layer is copied. NULL with a message on failure. */
editor *editor_create(model *m, const edit_hparams *h, char *err, size_t errlen);
int editor_prepare(editor *e, const editor_resources *r, char *err, size_t errlen);

/* n requests as one edit call (batch size n); out: n outcomes (may be NULL). After a failure the weights
 * and the method's state may be half updated: editor_reset before editing again. */
int editor_edit(editor *e, const edit_request *req, int n, edit_outcome *out, char *err, size_t errlen);
/* the same from token-level prompts (p: n requests; FT and GRACE use the bare prompt ctx[0] and y) */
int editor_edit_prompts(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen);

/* W ← W₀ on every changed matrix and the method's state cleared */
int editor_reset(editor *e, char *err, size_t errlen);
/* frees the editor; the model keeps its current weights */
void editor_free(editor *e);

/* The durable record of the last edit call, for a resumed run (*buf malloc'd, n bytes): a header naming the
 * method, layers and model shape, each matrix's increment norm, then ROME, MEMIT and PMET: the factors of
 * each layer's Δ (delta_factors.h, n·(d + d_ff) + 1 doubles per layer); D4S: the call's records of its log
 * (r and the keys of every layer, d + E·d_ff doubles per request); AlphaEdit: the factors, then each
 * layer's reduced keys Uᵀk (m doubles per request); D4S-P: its log records (r and Uᵀk of every layer, d + Σ m
 * doubles per request); FT and GRACE (editor_journal_is_snapshot):
 * a snapshot of their whole state (FT: its trained matrix and bias, d·d_ff floats; GRACE: its codebook), of
 * which only the latest is needed. Fails while an edit is incomplete. */
int editor_journal(const editor *e, void **buf, size_t *n, char *err, size_t errlen);
bool editor_journal_is_snapshot(const editor *e);
/* Into a freshly created and prepared editor of the same method, layers and model (and the same
 * covariances, templates and options): the records of every edit call in order, or a snapshot method's
 * latest alone. ROME, MEMIT, PMET and AlphaEdit make each Δ again from its factors and add it as the edit
 * did (AlphaEdit also adds the keys to its cache C̃_p); D4S rebuilds its state from the log (d4s_from_log),
 * D4S-P accumulates Ñ and S̃ from its log, and both set W = W₀ + Δ_t; so the model and the method's state
 * are bitwise the running ones on the same backend. Non-zero with a message in err on a malformed or foreign
 * record. */
int editor_replay(editor *e, int n, const void *const *rec, const size_t *len, char *err, size_t errlen);

/* Hooks that make scoring forwards see the method's adapter (run/metrics.h, *_hooked), or NULL for the
 * methods whose edits are all in the weights. GRACE: its codebook queried at every scored position, and
 * with "scoring": "generation" accuracy by greedy generation. Valid until editor_free. */
const eval_hooks *editor_eval_hooks(editor *e);

int editor_n_layers(const editor *e);                     /* edited layers (FT, GRACE: 1) */
int editor_layer(const editor *e, int i);                 /* model layer of edited position i */
const double *editor_last_delta(const editor *e, int i);  /* the method's last Δ (device d × d_ff float64):
                                                           * the increment (ROME, MEMIT, PMET) or Δ_t (D4S);
                                                           * NULL for FT and GRACE */
const float *editor_w0(const editor *e, int i);           /* W₀ of position i (device d × d_ff); NULL for FT, GRACE */
const float *editor_cov(const editor *e, int i);          /* C of position i (device d_ff × d_ff, as regularised);
                                                           * NULL where the method needs none */
const ctx_templates *editor_templates(const editor *e);
const cov_info *editor_cov_info(const editor *e, int i);  /* NULL where no statistic was needed or it was given */
d4s_state *editor_d4s(editor *e);                         /* the D4S state (NULL for other methods) */
int editor_nullspace_dim(const editor *e, int i);         /* AlphaEdit, D4S-P: m of position i's null space
                                                           * (editing-spec §11.1); −1 for other methods */

/* The matrices whose norms are recorded: W_out of each edited layer ("layer17.mlp_out"), FT's trained
 * matrix ("layer0.mlp_out" or "layer21.mlp_in"), GRACE's adapter ("layer35.grace") */
int editor_n_matrices(const editor *e);
const char *editor_matrix_name(const editor *e, int i);
/* the norms of matrix i (0 … editor_n_matrices − 1) after the last edit; non-zero when i is out of range */
int editor_norms(const editor *e, int i, layer_norms *out);

#endif
