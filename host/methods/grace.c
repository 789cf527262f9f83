#include "grace.h"

#include "blob.h"
#include "editor.h"
#include "hp_fields.h"
#include "lower_blocks.h"
#include "rng.h"
#include "sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRACE_MAGIC "KEDITGR1"
#define GRACE_SPLIT_MARGIN 1e-5 /* the older key's radius on a split: d/2 − 1e-5 (EE) */
/* a query matches key j within ε_j + 1e-5·‖k_j‖: the query that expanded ε_j lies exactly on it, and the
 * same query recomputed in float32 in a batch of another shape moves by ~1e-6 of its norm */
#define GRACE_MATCH_TOL 1e-5

struct grace_state {
    const model *m;
    grace_hparams h;
    site_kind q_site, v_site;
    int dk, dv;       /* query and value widths */
    int n, cap;       /* keys held, capacity */
    float *keys;      /* (cap, dk) */
    float *values;    /* (cap, dv) */
    double *eps;      /* (cap) radii */
    double *knorm;    /* (cap) ‖k_i‖ */
    int **label;      /* (cap) target token ids */
    int *n_label;
    uint64_t rng;     /* splitmix64 state of the cold initialisation */
};

int grace_hparams_parse(const cJSON *root, const char *path, grace_hparams *h, char *err, size_t errlen) {
    static const char *const euc[] = {"euc"}, *const cold[] = {"cold"}, *const coverage[] = {"coverage"},
                             *const last[] = {"replace_last"}, *const scoring[] = {"teacher_forced", "generation"},
                             *const sgd[] = {"sgd"};
    hp_reader r = {root, path, err, errlen, false};
    memset(h, 0, sizeof *h);
    h->layer = hp_first_layer(&r);
    int bracket;
    h->which = hp_matrix(&r, "inner_params", &bracket);
    h->edit_lr = (float)hp_number(&r, "edit_lr", 0, true, false, 0);
    h->n_iter = hp_int(&r, "n_iter", 1, 1 << 20);
    h->eps = hp_number(&r, "eps", 0, true, false, 0);
    hp_choice(&r, "dist_fn", euc, 1, "euc");
    hp_choice(&r, "val_init", cold, 1, "cold");
    hp_choice(&r, "eps_expand", coverage, 1, "coverage");
    hp_choice(&r, "replacement", last, 1, "replace_last");
    hp_choice(&r, "val_train", sgd, 1, "sgd");
    h->seed = (uint64_t)hp_number(&r, "seed", 0, false, true, 0);
    h->score_by_generation = hp_choice(&r, "scoring", scoring, 2, "teacher_forced") == 1;
    if (!r.failed && bracket >= 0 && bracket != h->layer) {
        snprintf(err, errlen, "%s: field \"inner_params\" names layer %d but \"layers\" holds %d", path, bracket,
                 h->layer);
        r.failed = true;
    }
    return r.failed ? -1 : 0;
}

grace_state *grace_create(const model *m, const grace_hparams *h, char *err, size_t errlen) {
    const model_config *c = &m->cfg;
    if (h->layer < 0 || h->layer >= c->n_layer) {
        snprintf(err, errlen, "GRACE: layer %d is outside the model's %d layers", h->layer, c->n_layer);
        return NULL;
    }
    if (h->which != 0 && h->which != 1) {
        snprintf(err, errlen, "GRACE: matrix %d is neither W_out (0) nor W_in (1)", h->which);
        return NULL;
    }
    if (h->n_iter < 1 || !(h->edit_lr > 0) || !(h->eps > 0)) {
        snprintf(err, errlen, "GRACE: n_iter %d, edit_lr %g, eps %g (need ≥ 1, > 0, > 0)", h->n_iter, h->edit_lr,
                 h->eps);
        return NULL;
    }
    grace_state *g = calloc(1, sizeof *g);
    g->m = m;
    g->h = *h;
    g->q_site = h->which == 0 ? SITE_MLP_KEY : SITE_MLP_NORM;
    g->v_site = h->which == 0 ? SITE_MLP_OUT : SITE_MLP_PRE;
    g->dk = site_dim(c, g->q_site);
    g->dv = site_dim(c, g->v_site);
    g->rng = h->seed;
    return g;
}

void grace_reset(grace_state *g) {
    for (int i = 0; i < g->n; i++) free(g->label[i]);
    g->n = 0;
    g->rng = g->h.seed;
}

void grace_free(grace_state *g) {
    if (!g) return;
    grace_reset(g);
    free(g->keys);
    free(g->values);
    free(g->eps);
    free(g->knorm);
    free(g->label);
    free(g->n_label);
    free(g);
}

