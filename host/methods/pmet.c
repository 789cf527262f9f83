#include "pmet.h"

#include "adam.h"
#include "keys.h"
#include "lower_blocks.h"
#include "memit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PMET_NLL_DROP 0.1 /* nll_factor multiplier once the target is the argmax everywhere */
#define PMET_KL_STOP 0.01 /* with the target the argmax everywhere, a KL(p ‖ p_init) this small ends it */

static double norm2(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

/* rewriting prompts (context ids + y[:-1]) then the KL prompt; loss rows: |y| per rewriting prompt, then
 * the KL row at the KL prompt's lookup index */
typedef struct zs_batch {
    int n_seq, rows;
    int *len;
    int **ids;
    kpos *lookups;  /* n_seq positions where the δs are added */
    kpos *logit_at; /* rows */
    int *y;         /* rows labels (0 on the KL row) */
} zs_batch;

static void batch_make(const edit_prompts *p, zs_batch *b) {
    int n = p->n, ny = p->ny;
    b->n_seq = n + 1;
    b->rows = n * ny + 1;
    b->len = malloc((size_t)b->n_seq * sizeof(int));
    b->ids = malloc((size_t)b->n_seq * sizeof(int *));
    b->lookups = malloc((size_t)b->n_seq * sizeof(kpos));
    b->logit_at = malloc((size_t)b->rows * sizeof(kpos));
    b->y = calloc((size_t)b->rows, sizeof(int));
    for (int i = 0; i <= n; i++) {
        const tok_seq *c = i < n ? &p->ctx[i] : &p->kl;
        b->len[i] = c->len + (i < n ? ny - 1 : 0);
        b->ids[i] = malloc((size_t)b->len[i] * sizeof(int));
        memcpy(b->ids[i], c->ids, (size_t)c->len * sizeof(int));
        if (i < n) memcpy(b->ids[i] + c->len, p->y, (size_t)(ny - 1) * sizeof(int));
        b->lookups[i] = (kpos){i, c->lookup};
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < ny; j++) { // logits at position len_ctx − 1 + j predict y_j
            b->logit_at[i * ny + j] = (kpos){i, p->ctx[i].len - 1 + j};
            b->y[i * ny + j] = p->y[j];
        }
    b->logit_at[n * ny] = (kpos){n, p->kl.lookup};
}

static void batch_free(zs_batch *b) {
    for (int i = 0; i < b->n_seq; i++) free(b->ids[i]);
    free(b->ids), free(b->len), free(b->lookups), free(b->logit_at), free(b->y);
}

/* log-softmax of one row in float64 */
static void log_softmax_row(const float *x, int V, double *out) {
    double mx = x[0], z = 0;
    for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    for (int v = 0; v < V; v++) z += exp((double)x[v] - mx);
    double lz = mx + log(z);
    for (int v = 0; v < V; v++) out[v] = (double)x[v] - lz;
}

/* the pass's diagnostics from its logits: per-prompt NLL (n), whether the target is the argmax at every
 * target row, and KL(p ‖ p_init) of the KL row (ref: log p_init, V floats) */
typedef struct zs_eval {
    double *nll;
    bool all_argmax;
    double kl;
} zs_eval;

static void evaluate_pass(const zs_batch *b, int n, int ny, int V, const float *logits, const float *ref,
                          double *lp, zs_eval *ev) {
    ev->all_argmax = true;
    for (int i = 0; i < n; i++) {
        ev->nll[i] = 0;
        for (int j = 0; j < ny; j++) {
            int r = i * ny + j, y = b->y[r];
            const float *x = logits + (size_t)r * V;
            log_softmax_row(x, V, lp);
            ev->nll[i] -= lp[y] / ny; // Σ_t −log p(y_t)/|y|
            for (int v = 0; v < V && ev->all_argmax; v++) ev->all_argmax = x[v] <= x[y];
        }
    }
    log_softmax_row(logits + (size_t)n * ny * V, V, lp);
    ev->kl = 0;
    for (int v = 0; v < V; v++) ev->kl += exp(lp[v]) * (lp[v] - ref[v]); // Σ p (log p − log p_init)
}

/* ∂ wd·‖δ‖/‖x₀‖² added to g (zero at δ = 0), then one Adam step on δ (step t) */
static void decay_and_step(float *delta, float *g, float *m1, float *m2, int d, double wd, double x0_norm2,
                           float lr, int t) {
    double dn = norm2(delta, d);
    if (dn > 0)
        for (int j = 0; j < d; j++) g[j] += (float)(wd * delta[j] / (dn * x0_norm2));
    adam_step_host(delta, g, m1, m2, d, lr, t);
}

/* δ ← δ·(max/‖δ‖) when ‖δ‖ > max = clamp·‖x₀‖ */
static void clamp_norm(float *delta, int d, double max_norm) {
    double nn = norm2(delta, d);
    if (nn > max_norm)
        for (int j = 0; j < d; j++) delta[j] = (float)(delta[j] * (max_norm / nn));
}

int pmet_compute_zs(const model *m, const edit_prompts *p, const pmet_z_opts *o, float *a0, float *m0,
                    float *delta_attn, float *delta_mlp, pmet_z_result *r) {
    int d = m->cfg.d, V = m->cfg.vocab, n = p->n, ny = p->ny;
    zs_batch b;
    batch_make(p, &b);
    float *ref = malloc((size_t)V * sizeof(float)), *ref_d = m->be->alloc((size_t)V * sizeof(float)); // log p_init
    float *logits = malloc((size_t)b.rows * V * sizeof(float));
    float *w_nll = calloc((size_t)b.rows, sizeof(float));
    double *lp = malloc((size_t)V * sizeof(double));
    zs_eval ev = {.nll = malloc((size_t)n * sizeof(double))};
    float *ga = malloc((size_t)d * sizeof(float)), *gm = malloc((size_t)d * sizeof(float)); // ∂loss/∂δ
    float *adam = calloc((size_t)4 * d, sizeof(float)); // moments: attn m, v; mlp m, v
    memset(delta_attn, 0, (size_t)d * sizeof(float));
    memset(delta_mlp, 0, (size_t)d * sizeof(float));
    memset(r, 0, sizeof *r);
    r->nll_drop_pass = -1;
    kbatch kb = {b.n_seq, b.len, (const int *const *)b.ids};
    kpos bare = {0, p->ctx[0].lookup};
    double a0n2 = 1, m0n2 = 1, nll_factor = o->nll_factor;
    kl_term kl = {n * ny, o->kl_factor, ref_d};
    bool failed;
    float *resid = lower_blocks_resid(m, &kb, o->layer, &failed); // the blocks below L run once
    int rc = failed ? -1 : 0;
    for (int it = 0; it < o->steps && !rc; it++) {
        khook hooks[4] = {{HOOK_CAPTURE, SITE_ATTN_OUT, o->layer, 1, &bare, a0, false},
                          {HOOK_CAPTURE, SITE_MLP_OUT, o->layer, 1, &bare, m0, false},
                          {HOOK_ADD, SITE_ATTN_OUT, o->layer, b.n_seq, b.lookups, delta_attn, true},
                          {HOOK_ADD, SITE_MLP_OUT, o->layer, b.n_seq, b.lookups, delta_mlp, true}};
        fwd_opts fo = {.hooks = it ? hooks + 2 : hooks, .n_hooks = it ? 2 : 4, .n_logit = b.rows,
                       .logit_at = b.logit_at, .logits_host = logits, .bwd_from_layer = o->layer, .stop_layer = -1,
                       .start_layer = o->layer, .start_resid = resid};
        fwd_state *s = transformer_forward(m, &kb, &fo);
        if (!s) {
            rc = -1;
            break;
        }
        if (it == 0) { // a₀, m₀ and p_init come from the first pass (δ = 0)
            log_softmax_row(logits + (size_t)n * ny * V, V, lp);
            for (int v = 0; v < V; v++) ref[v] = (float)lp[v];
            m->be->to_device(ref_d, ref, (size_t)V * sizeof(float));
            a0n2 = norm2(a0, d) * norm2(a0, d);
            m0n2 = norm2(m0, d) * norm2(m0, d);
        }
        evaluate_pass(&b, n, ny, V, logits, ref, lp, &ev);
        for (int q = 0; q < n * ny; q++) w_nll[q] = (float)(nll_factor / (n * ny));
        transformer_loss(m, s, b.y, w_nll, &kl, NULL); // the gradient of nll_factor·NLL + kl·KL
        double nll = 0, prob = 0;
        for (int i = 0; i < n; i++) {
            nll += ev.nll[i] / n;
            prob += exp(-ev.nll[i]) / n;
        }
        double loss = nll_factor * nll + o->kl_factor * ev.kl +
                      o->weight_decay * (norm2(delta_mlp, d) / m0n2 + norm2(delta_attn, d) / a0n2);
        if (it == 0) r->prob_init = prob, r->loss_init = loss;
        r->prob_final = prob;
        r->loss_final = loss;
        r->passes = it + 1;
        bool stop = loss < o->stop_loss;
        if (!stop && ev.all_argmax) {
            if (r->nll_drop_pass < 0) r->nll_drop_pass = it;
            nll_factor = PMET_NLL_DROP * o->nll_factor; // for the rest of this edit (§10.8)
            stop = ev.kl <= PMET_KL_STOP;
        }
        if (stop || it == o->steps - 1) {
            fwd_state_free(s);
            break;
        }
        khook g[2] = {{HOOK_CAPTURE, SITE_ATTN_OUT, o->layer, b.n_seq, b.lookups, ga, true},
                      {HOOK_CAPTURE, SITE_MLP_OUT, o->layer, b.n_seq, b.lookups, gm, true}};
        bwd_opts bo = {.grads = g, .n_grads = 2, .wgrad_layer = -1};
        rc = transformer_backward(m, s, &bo);
        fwd_state_free(s);
        if (rc) break;
        decay_and_step(delta_attn, ga, adam, adam + d, d, o->weight_decay, a0n2, o->lr, it + 1);
        decay_and_step(delta_mlp, gm, adam + 2 * d, adam + 3 * d, d, o->weight_decay, m0n2, o->lr, it + 1);
        clamp_norm(delta_attn, d, o->clamp_norm_factor * sqrt(a0n2));
        clamp_norm(delta_mlp, d, o->clamp_norm_factor * sqrt(m0n2));
    }
    batch_free(&b);
    m->be->free(ref_d);
    free(resid), free(ref), free(logits), free(w_nll), free(lp), free(ev.nll), free(ga), free(gm), free(adam);
    return rc;
}

int pmet_layer_delta(const model *m, const edit_prompts *p, int n, const float *z_mlp, int L, int layer, int i,
                     int E, const float *C, double lambda, double *delta, delta_factors *fac, phase_clock *clk,
                     char *err, size_t errlen) {
    int d = m->cfg.d, f = m->cfg.d_ff;
    double *K = malloc((size_t)n * f * sizeof(double)); // (n, d_ff) template-averaged keys as rows
    double *R = malloc((size_t)n * d * sizeof(double)); // (n, d) residuals z_mlp − m_L as rows
    float *mL = malloc((size_t)d * sizeof(float));
    site_kind site = SITE_MLP_OUT;
    int rc = 0;
    for (int j = 0; j < n && !rc; j++) {
        rc = keys_mean(m, &p[j], layer, K + (size_t)j * f) || capture_bare(m, &p[j], 1, &site, &L, &mL);
        for (int q = 0; q < d && !rc; q++) R[(size_t)j * d + q] = (double)z_mlp[(size_t)j * d + q] - mL[q];
    }
    if (rc) snprintf(err, errlen, "PMET: a forward pass for the keys of layer %d failed", layer);
    phase_mark(clk, PHASE_KEYS);
    if (!rc) rc = memit_delta(m->be, d, f, n, K, R, C, lambda, sqrt((double)(E - i)), delta, fac, err,
                                  errlen); // R/√(E−i)
    phase_mark(clk, PHASE_SOLVE);
    free(K);
    free(R);
    free(mL);
    return rc;
}

int pmet_edit(const model *m, const edit_prompts *p, int n, const pmet_z_opts *o, int E, const int *layers,
              float *const *C, double lambda, double *const *delta, delta_factors *fac,
              void (*apply)(void *ctx, int i), void *ctx, phase_clock *clk, pmet_z_result *zr, char *err,
              size_t errlen) {
    if (E < 1 || o->layer != layers[E - 1]) {
        snprintf(err, errlen, "PMET: the z layer %d is not the last edited layer", o->layer);
        return -1;
    }
    int d = m->cfg.d, rc = 0;
    float *z = malloc((size_t)n * d * sizeof(float)); // (n, d) z_mlp = m₀ + δ_mlp per request
    float *a0 = malloc((size_t)d * sizeof(float)), *da = malloc((size_t)d * sizeof(float));
    for (int j = 0; j < n && !rc; j++) {
        pmet_z_result r;
        float *zj = z + (size_t)j * d, *dm = malloc((size_t)d * sizeof(float));
        rc = pmet_compute_zs(m, &p[j], o, a0, zj, da, dm, &r); // zj ← m₀
        for (int q = 0; q < d; q++) zj[q] += dm[q];
        if (zr) zr[j] = r;
        free(dm);
        if (rc) snprintf(err, errlen, "PMET: the target vectors of request %d failed (see the message above)", j);
    }
    phase_mark(clk, PHASE_Z);
    for (int i = 0; i < E && !rc; i++) {
        rc = pmet_layer_delta(m, p, n, z, o->layer, layers[i], i, E, C[i], lambda, delta[i], fac ? &fac[i] : NULL,
                              clk, err, errlen);
        if (!rc) apply(ctx, i);
        phase_mark(clk, PHASE_APPLY);
    }
    free(z), free(a0), free(da);
    return rc;
}
