/* The checks the checkpoint loaders (hf_weights.c, llama2c.c) make before and while they upload: that the
 * model's weights fit in memory, and that every tensor is finite. */
#ifndef KEDIT_LOAD_CHECKS_H
#define KEDIT_LOAD_CHECKS_H

#include "model.h"

#include <stddef.h>

/* Refuses (non-zero, message in err naming path) a model whose weights, estimated by model_weight_bytes,
 * exceed the memory available to the CPU backend. Device backends report their own shortage when they
 * allocate. */
int load_check_memory(const model_config *c, const backend *be, kweight_type linears, const char *path, char *err,
                      size_t errlen);

/* every one of the n weights of a tensor is finite; else non-zero with a message naming the file, the tensor
 * and the first bad element (NaN or Inf weights make every output garbage) */
int load_check_finite(const float *x, size_t n, const char *path, const char *tensor, char *err, size_t errlen);

#endif
