/* A Hugging Face checkpoint folder → model: config.json gives the shapes, the safetensors give the
 * tensors (names of GPT-2, GPT-J and Llama, with or without their "transformer." / "model." prefix),
 * each checked against its expected shape, converted to float32 alone and uploaded in math orientation
 * (out, in). GPT-2's Conv1D weights are stored (in, out) and are transposed; its fused c_attn is split
 * into q, k and v. */
#include "hf_weights.h"

#include "hf_config.h"
#include "load_checks.h"
#include "path_join.h"
#include "safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct loader {
    const st_set *st;
    const backend *be;
    const char *dir;
    const char *prefix;    /* "transformer." or "model." */
    const char *layer_fmt; /* "h.%d." or "layers.%d." */
    int layer;             /* block the stems below belong to, −1 for the others */
    kweight_type linears;  /* storage of linear weights */
    bool check_only;       /* find every tensor with its shape; convert and upload nothing */
    float *buf, *tbuf;     /* scratch: one converted tensor, one transposed slice */
    size_t cap, tcap;      /* their sizes in floats */
    char *err;
    size_t errlen;
} loader;

/* the tensor <layer part><stem><suffix>, under the prefix or bare, whose stored shape must be
 * (d0, d1), or (d0) when d1 is 0; NULL with the message in err */
static const st_tensor *find(loader *x, const char *stem, const char *suffix, int64_t d0, int64_t d1) {
    char name[256], full[300];
    int at = x->layer >= 0 ? snprintf(name, sizeof name, x->layer_fmt, x->layer) : 0;
    snprintf(name + at, sizeof name - (size_t)at, "%s%s", stem, suffix);
    snprintf(full, sizeof full, "%s%s", x->prefix, name);
    const st_tensor *t = st_find(x->st, full);
    if (!t) t = st_find(x->st, name);
    if (!t) {
        snprintf(x->err, x->errlen, "%s: missing tensor %s (also looked for %s)", x->dir, full, name);
        return NULL;
    }
    int64_t want[2] = {d0, d1};
    int ndim = d1 ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[128], expect[128];
        st_format_shape(t->shape, t->ndim, got, sizeof got);
        st_format_shape(want, ndim, expect, sizeof expect);
        snprintf(x->err, x->errlen, "%s: tensor %s: wrong shape %s, config.json implies %s", t->file, t->name, got,
                 expect);
        return NULL;
    }
    return t;
}

/* grows a scratch buffer to n floats */
static float *scratch(loader *x, float **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        float *grown = realloc(*buf, n * sizeof *grown);
        if (!grown) {
            snprintf(x->err, x->errlen, "%s: out of memory converting a tensor of %zu values", x->dir, n);
            return NULL;
        }
        *buf = grown;
        *cap = n;
    }
    return *buf;
}

/* t converted to float32 in x->buf */
static float *convert(loader *x, const st_tensor *t) {
    float *dst = scratch(x, &x->buf, &x->cap, (size_t)t->numel);
    return dst && st_read_f32(t, dst, x->err, x->errlen) == 0 &&
                   load_check_finite(dst, (size_t)t->numel, t->file, t->name, x->err, x->errlen) == 0
               ? dst
               : NULL;
}

/* a tensor stored as it is used, (d0) or (d0, d1), onto the device */
static int load(loader *x, float **dst, const char *stem, const char *suffix, int64_t d0, int64_t d1) {
    const st_tensor *t = find(x, stem, suffix, d0, d1);
    if (!t) return 1;
    if (x->check_only) return 0;
    float *host = convert(x, t);
    if (!host) return 1;
    *dst = weights_upload(x->be, host, (size_t)t->numel);
    return 0;
}

/* a norm's weight and, when b is not NULL, its bias */
static int norm(loader *x, float **w, float **b, const char *stem, int d) {
    return load(x, w, stem, ".weight", d, 0) || (b && load(x, b, stem, ".bias", d, 0));
}

