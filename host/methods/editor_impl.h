/* Private to the editing methods: the editor's state and the table a method implements to sit behind
 * editor.h, plus the weight, timing and norm helpers the methods share (editor_helpers.c). It does not
 * include editor.h: the methods sit below editor.c, which dispatches to them. */
#ifndef KEDIT_EDITOR_IMPL_H
#define KEDIT_EDITOR_IMPL_H

#include "blob.h"
#include "compute_z.h"
#include "covariance.h"
#include "delta_factors.h"
#include "edit_report.h"
#include "eval_hooks.h"
#include "hparams.h"
#include "nullspace.h"
#include "phase_clock.h"
#include "prompts.h"
#include "templates.h"

typedef struct editor editor; /* as editor.h has it; the methods below editor.c do not include it */

typedef struct edit_method_ops {
    /* after templates and covariances are in place: the method's own state (in e->priv) */
    int (*prepare)(editor *e, char *err, size_t errlen);
    /* n requests: compute and apply the update; fills out[0..n−1] (prob, loss, passes) and marks the end
     * of each phase with editor_mark */
    int (*edit)(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen);
    /* clears the method's state (W_out of the edited layers is restored by the editor) */
    int (*reset)(editor *e, char *err, size_t errlen);
    void (*free)(editor *e);
    /* a snapshot of the method's state (*buf malloc'd) and its load (FT, GRACE: editor_journal's record
     * for the methods that edit no W_out); NULL: none */
    int (*save)(const editor *e, void **buf, size_t *n, char *err, size_t errlen);
    int (*load)(editor *e, const void *buf, size_t n, char *err, size_t errlen);
    /* the method's own part of editor_journal's record (D4S, D4S-P: the call's log records; AlphaEdit: the
     * reduced keys of its cache) and the replay of the parts of every record in order; NULL: ROME, MEMIT
     * and PMET, whose part is the editor's factors */
    int (*journal)(const editor *e, blob *b, char *err, size_t errlen);
    int (*replay)(editor *e, int n, blob_reader *parts, char *err, size_t errlen);
    /* norms of matrix i for methods whose matrix is not W_out of an edited layer (FT, GRACE); NULL: the
     * editor's W_out against W₀ */
    int (*norms)(const editor *e, int i, layer_norms *out);
    /* m of edited position i's null space (AlphaEdit, D4S-P); NULL: the method has none */
    int (*nullspace_dim)(const editor *e, int i);
    bool journal_factors; /* editor_journal's record holds the factors of each Δ (ROME, MEMIT, PMET, AlphaEdit),
                           * followed by the method's own part where it has one (AlphaEdit: its reduced keys) */
    bool needs_cov;   /* λC for every edited layer (ROME: only with mom2_adjustment) */
    bool edits_w_out; /* W_out of the edited layers: the editor keeps W₀ and Δ and restores them */
} edit_method_ops;

#define EDITOR_NAME_LEN 32

struct editor {
    model *m;
    edit_hparams hp;
    const edit_method_ops *ops;
    const tokenizer *tok;
    ctx_templates templates;
    int E;            /* edited layers: hp.layers[0..E−1] */
    float **W0;       /* E device (d, d_ff): W_out at creation (edits_w_out), else NULL */
    float **C;        /* E device (d_ff, d_ff) covariances, or NULL when the method needs none */
    cov_info *cov;    /* E, valid where C came from cov_get */
    bool *cov_known;
    double **delta;   /* E device (d, d_ff): the method's last Δ (edits_w_out), else NULL */
    delta_factors *fac; /* E: the factors of the last edit call's Δ (ROME, MEMIT, PMET; n 0 otherwise) */
    double *inc_fro;  /* E: ‖ΔW‖_F of the last edit call, per matrix */
    char (*names)[EDITOR_NAME_LEN]; /* E matrix names */
    void *priv;       /* the method's own state: d4s_state (D4S), ft_state (FT), grace_state (GRACE),
                       * alphaedit_state (AlphaEdit), d4sp_state (D4S-P) */
    eval_hooks eval;  /* the adapter's scoring hooks (GRACE), make NULL otherwise */
    phase_clock clock; /* phases of the edit call in progress */
    bool prepared;
};

extern const edit_method_ops rome_ops, memit_ops, d4s_ops, ft_ops, pmet_ops, grace_ops, alphaedit_ops, d4sp_ops;

/* the solve of one layer in MEMIT's edit loop: from the n keys K (n × d_ff) and residuals R (n × d) of
 * edited position i, e->delta[i] and e->fac[i] */
typedef int (*layer_solve_fn)(editor *e, int i, int n, const double *K, const double *R, char *err, size_t errlen);
/* MEMIT's edit loop (editing-spec §3; AlphaEdit's, §11.2): z_j on the current model, then per edited layer
 * upwards the keys K and residuals R = Z − H_L measured on the current model, solve, W ← W + Δ */
int memit_edit_layers(editor *e, const edit_prompts *p, int n, edit_outcome *out, layer_solve_fn solve, char *err,
                      size_t errlen);

/* entries of one edited W_out, d·d_ff */
static inline size_t editor_w_elems(const editor *e) { return (size_t)e->m->cfg.d * e->m->cfg.d_ff; }

/* W_out of edited position i (device (d, d_ff) float32) */
static inline float *editor_w_out(const editor *e, int i) { return e->m->layers[e->hp.layers[i]].mlp_out.w; }

/* charges the wall time since the previous mark (or the start of the edit call) to phase ph */
void editor_mark(editor *e, edit_phase ph);

/* the null space of edited position i's C (nullspace.h) with the hyper-parameters' τ, logged with its m */
int editor_nullspace(editor *e, int i, nullspace *ns, char *err, size_t errlen);

/* compute_z settings of the editor's hyper-parameters at site (block output or W_out output) of layer */
z_opts editor_z_opts(const editor *e, site_kind site, int layer);

/* W_l ← W_l + f32(delta[i]) (ROME, MEMIT, PMET), recording ‖increment‖_F */
void editor_add_delta(editor *e, int i);
/* delta[i] ← delta_new (device) and W_l ← W₀_l + f32(delta_new) (D4S), recording ‖f32(Δ_new) − f32(Δ_old)‖_F */
void editor_set_delta(editor *e, int i, const double *delta_new);
/* W_l ← W₀_l on every edited layer (edits_w_out) */
void editor_restore(editor *e);

/* D4S and D4S-P's residuals on W₀: W ← W₀ (marked as PHASE_APPLY), then for each request j, z_j by
 * compute_z at the last edited layer and r_j = z_j − h_L(W₀) = δ_j, written at r + j·stride (d doubles),
 * with its outcome in out[j] (marked as PHASE_Z). err names the method on failure. */
int editor_residuals_on_w0(editor *e, const edit_prompts *p, int n, double *r, size_t stride, edit_outcome *out,
                           char *err, size_t errlen);
/* the template-averaged keys of the n requests at edited position i, as the rows of K (n × d_ff) */
int editor_keys(const editor *e, const edit_prompts *p, int n, int i, double *K, char *err, size_t errlen);

/* the four weight norms of a device matrix w (n entries) against w0, with the increment norm inc_fro;
 * the codebook fields NaN */
void editor_weight_norms(const backend *be, const float *w, const float *w0, int64_t n, double inc_fro,
                         layer_norms *out);

#endif
