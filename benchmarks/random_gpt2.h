/* A GPT-2-small-shaped model with random weights on a backend, and a wall clock, for the benchmarks that
 * need a realistic shape without a checkpoint. */
#ifndef KEDIT_BENCH_RANDOM_GPT2_H
#define KEDIT_BENCH_RANDOM_GPT2_H

#include "backend.h"
#include "model.h"
#include "rng.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) { return (float)(2 * rng_uniform01(&rng) - 1); } // uniform in [−1, 1)

static float *rand_buf(const backend *be, size_t n, float scale, float offset) {
    float *h = malloc(n * sizeof(float)), *d = be->alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = offset + scale * frand();
    be->to_device(d, h, n * sizeof(float));
    free(h);
    return d;
}

static linear rand_linear(const backend *be, int out, int in) {
    return (linear){.w = rand_buf(be, (size_t)out * in, 0.02f, 0), .b = rand_buf(be, (size_t)out, 0.02f, 0), .out = out, .in = in};
}

static void gpt2_small(const backend *be, model *m) {
    model_config c = {.arch = ARCH_GPT2, .n_layer = 12, .d = 768, .n_head = 12, .n_kv_head = 12, .head_dim = 64,
                      .d_ff = 3072, .vocab = 50257, .n_ctx = 1024, .norm_eps = 1e-5f, .tied_head = true,
                      .bos_id = -1, .eos_id = 50256};
    m->cfg = c;
    m->be = be;
    m->wte = rand_buf(be, (size_t)c.vocab * c.d, 0.02f, 0);
    m->wpe = rand_buf(be, (size_t)c.n_ctx * c.d, 0.01f, 0);
    m->layers = calloc((size_t)c.n_layer, sizeof(layer_weights));
    for (int l = 0; l < c.n_layer; l++) {
        layer_weights *L = &m->layers[l];
        L->ln1_w = rand_buf(be, c.d, 0.1f, 1), L->ln1_b = rand_buf(be, c.d, 0.1f, 0);
        L->ln2_w = rand_buf(be, c.d, 0.1f, 1), L->ln2_b = rand_buf(be, c.d, 0.1f, 0);
        L->q = rand_linear(be, c.d, c.d), L->k = rand_linear(be, c.d, c.d), L->v = rand_linear(be, c.d, c.d);
        L->o = rand_linear(be, c.d, c.d);
        L->mlp_in = rand_linear(be, c.d_ff, c.d), L->mlp_out = rand_linear(be, c.d, c.d_ff);
    }
    m->lnf_w = rand_buf(be, c.d, 0.1f, 1), m->lnf_b = rand_buf(be, c.d, 0.1f, 0);
    m->head = (linear){.w = m->wte, .out = c.vocab, .in = c.d};
}

/* every block's linear weights rounded to bf16 in place: the model model_load_as(..., KT_BF16, ...) holds */
static inline void linears_to_bf16(model *m) {
    char err[256];
    for (int l = 0; l < m->cfg.n_layer; l++) {
        layer_weights *L = &m->layers[l];
        linear *lin[] = {&L->q, &L->k, &L->v, &L->o, &L->mlp_in, &L->mlp_up, &L->mlp_out};
        for (int j = 0; j < 7; j++)
            if (linear_make_bf16(m->be, lin[j], err, sizeof err)) {
                fprintf(stderr, "%s\n", err);
                exit(1);
            }
    }
    m->weights = KT_BF16;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

#endif
