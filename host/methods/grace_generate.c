/* GRACE's generation-based scoring (grace.h's grace_generate, EasyEdit's): greedy decoding without a KV
 * cache, each step a full forward of the prefix with the adapter queried at the prompt's last token and at
 * every generated token. */
#include "grace_impl.h"

#include "sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int grace_generate(const grace_state *g, const int *prompt, int n_prompt, int steps, int *out, char *err,
                   size_t errlen) {
    const model *m = g->m;
    int V = m->cfg.vocab;
    if (n_prompt < 1 || n_prompt + steps > m->cfg.n_ctx) {
        snprintf(err, errlen, "GRACE: generating %d tokens after %d prompt tokens exceeds the context (%d)", steps,
                 n_prompt, m->cfg.n_ctx);
        return -1;
    }
    int *x = malloc((size_t)(n_prompt + steps) * sizeof(int));
    memcpy(x, prompt, (size_t)n_prompt * sizeof(int));
    kpos *at = malloc((size_t)(steps + 1) * sizeof(kpos));
    float *logits = malloc((size_t)V * sizeof(float));
    sampler greedy = sampler_make(0.0f, 0, 0);
    int rc = 0;
    for (int s = 0; s < steps && !rc; s++) {
        int len = n_prompt + s;
        const int *ids = x;
        kbatch b = {1, &len, &ids};
        for (int t = n_prompt - 1; t < len; t++) at[t - n_prompt + 1] = (kpos){0, t}; // prompt end, generated
        grace_hook h;
        rc = grace_eval_hooks(g, &b, at, s + 1, &h, err, errlen);
        if (rc) break;
        kpos last = {0, len - 1};
        fwd_opts o = {.hooks = &h.hook, .n_hooks = 1, .n_logit = 1, .logit_at = &last, .logits_host = logits,
                      .bwd_from_layer = -1, .stop_layer = -1};
        fwd_state *fs = transformer_forward(m, &b, &o);
        grace_hook_free(&h);
        if (!fs) {
            snprintf(err, errlen, "GRACE: the forward pass of generation step %d failed", s);
            rc = -1;
            break;
        }
        fwd_state_free(fs);
        x[len] = out[s] = sample_next(&greedy, logits, V);
    }
    free(x);
    free(at);
    free(logits);
    return rc;
}
