/* The residual stream entering block `layer` for every real token of a batch, so that a method whose
 * parameters all sit at or above that block (FT-L's matrix, GRACE's adapter, PMET's δs) runs the
 * unchanged blocks below once per edit and then starts every step's forward there
 * (fwd_opts.start_layer / start_resid). */
#ifndef KEDIT_LOWER_BLOCKS_H
#define KEDIT_LOWER_BLOCKS_H

#include "transformer.h"

/* host (Σ len × d) rows in batch order, malloc'd; NULL for layer 0 (start from the embeddings, nothing
 * to cache) or on a forward error (message on stderr, *failed set) */
float *lower_blocks_resid(const model *m, const kbatch *b, int layer, bool *failed);

#endif
