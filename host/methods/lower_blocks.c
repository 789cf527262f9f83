#include "lower_blocks.h"

#include <stdlib.h>

float *lower_blocks_resid(const model *m, const kbatch *b, int layer, bool *failed) {
    *failed = false;
    if (layer <= 0) return NULL;
    int n = 0;
    for (int i = 0; i < b->n_seq; i++) n += b->len[i];
    kpos *at = malloc((size_t)n * sizeof(kpos));
    for (int i = 0, j = 0; i < b->n_seq; i++)
        for (int t = 0; t < b->len[i]; t++) at[j++] = (kpos){i, t};
    float *resid = malloc((size_t)n * m->cfg.d * sizeof(float)); // (Σ len, d) output of block layer − 1
    khook cap = {HOOK_CAPTURE, SITE_BLOCK_OUT, layer - 1, n, at, resid, false};
    fwd_opts o = {.hooks = &cap, .n_hooks = 1, .bwd_from_layer = -1, .stop_layer = layer - 1};
    fwd_state *s = transformer_forward(m, b, &o);
    free(at);
    if (!s) {
        free(resid);
        *failed = true;
        return NULL;
    }
    fwd_state_free(s);
    return resid;
}
