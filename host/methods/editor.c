#include "editor_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define Z_STOP_LOSS 5e-2f /* compute_z ends once the loss is below this (the references' constant) */

static const edit_method_ops *ops_of(edit_method m) {
    return m == METHOD_ROME ? &rome_ops : m == METHOD_MEMIT ? &memit_ops : &d4s_ops;
}

static size_t w_elems(const editor *e) { return (size_t)e->m->cfg.d * e->m->cfg.d_ff; }

static float *w_of(const editor *e, int i) { return e->m->layers[e->hp.layers[i]].mlp_out.w; }

editor *editor_create(model *m, const edit_hparams *h, char *err, size_t errlen) {
    for (int i = 0; i < h->n_layers; i++)
        if (h->layers[i] >= m->cfg.n_layer) {
            snprintf(err, errlen, "%s: edited layer %d is outside the model's 0..%d", method_name(h->method),
                     h->layers[i], m->cfg.n_layer - 1);
            return NULL;
        }
    if (h->n_layers < 1 || (h->method == METHOD_ROME && h->n_layers != 1)) {
        snprintf(err, errlen, "%s: %d edited layers (ROME edits exactly one)", method_name(h->method), h->n_layers);
        return NULL;
    }
    const backend *be = m->be;
    editor *e = calloc(1, sizeof *e);
    e->m = m;
    e->hp = *h;
    e->ops = ops_of(h->method);
    e->E = h->n_layers;
    e->W0 = calloc((size_t)e->E, sizeof *e->W0);
    e->C = calloc((size_t)e->E, sizeof *e->C);
    e->cov = calloc((size_t)e->E, sizeof *e->cov);
    e->cov_known = calloc((size_t)e->E, sizeof *e->cov_known);
    e->delta = calloc((size_t)e->E, sizeof *e->delta);
    e->inc_fro = calloc((size_t)e->E, sizeof *e->inc_fro);
    for (int i = 0; i < e->E; i++) {
        e->W0[i] = be->alloc(w_elems(e) * sizeof(float)); // (d, d_ff) W₀
        be->copy(e->W0[i], w_of(e, i), w_elems(e) * sizeof(float));
        e->delta[i] = be->alloc(w_elems(e) * sizeof(double)); // (d, d_ff) last Δ
    }
    return e;
}

/* C for every edited layer: given, or from the statistics cache / a pass over the corpus */
static int prepare_cov(editor *e, const editor_resources *r, char *err, size_t errlen) {
    const backend *be = e->m->be;
    size_t nn = (size_t)e->m->cfg.d_ff * e->m->cfg.d_ff;
    if (r->C) {
        for (int i = 0; i < e->E; i++) {
            e->C[i] = be->alloc(nn * sizeof(float));
            be->copy(e->C[i], r->C[i], nn * sizeof(float));
            double eps;
            if (cov_regularise(be, e->m->cfg.d_ff, e->C[i], &eps, err, errlen)) return -1;
            if (eps > 0) fprintf(stderr, "kedit: layer %d: the given C is not positive definite: added εI, ε = %.3g\n",
                                 e->hp.layers[i], eps);
        }
        return 0;
    }
    if (!r->cov || !r->tok) {
        snprintf(err, errlen, "%s needs covariance statistics: give C, or a corpus and a tokenizer",
                 method_name(e->hp.method));
        return -1;
    }
    cov_opts o = *r->cov;
    if (!o.max_tokens) o.max_tokens = e->hp.mom2_n_tokens;
    if (cov_get(e->m, r->tok, e->hp.layers, e->E, &o, e->C, e->cov, err, errlen)) return -1;
    for (int i = 0; i < e->E; i++) e->cov_known[i] = true;
    return 0;
}

static void copy_templates(const ctx_templates *src, ctx_templates *dst) {
    memset(dst, 0, sizeof *dst);
    *dst = *src;
    dst->text = malloc((size_t)src->n * sizeof *dst->text);
    dst->group = malloc((size_t)src->n * sizeof *dst->group);
    for (int i = 0; i < src->n; i++) {
        dst->text[i] = strdup(src->text[i]);
        dst->group[i] = src->group[i];
    }
}

