/* Internal to checkpoint loading (host/checkpoint.c, hf_weights.c, llama2c.c, safetensors.c,
 * hf_config.c): the checksum, the memory check, uploads and JSON file reading they share. The public
 * interface is model_load / model_free / model_weight_bytes in model.h. */
#ifndef KEDIT_CHECKPOINT_H
#define KEDIT_CHECKPOINT_H

#include "model.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define CKPT_FNV_OFFSET 0xcbf29ce484222325ull

/* FNV-1a 64 continued from h over n bytes, taken 8 bytes (one little-endian word) at a time and then
 * byte by byte for the tail: h = (h ^ word)·prime. Start from CKPT_FNV_OFFSET. */
uint64_t ckpt_fnv1a64(uint64_t h, const void *p, size_t n);

/* Refuses (non-zero, message in err naming path) a model whose weights, estimated by model_weight_bytes,
 * exceed the memory available to the CPU backend. Device backends report their own shortage when they
 * allocate. */
int ckpt_check_memory(const model_config *c, const backend *be, kweight_type linears, const char *path, char *err,
                      size_t errlen);

/* a device copy of n host floats (be->alloc + be->to_device) */
float *ckpt_upload(const backend *be, const float *host, size_t n);

/* every one of the n weights of a tensor is finite; else non-zero with a message naming the file, the tensor
 * and the first bad element (NaN or Inf weights make every output garbage) */
int ckpt_check_finite(const float *x, size_t n, const char *path, const char *tensor, char *err, size_t errlen);
/* l->w (float32) or l->w_bf16 (rounded to nearest even) ← the out·in host floats of a linear layer whose
 * out and in are set; non-zero with a message in err when host memory runs out */
int ckpt_upload_linear(const backend *be, linear *l, const float *host, kweight_type wt, char *err, size_t errlen);

/* "dir/name" (malloc'd), or NULL when out of memory */
char *ckpt_join_path(const char *dir, const char *name);

/* the parsed JSON file at path, or NULL with a message naming the file in err */
cJSON *ckpt_json_read(const char *path, char *err, size_t errlen);

/* the loaders behind model_load_as; each fills m (m->layers allocated by it) and m->checksum, storing
 * linear weights as m->weights says, and on failure leaves in m only what model_free releases */
int hf_model_load(const char *dir, const backend *be, model *m, char *err, size_t errlen);
int llama2c_model_load(const char *path, const backend *be, model *m, char *err, size_t errlen);

#endif
