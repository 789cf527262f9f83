#include "ft.h"

#include "adam.h"
#include "blob.h"
#include "edit_report.h"
#include "hp_fields.h"
#include "lower_blocks.h"
#include "prompts.h"
#include "transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FT_MAGIC "KEDITFT1"

int ft_hparams_parse(const cJSON *root, const char *path, ft_hparams *h, char *err, size_t errlen) {
    static const char *const objectives[] = {"prompt_last"};
    hp_reader r = {root, path, err, errlen, false};
    memset(h, 0, sizeof *h);
    h->layer = hp_first_layer(&r);
    int bracket;
    h->which = hp_matrix(&r, "rewrite_module_tmp", &bracket);
    h->num_steps = hp_int(&r, "num_steps", 1, 1 << 20);
    h->lr = (float)hp_number(&r, "lr", 0, true, false, 0);
    hp_number(&r, "weight_decay", 0, false, true, 0);
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(root, "norm_constraint");
    if (nc && !cJSON_IsFalse(nc)) h->norm_constraint = (float)hp_number(&r, "norm_constraint", 0, true, false, 0);
    hp_choice(&r, "objective_optimization", objectives, 1, "prompt_last");
    h->stop_loss = (float)hp_number(&r, "stop_loss", 0, false, true, 1e-2);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"),
                *wd = cJSON_GetObjectItemCaseSensitive(root, "weight_decay");
    if (!r.failed && cJSON_GetArraySize(layers) != 1)
        snprintf(err, errlen, "%s: field \"layers\" must hold one layer (FT-L trains one matrix)", path), r.failed = true;
    if (!r.failed && wd && wd->valuedouble != 0)
        snprintf(err, errlen, "%s: field \"weight_decay\" must be 0 (FT-L's Adam has none)", path), r.failed = true;
    return r.failed ? -1 : 0;
}

struct ft_state {
    model *m;
    ft_hparams h;
    linear *W;             /* the trained matrix on the model */
    size_t nw, nb;         /* its element counts (nb 0 without bias) */
    float *W0, *b0;        /* device: the weights when the state was made */
    float *Wpre, *bpre;    /* device: the weights at the start of this edit (box centre), with ε > 0 */
    float *mW, *vW, *mb, *vb; /* device: Adam moments */
    float *gW, *gb;        /* device: the gradient of this step */
    float *dW, *db;        /* host: the gradient as the backward returns it */
};

static float *dev_copy(const backend *be, const float *src, size_t n) {
    float *d = be->alloc(n * sizeof(float));
    be->copy(d, src, n * sizeof(float));
    return d;
}

ft_state *ft_create(model *m, const ft_hparams *h, char *err, size_t errlen) {
    const model_config *c = &m->cfg;
    if (h->layer < 0 || h->layer >= c->n_layer) {
        snprintf(err, errlen, "FT: layer %d is outside the model's %d layers", h->layer, c->n_layer);
        return NULL;
    }
    if (h->which != 0 && h->which != 1) {
        snprintf(err, errlen, "FT: matrix %d is neither W_out (0) nor W_in (1)", h->which);
        return NULL;
    }
    if (h->num_steps < 1 || !(h->lr > 0) || !(h->norm_constraint >= 0) || !(h->stop_loss >= 0)) {
        snprintf(err, errlen, "FT: num_steps %d, lr %g, norm_constraint %g, stop_loss %g (need ≥ 1, > 0, ≥ 0, ≥ 0)",
                 h->num_steps, h->lr, h->norm_constraint, h->stop_loss);
        return NULL;
    }
    const backend *be = m->be;
    ft_state *s = calloc(1, sizeof *s);
    s->m = m;
    s->h = *h;
    s->W = h->which == 0 ? &m->layers[h->layer].mlp_out : &m->layers[h->layer].mlp_in;
    if (linear_make_f32(be, s->W, err, errlen)) { // trained in float32
        free(s);
        return NULL;
    }
    s->nw = (size_t)s->W->out * s->W->in;
    s->nb = s->W->b ? (size_t)s->W->out : 0;
    s->W0 = dev_copy(be, s->W->w, s->nw);                 // (out, in)
    s->mW = be->alloc(s->nw * sizeof(float));
    s->vW = be->alloc(s->nw * sizeof(float));
    s->gW = be->alloc(s->nw * sizeof(float));
    s->dW = malloc(s->nw * sizeof(float));
    if (h->norm_constraint > 0) s->Wpre = be->alloc(s->nw * sizeof(float));
    if (s->nb) {
        s->b0 = dev_copy(be, s->W->b, s->nb);             // (out)
        s->mb = be->alloc(s->nb * sizeof(float));
        s->vb = be->alloc(s->nb * sizeof(float));
        s->gb = be->alloc(s->nb * sizeof(float));
        s->db = malloc(s->nb * sizeof(float));
        if (h->norm_constraint > 0) s->bpre = be->alloc(s->nb * sizeof(float));
    }
    return s;
}

