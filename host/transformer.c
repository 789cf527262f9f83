/* The transformer forward and backward over a right-padded batch, written once against backend.h.
 * Row r = b·T + t holds token t of sequence b; rows t ≥ len[b] are padding that no real row reads. */
#include "transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* activations of one block kept for the backward (all (rows × width) device buffers) */
typedef struct block_acts {
    float *x;                  /* block input (residual), d */
    float *a, *mean1, *rstd1;  /* norm-1 output and its statistics */
    float *q, *k, *v;          /* projections after rotary: nh·hd, nkv·hd, nkv·hd */
    float *probs;              /* (B, nh, T, T) */
    float *ctx, *ao;           /* attention context (nh·hd) and output projection (d) */
    float *h;                  /* x + ao for sequential blocks, d */
    float *m, *mean2, *rstd2;  /* MLP input (norm-2 output; aliases a for GPT-J) */
    float *pre, *up, *key;     /* W_in output, Llama's up, the key k (d_ff each) */
    float *mo;                 /* W_out output, d */
    float *out;                /* block output, d */
} block_acts;

typedef struct replaced {
    int layer;
    site_kind site;
    int n;
    int *rows; /* device row indices */
} replaced;

struct fwd_state {
    const model *m;
    int B, T, rows;
    int *len_d, *pos_d;        /* device: B lengths, rows positions */
    int *len_h;                /* host copy of the lengths */
    int start, bwd_from, n_layer_run; /* the first block run, the lowest kept, the blocks run up to */
    block_acts *acts;          /* n_layer entries; kept for layers ≥ bwd_from */
    float **resid;             /* n_layer + 1 residual streams (rows, d): embeddings, then block outputs */
    int n_logit;
    int *logit_rows_d;         /* n_logit device row indices */
    float *fin, *fmean, *frstd, *fout; /* final-norm input/statistics/output at the logit rows */
    float *logits, *dlogits;   /* (n_logit, V) */
    replaced *repl;
    int n_repl;
};

static const char *const site_names[SITE_COUNT] = {"resid_in", "attn_norm", "attn_ctx", "attn_out", "mlp_norm",
                                                   "mlp_pre",  "mlp_key",   "mlp_out",  "block_out"};

const char *site_name(site_kind s) { return s >= 0 && s < SITE_COUNT ? site_names[s] : "?"; }

int site_dim(const model_config *c, site_kind s) {
    return s == SITE_MLP_PRE || s == SITE_MLP_KEY ? c->d_ff : s == SITE_ATTN_CTX ? c->n_head * c->head_dim : c->d;
}

/* ---- small helpers over the backend ---- */

static float *dalloc(const backend *be, size_t n) { return be->alloc(n * sizeof(float)); }

static void dfree(const backend *be, void *p) {
    if (p) be->free(p);
}

/* y = x·Wᵀ + b over rows */
static void linear_fwd(const backend *be, const linear *L, const float *x, float *y, int rows) {
    kweight_type t;
    const void *W = linear_weight(L, &t);
    be->gemm(false, true, rows, L->out, L->in, 1.0f, x, L->in, W, t, L->in, 0.0f, y, L->out);
    if (L->b) be->add_bias(y, L->b, rows, L->out);
}

/* dx (+)= dy·W over rows */
static void linear_bwd_input(const backend *be, const linear *L, const float *dy, float *dx, int rows, bool acc) {
    kweight_type t;
    const void *W = linear_weight(L, &t);
    be->gemm(false, false, rows, L->in, L->out, 1.0f, dy, L->out, W, t, L->in, acc ? 1.0f : 0.0f, dx, L->in);
}

static int *rows_of(const fwd_state *s, const kpos *at, int n, const char *what) {
    int *h = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) {
        if (at[i].seq < 0 || at[i].seq >= s->B || at[i].pos < 0 || at[i].pos >= s->len_h[at[i].seq]) {
            fprintf(stderr, "kedit: %s position (seq %d, pos %d) is outside the batch\n", what, at[i].seq, at[i].pos);
            free(h);
            return NULL;
        }
        h[i] = at[i].seq * s->T + at[i].pos;
    }
    return h;
}

