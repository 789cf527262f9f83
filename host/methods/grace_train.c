/* A GRACE edit (grace.h's grace_edit, editing-spec §10.7): the query at the prompt's last token, the
 * codebook's rules on it (grace_codebook.c), then Adam on the value of the key that matches it; and the
 * editor's form of n edits. */
#include "grace_impl.h"

#include "adam.h"
#include "edit_report.h"
#include "lower_blocks.h"
#include "prompts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the queries at the n positions at (q: n × dk), the blocks below the adapter's starting from resid (their
 * output, lower_blocks_resid; NULL: from the embeddings) */
static int capture_query(const grace_state *g, const kbatch *b, const kpos *at, int n, const float *resid,
                         float *q) {
    khook cap = {HOOK_CAPTURE, g->q_site, g->h.layer, n, at, q, false};
    fwd_opts o = {.hooks = &cap, .n_hooks = 1, .bwd_from_layer = -1, .stop_layer = g->h.layer,
                  .start_layer = g->h.layer, .start_resid = resid};
    fwd_state *s = transformer_forward(g->m, b, &o);
    if (!s) return -1;
    fwd_state_free(s);
    return 0;
}

/* n_iter Adam steps on the value of key j, replacing the output at the last prompt token of x ‖ y */
static int train_value(grace_state *g, int j, const kbatch *b, int n_prompt, const int *target, int n_target,
                       const float *resid, grace_result *res) {
    const model *m = g->m;
    const backend *be = m->be;
    size_t vb = (size_t)g->dv * sizeof(float);
    float *v = g->values + (size_t)j * g->dv;
    float *grad = malloc(vb);
    float *p = be->alloc(vb), *gd = be->alloc(vb), *m1 = be->alloc(vb), *m2 = be->alloc(vb); // (dv) each
    be->to_device(p, v, vb);
    kpos key_at = {0, n_prompt - 1};
    kpos *at = malloc((size_t)n_target * sizeof(kpos));
    float *w = malloc((size_t)n_target * sizeof(float));
    for (int t = 0; t < n_target; t++) {
        at[t] = (kpos){0, n_prompt - 1 + t}; // row P − 1 + t predicts y_t
        w[t] = 1.0f / (float)n_target;       // L = (1/|y|)·Σ_t −log p(y_t | x, y_<t)
    }
    int rc = 0;
    for (int it = 0; it < g->h.n_iter && !rc; it++) {
        khook rep = {HOOK_REPLACE, g->v_site, g->h.layer, 1, &key_at, v, false};
        fwd_opts o = {.hooks = &rep, .n_hooks = 1, .n_logit = n_target, .logit_at = at, .bwd_from_layer = g->h.layer,
                      .stop_layer = -1, .start_layer = g->h.layer, .start_resid = resid};
        fwd_state *s = transformer_forward(m, b, &o);
        if (!s) {
            rc = -1;
            break;
        }
        double loss = transformer_loss(m, s, target, w, NULL, NULL);
        if (it == 0) res->loss_first = loss;
        res->loss_last = loss;
        khook gh = {HOOK_CAPTURE, g->v_site, g->h.layer, 1, &key_at, grad, false}; // ∂L/∂v
        bwd_opts bo = {.grads = &gh, .n_grads = 1, .wgrad_layer = -1};
        rc = transformer_backward(m, s, &bo);
        fwd_state_free(s);
        if (rc) break;
        be->to_device(gd, grad, vb);
        adam_step_device(be, p, gd, m1, m2, g->dv, g->h.edit_lr, it + 1);
        be->to_host(v, p, vb);
    }
    void *dev[] = {p, gd, m1, m2};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) be->free(dev[i]);
    free(grad);
    free(at);
    free(w);
    return rc;
}

int grace_edit(grace_state *g, const int *prompt, int n_prompt, const int *target, int n_target,
               const float *cold_value, grace_result *res, char *err, size_t errlen) {
    const model_config *c = &g->m->cfg;
    memset(res, 0, sizeof *res);
    res->nearest = res->trained = -1;
    int len = n_prompt + n_target;
    if (n_prompt < 1 || n_target < 1 || len > c->n_ctx) {
        snprintf(err, errlen, "GRACE: %d prompt and %d target tokens (need ≥ 1 each, at most %d together)", n_prompt,
                 n_target, c->n_ctx);
        return -1;
    }
    int *x = malloc((size_t)len * sizeof(int)); // x ‖ y
    memcpy(x, prompt, (size_t)n_prompt * sizeof(int));
    memcpy(x + n_prompt, target, (size_t)n_target * sizeof(int));
    const int *ids = x;
    kbatch b = {1, &len, &ids};
    bool failed;
    float *resid = lower_blocks_resid(g->m, &b, g->h.layer, NULL, 0, &failed);
    float *q = malloc((size_t)g->dk * sizeof(float));
    kpos key_at = {0, n_prompt - 1};
    int rc = failed || capture_query(g, &b, &key_at, 1, resid, q) ? -1 : 0;
    if (rc) {
        snprintf(err, errlen, "GRACE: the forward pass on the request failed (see the message above)");
    } else {
        grace_codebook_update(g, q, target, n_target, cold_value, res);
        res->trained = grace_matching_key(g, q);
        if (res->trained >= 0 && train_value(g, res->trained, &b, n_prompt, target, n_target, resid, res)) {
            snprintf(err, errlen, "GRACE: training the value failed (see the message above)");
            rc = -1;
        }
    }
    free(q);
    if (resid) g->m->be->free(resid);
    free(x);
    return rc;
}

int grace_edit_prompts(grace_state *g, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    for (int j = 0; j < n; j++) {
        grace_result res;
        if (grace_edit(g, p[j].ctx[0].ids, p[j].ctx[0].len, p[j].y, p[j].ny, NULL, &res, err, errlen)) return -1;
        if (out)
            out[j] = (edit_outcome){.prob_init = exp(-res.loss_first), .prob_final = exp(-res.loss_last),
                                    .loss_init = res.loss_first, .loss_final = res.loss_last,
                                    .z_passes = res.trained >= 0 ? g->h.n_iter : 0};
    }
    return 0;
}