void ft_free(ft_state *s) {
    if (!s) return;
    const backend *be = s->m->be;
    float *dev[] = {s->W0, s->b0, s->Wpre, s->bpre, s->mW, s->vW, s->mb, s->vb, s->gW, s->gb};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        if (dev[i]) be->free(dev[i]);
    free(s->dW);
    free(s->db);
    free(s);
}

/* the prompt_last loss of one request on the current weights; with step, one Adam step (t is the step
 * count so far, incremented) unless the loss is below the stop loss. Returns the loss, or −1. */
static double ft_request_step(ft_state *s, const ft_request *r, const float *resid, int *t, char *err,
                              size_t errlen) {
    const backend *be = s->m->be;
    kbatch b = {1, &r->n_prompt, &r->prompt};
    kpos *at = malloc((size_t)r->n_target * sizeof(kpos)); // every target token scored at row P − 1
    float *w = malloc((size_t)r->n_target * sizeof(float));
    for (int j = 0; j < r->n_target; j++) {
        at[j] = (kpos){0, r->n_prompt - 1};
        w[j] = 1.0f / (float)r->n_target; // L = (1/|y|)·Σ_t −log p(y_t)
    }
    fwd_opts o = {.n_logit = r->n_target, .logit_at = at, .bwd_from_layer = s->h.layer, .stop_layer = -1,
                  .start_layer = s->h.layer, .start_resid = resid};
    fwd_state *fs = transformer_forward(s->m, &b, &o);
    double loss = -1;
    if (!fs) {
        snprintf(err, errlen, "FT: the forward pass on a request failed (see the message above)");
        goto done;
    }
    loss = transformer_loss(s->m, fs, r->target, w, NULL, NULL);
    if (loss >= s->h.stop_loss) {
        bwd_opts bo = {.wgrad_layer = s->h.layer, .wgrad_which = s->h.which, .dW = s->dW, .db = s->nb ? s->db : NULL};
        if (transformer_backward(s->m, fs, &bo)) {
            snprintf(err, errlen, "FT: the backward pass failed (see the message above)");
            loss = -1;
            goto done;
        }
        ++*t;
        be->to_device(s->gW, s->dW, s->nw * sizeof(float));
        adam_step_device(be, s->W->w, s->gW, s->mW, s->vW, (int64_t)s->nw, s->h.lr, *t);
        if (s->nb) {
            be->to_device(s->gb, s->db, s->nb * sizeof(float));
            adam_step_device(be, s->W->b, s->gb, s->mb, s->vb, (int64_t)s->nb, s->h.lr, *t);
        }
    }
    if (s->h.norm_constraint > 0) { // W ∈ [W_pre − ε, W_pre + ε]
        be->clamp_box(s->W->w, s->Wpre, s->h.norm_constraint, (int64_t)s->nw);
        if (s->nb) be->clamp_box(s->W->b, s->bpre, s->h.norm_constraint, (int64_t)s->nb);
    }
done:
    fwd_state_free(fs);
    free(at);
    free(w);
    return loss;
}

static int ft_check_request(const model_config *c, const ft_request *r, int i, char *err, size_t errlen) {
    if (r->n_prompt < 1 || r->n_target < 1 || r->n_prompt > c->n_ctx) {
        snprintf(err, errlen, "FT: request %d has %d prompt and %d target tokens (need 1 to %d and ≥ 1)", i,
                 r->n_prompt, r->n_target, c->n_ctx);
        return -1;
    }
    for (int j = 0; j < r->n_target; j++)
        if (r->target[j] < 0 || r->target[j] >= c->vocab) {
            snprintf(err, errlen, "FT: request %d: target token %d is outside the vocabulary (%d)", i, r->target[j],
                     c->vocab);
            return -1;
        }
    return 0;
}