static int *upload_ints(const backend *be, const int *h, int n) {
    int *d = be->alloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    be->to_device(d, h, (size_t)n * sizeof(int));
    return d;
}

/* applies the forward hooks of (layer, site) to the value y (rows × dim) */
static int apply_hooks(const model *m, fwd_state *s, const fwd_opts *o, int layer, site_kind site, float *y) {
    const backend *be = m->be;
    int dim = site_dim(&m->cfg, site);
    for (int i = 0; i < o->n_hooks; i++) {
        const khook *hk = &o->hooks[i];
        if (hk->layer != layer || hk->site != site || hk->n <= 0) continue;
        int *rows_h = rows_of(s, hk->at, hk->n, site_name(site));
        if (!rows_h) return -1;
        int *rows_d = upload_ints(be, rows_h, hk->n);
        free(rows_h);
        float *buf = dalloc(be, (size_t)hk->n * dim); // (n, dim) values at the positions
        if (hk->kind == HOOK_CAPTURE) {
            be->gather_rows(y, dim, rows_d, hk->n, buf);
            be->to_host(hk->data, buf, (size_t)hk->n * dim * sizeof(float));
        } else {
            for (int j = 0; j < hk->n; j++)
                be->to_device(buf + (size_t)j * dim, hk->data + (hk->shared ? 0 : (size_t)j * dim), dim * sizeof(float));
            if (hk->kind == HOOK_ADD) be->scatter_add_rows(y, dim, rows_d, hk->n, buf);
            else be->scatter_rows(y, dim, rows_d, hk->n, buf);
        }
        dfree(be, buf);
        if (hk->kind == HOOK_REPLACE) {
            s->repl = realloc(s->repl, (size_t)(s->n_repl + 1) * sizeof(replaced));
            s->repl[s->n_repl++] = (replaced){layer, site, hk->n, rows_d};
        } else {
            dfree(be, rows_d);
        }
    }
    return 0;
}

static void norm_fwd(const model *m, const float *w, const float *b, const float *x, float *y, float *mean,
                     float *rstd, int rows) {
    if (m->cfg.arch == ARCH_LLAMA) m->be->rmsnorm_fwd(x, w, y, rstd, rows, m->cfg.d, m->cfg.norm_eps);
    else m->be->layernorm_fwd(x, w, b, y, mean, rstd, rows, m->cfg.d, m->cfg.norm_eps);
}

static void norm_bwd(const model *m, const float *w, const float *dy, const float *x, const float *mean,
                     const float *rstd, float *dx, int rows) {
    if (m->cfg.arch == ARCH_LLAMA) m->be->rmsnorm_bwd(dy, x, w, rstd, dx, rows, m->cfg.d);
    else m->be->layernorm_bwd(dy, x, w, mean, rstd, dx, rows, m->cfg.d);
}

static void acts_alloc(const model *m, block_acts *A, int B, int T) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    size_t R = (size_t)B * T, qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_kv_head * c->head_dim;
    A->a = dalloc(be, R * c->d);
    A->mean1 = dalloc(be, R);
    A->rstd1 = dalloc(be, R);
    A->q = dalloc(be, R * qd);
    A->k = dalloc(be, R * kvd);
    A->v = dalloc(be, R * kvd);
    A->probs = dalloc(be, (size_t)B * c->n_head * T * T);
    A->ctx = dalloc(be, R * qd);
    A->ao = dalloc(be, R * c->d);
    if (!c->parallel_block) {
        A->h = dalloc(be, R * c->d);
        A->m = dalloc(be, R * c->d);
        A->mean2 = dalloc(be, R);
        A->rstd2 = dalloc(be, R);
    }
    A->pre = dalloc(be, R * c->d_ff);
    if (c->arch == ARCH_LLAMA) A->up = dalloc(be, R * c->d_ff);
    A->key = dalloc(be, R * c->d_ff);
    A->mo = dalloc(be, R * c->d);
}

