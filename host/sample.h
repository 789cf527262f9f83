/* Token sampling and autoregressive generation: greedy (temperature 0) or top-k with a seeded RNG. */
#ifndef KEDIT_SAMPLE_H
#define KEDIT_SAMPLE_H

#include "model.h"

#include <stdint.h>

typedef struct sampler {
    float temperature; /* 0: greedy */
    int top_k;         /* 0: the whole vocabulary */
    uint64_t state;    /* RNG state (splitmix64), set from the seed */
} sampler;

sampler sampler_make(float temperature, int top_k, uint64_t seed);

/* picks the next token from one row of logits (V) */
int sample_next(sampler *s, const float *logits, int V);

/* Appends up to `steps` tokens to ids (capacity n_prompt + steps), one forward per token; stops early
 * after a token equal to stop_id (≥ 0) without appending it. Returns the new length, or −1 on error. */
int generate_tokens(const model *m, int *ids, int n_prompt, int steps, sampler *s, int stop_id);

#endif
