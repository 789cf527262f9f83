/* The D4S edit behind editor.h (editing-spec §4, §10.3): the live model is reset to W₀, z_t is computed
 * on W₀ and r_t = δ_t = z_t − h_L(W₀) once per edit; then, layer by layer upwards, the key k_{t,l} is
 * measured on W₀ with this edit's lower layers at W₀ + Δ_{t,l'}, the D4S state takes (r_t, k_{t,l}) and
 * W_l = W₀_l + Δ_{t,l}. After the call the live model is W₀ + Δ_t. The call's durable record is its part of
 * the D4S log; the replay of every record rebuilds the state (d4s_from_log) and sets W = W₀ + Δ_t as an
 * edit does. */
#include "editor_impl.h"

#include <stdio.h>
#include <stdlib.h>

static int d4s_prepare(editor *e, char *err, size_t errlen) {
    const model_config *c = &e->m->cfg;
    e->priv = d4s_create(e->m->be, c->d, c->d_ff, e->E, e->hp.layers, e->hp.lambda, (const float *const *)e->C,
                         &e->hp.d4s, err, errlen);
    return e->priv ? 0 : -1;
}

static int d4s_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    d4s_state *s = e->priv;
    int d = e->m->cfg.d, f = e->m->cfg.d_ff;
    double *r = malloc((size_t)n * d * sizeof(double)), *K = malloc((size_t)n * f * sizeof(double));
    int rc = editor_residuals_on_w0(e, p, n, r, (size_t)d, out, err, errlen);
    if (!rc) rc = d4s_begin(s, n, r, err, errlen);
    for (int i = 0; i < e->E && !rc; i++) {
        rc = editor_keys(e, p, n, i, K, err, errlen);
        editor_mark(e, PHASE_KEYS);
        if (!rc) rc = d4s_update_layer(s, i, K, err, errlen);
        editor_mark(e, PHASE_SOLVE);
        if (!rc) editor_set_delta(e, i, d4s_delta(s, i)); // W_l = W₀_l + Δ_{t,l}
        editor_mark(e, PHASE_APPLY);
    }
    free(r), free(K);
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
