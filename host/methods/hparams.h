/* Per-method hyper-parameters (configs/<method>_<model>.json, values from the published EasyEdit files,
 * editing-spec §1, §10.14). Field names follow the EasyEdit yaml. */
#ifndef KEDIT_HPARAMS_H
#define KEDIT_HPARAMS_H

#include "d4s.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HP_MAX_LAYERS 64

typedef enum { METHOD_ROME = 0, METHOD_MEMIT = 1, METHOD_D4S = 2 } edit_method;

typedef struct edit_hparams {
    edit_method method;
    int n_layers;
    int layers[HP_MAX_LAYERS];  /* edited layers, ascending; the last is L (the z layer) */
    double lambda;              /* mom2_update_weight (MEMIT, D4S) */
    int v_num_grad_steps;
    float v_lr, v_weight_decay, kl_factor, clamp_norm_factor;
    bool mom2_adjustment;       /* ROME: u = C⁻¹k̄ (original ROME) or k̄ (EasyEdit) */
    int64_t mom2_n_tokens;      /* tokens of the covariance corpus (0: all) */
    char templates[16];         /* "memit" or "rome" */
    d4s_opts d4s;               /* D4S: solve ("exact" | "incremental"), refactor_every, keep_S */
} edit_hparams;

/* reads a JSON hyper-parameter file; non-zero with a message naming the file and field in err */
int hparams_load(const char *path, edit_hparams *h, char *err, size_t errlen);

/* the method's name ("ROME", "MEMIT", "D4S") */
const char *method_name(edit_method m);

#endif
