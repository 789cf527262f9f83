/* A Hugging Face config.json → model_config, for model_type gpt2, gptj and llama. Fields a config may
 * omit take the defaults of the transformers config class of that model type. */
#ifndef KEDIT_HF_CONFIG_H
#define KEDIT_HF_CONFIG_H

#include "model.h"

#include <stddef.h>

/* reads the config.json at path into c; non-zero with a message naming the file and field in err */
int hf_config_read(const char *path, model_config *c, char *err, size_t errlen);

#endif
