#include "compute_z.h"

#include "adam.h"
#include "lower_blocks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double norm2(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

/* the batch: rewriting prompts (context ids + y[:-1]) then the KL prompt, and the loss rows: |y| label
 * rows per rewriting prompt, then the KL row at the KL prompt's lookup index */
typedef struct z_batch {
    int n_seq, rows;
    int *len;
    int **ids;
    kpos *lookups;  /* n_seq positions where δ is added */
    kpos *logit_at; /* rows */
    int *y;         /* rows labels (0 on the KL row) */
    float *w_nll;   /* rows */
} z_batch;

static void batch_make(const edit_prompts *p, z_batch *b) {
    int n = p->n, ny = p->ny;
    b->n_seq = n + 1;
    b->rows = n * ny + 1;
    b->len = malloc((size_t)b->n_seq * sizeof(int));
    b->ids = malloc((size_t)b->n_seq * sizeof(int *));
    b->lookups = malloc((size_t)b->n_seq * sizeof(kpos));
    b->logit_at = malloc((size_t)b->rows * sizeof(kpos));
    b->y = calloc((size_t)b->rows, sizeof(int));
    b->w_nll = calloc((size_t)b->rows, sizeof(float));
    for (int i = 0; i < n; i++) {
        const tok_seq *c = &p->ctx[i];
        b->len[i] = c->len + ny - 1;
        b->ids[i] = malloc((size_t)b->len[i] * sizeof(int));
        memcpy(b->ids[i], c->ids, (size_t)c->len * sizeof(int));
        memcpy(b->ids[i] + c->len, p->y, (size_t)(ny - 1) * sizeof(int));
        b->lookups[i] = (kpos){i, c->lookup};
        for (int j = 0; j < ny; j++) { // logits at position len_ctx − 1 + j predict y_j
            int r = i * ny + j;
            b->logit_at[r] = (kpos){i, c->len - 1 + j};
            b->y[r] = p->y[j];
            b->w_nll[r] = 1.0f / (float)(n * ny); // mean over prompts of Σ_t(−log p)/|y|
        }
    }
    b->len[n] = p->kl.len;
    b->ids[n] = malloc((size_t)p->kl.len * sizeof(int));
    memcpy(b->ids[n], p->kl.ids, (size_t)p->kl.len * sizeof(int));
    b->lookups[n] = (kpos){n, p->kl.lookup};
    b->logit_at[n * ny] = (kpos){n, p->kl.lookup};
}

static void batch_free(z_batch *b) {
    for (int i = 0; i < b->n_seq; i++) free(b->ids[i]);
    free(b->ids), free(b->len), free(b->lookups), free(b->logit_at), free(b->y), free(b->w_nll);
}

/* log-softmax of one row, in float64, into out */
static void log_softmax_row(const float *x, int V, float *out) {
    double mx = x[0], z = 0;
    for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    for (int v = 0; v < V; v++) z += exp((double)x[v] - mx);
    double lz = mx + log(z);
    for (int v = 0; v < V; v++) out[v] = (float)((double)x[v] - lz);
}

int compute_z(const model *m, const edit_prompts *p, const z_opts *o, float *z0, float *delta, z_result *r) {
    int d = site_dim(&m->cfg, o->site), V = m->cfg.vocab, n = p->n, ny = p->ny;
    z_batch b;
    batch_make(p, &b);
    int kl_row = n * ny;
    float *ref = malloc((size_t)V * sizeof(float)), *ref_d = m->be->alloc((size_t)V * sizeof(float)); // log p_init
    kl_term kl = {kl_row, o->kl_factor, ref_d};
    float *logits = malloc((size_t)b.rows * V * sizeof(float));
    float *row_loss = malloc((size_t)b.rows * sizeof(float));
    float *grad = malloc((size_t)d * sizeof(float)), *am = calloc((size_t)d, sizeof(float)),
          *av = calloc((size_t)d, sizeof(float)); // ∂loss/∂δ, Adam moments
    memset(delta, 0, (size_t)d * sizeof(float));
    memset(r, 0, sizeof *r);
    kbatch kb = {b.n_seq, b.len, (const int *const *)b.ids};
    kpos bare = {0, p->ctx[0].lookup};
    double z0_norm2 = 1;
    bool failed;
    float *resid = lower_blocks_resid(m, &kb, o->layer, &failed); // blocks < L do not change: run them once
    int rc = failed ? -1 : 0;
    for (int it = 0; it < o->steps && !rc; it++) {
        khook hooks[2] = {{HOOK_CAPTURE, o->site, o->layer, 1, &bare, z0, false},
                          {HOOK_ADD, o->site, o->layer, b.n_seq, b.lookups, delta, true}};
        fwd_opts fo = {.hooks = it ? hooks + 1 : hooks, .n_hooks = it ? 1 : 2, .n_logit = b.rows,
                       .logit_at = b.logit_at, .logits_host = it ? NULL : logits, .bwd_from_layer = o->layer,
                       .stop_layer = -1, .start_layer = resid ? o->layer : 0, .start_resid = resid};
        fwd_state *s = transformer_forward(m, &kb, &fo);
        if (!s) {
            rc = -1;
            break;
        }
        if (it == 0) { // z₀ and p_init come from the first pass (δ = 0)
            log_softmax_row(logits + (size_t)kl_row * V, V, ref);
            m->be->to_device(ref_d, ref, (size_t)V * sizeof(float));
            double zn = norm2(z0, d);
            z0_norm2 = zn * zn;
        }
        double loss = transformer_loss(m, s, b.y, b.w_nll, &kl, row_loss); // NLL + kl_factor·KL
        double prob = 0;
        for (int i = 0; i < n; i++) {
            double nll_i = 0; // Σ_t −log p(y_t)/|y| = n·Σ_t row_loss
            for (int j = 0; j < ny; j++) nll_i += row_loss[i * ny + j];
            prob += exp(-nll_i * n) / n;
        }
        double dn = norm2(delta, d);
        loss += o->weight_decay * dn / z0_norm2; // + wd·‖δ‖/‖z₀‖²
        if (it == 0) r->prob_init = prob, r->loss_init = loss;
        r->prob_final = prob;
        r->loss_final = loss;
        r->passes = it + 1;
        if (loss < o->stop_loss || it == o->steps - 1) {
            fwd_state_free(s);
            break;
        }
        khook g = {HOOK_CAPTURE, o->site, o->layer, b.n_seq, b.lookups, grad, true};
        bwd_opts bo = {.grads = &g, .n_grads = 1, .wgrad_layer = -1};
        rc = transformer_backward(m, s, &bo);
        fwd_state_free(s);
        if (rc) break;
        if (dn > 0)
            for (int j = 0; j < d; j++) grad[j] += (float)(o->weight_decay * delta[j] / (dn * z0_norm2)); // ∂ wd‖δ‖/‖z₀‖²
        adam_step_host(delta, grad, am, av, d, o->lr, it + 1);
        double max_norm = o->clamp_norm_factor * sqrt(z0_norm2), nn = norm2(delta, d);
        if (nn > max_norm) // project δ into the ball of radius clamp·‖z₀‖
            for (int j = 0; j < d; j++) delta[j] = (float)(delta[j] * (max_norm / nn));
    }
    batch_free(&b);
    m->be->free(ref_d);
    free(resid), free(ref), free(logits), free(row_loss), free(grad), free(am), free(av);
    return rc;
}
