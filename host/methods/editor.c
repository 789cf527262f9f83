#include "editor.h"
#include "editor_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const edit_method_ops *const METHOD_OPS[METHOD_COUNT] = {
    &rome_ops, &memit_ops, &d4s_ops, &ft_ops, &pmet_ops, &grace_ops, &alphaedit_ops, &d4sp_ops};

editor *editor_create(model *m, const edit_hparams *h, char *err, size_t errlen) {
    for (int i = 0; i < h->n_layers; i++)
        if (h->layers[i] >= m->cfg.n_layer) {
            snprintf(err, errlen, "%s: edited layer %d is outside the model's 0..%d", method_name(h->method),
                     h->layers[i], m->cfg.n_layer - 1);
            return NULL;
        }
    bool one = h->method == METHOD_ROME || h->method == METHOD_FT || h->method == METHOD_GRACE;
    if ((unsigned)h->method >= METHOD_COUNT || h->n_layers < 1 || (one && h->n_layers != 1)) {
        snprintf(err, errlen, "%s: %d edited layers (ROME, FT and GRACE edit exactly one)", method_name(h->method),
                 h->n_layers);
        return NULL;
    }
    for (int i = 0; i < h->n_layers && METHOD_OPS[h->method]->edits_w_out; i++) // W_out is edited in float32
        if (linear_make_f32(m->be, &m->layers[h->layers[i]].mlp_out, err, errlen)) return NULL;
    const backend *be = m->be;
    editor *e = calloc(1, sizeof *e);
    e->m = m;
    e->hp = *h;
    e->ops = METHOD_OPS[h->method];
    e->E = h->n_layers;
    e->C = calloc((size_t)e->E, sizeof *e->C);
    e->cov = calloc((size_t)e->E, sizeof *e->cov);
    e->cov_known = calloc((size_t)e->E, sizeof *e->cov_known);
    e->inc_fro = calloc((size_t)e->E, sizeof *e->inc_fro);
    e->names = calloc((size_t)e->E, sizeof *e->names);
    e->fac = calloc((size_t)e->E, sizeof *e->fac);
    const char *matrix = h->method == METHOD_GRACE ? "grace"
                         : h->method == METHOD_FT && h->ft.which == 1 ? "mlp_in" : "mlp_out";
    for (int i = 0; i < e->E; i++) snprintf(e->names[i], EDITOR_NAME_LEN, "layer%d.%s", h->layers[i], matrix);
    if (e->ops->edits_w_out) {
        e->W0 = calloc((size_t)e->E, sizeof *e->W0);
        e->delta = calloc((size_t)e->E, sizeof *e->delta);
        for (int i = 0; i < e->E; i++) {
            e->W0[i] = be->alloc(editor_w_elems(e) * sizeof(float)); // (d, d_ff) W₀
            be->copy(e->W0[i], editor_w_out(e, i), editor_w_elems(e) * sizeof(float));
            e->delta[i] = be->alloc(editor_w_elems(e) * sizeof(double)); // (d, d_ff) last Δ
            be->zero(e->delta[i], editor_w_elems(e) * sizeof(double));
        }
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
            e->cov[i].eps = eps; // cov_known stays false: the statistic was given
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

/* FT and GRACE edit from the bare prompt alone */
static const ctx_templates BARE_TEMPLATES = {.n = 1, .n_groups = 1, .text = (char *[]){"{}"}, .group = (int[]){0},
                                             .kind = "bare"};

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
    if (!e->hp.templates[0]) copy_templates(&BARE_TEMPLATES, &e->templates);
    else if (r->templates) copy_templates(r->templates, &e->templates);
    else if (r->tok && templates_get(e->m, r->tok, e->hp.templates, r->templates_path, &e->templates, err, errlen))
        return -1; // without a tokenizer only token-level requests (editor_edit_prompts) can be edited
    bool need_cov = e->ops->needs_cov || e->hp.mom2_adjustment;
    if (need_cov && prepare_cov(e, r, err, errlen)) return -1;
    if (e->ops->prepare && e->ops->prepare(e, err, errlen)) return -1;
    e->prepared = true;
    return 0;
}

int editor_edit_prompts(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    if (!e->prepared) {
        snprintf(err, errlen, "%s: edit before editor_prepare", method_name(e->hp.method));
        return -1;
    }
    edit_outcome *o = calloc((size_t)(n > 0 ? n : 1), sizeof *o);
    for (int i = 0; i < e->E; i++) delta_factors_free(&e->fac[i]); // the previous call's
    phase_start(&e->clock);
    double t0 = e->clock.last;
    int rc = n > 0 ? e->ops->edit(e, p, n, o, err, errlen) : 0;
    double dt = progress_now() - t0;
    const double *ph = e->clock.seconds;
    for (int j = 0; j < n; j++) {
        o[j].seconds = dt;
        o[j].t_z = ph[PHASE_Z], o[j].t_keys = ph[PHASE_KEYS], o[j].t_solve = ph[PHASE_SOLVE];
        o[j].t_apply = ph[PHASE_APPLY];
    }
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

int editor_reset(editor *e, char *err, size_t errlen) {
    editor_restore(e);
    for (int i = 0; i < e->E; i++) {
        if (e->delta) e->m->be->zero(e->delta[i], editor_w_elems(e) * sizeof(double));
        e->inc_fro[i] = 0;
        delta_factors_free(&e->fac[i]);
    }
    return e->ops->reset && e->priv ? e->ops->reset(e, err, errlen) : 0;
}

void editor_free(editor *e) {
    if (!e) return;
    const backend *be = e->m->be;
    if (e->ops->free && e->priv) e->ops->free(e);
    for (int i = 0; i < e->E; i++) {
        if (e->W0) be->free(e->W0[i]);
        if (e->delta) be->free(e->delta[i]);
        if (e->C[i]) be->free(e->C[i]);
        delta_factors_free(&e->fac[i]);
    }
    free(e->W0), free(e->C), free(e->cov), free(e->cov_known), free(e->delta), free(e->inc_fro), free(e->names), free(e->fac);
    templates_free(&e->templates);
    free(e);
}

int editor_nullspace_dim(const editor *e, int i) {
    return i >= 0 && i < e->E && e->ops->nullspace_dim && e->priv ? e->ops->nullspace_dim(e, i) : -1;
}

const eval_hooks *editor_eval_hooks(editor *e) { return e->eval.make ? &e->eval : NULL; }

int editor_n_layers(const editor *e) { return e->E; }
int editor_layer(const editor *e, int i) { return e->hp.layers[i]; }
const double *editor_last_delta(const editor *e, int i) { return e->delta ? e->delta[i] : NULL; }
const float *editor_w0(const editor *e, int i) { return e->W0 ? e->W0[i] : NULL; }
const float *editor_cov(const editor *e, int i) { return e->C[i]; }
const ctx_templates *editor_templates(const editor *e) { return &e->templates; }
const cov_info *editor_cov_info(const editor *e, int i) { return e->cov_known[i] ? &e->cov[i] : NULL; }
d4s_state *editor_d4s(editor *e) { return e->hp.method == METHOD_D4S ? e->priv : NULL; }

int editor_n_matrices(const editor *e) { return e->E; }
const char *editor_matrix_name(const editor *e, int i) { return i >= 0 && i < e->E ? e->names[i] : NULL; }

int editor_norms(const editor *e, int i, layer_norms *out) {
    if (i < 0 || i >= e->E) return -1;
    if (e->ops->norms) return e->priv ? e->ops->norms(e, i, out) : -1;
    editor_weight_norms(e->m->be, editor_w_out(e, i), e->W0[i], (int64_t)editor_w_elems(e), e->inc_fro[i], out);
    return 0;
}