static void acts_free(const backend *be, block_acts *A, bool parallel) {
    void *ps[] = {A->a, A->mean1, A->rstd1, A->q, A->k, A->v, A->probs, A->ctx, A->ao, A->pre, A->up, A->key, A->mo};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) dfree(be, ps[i]);
    if (!parallel) {
        dfree(be, A->h);
        dfree(be, A->m);
        dfree(be, A->mean2);
        dfree(be, A->rstd2);
    }
    memset(A, 0, sizeof *A);
}

#define HOOK(site, buf)                                                                                       \
    do {                                                                                                      \
        if (apply_hooks(m, s, o, l, site, buf)) return -1;                                                    \
    } while (0)

/* one block: A->x holds the input; writes A->out (which is the next block's input buffer) */
static int block_fwd(const model *m, fwd_state *s, const fwd_opts *o, int l, block_acts *A) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    const layer_weights *W = &m->layers[l];
    int R = s->rows;
    HOOK(SITE_RESID_IN, A->x);
    norm_fwd(m, W->ln1_w, W->ln1_b, A->x, A->a, A->mean1, A->rstd1, R);
    HOOK(SITE_ATTN_NORM, A->a);
    linear_fwd(be, &W->q, A->a, A->q, R);
    linear_fwd(be, &W->k, A->a, A->k, R);
    linear_fwd(be, &W->v, A->a, A->v, R);
    if (c->rotary_dim > 0) {
        be->rotary(A->q, s->pos_d, R, c->n_head, c->head_dim, c->rotary_dim, c->rope_theta, c->rope_interleaved, false);
        be->rotary(A->k, s->pos_d, R, c->n_kv_head, c->head_dim, c->rotary_dim, c->rope_theta, c->rope_interleaved, false);
    }
    float scale = 1.0f / sqrtf((float)c->head_dim);
    be->attention_fwd(A->q, A->k, A->v, A->ctx, A->probs, s->B, s->T, c->n_head, c->n_kv_head, c->head_dim, s->len_d, scale);
    HOOK(SITE_ATTN_CTX, A->ctx);
    linear_fwd(be, &W->o, A->ctx, A->ao, R);
    HOOK(SITE_ATTN_OUT, A->ao);
    if (c->parallel_block) {
        A->m = A->a; // out = x + Attn(LN1 x) + MLP(LN1 x)
    } else {
        be->copy(A->h, A->x, (size_t)R * c->d * sizeof(float)); // h = x + ao
        be->axpy((int64_t)R * c->d, 1.0f, A->ao, A->h);
        norm_fwd(m, W->ln2_w, W->ln2_b, A->h, A->m, A->mean2, A->rstd2, R);
    }
    HOOK(SITE_MLP_NORM, A->m);
    linear_fwd(be, &W->mlp_in, A->m, A->pre, R);
    HOOK(SITE_MLP_PRE, A->pre);
    if (c->arch == ARCH_LLAMA) {
        linear_fwd(be, &W->mlp_up, A->m, A->up, R);
        be->silu_mul_fwd(A->pre, A->up, A->key, (int64_t)R * c->d_ff); // k = silu(gate)·up
    } else {
        be->gelu_fwd(A->pre, A->key, (int64_t)R * c->d_ff); // k = gelu(pre)
    }
    HOOK(SITE_MLP_KEY, A->key);
    linear_fwd(be, &W->mlp_out, A->key, A->mo, R);
    HOOK(SITE_MLP_OUT, A->mo);
    be->copy(A->out, c->parallel_block ? A->x : A->h, (size_t)R * c->d * sizeof(float));
    if (c->parallel_block) be->axpy((int64_t)R * c->d, 1.0f, A->ao, A->out);
    be->axpy((int64_t)R * c->d, 1.0f, A->mo, A->out);
    HOOK(SITE_BLOCK_OUT, A->out);
    return 0;
}
#undef HOOK

