/* Keys and activations at the subject's last token (editing-spec §1): the template-averaged key k̄ of a
 * layer, and values at chosen sites on the bare prompt, all on the model's current weights. */
#ifndef KEDIT_KEYS_H
#define KEDIT_KEYS_H

#include "prompts.h"
#include "transformer.h"

/* k̄ (d_ff, float64): the W_out input (SITE_MLP_KEY) of `layer` at each context prompt's lookup index,
 * averaged within each template group, then over the groups (MEMIT/D4S: ½·k(bare) + ½·mean of the
 * generated; ROME's single group: the uniform mean). One batched forward that stops after `layer`. */
int keys_mean(const model *m, const edit_prompts *p, int layer, double *k);

/* the values of n (site, layer) pairs at the bare prompt's (ctx[0]) lookup index: out[j] holds
 * site_dim floats. One forward that stops after the highest layer. */
int capture_bare(const model *m, const edit_prompts *p, int n, const site_kind *sites, const int *layers,
                 float **out);

#endif
