/* Per-method hyper-parameters (configs/<method>_<model>.json, values from the published EasyEdit files,
 * editing-spec §1, §10.14). Field names follow the EasyEdit yaml. */
#ifndef KEDIT_HPARAMS_H
#define KEDIT_HPARAMS_H

#include "d4s.h"
#include "ft.h"
#include "grace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HP_MAX_LAYERS 64

typedef enum {
    METHOD_ROME = 0,
    METHOD_MEMIT = 1,
    METHOD_D4S = 2,
    METHOD_FT = 3,
    METHOD_PMET = 4,
    METHOD_GRACE = 5,
    METHOD_ALPHAEDIT = 6,
    METHOD_D4SP = 7,
    METHOD_COUNT
} edit_method;

typedef struct edit_hparams {
    edit_method method;
    int n_layers;
    int layers[HP_MAX_LAYERS];  /* edited layers, ascending; the last is L (the z layer) */
    double lambda;              /* mom2_update_weight (MEMIT, D4S, PMET; D4S-P: μ, optional, 0) */
    double l2;                  /* L2: the ridge α (AlphaEdit, D4S-P; editing-spec §11.2, §11.6) */
    double nullspace_threshold; /* τ: C's eigenvectors with eigenvalue < τ span P (AlphaEdit, D4S-P; §11.1) */
    int v_num_grad_steps;       /* compute_z / PMET's target vectors (ROME, MEMIT, D4S, PMET) */
    float v_lr, v_weight_decay, kl_factor, clamp_norm_factor;
    float nll_loss_factor;      /* PMET's nll_factor (optional, 1) */
    bool mom2_adjustment;       /* ROME: u = C⁻¹k̄ (original ROME) or k̄ (EasyEdit) */
    int64_t mom2_n_tokens;      /* tokens of the covariance corpus (0: all) */
    int v_loss_layer;           /* the file's v_loss_layer, −1 when absent (kedit's is always the last) */
    char templates[16];         /* "memit", "rome", or "" (FT, GRACE: the bare prompt only) */
    d4s_opts d4s;               /* D4S: solve ("exact" | "incremental"), refactor_every, keep_S */
    ft_hparams ft;              /* FT: ft_hparams_parse's fields (layers[0] is its layer) */
    grace_hparams grace;        /* GRACE: grace_hparams_parse's fields (layers[0] is its layer) */
} edit_hparams;

/* reads a JSON hyper-parameter file; non-zero with a message naming the file and field in err. FT and
 * GRACE files are read by ft_hparams_parse / grace_hparams_parse; the other methods need the v_* fields
 * (and mom2_update_weight, except ROME). A field the method does not read is refused, and so is a
 * fact_token other than "subject_last". */
int hparams_load(const char *path, edit_hparams *h, char *err, size_t errlen);

/* the file's layers (and v_loss_layer) against a model of n_layer layers; non-zero with a message naming
 * the file (path) and field in err */
int hparams_check_model(const edit_hparams *h, const char *path, int n_layer, char *err, size_t errlen);

/* the method's name ("ROME", "MEMIT", "D4S", "FT", "PMET", "GRACE", "AlphaEdit", "D4S-P") */
const char *method_name(edit_method m);

#endif
