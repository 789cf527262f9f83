/* model_load dispatch: a folder is a Hugging Face checkpoint (hf_weights.c), a file a llama2.c .bin
 * (llama2c.c); bf16 linears make a different model checksum. */
#include "model.h"

#include "fnv.h"
#include "hf_weights.h"
#include "llama2c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int model_load(const char *path, const backend *be, model *m, char *err, size_t errlen) {
    return model_load_as(path, be, KT_F32, m, err, errlen);
}

int model_load_as(const char *path, const backend *be, kweight_type linears, model *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->be = be;
    m->weights = linears;
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: cannot open model (%s)", path, strerror(errno));
        return 1;
    }
    int rc;
    if (S_ISDIR(st.st_mode))
        rc = hf_model_load(path, be, m, err, errlen);
    else if (ends_with(path, ".safetensors") || ends_with(path, ".json")) {
        snprintf(err, errlen, "%s: give the model's folder (config.json and safetensors), not one of its files",
                 path);
        rc = 1;
    } else
        rc = llama2c_model_load(path, be, m, err, errlen);
    if (rc == 0 && linears == KT_BF16) { /* a different model: the statistics and templates caches keep apart */
        uint64_t h = fnv1a64(strtoull(m->checksum, NULL, 16), "bf16", 4);
        snprintf(m->checksum, sizeof m->checksum, "%016" PRIx64, h);
    }
    if (rc == 0 && !(m->source = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = 1;
    }
    if (rc) model_free(m);
    return rc;
}