/* a linear layer stored (out, in) as nn.Linear does, with its bias when has_bias */
static int lin(loader *x, linear *l, const char *stem, bool has_bias, int out, int in) {
    l->out = out;
    l->in = in;
    const st_tensor *t = find(x, stem, ".weight", out, in);
    if (!t) return 1;
    if (!x->check_only) {
        const float *W = convert(x, t);
        if (!W || linear_upload(x->be, l, W, x->linears, x->err, x->errlen)) return 1;
    }
    return has_bias && load(x, &l->b, stem, ".bias", out, 0);
}

enum { TILE = 16 }; /* 16×16 float tiles: measured fastest of 8, 16, 32, 64 (power-of-2 strides alias in L1) */

/* Wt (out, in) ← the transpose of columns [col0, col0 + out) of W (in, cols), tile by tile */
static void transpose_cols(const float *W, int cols, int col0, float *Wt, int out, int in) {
#pragma omp parallel for if ((size_t)out * in >= (1u << 20))
    for (int o0 = 0; o0 < out; o0 += TILE)
        for (int i0 = 0; i0 < in; i0 += TILE)
            for (int o = o0; o < o0 + TILE && o < out; o++)
                for (int i = i0; i < i0 + TILE && i < in; i++)
                    Wt[(size_t)o * in + i] = W[(size_t)i * cols + col0 + o];
}

/* GPT-2's Conv1D stored (in, n·out) with bias (n·out): part p takes output columns [p·out, (p+1)·out),
 * transposed to (out, in) */
static int conv1d(loader *x, linear *const *parts, int n, const char *stem, int in, int out) {
    const st_tensor *t = find(x, stem, ".weight", in, (int64_t)n * out);
    if (!t) return 1;
    if (x->check_only) return find(x, stem, ".bias", (int64_t)n * out, 0) == NULL;
    const float *W = convert(x, t);                     /* (in, n·out) */
    float *Wt = scratch(x, &x->tbuf, &x->tcap, (size_t)out * in); /* (out, in) */
    if (!W || !Wt) return 1;
    for (int p = 0; p < n; p++) {
        transpose_cols(W, n * out, p * out, Wt, out, in);
        parts[p]->out = out;
        parts[p]->in = in;
        if (linear_upload(x->be, parts[p], Wt, x->linears, x->err, x->errlen)) return 1;
    }
    const st_tensor *tb = find(x, stem, ".bias", (int64_t)n * out, 0);
    const float *b = tb ? convert(x, tb) : NULL;        /* (n·out) */
    if (!b) return 1;
    for (int p = 0; p < n; p++) parts[p]->b = weights_upload(x->be, b + (size_t)p * out, (size_t)out);
    return 0;
}

static int load_gpt2(loader *x, model *m) {
    const model_config *c = &m->cfg;
    int d = c->d;
    for (x->layer = 0; x->layer < c->n_layer; x->layer++) {
        layer_weights *L = &m->layers[x->layer];
        if (norm(x, &L->ln1_w, &L->ln1_b, "ln_1", d) ||
            conv1d(x, (linear *const[]){&L->q, &L->k, &L->v}, 3, "attn.c_attn", d, d) ||
            conv1d(x, (linear *const[]){&L->o}, 1, "attn.c_proj", d, d) ||
            norm(x, &L->ln2_w, &L->ln2_b, "ln_2", d) ||
            conv1d(x, (linear *const[]){&L->mlp_in}, 1, "mlp.c_fc", d, c->d_ff) ||
            conv1d(x, (linear *const[]){&L->mlp_out}, 1, "mlp.c_proj", c->d_ff, d))
            return 1;
    }
    x->layer = -1;
    if (load(x, &m->wte, "wte", ".weight", c->vocab, d) || load(x, &m->wpe, "wpe", ".weight", c->n_ctx, d) ||
        norm(x, &m->lnf_w, &m->lnf_b, "ln_f", d))
        return 1;
    m->head = (linear){.w = m->wte, .b = NULL, .out = c->vocab, .in = d};
    return 0;
}