int grace_size(const grace_state *g) { return g->n; }
void grace_dims(const grace_state *g, int *dim_key, int *dim_value) {
    *dim_key = g->dk;
    *dim_value = g->dv;
}
const float *grace_keys(const grace_state *g) { return g->keys; }
const float *grace_values(const grace_state *g) { return g->values; }
const double *grace_eps(const grace_state *g) { return g->eps; }

double grace_values_norm(const grace_state *g) {
    double s = 0;
    for (size_t i = 0; i < (size_t)g->n * g->dv; i++) s += (double)g->values[i] * g->values[i];
    return sqrt(s);
}

/* the nearest key to q (ties to the older key), −1 when empty; *dist its Euclidean distance */
static int nearest_key(const grace_state *g, const float *q, double *dist) {
    int best = -1;
    double bd = INFINITY;
    for (int i = 0; i < g->n; i++) {
        const float *k = g->keys + (size_t)i * g->dk;
        double s = 0;
        for (int j = 0; j < g->dk; j++) {
            double e = (double)k[j] - q[j];
            s += e * e;
        }
        if (s < bd) {
            bd = s;
            best = i;
        }
    }
    *dist = sqrt(bd);
    return best;
}

/* the key matching q (nearest, within its radius) or −1 */
static int matching_key(const grace_state *g, const float *q) {
    double d;
    int j = nearest_key(g, q, &d);
    return j >= 0 && d <= g->eps[j] + GRACE_MATCH_TOL * g->knorm[j] ? j : -1;
}

static void add_key(grace_state *g, const float *q, const float *cold, double eps, const int *label, int n_label) {
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->keys = realloc(g->keys, (size_t)g->cap * g->dk * sizeof(float));
        g->values = realloc(g->values, (size_t)g->cap * g->dv * sizeof(float));
        g->eps = realloc(g->eps, (size_t)g->cap * sizeof(double));
        g->knorm = realloc(g->knorm, (size_t)g->cap * sizeof(double));
        g->label = realloc(g->label, (size_t)g->cap * sizeof(int *));
        g->n_label = realloc(g->n_label, (size_t)g->cap * sizeof(int));
    }
    int i = g->n++;
    memcpy(g->keys + (size_t)i * g->dk, q, (size_t)g->dk * sizeof(float));
    double kk = 0;
    for (int j = 0; j < g->dk; j++) kk += (double)q[j] * q[j];
    g->knorm[i] = sqrt(kk);
    float *v = g->values + (size_t)i * g->dv;
    for (int j = 0; j < g->dv; j++) // cold: U[0,1) (24 random bits per value)
        v[j] = cold ? cold[j] : (float)(splitmix64(&g->rng) >> 40) * (1.0f / 16777216.0f);
    g->eps[i] = eps;
    g->label[i] = malloc((size_t)n_label * sizeof(int));
    memcpy(g->label[i], label, (size_t)n_label * sizeof(int));
    g->n_label[i] = n_label;
}

static bool same_label(const grace_state *g, int i, const int *label, int n_label) {
    return g->n_label[i] == n_label && !memcmp(g->label[i], label, (size_t)n_label * sizeof(int));
}

/* the codebook rules of one edit's query */
static void codebook_update(grace_state *g, const float *q, const int *label, int n_label, const float *cold,
                            grace_result *res) {
    double d;
    int j = nearest_key(g, q, &d);
    res->nearest = j;
    res->distance = j >= 0 ? d : 0;
    if (j < 0 || d > g->h.eps + g->eps[j]) {
        add_key(g, q, cold, g->h.eps, label, n_label);
        res->action = GRACE_ADDED;
    } else if (!same_label(g, j, label, n_label)) {
        add_key(g, q, cold, d / 2, label, n_label); // split: both radii halved
        g->eps[j] = d / 2 - GRACE_SPLIT_MARGIN;
        res->action = GRACE_SPLIT;
    } else if (d > g->eps[j]) {
        g->eps[j] = d; // expand (coverage)
        res->action = GRACE_EXPANDED;
    } else {
        res->action = GRACE_MATCHED;
    }
}

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
        double loss = transformer_loss(m, s, target, w, NULL, NULL, NULL);
        if (it == 0) res->loss_first = loss;
        res->loss_last = loss;
        khook gh = {HOOK_CAPTURE, g->v_site, g->h.layer, 1, &key_at, grad, false}; // ∂L/∂v
        bwd_opts bo = {.grads = &gh, .n_grads = 1, .wgrad_layer = -1};
        rc = transformer_backward(m, s, &bo);
        fwd_state_free(s);
        if (rc) break;
        be->to_device(gd, grad, vb);
        be->adam_step(p, gd, m1, m2, g->dv, g->h.edit_lr, 0.9f, 0.999f, 1e-8f, it + 1);
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
    float *resid = lower_blocks_resid(g->m, &b, g->h.layer, &failed);
    float *q = malloc((size_t)g->dk * sizeof(float));
    kpos key_at = {0, n_prompt - 1};
    int rc = failed || capture_query(g, &b, &key_at, 1, resid, q) ? -1 : 0;
    if (rc) {
        snprintf(err, errlen, "GRACE: the forward pass on the request failed (see the message above)");
    } else {
        codebook_update(g, q, target, n_target, cold_value, res);
        res->trained = matching_key(g, q);
        if (res->trained >= 0 && train_value(g, res->trained, &b, n_prompt, target, n_target, resid, res)) {
            snprintf(err, errlen, "GRACE: training the value failed (see the message above)");
            rc = -1;
        }
    }
    free(q);
    free(resid);
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
        int j = matching_key(g, q + (size_t)i * g->dk);
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