void fwd_state_free(fwd_state *s) {
    if (!s) return;
    const model *m = s->m;
    const backend *be = m->be;
    for (int l = 0; l < m->cfg.n_layer; l++)
        if (s->acts[l].a) acts_free(be, &s->acts[l], m->cfg.parallel_block);
    free(s->acts);
    for (int l = 0; l <= m->cfg.n_layer; l++) dfree(be, s->resid[l]);
    free(s->resid);
    for (int i = 0; i < s->n_repl; i++) dfree(be, s->repl[i].rows);
    free(s->repl);
    void *ps[] = {s->len_d, s->pos_d, s->logit_rows_d, s->fin, s->fmean, s->frstd, s->fout, s->logits, s->dlogits};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) dfree(be, ps[i]);
    free(s->len_h);
    free(s);
}

/* token and position embeddings into x (rows, d) */
static void embed(const model *m, const fwd_state *s, const int *ids_d, float *x) {
    const backend *be = m->be;
    be->gather_rows(m->wte, m->cfg.d, ids_d, s->rows, x);
    if (m->wpe) {
        float *p = dalloc(be, (size_t)s->rows * m->cfg.d); // (rows, d) learned positions
        be->gather_rows(m->wpe, m->cfg.d, s->pos_d, s->rows, p);
        be->axpy((int64_t)s->rows * m->cfg.d, 1.0f, p, x);
        dfree(be, p);
    }
}

static int check_batch(const model *m, const kbatch *b) {
    if (b->n_seq <= 0) {
        fprintf(stderr, "kedit: empty batch\n");
        return -1;
    }
    for (int i = 0; i < b->n_seq; i++) {
        if (b->len[i] < 1 || b->len[i] > m->cfg.n_ctx) {
            fprintf(stderr, "kedit: sequence %d has %d tokens (the model takes 1 to %d)\n", i, b->len[i], m->cfg.n_ctx);
            return -1;
        }
        for (int t = 0; t < b->len[i]; t++)
            if (b->ids[i][t] < 0 || b->ids[i][t] >= m->cfg.vocab) {
                fprintf(stderr, "kedit: token id %d at position %d of sequence %d is outside the vocabulary (%d)\n",
                        b->ids[i][t], t, i, m->cfg.vocab);
                return -1;
            }
    }
    return 0;
}

/* the final norm and the head at the chosen rows */
static int logits_fwd(const model *m, fwd_state *s, const fwd_opts *o, const float *final) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    int n = o->n_logit;
    int *rows_h;
    if (n < 0 && !o->logit_at) {
        n = 0;
        for (int b = 0; b < s->B; b++) n += s->len_h[b];
        rows_h = malloc((size_t)n * sizeof(int));
        for (int b = 0, j = 0; b < s->B; b++)
            for (int t = 0; t < s->len_h[b]; t++) rows_h[j++] = b * s->T + t;
    } else {
        rows_h = rows_of(s, o->logit_at, n, "logit");
        if (!rows_h) return -1;
    }
    s->n_logit = n;
    if (n == 0) {
        free(rows_h);
        return 0;
    }
    s->logit_rows_d = upload_ints(be, rows_h, n);
    free(rows_h);
    s->fin = dalloc(be, (size_t)n * c->d);
    s->fout = dalloc(be, (size_t)n * c->d);
    s->fmean = dalloc(be, n);
    s->frstd = dalloc(be, n);
    be->gather_rows(final, c->d, s->logit_rows_d, n, s->fin);
    norm_fwd(m, m->lnf_w, m->lnf_b, s->fin, s->fout, s->fmean, s->frstd, n);
    s->logits = dalloc(be, (size_t)n * c->vocab); // (n_logit, V)
    linear_fwd(be, &m->head, s->fout, s->logits, n);
    if (o->logits_host) be->to_host(o->logits_host, s->logits, (size_t)n * c->vocab * sizeof(float));
    return 0;
}