int ft_edit(ft_state *s, const ft_request *r, int n, ft_result *res, char *err, size_t errlen) {
    const backend *be = s->m->be;
    if (n < 1) {
        snprintf(err, errlen, "FT: an edit needs at least one request (got %d)", n);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (ft_check_request(&s->m->cfg, &r[i], i, err, errlen)) return -1;
    float **resid = calloc((size_t)n, sizeof(float *)); // per request: the input of the trained block
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        kbatch b = {1, &r[i].n_prompt, &r[i].prompt};
        bool failed;
        resid[i] = lower_blocks_resid(s->m, &b, s->h.layer, NULL, 0, &failed);
        if (failed) {
            snprintf(err, errlen, "FT: the forward pass on request %d failed (see the message above)", i);
            rc = -1;
        }
    }
    memset(res, 0, sizeof *res);
    if (!rc) {
        be->zero(s->mW, s->nw * sizeof(float));
        be->zero(s->vW, s->nw * sizeof(float));
        if (s->nb) {
            be->zero(s->mb, s->nb * sizeof(float));
            be->zero(s->vb, s->nb * sizeof(float));
        }
        if (s->h.norm_constraint > 0) {
            be->copy(s->Wpre, s->W->w, s->nw * sizeof(float));
            if (s->nb) be->copy(s->bpre, s->W->b, s->nb * sizeof(float));
        }
    }
    int t = 0;
    for (int e = 0; e < s->h.num_steps && !rc; e++) {
        double sum = 0;
        for (int i = 0; i < n && !rc; i++) {
            double loss = ft_request_step(s, &r[i], resid[i], &t, err, errlen);
            if (loss < 0) rc = -1;
            sum += loss;
        }
        if (rc) break;
        double mean = sum / n;
        if (e == 0) res->loss_first = mean;
        res->loss_last = mean;
        res->epochs = e + 1;
        if (mean < s->h.stop_loss) break;
    }
    res->steps = t;
    for (int i = 0; i < n; i++)
        if (resid[i]) be->free(resid[i]);
    free(resid);
    return rc;
}

int ft_edit_prompts(ft_state *s, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    ft_request *r = calloc((size_t)(n > 0 ? n : 1), sizeof *r);
    for (int j = 0; j < n; j++) r[j] = (ft_request){p[j].ctx[0].ids, p[j].ctx[0].len, p[j].y, p[j].ny};
    ft_result res;
    int rc = ft_edit(s, r, n, &res, err, errlen);
    for (int j = 0; !rc && out && j < n; j++)
        out[j] = (edit_outcome){.prob_init = exp(-res.loss_first), .prob_final = exp(-res.loss_last),
                                .loss_init = res.loss_first, .loss_final = res.loss_last, .z_passes = res.steps};
    free(r);
    return rc;
}

void ft_weights(const ft_state *s, const linear **W, const float **W0, const float **b0) {
    *W = s->W;
    *W0 = s->W0;
    *b0 = s->b0;
}

void ft_reset(ft_state *s) {
    const backend *be = s->m->be;
    be->copy(s->W->w, s->W0, s->nw * sizeof(float));
    if (s->nb) be->copy(s->W->b, s->b0, s->nb * sizeof(float));
}

typedef struct ft_header {
    char magic[8];
    int32_t layer, which, out, in, has_bias;
} ft_header;

int ft_save(const ft_state *s, void **buf, size_t *len, char *err, size_t errlen) {
    const backend *be = s->m->be;
    ft_header h = {.layer = s->h.layer, .which = s->h.which, .out = s->W->out, .in = s->W->in, .has_bias = s->nb > 0};
    memcpy(h.magic, FT_MAGIC, 8);
    blob b = {0};
    blob_put(&b, &h, sizeof h);
    float *host = malloc(s->nw * sizeof(float));
    be->to_host(host, s->W->w, s->nw * sizeof(float));
    blob_put(&b, host, s->nw * sizeof(float));
    if (s->nb) {
        be->to_host(host, s->W->b, s->nb * sizeof(float));
        blob_put(&b, host, s->nb * sizeof(float));
    }
    free(host);
    if (b.failed) {
        free(b.p);
        snprintf(err, errlen, "FT: out of memory saving the state");
        return -1;
    }
    *buf = b.p;
    *len = b.len;
    return 0;
}

int ft_load(ft_state *s, const void *buf, size_t len, char *err, size_t errlen) {
    const backend *be = s->m->be;
    blob_reader r = {buf, len, 0};
    ft_header h;
    if (!blob_get(&r, &h, sizeof h) || memcmp(h.magic, FT_MAGIC, 8)) {
        snprintf(err, errlen, "FT state: not an FT state (bad magic or too short)");
        return -1;
    }
    if (h.layer != s->h.layer || h.which != s->h.which || h.out != s->W->out || h.in != s->W->in ||
        h.has_bias != (s->nb > 0)) {
        snprintf(err, errlen, "FT state: saved for layer %d matrix %d (%d × %d, bias %d), not this run's layer %d "
                 "matrix %d (%d × %d)", h.layer, h.which, h.out, h.in, h.has_bias, s->h.layer, s->h.which, s->W->out,
                 s->W->in);
        return -1;
    }
    if (len - r.at != (s->nw + s->nb) * sizeof(float)) {
        snprintf(err, errlen, "FT state: %zu bytes of weights, expected %zu", len - r.at,
                 (s->nw + s->nb) * sizeof(float));
        return -1;
    }
    be->to_device(s->W->w, r.p + r.at, s->nw * sizeof(float));
    if (s->nb) be->to_device(s->W->b, r.p + r.at + s->nw * sizeof(float), s->nb * sizeof(float));
    return 0;
}
