#include "keys.h"

#include <stdlib.h>
#include <string.h>

int keys_mean(const model *m, const edit_prompts *p, int layer, double *k) {
    int n = p->n, f = m->cfg.d_ff;
    int *len = malloc((size_t)n * sizeof(int));
    const int **ids = malloc((size_t)n * sizeof *ids);
    kpos *at = malloc((size_t)n * sizeof *at);
    for (int i = 0; i < n; i++) {
        len[i] = p->ctx[i].len;
        ids[i] = p->ctx[i].ids;
        at[i] = (kpos){i, p->ctx[i].lookup};
    }
    float *keys = malloc((size_t)n * f * sizeof(float)); // (n, d_ff) one key per context prompt
    khook h = {HOOK_CAPTURE, SITE_MLP_KEY, layer, n, at, keys, false};
    kbatch b = {n, len, (const int *const *)ids};
    fwd_opts o = {.hooks = &h, .n_hooks = 1, .bwd_from_layer = -1, .stop_layer = layer};
    fwd_state *s = transformer_forward(m, &b, &o);
    int rc = s ? 0 : -1;
    fwd_state_free(s);
    if (!rc) {
        double *gsum = calloc((size_t)p->n_groups * f, sizeof(double)); // (n_groups, d_ff) per-group sums
        int *gcount = calloc((size_t)p->n_groups, sizeof(int));
        for (int i = 0; i < n; i++) {
            gcount[p->group[i]]++;
            for (int j = 0; j < f; j++) gsum[(size_t)p->group[i] * f + j] += keys[(size_t)i * f + j];
        }
        int used = 0;
        memset(k, 0, (size_t)f * sizeof(double));
        for (int g = 0; g < p->n_groups; g++) {
            if (!gcount[g]) continue;
            used++;
            for (int j = 0; j < f; j++) k[j] += gsum[(size_t)g * f + j] / gcount[g]; // Σ_g mean_g
        }
        for (int j = 0; j < f; j++) k[j] /= used; // mean of the group means
        free(gsum);
        free(gcount);
    }
    free(keys), free(at), free(ids), free(len);
    return rc;
}

int capture_bare(const model *m, const edit_prompts *p, int n, const site_kind *sites, const int *layers,
                 float **out) {
    kpos at = {0, p->ctx[0].lookup};
    khook *h = malloc((size_t)n * sizeof *h);
    int top = 0;
    for (int j = 0; j < n; j++) {
        h[j] = (khook){HOOK_CAPTURE, sites[j], layers[j], 1, &at, out[j], false};
        top = layers[j] > top ? layers[j] : top;
    }
    kbatch b = {1, &p->ctx[0].len, (const int *const *)&p->ctx[0].ids};
    fwd_opts o = {.hooks = h, .n_hooks = n, .bwd_from_layer = -1, .stop_layer = top};
    fwd_state *s = transformer_forward(m, &b, &o);
    int rc = s ? 0 : -1;
    fwd_state_free(s);
    free(h);
    return rc;
}
