/* GRACE at evaluation (grace.h's grace_eval_hooks): every scored position queries the codebook in a
 * forward that stops at the adapter's block, and the matched values become a REPLACE hook for the caller's
 * full forward; plus the teacher-forced scored positions of a batch. */
#include "grace_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int grace_eval_hooks(const grace_state *g, const kbatch *b, const kpos *at, int n, grace_hook *out, char *err,
                     size_t errlen) {
    memset(out, 0, sizeof *out);
    out->hook = (khook){HOOK_REPLACE, g->v_site, g->h.layer, 0, NULL, NULL, false};
    if (g->n == 0 || n == 0) return 0;
    float *q = malloc((size_t)n * g->dk * sizeof(float)); // (n, dk) queries
    khook cap = {HOOK_CAPTURE, g->q_site, g->h.layer, n, at, q, false};
    fwd_opts o = {.hooks = &cap, .n_hooks = 1, .bwd_from_layer = -1, .stop_layer = g->h.layer};
    fwd_state *s = transformer_forward(g->m, b, &o);
    if (!s) {
        free(q);
        snprintf(err, errlen, "GRACE: the query pass failed (see the message above)");
        return -1;
    }
    fwd_state_free(s);
    kpos *hat = malloc((size_t)n * sizeof(kpos));
    float *data = malloc((size_t)n * g->dv * sizeof(float)); // (matched, dv) values
    out->matched_key = malloc((size_t)n * sizeof(int));
    int k = 0;
    for (int i = 0; i < n; i++) {
        int j = grace_matching_key(g, q + (size_t)i * g->dk);
        if (j < 0) continue;
        hat[k] = at[i];
        memcpy(data + (size_t)k * g->dv, g->values + (size_t)j * g->dv, (size_t)g->dv * sizeof(float));
        out->matched_key[k++] = j;
    }
    free(q);
    out->hook.n = k;
    out->hook.at = hat;
    out->hook.data = data;
    return 0;
}

void grace_hook_free(grace_hook *h) {
    free((void *)h->hook.at);
    free(h->hook.data);
    free(h->matched_key);
    memset(h, 0, sizeof *h);
}

kpos *grace_scored_positions(const kbatch *b, const int *n_prompt, int *n) {
    *n = 0;
    for (int i = 0; i < b->n_seq; i++) *n += b->len[i] - n_prompt[i] > 0 ? b->len[i] - n_prompt[i] : 0;
    kpos *at = malloc((size_t)(*n > 0 ? *n : 1) * sizeof(kpos));
    for (int i = 0, k = 0; i < b->n_seq; i++)
        for (int t = n_prompt[i] - 1; t <= b->len[i] - 2; t++) at[k++] = (kpos){i, t};
    return at;
}