fwd_state *transformer_forward(const model *m, const kbatch *b, const fwd_opts *o) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    if (check_batch(m, b)) return NULL;
    fwd_state *s = calloc(1, sizeof *s);
    s->m = m;
    s->B = b->n_seq;
    for (int i = 0; i < b->n_seq; i++) s->T = b->len[i] > s->T ? b->len[i] : s->T;
    s->rows = s->B * s->T;
    s->len_h = malloc((size_t)s->B * sizeof(int));
    memcpy(s->len_h, b->len, (size_t)s->B * sizeof(int));
    int *ids_h = calloc((size_t)s->rows, sizeof(int)), *pos_h = calloc((size_t)s->rows, sizeof(int));
    for (int i = 0; i < s->B; i++)
        for (int t = 0; t < b->len[i]; t++) {
            ids_h[i * s->T + t] = b->ids[i][t];
            pos_h[i * s->T + t] = t;
        }
    s->pos_d = upload_ints(be, pos_h, s->rows);
    s->len_d = upload_ints(be, b->len, s->B);
    free(pos_h);

    s->n_layer_run = o->stop_layer >= 0 && o->stop_layer < c->n_layer ? o->stop_layer + 1 : c->n_layer;
    s->bwd_from = o->bwd_from_layer < 0 ? c->n_layer : o->bwd_from_layer;
    s->acts = calloc((size_t)c->n_layer, sizeof(block_acts));
    s->resid = calloc((size_t)c->n_layer + 1, sizeof(float *));
    int l0 = o->start_layer > 0 && o->start_resid ? o->start_layer : 0;
    if (l0 > c->n_layer) {
        fprintf(stderr, "kedit: start layer %d beyond the model's %d layers\n", l0, c->n_layer);
        l0 = -1;
    }
    s->start = l0;
    s->resid[l0 > 0 ? l0 : 0] = dalloc(be, (size_t)s->rows * c->d);
    int rc = l0 < 0;
    if (l0 > 0) { // block l0 − 1's output as the earlier forward had it, then the hooks on it
        be->copy(s->resid[l0], o->start_resid, (size_t)s->rows * c->d * sizeof(float));
        rc = apply_hooks(m, s, o, l0 - 1, SITE_BLOCK_OUT, s->resid[l0]);
    } else if (l0 == 0) {
        int *ids_d = upload_ints(be, ids_h, s->rows);
        embed(m, s, ids_d, s->resid[0]);
        dfree(be, ids_d);
    }
    free(ids_h);
    if (s->bwd_from < l0) s->bwd_from = l0;

    block_acts scratch = {0};
    for (int l = l0; l < s->n_layer_run && !rc; l++) {
        bool keep = l >= s->bwd_from;
        block_acts *A = keep ? &s->acts[l] : &scratch;
        if (!A->a) acts_alloc(m, A, s->B, s->T);
        s->resid[l + 1] = dalloc(be, (size_t)s->rows * c->d);
        A->x = s->resid[l];
        A->out = s->resid[l + 1];
        rc = block_fwd(m, s, o, l, A);
        if (!keep) { // the input of a block not kept for the backward is no longer needed
            dfree(be, s->resid[l]);
            s->resid[l] = NULL;
        }
    }
    if (scratch.a) acts_free(be, &scratch, c->parallel_block);
    if (!rc && s->n_layer_run == c->n_layer && (o->n_logit != 0 || o->logit_at))
        rc = logits_fwd(m, s, o, s->resid[c->n_layer]);
    if (rc) {
        fwd_state_free(s);
        return NULL;
    }
    return s;
}

float *fwd_state_take_resid(fwd_state *s, int layer) {
    if (layer < 1 || layer != s->n_layer_run) return NULL;
    float *r = s->resid[layer];
    s->resid[layer] = NULL;
    return r;
}

