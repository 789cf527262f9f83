/* What one optimisation of target vectors reports, for compute_z and for the loop it shares with PMET
 * (z_optimise.h): the probability and loss of its first and last pass, and the passes run. */
#ifndef KEDIT_Z_RESULT_H
#define KEDIT_Z_RESULT_H

typedef struct z_result {
    double prob_init, prob_final; /* mean over rewriting prompts of exp(−NLL_i): first and last pass */
    double loss_init, loss_final; /* total loss of the first and last pass */
    int passes;                   /* forward passes run */
} z_result;

#endif
