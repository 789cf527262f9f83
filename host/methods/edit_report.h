/* What an edit call reports, per request (its outcome: the optimisation's probability and loss, passes and
 * phase times) and per edited matrix (its norms): the types the editor (editor.h) returns and the methods
 * behind it (editor_impl.h, ft.h, grace.h) fill. */
#ifndef KEDIT_EDIT_REPORT_H
#define KEDIT_EDIT_REPORT_H

typedef struct edit_outcome {
    double prob_init, prob_final; /* compute_z's target probability (mean over the rewriting prompts) at its
                                   * first and last pass, as the references log it */
    double loss_init, loss_final;
    int z_passes;                 /* compute_z passes; FT: optimiser steps; GRACE: value training steps */
    double seconds;               /* wall time of the whole edit call, shared by its requests */
    double t_z, t_keys, t_solve, t_apply; /* wall seconds of the call's phases (shared by its requests):
                                   * z/δ optimisation and FT/GRACE training; key and residual forwards; the
                                   * solve; writing the weights. Their sum is at most `seconds`. */
} edit_outcome;

/* norms of one edited matrix after an edit (editing-spec §10.13); GRACE reports its codebook instead and
 * NaN for the four weight norms, the others NaN for the codebook fields */
typedef struct layer_norms {
    double dev_l1_mean;   /* ‖W − W₀‖₁/numel */
    double dev_fro;       /* ‖W − W₀‖_F */
    double inc_fro;       /* ‖ΔW of the last edit call‖_F */
    double w_l1_mean;     /* ‖W‖₁/numel */
    double codebook_size; /* GRACE: keys in the codebook */
    double values_norm;   /* GRACE: ‖values‖_F */
} layer_norms;

#endif