typedef struct grace_header {
    char magic[8];
    int32_t layer, which, dk, dv, n;
    uint64_t rng;
} grace_header;

int grace_save(const grace_state *g, void **buf, size_t *len, char *err, size_t errlen) {
    grace_header h = {.layer = g->h.layer, .which = g->h.which, .dk = g->dk, .dv = g->dv, .n = g->n, .rng = g->rng};
    memcpy(h.magic, GRACE_MAGIC, 8);
    blob b = {0};
    blob_put(&b, &h, sizeof h);
    for (int i = 0; i < g->n; i++) {
        int32_t nl = g->n_label[i];
        blob_put(&b, g->keys + (size_t)i * g->dk, (size_t)g->dk * sizeof(float));
        blob_put(&b, g->values + (size_t)i * g->dv, (size_t)g->dv * sizeof(float));
        blob_put(&b, &g->eps[i], sizeof(double));
        blob_put(&b, &nl, sizeof nl);
        blob_put(&b, g->label[i], (size_t)nl * sizeof(int));
    }
    if (b.failed) {
        free(b.p);
        snprintf(err, errlen, "GRACE: out of memory saving the codebook");
        return -1;
    }
    *buf = b.p;
    *len = b.len;
    return 0;
}

int grace_load(grace_state *g, const void *buf, size_t len, char *err, size_t errlen) {
    blob_reader r = {buf, len, 0};
    grace_header h;
    if (!blob_get(&r, &h, sizeof h) || memcmp(h.magic, GRACE_MAGIC, 8)) {
        snprintf(err, errlen, "GRACE state: not a GRACE codebook (bad magic or too short)");
        return -1;
    }
    if (h.layer != g->h.layer || h.which != g->h.which || h.dk != g->dk || h.dv != g->dv || h.n < 0) {
        snprintf(err, errlen, "GRACE state: saved for layer %d matrix %d (key %d, value %d), not this run's layer %d "
                 "matrix %d (key %d, value %d)", h.layer, h.which, h.dk, h.dv, g->h.layer, g->h.which, g->dk, g->dv);
        return -1;
    }
    grace_reset(g);
    float *k = malloc((size_t)g->dk * sizeof(float)), *v = malloc((size_t)g->dv * sizeof(float));
    int rc = 0;
    for (int i = 0; i < h.n && !rc; i++) {
        double eps;
        int32_t nl;
        if (!blob_get(&r, k, (size_t)g->dk * sizeof(float)) || !blob_get(&r, v, (size_t)g->dv * sizeof(float)) ||
            !blob_get(&r, &eps, sizeof eps) || !blob_get(&r, &nl, sizeof nl) || nl < 0 ||
            (size_t)nl * sizeof(int) > len - r.at) {
            rc = -1;
            break;
        }
        int *label = malloc((size_t)(nl > 0 ? nl : 1) * sizeof(int));
        blob_get(&r, label, (size_t)nl * sizeof(int));
        add_key(g, k, v, eps, label, nl);
        free(label);
    }
    free(k);
    free(v);
    if (rc || r.at != len) {
        snprintf(err, errlen, "GRACE state: truncated or malformed codebook (%zu of %zu bytes read)", r.at, len);
        grace_reset(g);
        return -1;
    }
    g->rng = h.rng;
    return 0;
}