double transformer_loss(const model *m, fwd_state *s, const int *y, const float *w_nll, const kl_term *kl,
                        float *row_loss_host) {
    const backend *be = m->be;
    int n = s->n_logit, V = m->cfg.vocab;
    if (!s->logits || n == 0) return 0.0;
    if (kl && (kl->row < 0 || kl->row >= n)) {
        fprintf(stderr, "kedit: the KL term's logit row %d is not one of the forward's %d\n", kl->row, n);
        return NAN;
    }
    if (!s->dlogits) s->dlogits = dalloc(be, (size_t)n * V);
    be->zero(s->dlogits, (size_t)n * V * sizeof(float));
    float *loss_d = dalloc(be, (size_t)n), *w_d = dalloc(be, (size_t)n);
    float *row = calloc((size_t)n, sizeof(float)), *part = malloc((size_t)n * sizeof(float));
    if (y && w_nll) {
        int *y_d = upload_ints(be, y, n);
        be->to_device(w_d, w_nll, (size_t)n * sizeof(float));
        be->nll_loss(s->logits, y_d, w_d, n, V, loss_d, s->dlogits); // Σ w·(−log p(y))
        be->to_host(part, loss_d, (size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) row[i] += part[i];
        dfree(be, y_d);
    }
    if (kl) {
        size_t at = (size_t)kl->row * V;
        be->to_device(w_d, &kl->weight, sizeof(float));
        be->kl_loss(s->logits + at, kl->ref_logp, w_d, 1, V, loss_d, s->dlogits + at); // w·KL(p ‖ ref)
        be->to_host(part, loss_d, sizeof(float));
        row[kl->row] += part[0];
    }
    double total = 0;
    for (int i = 0; i < n; i++) total += row[i];
    if (row_loss_host) memcpy(row_loss_host, row, (size_t)n * sizeof(float));
    free(row);
    free(part);
    dfree(be, loss_d);
    dfree(be, w_d);
    return total;
}

/* copies the gradient dy (rows × dim) of (layer, site) into the requests; zeroes replaced rows */
static int take_grads(const model *m, fwd_state *s, const bwd_opts *o, int layer, site_kind site, float *dy) {
    const backend *be = m->be;
    int dim = site_dim(&m->cfg, site);
    for (int i = 0; i < o->n_grads; i++) {
        const khook *g = &o->grads[i];
        if (g->layer != layer || g->site != site || g->n <= 0) continue;
        int *rows_h = rows_of(s, g->at, g->n, site_name(site));
        if (!rows_h) return -1;
        int *rows_d = upload_ints(be, rows_h, g->n);
        free(rows_h);
        float *buf = dalloc(be, (size_t)g->n * dim); // (n, dim) gradients at the positions
        be->gather_rows(dy, dim, rows_d, g->n, buf);
        if (g->shared) {
            float *tmp = malloc((size_t)g->n * dim * sizeof(float));
            be->to_host(tmp, buf, (size_t)g->n * dim * sizeof(float));
            for (int j = 0; j < dim; j++) {
                double acc = 0;
                for (int r = 0; r < g->n; r++) acc += tmp[(size_t)r * dim + j];
                g->data[j] = (float)acc;
            }
            free(tmp);
        } else {
            be->to_host(g->data, buf, (size_t)g->n * dim * sizeof(float));
        }
        dfree(be, buf);
        dfree(be, rows_d);
    }
    for (int i = 0; i < s->n_repl; i++) // a replaced value does not depend on what computed it
        if (s->repl[i].layer == layer && s->repl[i].site == site) {
            float *z = dalloc(be, (size_t)s->repl[i].n * dim);
            be->scatter_rows(dy, dim, s->repl[i].rows, s->repl[i].n, z);
            dfree(be, z);
        }
    return 0;
}

/* the weight gradient of one linear layer: dW = dyᵀ·x (out × in), db = Σ_rows dy */
static void linear_wgrad(const backend *be, const linear *L, const float *dy, const float *x, int rows, float *dW_host,
                         float *db_host) {
    float *dW = dalloc(be, (size_t)L->out * L->in);
    be->gemm(true, false, L->out, L->in, rows, 1.0f, dy, L->out, x, KT_F32, L->in, 0.0f, dW, L->in);
    be->to_host(dW_host, dW, (size_t)L->out * L->in * sizeof(float));
    dfree(be, dW);
    if (db_host && L->b) {
        float *db = dalloc(be, (size_t)L->out);
        be->col_sum_acc(dy, rows, L->out, db);
        be->to_host(db_host, db, (size_t)L->out * sizeof(float));
        dfree(be, db);
    }
}

#define GRADS(site, buf)                                                                                      \
    do {                                                                                                      \
        if (take_grads(m, s, o, l, site, buf)) goto fail;                                                     \
    } while (0)
#define END_AT(site)                                                                                          \
    do {                                                                                                      \
        if (last == (site)) goto done;                                                                        \
    } while (0)

/* one block backward: dres holds ∂L/∂(block output) on entry and ∂L/∂(block input) on return, unless it
 * ends earlier, after the gradients at site `last` (and a weight gradient read there): the sites run in
 * the reverse of their order, so what lies below `last` is work no request reads */
static int block_bwd(const model *m, fwd_state *s, const bwd_opts *o, int l, site_kind last, float *dres) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    const layer_weights *W = &m->layers[l];
    const block_acts *A = &s->acts[l];
    size_t R = (size_t)s->rows, qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_kv_head * c->head_dim;
    float *dm = dalloc(be, R * c->d), *dff = dalloc(be, R * c->d_ff), *dup = NULL, *dh = NULL;
    float *dctx = dalloc(be, R * qd), *dq = dalloc(be, R * qd), *dk = dalloc(be, R * kvd), *dv = dalloc(be, R * kvd);
    float *da = dalloc(be, R * c->d), *dmo = dalloc(be, R * c->d), *dao = dalloc(be, R * c->d);
    int rc = -1;
    GRADS(SITE_BLOCK_OUT, dres);
    END_AT(SITE_BLOCK_OUT);
    be->copy(dmo, dres, R * c->d * sizeof(float)); // ∂L/∂mo = ∂L/∂out
    GRADS(SITE_MLP_OUT, dmo);
    if (o->dW && o->wgrad_layer == l && o->wgrad_which == 0) linear_wgrad(be, &W->mlp_out, dmo, A->key, s->rows, o->dW, o->db);
    END_AT(SITE_MLP_OUT);
    linear_bwd_input(be, &W->mlp_out, dmo, dff, s->rows, false); // ∂L/∂k = ∂L/∂mo · W_out
    GRADS(SITE_MLP_KEY, dff);
    END_AT(SITE_MLP_KEY);
    if (c->arch == ARCH_LLAMA) {
        dup = dalloc(be, R * c->d_ff);
        be->silu_mul_bwd(A->pre, A->up, dff, dff, dup, (int64_t)R * c->d_ff); // in place: dgate over dk
    } else {
        be->gelu_bwd(A->pre, dff, dff, (int64_t)R * c->d_ff);
    }
    GRADS(SITE_MLP_PRE, dff);
    if (o->dW && o->wgrad_layer == l && o->wgrad_which == 1) linear_wgrad(be, &W->mlp_in, dff, A->m, s->rows, o->dW, o->db);
    END_AT(SITE_MLP_PRE);
    linear_bwd_input(be, &W->mlp_in, dff, dm, s->rows, false);
    if (dup) linear_bwd_input(be, &W->mlp_up, dup, dm, s->rows, true);
    GRADS(SITE_MLP_NORM, dm);
    END_AT(SITE_MLP_NORM);
    if (!c->parallel_block) {
        dh = dalloc(be, R * c->d); // ∂L/∂h = ∂L/∂out + LN2ᵀ(∂L/∂m)
        norm_bwd(m, W->ln2_w, dm, A->h, A->mean2, A->rstd2, dh, s->rows);
        be->axpy((int64_t)R * c->d, 1.0f, dres, dh);
    }
    be->copy(dao, c->parallel_block ? dres : dh, R * c->d * sizeof(float)); // ∂L/∂ao
    GRADS(SITE_ATTN_OUT, dao);
    END_AT(SITE_ATTN_OUT);
    linear_bwd_input(be, &W->o, dao, dctx, s->rows, false);
    GRADS(SITE_ATTN_CTX, dctx);
    END_AT(SITE_ATTN_CTX);
    float scale = 1.0f / sqrtf((float)c->head_dim);
    be->attention_bwd(dctx, A->q, A->k, A->v, A->probs, dq, dk, dv, s->B, s->T, c->n_head, c->n_kv_head, c->head_dim,
                      s->len_d, scale);
    if (c->rotary_dim > 0) {
        be->rotary(dq, s->pos_d, s->rows, c->n_head, c->head_dim, c->rotary_dim, c->rope_theta, c->rope_interleaved, true);
        be->rotary(dk, s->pos_d, s->rows, c->n_kv_head, c->head_dim, c->rotary_dim, c->rope_theta, c->rope_interleaved, true);
    }
    linear_bwd_input(be, &W->q, dq, da, s->rows, false);
    linear_bwd_input(be, &W->k, dk, da, s->rows, true);
    linear_bwd_input(be, &W->v, dv, da, s->rows, true);
    if (c->parallel_block) be->axpy((int64_t)R * c->d, 1.0f, dm, da); // the MLP read LN1's output too
    GRADS(SITE_ATTN_NORM, da);
    END_AT(SITE_ATTN_NORM);
    // ∂L/∂x = (sequential: ∂L/∂h; parallel: ∂L/∂out) + LN1ᵀ(∂L/∂a)
    if (!c->parallel_block) be->copy(dres, dh, R * c->d * sizeof(float));
    norm_bwd(m, W->ln1_w, da, A->x, A->mean1, A->rstd1, dm, s->rows);
    be->axpy((int64_t)R * c->d, 1.0f, dm, dres);
    GRADS(SITE_RESID_IN, dres);
done:
    rc = 0;
fail:;
    void *ps[] = {dm, dff, dup, dh, dctx, dq, dk, dv, da, dmo, dao};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) dfree(be, ps[i]);
    return rc;
}
#undef END_AT
#undef GRADS

