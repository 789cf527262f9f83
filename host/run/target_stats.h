/* How hard a dataset's edit targets are for a model (the MQD report, the poster's Table 1): the mean
 * length of the targets and of prompt ‖ target in the model's tokens, and the perplexity of the targets
 * after their prompts on the unedited model. */
#ifndef KEDIT_TARGET_STATS_H
#define KEDIT_TARGET_STATS_H

#include "model.h"
#include "run/dataset.h"
#include "tokenizer.h"

#include <stddef.h>

typedef struct target_stats {
    long n;                    /* requests */
    double mean_target_tokens; /* target_new tokenised as an edit target (a leading space, no BOS) */
    double mean_input_tokens;  /* prompt (BOS included where the tokenizer adds one) + target, before any cut */
    long n_truncated;          /* requests whose prompt lost its first tokens to fit the model's context */
    double ppl;                /* exp(Σ NLL of every target token after its prompt / Σ target tokens) */
} target_stats;

/* Scores the first n requests of d (all when n ≤ 0 or n > d->n) on m, teacher-forced, max_batch
 * sequences per forward. A prompt ‖ target longer than the model's context keeps the prompt's last tokens
 * (counted in n_truncated). Returns 0, or −1 with a message naming the request in err. */
int target_stats_compute(const model *m, const tokenizer *t, const edit_dataset *d, long n, int max_batch,
                         target_stats *out, char *err, size_t errlen);

#endif
