/* The target-vector optimisation loop of compute_z and PMET (z_optimise.h): the batch, the first pass's
 * x₀ and p_init, and per δ the weight decay's gradient, the Adam step and the clamp. */
#include "z_optimise.h"

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

static void batch_make(const edit_prompts *p, z_batch *b) {
    int n = p->n, ny = p->ny;
    b->n = n;
    b->ny = ny;
    b->n_seq = n + 1;
    b->rows = n * ny + 1;
    b->kl_row = n * ny;
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
    b->logit_at[b->kl_row] = (kpos){n, p->kl.lookup};
}

static void batch_free(z_batch *b) {
    for (int i = 0; i < b->n_seq; i++) free(b->ids[i]);
    free(b->ids), free(b->len), free(b->lookups), free(b->logit_at), free(b->y);
}

/* log-softmax of one row of V logits, in float64 */
static void log_softmax_row(const float *x, int V, double *out) {
    double mx = x[0], z = 0;
    for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    for (int v = 0; v < V; v++) z += exp((double)x[v] - mx);
    double lz = mx + log(z);
    for (int v = 0; v < V; v++) out[v] = (double)x[v] - lz;
}

/* one step on δ (d floats) with gradient g: + ∂ wd·‖δ‖/‖x₀‖² (zero at δ = 0), Adam (step t, moments m1,
 * m2), then δ ← δ·(max/‖δ‖) when ‖δ‖ > max = clamp·‖x₀‖ */
static void step_and_clamp(const z_loop_opts *o, float *delta, float *g, float *m1, float *m2, int d,
                           double dn, double x0_norm2, int t) {
    if (dn > 0)
        for (int j = 0; j < d; j++) g[j] += (float)(o->weight_decay * delta[j] / (dn * x0_norm2));
    adam_step_host(delta, g, m1, m2, d, o->lr, t);
    double max_norm = o->clamp_norm_factor * sqrt(x0_norm2), nn = norm2(delta, d);
    if (nn > max_norm)
        for (int j = 0; j < d; j++) delta[j] = (float)(delta[j] * (max_norm / nn));
}

int z_optimise(const model *m, const edit_prompts *p, const z_loop_opts *o, const z_site *sites, int n_sites,
               const z_loss *loss, z_result *r) {
    const backend *be = m->be;
    int V = m->cfg.vocab, *d = malloc((size_t)n_sites * sizeof(int)), d_all = 0;
    for (int k = 0; k < n_sites; k++) d_all += d[k] = site_dim(&m->cfg, sites[k].site);
    z_batch b;
    batch_make(p, &b);
    float *logits = malloc((size_t)b.rows * V * sizeof(float));
    float *w_nll = calloc((size_t)b.rows, sizeof(float)), *row_loss = malloc((size_t)b.rows * sizeof(float));
    double *lp = malloc((size_t)V * sizeof(double));
    float *ref = malloc((size_t)V * sizeof(float)), *ref_d = be->alloc((size_t)V * sizeof(float)); // log p_init
    kl_term kl = {b.kl_row, o->kl_factor, ref_d};
    float *work = calloc((size_t)3 * d_all, sizeof(float)); // per site: ∂loss/∂δ, Adam's m, v (d each)
    double *norms = malloc((size_t)2 * n_sites * sizeof(double)), *dn = norms, *x0n2 = norms + n_sites;
    khook *hooks = malloc((size_t)3 * n_sites * sizeof(khook)), *grads = hooks + 2 * n_sites;
    kpos bare = {0, p->ctx[0].lookup};
    // a δ on W_out's output or on the block output reaches block L's output unchanged (out = h + mo): when
    // all do, block L too is the same every pass, and adding them to its output is the same sum
    bool at_out = true;
    for (int k = 0; k < n_sites; k++) at_out &= sites[k].site == SITE_MLP_OUT || sites[k].site == SITE_BLOCK_OUT;
    int start = o->layer + at_out; // the first block that runs every pass
    for (int k = 0, off = 0; k < n_sites; off += 3 * d[k++]) {
        const z_site *z = &sites[k];
        site_kind add_at = at_out ? SITE_BLOCK_OUT : z->site;
        memset(z->delta, 0, (size_t)d[k] * sizeof(float));
        x0n2[k] = 1;
        hooks[k] = (khook){HOOK_CAPTURE, z->site, o->layer, 1, &bare, z->x0, false}; // δ = 0: once
        hooks[n_sites + k] = (khook){HOOK_ADD, add_at, o->layer, b.n_seq, b.lookups, z->delta, true};
        grads[k] = (khook){HOOK_CAPTURE, add_at, o->layer, b.n_seq, b.lookups, work + off, true};
    }
    memset(r, 0, sizeof *r);
    kbatch kb = {b.n_seq, b.len, (const int *const *)b.ids};
    bool failed;
    // blocks < start do not change: run them once, capturing x₀ there when block L is one of them
    float *resid = lower_blocks_resid(m, &kb, start, hooks, at_out ? n_sites : 0, &failed);
    int rc = failed ? -1 : 0;
    for (int it = 0; it < o->steps && !rc; it++) {
        bool x0_now = it == 0 && !at_out;
        fwd_opts fo = {.hooks = x0_now ? hooks : hooks + n_sites, .n_hooks = x0_now ? 2 * n_sites : n_sites,
                       .n_logit = b.rows, .logit_at = b.logit_at,
                       .logits_host = it && !loss->host_logits ? NULL : logits, .bwd_from_layer = start,
                       .stop_layer = -1, .start_layer = start, .start_resid = resid};
        fwd_state *s = transformer_forward(m, &kb, &fo);
        if (!s) {
            rc = -1;
            break;
        }
        if (it == 0) { // x₀ and p_init come from the first pass (δ = 0)
            log_softmax_row(logits + (size_t)b.kl_row * V, V, lp);
            for (int v = 0; v < V; v++) ref[v] = (float)lp[v];
            be->to_device(ref_d, ref, (size_t)V * sizeof(float));
            for (int k = 0; k < n_sites; k++) {
                double xn = norm2(sites[k].x0, d[k]);
                x0n2[k] = xn * xn;
            }
        }
        for (int k = 0; k < n_sites; k++) dn[k] = norm2(sites[k].delta, d[k]);
        z_pass pass = {it, s, &b, logits, &kl, dn, x0n2, w_nll, row_loss};
        double prob;
        bool stop = false;
        double l = loss->eval(loss->ctx, &pass, &prob, &stop);
        if (it == 0) r->prob_init = prob, r->loss_init = l;
        r->prob_final = prob;
        r->loss_final = l;
        r->passes = it + 1;
        if (stop || it == o->steps - 1) {
            fwd_state_free(s);
            break;
        }
        bwd_opts bo = {.grads = grads, .n_grads = n_sites, .wgrad_layer = -1};
        rc = transformer_backward(m, s, &bo);
        fwd_state_free(s);
        if (rc) break;
        for (int k = 0, off = 0; k < n_sites; off += 3 * d[k++])
            step_and_clamp(o, sites[k].delta, work + off, work + off + d[k], work + off + 2 * d[k], d[k], dn[k],
                           x0n2[k], it + 1);
    }
    batch_free(&b);
    be->free(ref_d);
    if (resid) be->free(resid);
    free(d), free(logits), free(w_nll), free(row_loss), free(lp), free(ref), free(work), free(norms), free(hooks);
    return rc;
}