/* (*lowest, *last) ← the lower of itself and (layer, site), blocks first, then sites by their order */
static void lowest_site(int layer, site_kind site, int *lowest, site_kind *last) {
    if (layer < *lowest || (layer == *lowest && site < *last)) *lowest = layer, *last = site;
}

int transformer_backward(const model *m, fwd_state *s, const bwd_opts *o) {
    const backend *be = m->be;
    const model_config *c = &m->cfg;
    if (!s->dlogits) {
        fprintf(stderr, "kedit: backward without a loss (call transformer_loss first)\n");
        return -1;
    }
    int lowest = c->n_layer;          // the lowest block whose backward runs,
    site_kind last = SITE_BLOCK_OUT;  // and the lowest site asked of it
    for (int i = 0; i < o->n_grads; i++) {
        const khook *g = &o->grads[i]; // the output of the block below the start is block start's input
        bool start_input = g->layer == s->start - 1 && g->site == SITE_BLOCK_OUT;
        lowest_site(start_input ? s->start : g->layer, start_input ? SITE_RESID_IN : g->site, &lowest, &last);
    }
    if (o->dW && o->wgrad_layer >= 0) // read where ∂L/∂(W's output) is known
        lowest_site(o->wgrad_layer, o->wgrad_which ? SITE_MLP_PRE : SITE_MLP_OUT, &lowest, &last);
    if (lowest < s->bwd_from || s->n_layer_run < c->n_layer) {
        fprintf(stderr, "kedit: backward to layer %d needs a forward that kept layers ≥ %d (it kept ≥ %d)\n", lowest,
                lowest, s->bwd_from);
        return -1;
    }
    size_t R = (size_t)s->rows;
    float *dres = dalloc(be, R * c->d); // ∂L/∂(residual stream), zero on padding rows
    float *dfin = dalloc(be, (size_t)s->n_logit * c->d), *dfout = dalloc(be, (size_t)s->n_logit * c->d);
    linear_bwd_input(be, &m->head, s->dlogits, dfout, s->n_logit, false); // ∂L/∂ln_f(h) = ∂L/∂logits · W_U
    norm_bwd(m, m->lnf_w, dfout, s->fin, s->fmean, s->frstd, dfin, s->n_logit);
    be->scatter_add_rows(dres, c->d, s->logit_rows_d, s->n_logit, dfin);
    dfree(be, dfin);
    dfree(be, dfout);
    int rc = 0;
    for (int l = c->n_layer - 1; l >= lowest && !rc; l--)
        rc = block_bwd(m, s, o, l, l == lowest ? last : SITE_RESID_IN, dres);
    if (!rc && s->start > 0 && lowest == s->start) // dres: ∂L/∂(block start's input)
        rc = take_grads(m, s, o, s->start - 1, SITE_BLOCK_OUT, dres);
    dfree(be, dres);
    return rc;
}
