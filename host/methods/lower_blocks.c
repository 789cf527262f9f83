#include "lower_blocks.h"

float *lower_blocks_resid(const model *m, const kbatch *b, int layer, const khook *hooks, int n_hooks,
                          bool *failed) {
    *failed = false;
    if (layer <= 0) return NULL;
    fwd_opts o = {.hooks = hooks, .n_hooks = n_hooks, .bwd_from_layer = -1, .stop_layer = layer - 1};
    fwd_state *s = transformer_forward(m, b, &o);
    if (!s) {
        *failed = true;
        return NULL;
    }
    float *resid = fwd_state_take_resid(s, layer); // (B·T, d) output of block layer − 1
    fwd_state_free(s);
    return resid;
}
