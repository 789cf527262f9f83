/* The D4S edit behind editor.h (editing-spec §4, §10.3): the live model is reset to W₀, z_t is computed
 * on W₀ and r_t = δ_t = z_t − h_L(W₀) once per edit; then, layer by layer upwards, the key k_{t,l} is
 * measured on W₀ with this edit's lower layers at W₀ + Δ_{t,l'}, the D4S state takes (r_t, k_{t,l}) and
 * W_l = W₀_l + Δ_{t,l}. After the call the live model is W₀ + Δ_t. The saved state is the D4S log; loading
 * replays it (d4s_deserialise) and sets W = W₀ + Δ_t as an edit does. */
#include "editor_impl.h"
#include "keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* a replayed W that differs from the saved one by more than this (relative, Frobenius) comes from other
 * covariances or options; less is rounding of another device or library (float32 W: ~1e-7) */
#define D4S_REPLAY_TOL 1e-5

static int d4s_prepare(editor *e, char *err, size_t errlen) {
    const model_config *c = &e->m->cfg;
    e->priv = d4s_create(e->m->be, c->d, c->d_ff, e->E, e->hp.layers, e->hp.lambda, (const float *const *)e->C,
                         &e->hp.d4s, err, errlen);
    return e->priv ? 0 : -1;
}

static int d4s_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    model *m = e->m;
    d4s_state *s = e->priv;
    int E = e->E, L = e->hp.layers[E - 1], d = m->cfg.d, f = m->cfg.d_ff;
    float *z0 = malloc((size_t)d * sizeof(float)), *delta = malloc((size_t)d * sizeof(float));
    double *r = malloc((size_t)n * d * sizeof(double)), *K = malloc((size_t)n * f * sizeof(double));
    editor_restore(e); // z and r on W₀
    editor_mark(e, PHASE_APPLY);
    z_opts zo = editor_z_opts(e, SITE_BLOCK_OUT, L);
    int rc = 0;
    for (int j = 0; j < n && !rc; j++) {
        z_result zr;
        if ((rc = compute_z(m, &p[j], &zo, z0, delta, &zr))) snprintf(err, errlen, "D4S: compute_z failed");
        for (int c = 0; c < d; c++) r[(size_t)j * d + c] = delta[c]; // r_t = z_t − h_L(W₀) = δ_t
        out[j] = (edit_outcome){.prob_init = zr.prob_init, .prob_final = zr.prob_final, .loss_init = zr.loss_init,
                                .loss_final = zr.loss_final, .z_passes = zr.passes};
    }
    editor_mark(e, PHASE_Z);
    if (!rc) rc = d4s_begin(s, n, r, err, errlen);
    for (int i = 0; i < E && !rc; i++) {
        for (int j = 0; j < n && !rc; j++)
            if ((rc = keys_mean(m, &p[j], e->hp.layers[i], K + (size_t)j * f)))
                snprintf(err, errlen, "D4S: the key forward at layer %d failed", e->hp.layers[i]);
        editor_mark(e, PHASE_KEYS);
        if (!rc) rc = d4s_update_layer(s, i, K, err, errlen);
        editor_mark(e, PHASE_SOLVE);
        if (!rc) editor_set_delta(e, i, d4s_delta(s, i)); // W_l = W₀_l + Δ_{t,l}
        editor_mark(e, PHASE_APPLY);
    }
    free(z0), free(delta), free(r), free(K);
    return rc;
}

static int d4s_method_reset(editor *e, char *err, size_t errlen) { return d4s_reset(e->priv, err, errlen); }

static void d4s_method_free(editor *e) { d4s_free(e->priv); }

static int d4s_method_save(const editor *e, void **buf, size_t *n, char *err, size_t errlen) {
    return d4s_serialise(e->priv, buf, n, err, errlen);
}

/* the replayed state, checked against this editor, then W = W₀ + Δ_t compared with the saved W on the model */
static int d4s_method_load(editor *e, const void *buf, size_t n, char *err, size_t errlen) {
    const backend *be = e->m->be;
    d4s_state *s = d4s_deserialise(be, buf, n, (const float *const *)e->C, &e->hp.d4s, err, errlen);
    if (!s) return -1;
    int d, f;
    d4s_dims(s, &d, &f);
    bool same = d4s_n_layers(s) == e->E && d == e->m->cfg.d && f == e->m->cfg.d_ff && d4s_lambda(s) == e->hp.lambda;
    for (int i = 0; same && i < e->E; i++) same = d4s_layer(s, i) == e->hp.layers[i];
    if (!same) {
        snprintf(err, errlen, "D4S state: saved for %d layers (d %d, d_ff %d, λ %g), not this run's %d layers "
                 "(λ %g) of this model", d4s_n_layers(s), d, f, d4s_lambda(s), e->E, e->hp.lambda);
        d4s_free(s);
        return -1;
    }
    d4s_free(e->priv);
    e->priv = s;
    size_t nw = (size_t)d * f;
    float *saved = be->alloc(nw * sizeof(float)); // (d, d_ff) the saved W_l
    int rc = 0;
    for (int i = 0; i < e->E && !rc; i++) {
        float *w = editor_w_out(e, i);
        be->copy(saved, w, nw * sizeof(float));
        editor_set_delta(e, i, d4s_delta(s, i)); // W_l = W₀_l + Δ_{t,l}, as the edit wrote it
        double diff = sqrt(be->sum_sq_diff(w, saved, (int64_t)nw)), norm = sqrt(be->sum_sq(saved, (int64_t)nw));
        if (diff > D4S_REPLAY_TOL * norm) {
            snprintf(err, errlen, "D4S state: the replayed log gives layer %d weights %.3g (relative) away from the "
                     "saved ones: the covariances or the D4S options differ from the run that saved it",
                     e->hp.layers[i], diff / norm);
            rc = -1;
        } else if (diff > 0) {
            fprintf(stderr, "kedit: D4S layer %d: the replayed weights differ from the saved ones by %.3g (relative; "
                    "rounding of another device or library)\n", e->hp.layers[i], diff / norm);
        }
    }
    be->free(saved);
    return rc;
}

const edit_method_ops d4s_ops = {.prepare = d4s_prepare, .edit = d4s_edit, .reset = d4s_method_reset,
                                 .free = d4s_method_free, .save = d4s_method_save, .load = d4s_method_load,
                                 .needs_cov = true, .edits_w_out = true};
