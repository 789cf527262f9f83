/* The residual stream entering block `layer` for a batch, so that a method whose parameters all sit at
 * or above that block (FT-L's matrix, GRACE's adapter, the δs of compute_z and PMET) runs the unchanged
 * blocks below once per edit and then starts every step's forward there (fwd_opts.start_layer /
 * start_resid). */
#ifndef KEDIT_LOWER_BLOCKS_H
#define KEDIT_LOWER_BLOCKS_H

#include "transformer.h"

/* device (the batch's padded layout, fwd_state_take_resid), freed with the backend's free; the n_hooks
 * hooks (captures at the blocks below `layer`) apply on the way. NULL for layer 0 (start from the
 * embeddings, nothing to cache; the hooks are not run) or on a forward error (message on stderr,
 * *failed set). */
float *lower_blocks_resid(const model *m, const kbatch *b, int layer, const khook *hooks, int n_hooks,
                          bool *failed);

#endif
