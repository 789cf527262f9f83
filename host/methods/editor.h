/* The method-agnostic editing interface the runner drives: create an editor for a model and a method's
 * hyper-parameters, prepare it (context templates, covariance statistics, method state), then edit —
 * each call computes the update of the request(s) and applies it to the model's W_out matrices — and
 * reset to the original weights W₀. ROME, MEMIT and D4S are behind it; other methods plug in through
 * editor_impl.h. Sequential semantics (editing-spec §3, §4, §10.3): ROME and MEMIT add each update to the
 * current weights (W ← W + Δ), D4S sets W = W₀ + Δ_t from its accumulated state. */
#ifndef KEDIT_EDITOR_H
#define KEDIT_EDITOR_H

#include "covariance.h"
#include "d4s.h"
#include "hparams.h"
#include "prompts.h"
#include "templates.h"

typedef struct edit_request {
    const char *prompt;  /* with "{}" for the subject, or containing the subject */
    const char *subject;
    const char *target;  /* the new object; a leading space is added before tokenisation */
} edit_request;

typedef struct edit_outcome {
    double prob_init, prob_final; /* compute_z's target probability (mean over the rewriting prompts) at its
                                   * first and last pass, as the references log it */
    double loss_init, loss_final;
    int z_passes;
    double seconds;               /* wall time of the whole edit call, shared by its requests */
} edit_outcome;

typedef struct editor_resources {
    const tokenizer *tok;           /* needed for text requests, template generation and statistics */
    const ctx_templates *templates; /* given templates (copied); else templates_path or generated */
    const char *templates_path;     /* frozen templates file: loaded if present, else generated and saved */
    float *const *C;                /* given covariances per edited layer (device float32, copied); else cov */
    const cov_opts *cov;            /* corpus and cache for cov_get (max_tokens 0: the config's mom2_n_tokens) */
} editor_resources;

/* norms of one edited matrix after an edit (editing-spec §10.13) */
typedef struct layer_norms {
    double dev_l1_mean; /* ‖W − W₀‖₁/numel */
    double dev_fro;     /* ‖W − W₀‖_F */
    double inc_fro;     /* ‖ΔW of the last edit call‖_F */
    double w_l1_mean;   /* ‖W‖₁/numel */
} layer_norms;

typedef struct editor editor;

/* the layers of h must exist in m; W₀ of each edited layer is copied. NULL with a message on failure. */
editor *editor_create(model *m, const edit_hparams *h, char *err, size_t errlen);
int editor_prepare(editor *e, const editor_resources *r, char *err, size_t errlen);

/* n requests as one edit call (batch size n); out: n outcomes (may be NULL). After a failure the weights
 * and the method's state may be half updated: editor_reset before editing again. */
int editor_edit(editor *e, const edit_request *req, int n, edit_outcome *out, char *err, size_t errlen);
/* the same from token-level prompts (p: n requests) */
int editor_edit_prompts(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen);

/* W ← W₀ on every edited layer and the method's state cleared */
int editor_reset(editor *e, char *err, size_t errlen);
/* frees the editor; the model keeps its current weights */
void editor_free(editor *e);

int editor_n_layers(const editor *e);
int editor_layer(const editor *e, int i);                 /* model layer of edited position i */
const double *editor_last_delta(const editor *e, int i);  /* the method's last Δ (device d × d_ff float64):
                                                           * the increment (ROME, MEMIT) or Δ_t (D4S) */
const float *editor_w0(const editor *e, int i);           /* W₀ of position i (device d × d_ff) */
const ctx_templates *editor_templates(const editor *e);
const cov_info *editor_cov_info(const editor *e, int i);  /* NULL where no statistic was needed or it was given */
d4s_state *editor_d4s(editor *e);                         /* the D4S state (NULL for other methods) */
int editor_norms(const editor *e, int i, layer_norms *out);

#endif
