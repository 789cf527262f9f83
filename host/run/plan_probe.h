/* The measured part of a run's plan (run/plan.h): the inputs loaded as the run loads them, their resident
 * memory, the shapes of the run's largest forwards, the statistics' token count and cache, and the time
 * of one forward and backward pass of the z optimisation on the real model. Reads only: no template,
 * statistic or results file is written. */
#ifndef KEDIT_PLAN_PROBE_H
#define KEDIT_PLAN_PROBE_H

#include "run/plan_types.h"
#include "run/run_config.h"

#define PLAN_COV_BATCH_TOKENS 4096 /* cov_opts' default tokens per forward of the statistics pass */

/* the batches of the forwards the memory estimate counts */
typedef struct plan_shapes {
    int z_seqs, z_len, z_rows;          /* compute_z: rewriting prompts + the KL prompt, padded length, loss rows */
    int eval_seqs, eval_len, eval_rows; /* the evaluation's largest batch: sequences, padded length, scored rows */
    int cov_seqs, cov_len, cov_tokens;  /* the statistics pass's largest batch: windows, padded length, tokens */
} plan_shapes;

/* fills p's cfg, n_edits, inputs (measured), stats_tokens and stats_cached (when statistics are needed),
 * pass_seconds, passes_per_edit and edit_seconds, and the shapes */
int plan_probe(const run_config *c, const backend *be, const edit_hparams *hp, run_plan *p, plan_shapes *s,
               char *err, size_t errlen);
/* the shapes without the inputs (no probe): prompts of a quarter of the context, four target tokens,
 * statistics batches of full windows */
void plan_shapes_guess(const run_config *c, const model_config *m, const edit_hparams *hp, plan_shapes *s);

#endif
