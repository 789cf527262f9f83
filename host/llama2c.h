/* The llama2.c legacy .bin loader behind model_load_as (checkpoint.c). */
#ifndef KEDIT_LLAMA2C_H
#define KEDIT_LLAMA2C_H

#include "model.h"

#include <stddef.h>

/* fills m (m->layers allocated here) and m->checksum from the file at path, storing linear weights as
 * m->weights says; on failure leaves in m only what model_free releases */
int llama2c_model_load(const char *path, const backend *be, model *m, char *err, size_t errlen);

/* the loader's checks without loading (for kedit verify): the header into c, then every tensor it implies
 * present and finite and nothing after the last; else non-zero with the message in err */
int llama2c_check(const char *path, model_config *c, char *err, size_t errlen);

#endif
