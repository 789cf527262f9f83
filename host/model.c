/* The weights of a loaded model on its backend, whatever file they came from: their size estimate, the
 * f32/bf16 storage of the linear layers (uploading host floats as either, converting between them, reading
 * them back) and freeing a model. The loaders below checkpoint.c build models with these. */
#include "model.h"

#include "bf16.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t model_weight_bytes(const model_config *c, kweight_type linears) {
    bool gpt2 = c->arch == ARCH_GPT2, gptj = c->arch == ARCH_GPTJ, llama = c->arch == ARCH_LLAMA;
    double d = c->d, d_ff = c->d_ff, V = c->vocab;
    double q_out = (double)c->n_head * c->head_dim, kv_out = (double)c->n_kv_head * c->head_dim;
    double norm = llama ? d : 2 * d;                              /* RMSNorm has no bias */
    double layer_w = d * q_out + 2 * d * kv_out + q_out * d       /* q, k, v, o */
                     + d * d_ff * (llama ? 3 : 2);                /* W_in (+ up), W_out */
    double layer_f32 = norm * (gptj ? 1 : 2)                      /* ln1 (+ ln2) */
                       + (gpt2 ? q_out + 2 * kv_out + d : 0)      /* GPT-2's attention biases */
                       + (llama ? 0 : d_ff + d);                  /* MLP biases */
    double n_w = (double)c->n_layer * layer_w + (c->tied_head ? 0 : V * d); /* linear weights */
    double n_f32 = V * d + (gpt2 ? (double)c->n_ctx * d : 0) + (double)c->n_layer * layer_f32 + norm +
                   (!c->tied_head && gptj ? V : 0);
    double bytes = (linears == KT_BF16 ? 2 : 4) * n_w + 4 * n_f32;
    return bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

int weight_type_parse(const char *name, kweight_type *t) {
    if (strcmp(name, "f32") == 0) *t = KT_F32;
    else if (strcmp(name, "bf16") == 0) *t = KT_BF16;
    else return 1;
    return 0;
}

const char *weight_type_name(kweight_type t) { return t == KT_BF16 ? "bf16" : "f32"; }

float *weights_upload(const backend *be, const float *host, size_t n) {
    float *p = be->alloc(n * sizeof *p);
    be->to_device(p, host, n * sizeof *p);
    return p;
}

/* n floats rounded to bf16 this many at a time on the host before their upload */
#define BF16_UPLOAD_CHUNK (1 << 20)

int linear_upload(const backend *be, linear *l, const float *host, kweight_type wt, char *err, size_t errlen) {
    size_t n = (size_t)l->out * l->in;
    if (wt == KT_F32) {
        l->w = weights_upload(be, host, n);
        return 0;
    }
    uint16_t *chunk = malloc((n < BF16_UPLOAD_CHUNK ? n : BF16_UPLOAD_CHUNK) * sizeof *chunk);
    if (!chunk) {
        snprintf(err, errlen, "out of memory rounding a (%d, %d) weight to bf16", l->out, l->in);
        return 1;
    }
    l->w_bf16 = be->alloc(n * sizeof *l->w_bf16);
    for (size_t at = 0; at < n; at += BF16_UPLOAD_CHUNK) {
        size_t k = n - at < BF16_UPLOAD_CHUNK ? n - at : BF16_UPLOAD_CHUNK;
#pragma omp parallel for if (k >= (1u << 16))
        for (size_t i = 0; i < k; i++) chunk[i] = f32_to_bf16(host[at + i]);
        be->to_device(l->w_bf16 + at, chunk, k * sizeof *chunk);
    }
    free(chunk);
    return 0;
}

void linear_weight_to_host(const backend *be, const linear *l, float *dst) {
    size_t n = (size_t)l->out * l->in;
    if (l->w) {
        be->to_host(dst, l->w, n * sizeof *dst);
        return;
    }
    uint16_t *h = (uint16_t *)dst + n; /* the bf16 values fill the upper half of dst, then widen downwards */
    be->to_host(h, l->w_bf16, n * sizeof *h);
    for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(h[i]);
}

int linear_make_f32(const backend *be, linear *l, char *err, size_t errlen) {
    if (l->w) return 0;
    size_t n = (size_t)l->out * l->in;
    float *host = malloc(n * sizeof *host);
    if (!host) {
        snprintf(err, errlen, "out of memory widening a (%d, %d) bf16 weight to float32", l->out, l->in);
        return 1;
    }
    linear_weight_to_host(be, l, host);
    l->w = weights_upload(be, host, n);
    free(host);
    be->free(l->w_bf16);
    l->w_bf16 = NULL;
    return 0;
}

int linear_make_bf16(const backend *be, linear *l, char *err, size_t errlen) {
    if (!l->w) return 0;
    size_t n = (size_t)l->out * l->in;
    float *host = malloc(n * sizeof *host), *w = l->w;
    if (!host) {
        snprintf(err, errlen, "out of memory rounding a (%d, %d) weight to bf16", l->out, l->in);
        return 1;
    }
    be->to_host(host, w, n * sizeof *host);
    int rc = linear_upload(be, l, host, KT_BF16, err, errlen);
    free(host);
    if (rc) return 1;
    be->free(w);
    l->w = NULL;
    return 0;
}

static void free_device(const backend *be, void *p) {
    if (p) be->free(p);
}

static void free_linear(const backend *be, linear *l) {
    free_device(be, l->w);
    free_device(be, l->w_bf16);
    free_device(be, l->b);
}

void model_free(model *m) {
    if (!m) return;
    const backend *be = m->be;
    if (be) {
        for (int i = 0; m->layers && i < m->cfg.n_layer; i++) {
            layer_weights *L = &m->layers[i];
            free_device(be, L->ln1_w);
            free_device(be, L->ln1_b);
            free_device(be, L->ln2_w);
            free_device(be, L->ln2_b);
            linear *lin[] = {&L->q, &L->k, &L->v, &L->o, &L->mlp_in, &L->mlp_up, &L->mlp_out};
            for (size_t j = 0; j < sizeof lin / sizeof *lin; j++) free_linear(be, lin[j]);
        }
        if (m->head.w == m->wte) m->head.w = NULL;
        free_linear(be, &m->head);
        free_device(be, m->wte);
        free_device(be, m->wpe);
        free_device(be, m->lnf_w);
        free_device(be, m->lnf_b);
    }
    free(m->layers);
    free(m->source);
    memset(m, 0, sizeof *m);
}
