/* The D4S edit behind editor.h (editing-spec §4, §10.3): the live model is reset to W₀, z_t is computed
 * on W₀ and r_t = δ_t = z_t − h_L(W₀) once per edit; then, layer by layer upwards, the key k_{t,l} is
 * measured on W₀ with this edit's lower layers at W₀ + Δ_{t,l'}, the D4S state takes (r_t, k_{t,l}) and
 * W_l = W₀_l + Δ_{t,l}. After the call the live model is W₀ + Δ_t. */
#include "editor_impl.h"
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>

static int d4s_prepare(editor *e, char *err, size_t errlen) {
    const model_config *c = &e->m->cfg;
    e->d4s = d4s_create(e->m->be, c->d, c->d_ff, e->E, e->hp.layers, e->hp.lambda, (const float *const *)e->C,
                        &e->hp.d4s, err, errlen);
    return e->d4s ? 0 : -1;
}

static int d4s_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    model *m = e->m;
    int E = e->E, L = e->hp.layers[E - 1], d = m->cfg.d, f = m->cfg.d_ff;
    float *z0 = malloc((size_t)d * sizeof(float)), *delta = malloc((size_t)d * sizeof(float));
    double *r = malloc((size_t)n * d * sizeof(double)), *K = malloc((size_t)n * f * sizeof(double));
    editor_restore(e); // z and r on W₀
    z_opts zo = editor_z_opts(e, SITE_BLOCK_OUT, L);
    int rc = 0;
    for (int j = 0; j < n && !rc; j++) {
        z_result zr;
        if ((rc = compute_z(m, &p[j], &zo, z0, delta, &zr))) snprintf(err, errlen, "D4S: compute_z failed");
        for (int c = 0; c < d; c++) r[(size_t)j * d + c] = delta[c]; // r_t = z_t − h_L(W₀) = δ_t
        out[j] = (edit_outcome){zr.prob_init, zr.prob_final, zr.loss_init, zr.loss_final, zr.passes, 0};
    }
    if (!rc) rc = d4s_begin(e->d4s, n, r, err, errlen);
    for (int i = 0; i < E && !rc; i++) {
        for (int j = 0; j < n && !rc; j++)
            if ((rc = keys_mean(m, &p[j], e->hp.layers[i], K + (size_t)j * f)))
                snprintf(err, errlen, "D4S: the key forward at layer %d failed", e->hp.layers[i]);
        if (!rc) rc = d4s_update_layer(e->d4s, i, K, err, errlen);
        if (!rc) editor_set_delta(e, i, d4s_delta(e->d4s, i)); // W_l = W₀_l + Δ_{t,l}
    }
    free(z0), free(delta), free(r), free(K);
    return rc;
}

static int d4s_method_reset(editor *e, char *err, size_t errlen) { return d4s_reset(e->d4s, err, errlen); }

static void d4s_method_free(editor *e) { d4s_free(e->d4s); }

const edit_method_ops d4s_ops = {
    .prepare = d4s_prepare, .edit = d4s_edit, .reset = d4s_method_reset, .free = d4s_method_free, .needs_cov = true};