static int load_gptj(loader *x, model *m) {
    const model_config *c = &m->cfg;
    int d = c->d;
    for (x->layer = 0; x->layer < c->n_layer; x->layer++) {
        layer_weights *L = &m->layers[x->layer];
        if (norm(x, &L->ln1_w, &L->ln1_b, "ln_1", d) || lin(x, &L->q, "attn.q_proj", false, d, d) ||
            lin(x, &L->k, "attn.k_proj", false, d, d) || lin(x, &L->v, "attn.v_proj", false, d, d) ||
            lin(x, &L->o, "attn.out_proj", false, d, d) || lin(x, &L->mlp_in, "mlp.fc_in", true, c->d_ff, d) ||
            lin(x, &L->mlp_out, "mlp.fc_out", true, d, c->d_ff))
            return 1;
    }
    x->layer = -1;
    return load(x, &m->wte, "wte", ".weight", c->vocab, d) || norm(x, &m->lnf_w, &m->lnf_b, "ln_f", d) ||
           lin(x, &m->head, "lm_head", true, c->vocab, d);
}

static int load_llama(loader *x, model *m) {
    const model_config *c = &m->cfg;
    int d = c->d, q_out = c->n_head * c->head_dim, kv_out = c->n_kv_head * c->head_dim;
    for (x->layer = 0; x->layer < c->n_layer; x->layer++) {
        layer_weights *L = &m->layers[x->layer];
        if (norm(x, &L->ln1_w, NULL, "input_layernorm", d) || lin(x, &L->q, "self_attn.q_proj", false, q_out, d) ||
            lin(x, &L->k, "self_attn.k_proj", false, kv_out, d) ||
            lin(x, &L->v, "self_attn.v_proj", false, kv_out, d) ||
            lin(x, &L->o, "self_attn.o_proj", false, d, q_out) ||
            norm(x, &L->ln2_w, NULL, "post_attention_layernorm", d) ||
            lin(x, &L->mlp_in, "mlp.gate_proj", false, c->d_ff, d) ||
            lin(x, &L->mlp_up, "mlp.up_proj", false, c->d_ff, d) ||
            lin(x, &L->mlp_out, "mlp.down_proj", false, d, c->d_ff))
            return 1;
    }
    x->layer = -1;
    if (load(x, &m->wte, "embed_tokens", ".weight", c->vocab, d) || norm(x, &m->lnf_w, NULL, "norm", d)) return 1;
    if (!c->tied_head) return lin(x, &m->head, "lm_head", false, c->vocab, d);
    m->head = (linear){.w = m->wte, .b = NULL, .out = c->vocab, .in = d};
    return 0;
}

/* walks the architecture's tensors with x (m->cfg read, m->layers allocated here) */
static int walk(loader *x, model *m) {
    if (!(m->layers = calloc((size_t)m->cfg.n_layer, sizeof *m->layers))) {
        snprintf(x->err, x->errlen, "%s: out of memory", x->dir);
        return 1;
    }
    int rc;
    if (m->cfg.arch == ARCH_LLAMA) {
        x->prefix = "model.";
        x->layer_fmt = "layers.%d.";
        rc = load_llama(x, m);
    } else {
        x->prefix = "transformer.";
        x->layer_fmt = "h.%d.";
        rc = m->cfg.arch == ARCH_GPT2 ? load_gpt2(x, m) : load_gptj(x, m);
    }
    free(x->buf);
    free(x->tbuf);
    return rc;
}

int hf_weights_check(const char *dir, const model_config *c, const st_set *st, char *err, size_t errlen) {
    model m = {.cfg = *c};
    loader x = {.st = st, .dir = dir, .layer = -1, .check_only = true, .err = err, .errlen = errlen};
    int rc = walk(&x, &m);
    free(m.layers); /* check_only: no weights were uploaded into it */
    return rc;
}

int hf_model_load(const char *dir, const backend *be, model *m, char *err, size_t errlen) {
    char *config = path_join(dir, "config.json");
    if (!config) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return 1;
    }
    int rc = hf_config_read(config, &m->cfg, err, errlen);
    free(config);
    if (rc || load_check_memory(&m->cfg, be, m->weights, dir, err, errlen)) return 1;
    st_set st;
    if (st_open_dir(dir, &st, err, errlen)) return 1;
    loader x = {.st = &st, .be = be, .dir = dir, .layer = -1, .linears = m->weights, .err = err, .errlen = errlen};
    rc = walk(&x, m);
    if (!rc) snprintf(m->checksum, sizeof m->checksum, "%016" PRIx64, st_checksum(&st));
    st_close(&st);
    return rc;
}