int editor_prepare(editor *e, const editor_resources *r, char *err, size_t errlen) {
    if (e->prepared) {
        snprintf(err, errlen, "%s: the editor is already prepared", method_name(e->hp.method));
        return -1;
    }
    e->tok = r->tok;
    if (r->templates) copy_templates(r->templates, &e->templates);
    else if (r->tok && templates_get(e->m, r->tok, e->hp.templates, r->templates_path, &e->templates, err, errlen))
        return -1; // without a tokenizer only token-level requests (editor_edit_prompts) can be edited
    bool need_cov = e->ops->needs_cov || e->hp.mom2_adjustment;
    if (need_cov && prepare_cov(e, r, err, errlen)) return -1;
    if (e->ops->prepare && e->ops->prepare(e, err, errlen)) return -1;
    e->prepared = true;
    return 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int editor_edit_prompts(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    if (!e->prepared) {
        snprintf(err, errlen, "%s: edit before editor_prepare", method_name(e->hp.method));
        return -1;
    }
    edit_outcome *o = calloc((size_t)(n > 0 ? n : 1), sizeof *o);
    double t0 = now_s();
    int rc = n > 0 ? e->ops->edit(e, p, n, o, err, errlen) : 0;
    double dt = now_s() - t0;
    for (int j = 0; j < n; j++) o[j].seconds = dt;
    if (out) memcpy(out, o, (size_t)n * sizeof *o);
    free(o);
    return rc;
}

int editor_edit(editor *e, const edit_request *req, int n, edit_outcome *out, char *err, size_t errlen) {
    if (!e->tok || !e->templates.n) {
        snprintf(err, errlen, "%s: text requests need a tokenizer and context templates", method_name(e->hp.method));
        return -1;
    }
    edit_prompts *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    int rc = 0, built = 0;
    for (; built < n && !rc; built++)
        rc = edit_prompts_build(e->tok, &e->templates, req[built].prompt, req[built].subject, req[built].target,
                                &p[built], err, errlen);
    if (!rc) rc = editor_edit_prompts(e, p, n, out, err, errlen);
    for (int j = 0; j < built; j++) edit_prompts_free(&p[j]);
    free(p);
    return rc;
}

void editor_restore(editor *e) {
    for (int i = 0; i < e->E; i++) e->m->be->copy(w_of(e, i), e->W0[i], w_elems(e) * sizeof(float));
}

int editor_reset(editor *e, char *err, size_t errlen) {
    editor_restore(e);
    for (int i = 0; i < e->E; i++) {
        e->m->be->zero(e->delta[i], w_elems(e) * sizeof(double));
        e->inc_fro[i] = 0;
    }
    return e->ops->reset ? e->ops->reset(e, err, errlen) : 0;
}

void editor_free(editor *e) {
    if (!e) return;
    const backend *be = e->m->be;
    if (e->ops->free) e->ops->free(e);
    for (int i = 0; i < e->E; i++) {
        be->free(e->W0[i]);
        be->free(e->delta[i]);
        if (e->C[i]) be->free(e->C[i]);
    }
    free(e->W0), free(e->C), free(e->cov), free(e->cov_known), free(e->delta), free(e->inc_fro);
    templates_free(&e->templates);
    free(e);
}

z_opts editor_z_opts(const editor *e, site_kind site, int layer) {
    const edit_hparams *h = &e->hp;
    return (z_opts){site, layer, h->v_num_grad_steps, h->v_lr, h->v_weight_decay, h->kl_factor,
                    h->clamp_norm_factor, Z_STOP_LOSS};
}

/* f32(delta[i]) in a new device buffer */
static float *delta_f32(editor *e, int i) {
    float *d = e->m->be->alloc(w_elems(e) * sizeof(float)); // (d, d_ff)
    e->m->be->f64_to_f32(e->delta[i], d, (int64_t)w_elems(e));
    return d;
}

void editor_add_delta(editor *e, int i) {
    const backend *be = e->m->be;
    float *d = delta_f32(e, i);
    be->axpy((int64_t)w_elems(e), 1.0f, d, w_of(e, i)); // W ← W + Δ
    e->inc_fro[i] = sqrt(be->sum_sq(d, (int64_t)w_elems(e)));
    be->free(d);
}

void editor_set_delta(editor *e, int i, const double *delta_new) {
    const backend *be = e->m->be;
    float *old = delta_f32(e, i);
    be->copy(e->delta[i], delta_new, w_elems(e) * sizeof(double));
    float *w = delta_f32(e, i);
    e->inc_fro[i] = sqrt(be->sum_sq_diff(w, old, (int64_t)w_elems(e)));
    be->axpy((int64_t)w_elems(e), 1.0f, e->W0[i], w); // W = W₀ + Δ
    be->copy(w_of(e, i), w, w_elems(e) * sizeof(float));
    be->free(w);
    be->free(old);
}

int editor_n_layers(const editor *e) { return e->E; }
int editor_layer(const editor *e, int i) { return e->hp.layers[i]; }
const double *editor_last_delta(const editor *e, int i) { return e->delta[i]; }
const float *editor_w0(const editor *e, int i) { return e->W0[i]; }
const ctx_templates *editor_templates(const editor *e) { return &e->templates; }
const cov_info *editor_cov_info(const editor *e, int i) { return e->cov_known[i] ? &e->cov[i] : NULL; }
d4s_state *editor_d4s(editor *e) { return e->d4s; }

int editor_norms(const editor *e, int i, layer_norms *out) {
    if (i < 0 || i >= e->E) return -1;
    const backend *be = e->m->be;
    int64_t n = (int64_t)w_elems(e);
    const float *w = w_of(e, i);
    out->dev_l1_mean = be->sum_abs_diff(w, e->W0[i], n) / (double)n;
    out->dev_fro = sqrt(be->sum_sq_diff(w, e->W0[i], n));
    out->inc_fro = e->inc_fro[i];
    out->w_l1_mean = be->sum_abs(w, n) / (double)n;
    return 0;
}
