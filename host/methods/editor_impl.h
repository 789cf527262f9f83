/* Private to the editing methods: the editor's state and the table a method implements to sit behind
 * editor.h, plus the weight helpers the methods share. */
#ifndef KEDIT_EDITOR_IMPL_H
#define KEDIT_EDITOR_IMPL_H

#include "compute_z.h"
#include "editor.h"

typedef struct edit_method_ops {
    /* after templates and covariances are in place: the method's own state */
    int (*prepare)(editor *e, char *err, size_t errlen);
    /* n requests: compute and apply the update; fills out[0..n−1] (prob, loss, passes) */
    int (*edit)(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen);
    /* clears the method's state (the weights are restored by the editor) */
    int (*reset)(editor *e, char *err, size_t errlen);
    void (*free)(editor *e);
    bool needs_cov; /* λC for every edited layer (ROME: only with mom2_adjustment) */
} edit_method_ops;

struct editor {
    model *m;
    edit_hparams hp;
    const edit_method_ops *ops;
    const tokenizer *tok;
    ctx_templates templates;
    int E;            /* edited layers: hp.layers[0..E−1] */
    float **W0;       /* E device (d, d_ff): W_out at creation */
    float **C;        /* E device (d_ff, d_ff) covariances, or NULL when the method needs none */
    cov_info *cov;    /* E, valid where C came from cov_get */
    bool *cov_known;
    double **delta;   /* E device (d, d_ff): the method's last Δ */
    double *inc_fro;  /* E: ‖ΔW‖_F of the last edit call */
    d4s_state *d4s;
    bool prepared;
};

extern const edit_method_ops rome_ops, memit_ops, d4s_ops;

/* compute_z settings of the editor's hyper-parameters at site (block output or W_out output) of layer */
z_opts editor_z_opts(const editor *e, site_kind site, int layer);

/* W_l ← W_l + f32(delta[i]) (ROME, MEMIT), recording ‖increment‖_F */
void editor_add_delta(editor *e, int i);
/* delta[i] ← delta_new (device) and W_l ← W₀_l + f32(delta_new) (D4S), recording ‖f32(Δ_new) − f32(Δ_old)‖_F */
void editor_set_delta(editor *e, int i, const double *delta_new);
/* W_l ← W₀_l on every edited layer */
void editor_restore(editor *e);

#endif
