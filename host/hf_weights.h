/* The Hugging Face checkpoint loader behind model_load_as (checkpoint.c): a folder with config.json and
 * safetensors. */
#ifndef KEDIT_HF_WEIGHTS_H
#define KEDIT_HF_WEIGHTS_H

#include "model.h"
#include "safetensors.h"

#include <stddef.h>

/* fills m (m->layers allocated here) and m->checksum from the folder dir, storing linear weights as
 * m->weights says; on failure leaves in m only what model_free releases */
int hf_model_load(const char *dir, const backend *be, model *m, char *err, size_t errlen);

/* the loader's walk without loading (for kedit verify): every tensor the architecture of c needs is in st
 * with the shape c implies; else non-zero with a message naming the file, tensor and problem */
int hf_weights_check(const char *dir, const model_config *c, const st_set *st, char *err, size_t errlen);

#endif
