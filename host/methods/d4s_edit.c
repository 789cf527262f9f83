/* The D4S edit behind editor.h (editing-spec §4, §10.3): the live model is reset to W₀, z_t is computed
 * on W₀ and r_t = δ_t = z_t − h_L(W₀) once per edit; then, layer by layer upwards, the key k_{t,l} is
 * measured on W₀ with this edit's lower layers at W₀ + Δ_{t,l'}, the D4S state takes (r_t, k_{t,l}) and
 * W_l = W₀_l + Δ_{t,l}. After the call the live model is W₀ + Δ_t. The call's durable record is its part of
 * the D4S log; the replay of every record rebuilds the state (d4s_from_log) and sets W = W₀ + Δ_t as an
 * edit does. */
#include "editor_impl.h"
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>

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

/* the call's log records: their count, then each record (r, then the keys of every layer) */
static int d4s_journal(const editor *e, blob *b, char *err, size_t errlen) {
    int n;
    const double *rec = d4s_last_batch(e->priv, &n);
    int32_t n32 = n;
    blob_put(b, &n32, sizeof n32);
    blob_put(b, rec, (size_t)n * d4s_record_len(e->priv) * sizeof(double));
    return 0;
}

/* the state rebuilt from every call's records, then W = W₀ + Δ_t as the last edit wrote it */
static int d4s_replay(editor *e, int n, blob_reader *parts, char *err, size_t errlen) {
    size_t rec = (size_t)e->m->cfg.d + (size_t)e->E * e->m->cfg.d_ff, total = 0;
    int32_t *batch = malloc((size_t)n * sizeof *batch);
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        rc = !blob_get(&parts[k], &batch[k], sizeof batch[k]) || batch[k] < 1 ||
             parts[k].len - parts[k].at != (size_t)batch[k] * rec * sizeof(double);
        if (rc) snprintf(err, errlen, "D4S: record %d does not hold whole log records", k);
        else total += (size_t)batch[k];
    }
    double *log = rc ? NULL : malloc((total ? total : 1) * rec * sizeof(double));
    for (int k = 0, at = 0; k < n && !rc; at += batch[k++])
        blob_get(&parts[k], log + (size_t)at * rec, (size_t)batch[k] * rec * sizeof(double));
    d4s_state *s = rc ? NULL
                      : d4s_from_log(e->m->be, e->m->cfg.d, e->m->cfg.d_ff, e->E, e->hp.layers, e->hp.lambda, n,
                                     batch, log, (const float *const *)e->C, &e->hp.d4s, err, errlen);
    free(batch);
    free(log);
    if (!s) return -1;
    d4s_free(e->priv);
    e->priv = s;
    for (int i = 0; i < e->E; i++) editor_set_delta(e, i, d4s_delta(s, i)); // W_l = W₀_l + Δ_{t,l}
    return 0;
}

const edit_method_ops d4s_ops = {.prepare = d4s_prepare, .edit = d4s_edit, .reset = d4s_method_reset,
                                 .free = d4s_method_free, .journal = d4s_journal, .replay = d4s_replay,
                                 .needs_cov = true, .edits_w_out = true};
