/* The CUDA backend's speed: every op of backend.h at the sizes of a 7B-class edit (4096-wide rows, 512–4096
 * tokens, a 50k vocabulary, 4096² float64 statistics), then whole forwards of a GPT-2-small-shaped and a
 * Llama-shaped model with random weights. GPU times come from CUDA events on the backend's stream (2
 * warm-up calls, then the median of REPS); each op prints what it achieved (GB/s for memory-bound ops,
 * TFLOP/s for products) beside the device's peak (memory clock × bus width; nominal tensor-core and
 * FP32/FP64 rates for sm_80/sm_90), and, as the reference run of the same command, its CPU twin's time
 * (one call) and the speed-up. With no GPU (or a build without CUDA) it says so and exits 0. */
#include "backend.h"
#include "model.h"
#include "rng.h"
#include "transformer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef KEDIT_CUDA

int main(void) {
    printf("bench_gpu_ops: kedit was built without CUDA (make GPU=1 bench): no GPU timings\n");
    return 0;
}

#else

#include "../kernels/cuda_backend.h"

#define REPS 9
#define WARMUP 2

/* sizes */
#define N_ELEM (1 << 24)         /* elementwise ops: 16 Mi elements */
#define ROWS 4096                /* tokens of the row-wise ops */
#define D 4096                   /* model width */
#define GM 512                   /* tokens of the gemms (rows of A) */
#define VOCAB 50257              /* logit rows of the losses: LROWS × VOCAB */
#define LROWS 256
#define AB 8                     /* attention: AB sequences of AT tokens, ANH query / ANKV kv heads of AHD */
#define AT 256
#define ANH 32
#define ANKV 8
#define AHD 128
#define NL 4096                  /* float64: n of the n×n statistics and factorisations */
#define KL 512                   /* float64: keys per dsyrk_acc, right-hand sides of potrs_right */
#define F_ELEMS ((size_t)1 << 25) /* each float buffer: 32 Mi floats (≥ every op's largest operand) */

/* the buffers of one backend; CPU and GPU each get their own with the same contents */
typedef struct bufs {
    const backend *be;
    float *f[5];   /* F_ELEMS floats each, in [−1, 1) but f[4] in [0, 1) (Adam's second moment) */
    uint16_t *w16; /* D × D bf16 weights */
    double *d[5];  /* NL × NL doubles each: d[3] the SPD matrix, d[4] its factor (pristine copies) */
    int *idx, *pos, *len, *y;
} bufs;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) { return rng_uniform01(&rng); }

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "bench_gpu_ops: out of host memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static void *upload(const backend *be, const void *h, size_t bytes) {
    void *d = be->alloc(bytes);
    be->to_device(d, h, bytes);
    return d;
}

/* the same random inputs on a backend: floats in [−1, 1), indices in range, an SPD matrix nL·I + sym.
 * noise in [−½, ½) (diagonally dominant) and its Cholesky factor */
static void bufs_make(bufs *b, const backend *be, const float *hf, const double *hspd, const double *hL) {
    memset(b, 0, sizeof *b);
    b->be = be;
    for (int i = 0; i < 4; i++) b->f[i] = upload(be, hf + (i % 2) * 7, F_ELEMS * sizeof(float));
    float *hpos = xmalloc(F_ELEMS * sizeof *hpos);
    for (size_t i = 0; i < F_ELEMS; i++) hpos[i] = fabsf(hf[i]);
    b->f[4] = upload(be, hpos, F_ELEMS * sizeof *hpos);
    free(hpos);
    uint16_t *w = xmalloc((size_t)D * D * sizeof *w);
    for (size_t i = 0; i < (size_t)D * D; i++) { /* bf16 of hf[i]: its upper half */
        uint32_t u;
        memcpy(&u, &hf[i], sizeof u);
        w[i] = (uint16_t)(u >> 16);
    }
    b->w16 = upload(be, w, (size_t)D * D * sizeof *w);
    free(w);
    size_t nd = (size_t)NL * NL;
    double *hd = xmalloc(nd * sizeof *hd);
    for (size_t i = 0; i < nd; i++) hd[i] = hf[i];
    for (int i = 0; i < 3; i++) b->d[i] = upload(be, hd, nd * sizeof *hd);
    free(hd);
    b->d[3] = upload(be, hspd, nd * sizeof(double));
    b->d[4] = upload(be, hL, nd * sizeof(double));
    int *hi = xmalloc((size_t)ROWS * sizeof *hi);
    for (int i = 0; i < ROWS; i++) hi[i] = (int)(urand() * ROWS);
    b->idx = upload(be, hi, (size_t)ROWS * sizeof *hi);
    for (int i = 0; i < ROWS; i++) hi[i] = i % 2048;
    b->pos = upload(be, hi, (size_t)ROWS * sizeof *hi);
    for (int i = 0; i < AB; i++) hi[i] = AT - i * 13; /* right padding of several lengths */
    b->len = upload(be, hi, AB * sizeof *hi);
    for (int i = 0; i < LROWS; i++) hi[i] = (int)(urand() * VOCAB);
    b->y = upload(be, hi, LROWS * sizeof *hi);
    free(hi);
}

static void bufs_free(bufs *b) {
    const backend *be = b->be;
    for (int i = 0; i < 5; i++) be->free(b->f[i]), be->free(b->d[i]);
    be->free(b->w16);
    be->free(b->idx), be->free(b->pos), be->free(b->len), be->free(b->y);
}

/* ---- the ops: run (timed) and prep (untimed, restores inputs an op overwrites) ---- */
typedef void (*op_fn)(const bufs *b);
#define BE (b->be)
#define F0 (b->f[0])
#define F1 (b->f[1])
#define F2 (b->f[2])
#define F3 (b->f[3])
#define F4 (b->f[4])

static void gemm_f32(const bufs *b) { BE->gemm(false, true, GM, D, D, 1, F0, D, F1, KT_F32, D, 0, F2, D); }
static void gemm_f32_big(const bufs *b) { BE->gemm(false, true, ROWS, D, D, 1, F0, D, F1, KT_F32, D, 0, F2, D); }
static void gemm_bf16(const bufs *b) { BE->gemm(false, true, GM, D, D, 1, F0, D, b->w16, KT_BF16, D, 0, F2, D); }
static void add_bias(const bufs *b) { BE->add_bias(F0, F1, ROWS, D); }
static void axpy(const bufs *b) { BE->axpy(N_ELEM, 0.5f, F1, F0); }
static void scale(const bufs *b) { BE->scale(N_ELEM, 0.999f, F0); }
static void col_sum_acc(const bufs *b) { BE->col_sum_acc(F0, ROWS, D, F1); }
static void gather_rows(const bufs *b) { BE->gather_rows(F0, D, b->idx, ROWS, F1); }
static void scatter_add_rows(const bufs *b) { BE->scatter_add_rows(F0, D, b->idx, GM, F1); }
static void layernorm_fwd(const bufs *b) { BE->layernorm_fwd(F0, F1, F1, F2, F3, F4, ROWS, D, 1e-5f); }
static void layernorm_bwd(const bufs *b) { BE->layernorm_bwd(F0, F1, F2, F3, F4, F0, ROWS, D); } /* dx over dy */
static void rmsnorm_fwd(const bufs *b) { BE->rmsnorm_fwd(F0, F1, F2, F3, ROWS, D, 1e-5f); }
static void rmsnorm_bwd(const bufs *b) { BE->rmsnorm_bwd(F0, F1, F2, F3, F4, ROWS, D); }
static void gelu_fwd(const bufs *b) { BE->gelu_fwd(F0, F1, N_ELEM); }
static void gelu_bwd(const bufs *b) { BE->gelu_bwd(F0, F1, F2, N_ELEM); }
static void silu_mul_fwd(const bufs *b) { BE->silu_mul_fwd(F0, F1, F2, N_ELEM); }
static void silu_mul_bwd(const bufs *b) { BE->silu_mul_bwd(F0, F1, F2, F3, F4, N_ELEM); }
static void rotary(const bufs *b) { BE->rotary(F0, b->pos, ROWS, D / AHD, AHD, AHD, 10000.0f, false, false); }
static void attention_fwd(const bufs *b) {
    BE->attention_fwd(F0, F1, F2, F3, F4, AB, AT, ANH, ANKV, AHD, b->len, 0.088f);
}
static void attention_bwd(const bufs *b) {
    BE->attention_bwd(F0, F1, F2, F3, F4, F0 + (1 << 23), F1 + (1 << 23), F2 + (1 << 23), AB, AT, ANH, ANKV, AHD,
                      b->len, 0.088f);
}
static void nll_loss(const bufs *b) {
    BE->nll_loss(F0, b->y, F1, LROWS, VOCAB, F2, F3); /* weights: F1's first rows, nonzero */
}
static void kl_loss(const bufs *b) { BE->kl_loss(F0, F1, F1, LROWS, VOCAB, F2, F3); }
static void log_softmax(const bufs *b) { BE->log_softmax(F0, F1, LROWS, VOCAB); }
static void sum_sq(const bufs *b) { (void)BE->sum_sq(F0, N_ELEM); }
static void sum_sq_diff(const bufs *b) { (void)BE->sum_sq_diff(F0, F1, N_ELEM); }
static void adam_step(const bufs *b) { BE->adam_step(F0, F1, F2, F4, N_ELEM, 1e-3f, 0.9f, 0.999f, 1e-8f, 5); }
static void clamp_box(const bufs *b) { BE->clamp_box(F0, F1, 0.1f, N_ELEM); }
static void f32_to_f64(const bufs *b) { BE->f32_to_f64(F0, b->d[0], N_ELEM); }
static void f64_axpy(const bufs *b) { BE->f64_axpy(N_ELEM, 0.5, b->d[1], b->d[0]); }
static void dgemm(const bufs *b) {
    const int n = NL / 2;
    BE->dgemm(false, false, n, n, n, 1, b->d[0], n, b->d[1], n, 0, b->d[2], n);
}
static void dsyrk_acc(const bufs *b) { BE->dsyrk_acc(NL, KL, 1e-3, b->d[0], KL, b->d[2], NL); }
static void dger_acc(const bufs *b) { BE->dger_acc(NL, NL, 1e-3, b->d[0], b->d[1], b->d[2], NL); }
static void restore_spd(const bufs *b) { BE->copy(b->d[2], b->d[3], (size_t)NL * NL * sizeof(double)); }
static void potrf(const bufs *b) { (void)BE->potrf(NL, b->d[2]); }
static void restore_rhs(const bufs *b) { BE->copy(b->d[0], b->d[1], (size_t)NL * KL * sizeof(double)); }
static void potrs_right(const bufs *b) { BE->potrs_right(NL, KL, b->d[4], b->d[0]); }
static void restore_factor(const bufs *b) {
    BE->copy(b->d[2], b->d[4], (size_t)NL * NL * sizeof(double));
    BE->copy(b->d[0], b->d[1], (size_t)NL * sizeof(double));
}
static void chol_update(const bufs *b) { BE->chol_update(NL, b->d[2], b->d[0]); }

typedef enum { PEAK_BW, PEAK_FP32, PEAK_BF16, PEAK_FP64 } peak_kind;

typedef struct bench_op {
    const char *name, *shape;
    op_fn run, prep;
    double work;    /* bytes moved (PEAK_BW) or floating-point operations per call */
    peak_kind peak;
} bench_op;

static const bench_op ops[] = {
    {"gemm f32", "M 512, N 4096, K 4096", gemm_f32, NULL, 2.0 * GM * D * D, PEAK_FP32},
    {"gemm f32", "M 4096, N 4096, K 4096", gemm_f32_big, NULL, 2.0 * ROWS * D * D, PEAK_FP32},
    {"gemm bf16 B", "M 512, N 4096, K 4096", gemm_bf16, NULL, 2.0 * GM * D * D, PEAK_BF16},
    {"add_bias", "4096x4096", add_bias, NULL, 8.0 * ROWS * D, PEAK_BW},
    {"axpy", "16Mi", axpy, NULL, 12.0 * N_ELEM, PEAK_BW},
    {"scale", "16Mi", scale, NULL, 8.0 * N_ELEM, PEAK_BW},
    {"col_sum_acc", "4096x4096", col_sum_acc, NULL, 4.0 * ROWS * D, PEAK_BW},
    {"gather_rows", "4096 rows of 4096", gather_rows, NULL, 8.0 * ROWS * D, PEAK_BW},
    {"scatter_add_rows", "512 rows of 4096", scatter_add_rows, NULL, 12.0 * GM * D, PEAK_BW},
    {"layernorm_fwd", "4096x4096", layernorm_fwd, NULL, 8.0 * ROWS * D, PEAK_BW},
    {"layernorm_bwd", "4096x4096", layernorm_bwd, NULL, 12.0 * ROWS * D, PEAK_BW},
    {"rmsnorm_fwd", "4096x4096", rmsnorm_fwd, NULL, 8.0 * ROWS * D, PEAK_BW},
    {"rmsnorm_bwd", "4096x4096", rmsnorm_bwd, NULL, 12.0 * ROWS * D, PEAK_BW},
    {"gelu_fwd", "16Mi", gelu_fwd, NULL, 8.0 * N_ELEM, PEAK_BW},
    {"gelu_bwd", "16Mi", gelu_bwd, NULL, 12.0 * N_ELEM, PEAK_BW},
    {"silu_mul_fwd", "16Mi", silu_mul_fwd, NULL, 12.0 * N_ELEM, PEAK_BW},
    {"silu_mul_bwd", "16Mi", silu_mul_bwd, NULL, 20.0 * N_ELEM, PEAK_BW},
    {"rotary", "4096 x 32 heads x 128", rotary, NULL, 8.0 * ROWS * D, PEAK_BW},
    /* attention products over whole T×T blocks: QKᵀ and PV forward, four products backward */
    {"attention_fwd", "8x256, 32/8 heads of 128", attention_fwd, NULL, 4.0 * AB * ANH * AT * AT * AHD, PEAK_FP32},
    {"attention_bwd", "8x256, 32/8 heads of 128", attention_bwd, NULL, 8.0 * AB * ANH * AT * AT * AHD, PEAK_FP32},
    {"nll_loss", "256 x 50257", nll_loss, NULL, 12.0 * LROWS * VOCAB, PEAK_BW},
    {"kl_loss", "256 x 50257", kl_loss, NULL, 16.0 * LROWS * VOCAB, PEAK_BW},
    {"log_softmax", "256 x 50257", log_softmax, NULL, 8.0 * LROWS * VOCAB, PEAK_BW},
    {"sum_sq", "16Mi", sum_sq, NULL, 4.0 * N_ELEM, PEAK_BW},
    {"sum_sq_diff", "16Mi", sum_sq_diff, NULL, 8.0 * N_ELEM, PEAK_BW},
    {"adam_step", "16Mi", adam_step, NULL, 28.0 * N_ELEM, PEAK_BW},
    {"clamp_box", "16Mi", clamp_box, NULL, 12.0 * N_ELEM, PEAK_BW},
    {"f32_to_f64", "16Mi", f32_to_f64, NULL, 12.0 * N_ELEM, PEAK_BW},
    {"f64_axpy", "16Mi", f64_axpy, NULL, 24.0 * N_ELEM, PEAK_BW},
    {"dgemm", "2048^3", dgemm, NULL, 2.0 * (NL / 2) * (NL / 2) * (NL / 2), PEAK_FP64},
    {"dsyrk_acc", "4096 x 512", dsyrk_acc, NULL, (double)NL * (NL + 1) * KL, PEAK_FP64},
    {"dger_acc", "4096 x 4096", dger_acc, NULL, 16.0 * NL * NL, PEAK_BW},
    {"potrf", "4096", potrf, restore_spd, (double)NL * NL * NL / 3, PEAK_FP64},
    {"potrs_right", "4096, 512 rows", potrs_right, restore_rhs, 2.0 * NL * NL * KL, PEAK_FP64},
    {"chol_update", "4096", chol_update, restore_factor, 8.0 * NL * NL, PEAK_BW}, /* half of L, read and written */
};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* median milliseconds of REPS runs on the GPU, each after an untimed prep */
static double gpu_ms(const bench_op *op, const bufs *b, cuda_timer *t) {
    float ms[REPS];
    for (int r = 0; r < WARMUP + REPS; r++) {
        if (op->prep) op->prep(b);
        cuda_timer_start(t);
        op->run(b);
        float e = cuda_timer_stop_ms(t);
        if (r >= WARMUP) ms[r - WARMUP] = e;
    }
    qsort(ms, REPS, sizeof *ms, cmp_float);
    return ms[REPS / 2];
}

static double cpu_ms(const bench_op *op, const bufs *b) {
    if (op->prep) op->prep(b);
    double t0 = now_s();
    op->run(b);
    return 1e3 * (now_s() - t0);
}

static bool tf32_on(void) {
    const char *e = getenv("KEDIT_TF32");
    return e && strcmp(e, "1") == 0;
}

static double peak_of(const cuda_device_info *info, peak_kind k) {
    switch (k) {
    case PEAK_BW: return info->peak_gbs;
    case PEAK_FP32: return tf32_on() ? info->peak_tf32_tflops : info->peak_fp32_tflops;
    case PEAK_BF16: return info->peak_bf16_tflops;
    case PEAK_FP64: return info->peak_fp64_tflops;
    }
    return 0;
}

static void bench_ops(const backend *gpu, const cuda_device_info *info) {
    printf("\nper op: GPU median of %d (after %d warm-up), CPU one call\n", REPS, WARMUP);
    printf("%-17s %-26s %10s %12s %12s %7s %10s %8s\n", "op", "shape", "GPU ms", "achieved", "peak", "%peak",
           "CPU ms", "speed-up");
    size_t nd = (size_t)NL * NL;
    float *hf = xmalloc((F_ELEMS + 8) * sizeof *hf);
    for (size_t i = 0; i < F_ELEMS + 8; i++) hf[i] = (float)(2 * urand() - 1);
    double *spd = xmalloc(nd * sizeof *spd), *L = xmalloc(nd * sizeof *L);
    for (int i = 0; i < NL; i++)
        for (int j = 0; j <= i; j++)
            spd[(size_t)i * NL + j] = spd[(size_t)j * NL + i] = (i == j ? NL : 0) + urand() - 0.5;
    memcpy(L, spd, nd * sizeof *L);
    const backend *cpu = backend_cpu();
    if (cpu->potrf(NL, L) != 0) {
        fprintf(stderr, "bench_gpu_ops: the benchmark's SPD matrix failed to factor\n");
        exit(1);
    }
    bufs bg, bc;
    bufs_make(&bg, gpu, hf, spd, L);
    bufs_make(&bc, cpu, hf, spd, L);
    free(hf);
    free(spd);
    free(L);
    cuda_timer *t = cuda_timer_new();
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        const bench_op *op = &ops[i];
        double g = gpu_ms(op, &bg, t), c = cpu_ms(op, &bc), peak = peak_of(info, op->peak);
        bool bw = op->peak == PEAK_BW;
        double achieved = bw ? op->work / (g * 1e-3) / 1e9 : op->work / (g * 1e-3) / 1e12;
        const char *unit = bw ? "GB/s" : "TF/s";
        char peak_s[24] = "n/a", pct_s[16] = "n/a";
        if (peak > 0) {
            snprintf(peak_s, sizeof peak_s, "%.1f %s", peak, unit);
            snprintf(pct_s, sizeof pct_s, "%.0f%%", 100 * achieved / peak);
        }
        printf("%-17s %-26s %10.3f %7.1f %-4s %12s %7s %10.2f %7.1fx\n", op->name, op->shape, g, achieved, unit,
               peak_s, pct_s, c, c / g);
        fflush(stdout);
    }
    cuda_timer_free(t);
    bufs_free(&bg);
    bufs_free(&bc);
}

/* ---- whole forward ---- */

static float *rand_dev(const backend *be, size_t n, float scale, float offset) {
    float *h = xmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = offset + scale * (float)(2 * urand() - 1);
    float *d = upload(be, h, n * sizeof *h);
    free(h);
    return d;
}

/* a random (out, in) linear with its weights held as wt */
static linear rand_linear(const backend *be, int out, int in, bool bias, kweight_type wt) {
    linear l = {.w = rand_dev(be, (size_t)out * in, 0.02f, 0), .b = bias ? rand_dev(be, (size_t)out, 0.02f, 0) : NULL,
                .out = out, .in = in};
    char err[256];
    if (wt == KT_BF16 && linear_make_bf16(be, &l, err, sizeof err)) {
        fprintf(stderr, "bench_gpu_ops: %s\n", err);
        exit(1);
    }
    return l;
}

/* a model of configuration c with random weights on be, its linears held as wt (GPT-2: biases, LayerNorm,
 * learned positions, tied head; Llama: RMSNorm, gate/up/down, no biases, untied head) */
static void random_model(const backend *be, const model_config *c, kweight_type wt, model *m) {
    bool gpt2 = c->arch == ARCH_GPT2;
    int kv = c->n_kv_head * c->head_dim;
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->be = be;
    m->wte = rand_dev(be, (size_t)c->vocab * c->d, 0.02f, 0);
    m->wpe = gpt2 ? rand_dev(be, (size_t)c->n_ctx * c->d, 0.01f, 0) : NULL;
    m->layers = calloc((size_t)c->n_layer, sizeof *m->layers);
    for (int l = 0; l < c->n_layer; l++) {
        layer_weights *L = &m->layers[l];
        L->ln1_w = rand_dev(be, c->d, 0.1f, 1), L->ln1_b = gpt2 ? rand_dev(be, c->d, 0.1f, 0) : NULL;
        L->ln2_w = rand_dev(be, c->d, 0.1f, 1), L->ln2_b = gpt2 ? rand_dev(be, c->d, 0.1f, 0) : NULL;
        L->q = rand_linear(be, c->d, c->d, gpt2, wt), L->k = rand_linear(be, kv, c->d, gpt2, wt);
        L->v = rand_linear(be, kv, c->d, gpt2, wt), L->o = rand_linear(be, c->d, c->d, gpt2, wt);
        L->mlp_in = rand_linear(be, c->d_ff, c->d, gpt2, wt);
        if (!gpt2) L->mlp_up = rand_linear(be, c->d_ff, c->d, false, wt);
        L->mlp_out = rand_linear(be, c->d, c->d_ff, gpt2, wt);
    }
    m->lnf_w = rand_dev(be, c->d, 0.1f, 1), m->lnf_b = gpt2 ? rand_dev(be, c->d, 0.1f, 0) : NULL;
    m->head = gpt2 ? (linear){.w = m->wte, .out = c->vocab, .in = c->d} : rand_linear(be, c->vocab, c->d, false, wt);
    m->weights = wt;
}

/* floating-point operations of one forward with logits at every position (attention over whole T×T) */
static double forward_flop(const model_config *c, int B, int T) {
    double tokens = (double)B * T, kv = (double)c->n_kv_head * c->head_dim;
    double per_token = 2.0 * (2.0 * c->d * c->d + 2.0 * c->d * kv + (c->arch == ARCH_LLAMA ? 3.0 : 2.0) * c->d * c->d_ff);
    double attn = 4.0 * B * (double)T * T * c->d;
    return c->n_layer * (tokens * per_token + attn) + tokens * 2.0 * c->d * c->vocab;
}

/* milliseconds of one forward of a random model of configuration c on be: on the GPU the median of REPS
 * (CUDA events, after WARMUP), on the CPU one call */
static double forward_ms(const backend *be, const model_config *c, kweight_type wt, const kbatch *batch, bool gpu) {
    fwd_opts o = {.n_logit = -1, .bwd_from_layer = -1, .stop_layer = -1};
    model m;
    random_model(be, c, wt, &m);
    double ms;
    if (gpu) {
        float runs[REPS];
        cuda_timer *t = cuda_timer_new();
        for (int r = 0; r < WARMUP + REPS; r++) {
            cuda_timer_start(t);
            fwd_state_free(transformer_forward(&m, batch, &o));
            float e = cuda_timer_stop_ms(t);
            if (r >= WARMUP) runs[r - WARMUP] = e;
        }
        qsort(runs, REPS, sizeof *runs, cmp_float);
        ms = runs[REPS / 2];
        cuda_timer_free(t);
    } else {
        double t0 = now_s();
        fwd_state_free(transformer_forward(&m, batch, &o));
        ms = 1e3 * (now_s() - t0);
    }
    model_free(&m);
    return ms;
}

static void bench_forward(const backend *gpu, const cuda_device_info *info) {
    const struct { const char *name; model_config c; } shapes[] = {
        {"GPT-2 small (12 x 768, vocab 50257)",
         {.arch = ARCH_GPT2, .n_layer = 12, .d = 768, .n_head = 12, .n_kv_head = 12, .head_dim = 64, .d_ff = 3072,
          .vocab = 50257, .n_ctx = 1024, .norm_eps = 1e-5f, .tied_head = true, .bos_id = -1, .eos_id = 50256}},
        {"Llama-shaped (8 x 2048, GQA 16/4, vocab 32000)",
         {.arch = ARCH_LLAMA, .n_layer = 8, .d = 2048, .n_head = 16, .n_kv_head = 4, .head_dim = 128, .d_ff = 5632,
          .vocab = 32000, .n_ctx = 2048, .rotary_dim = 128, .rope_theta = 10000.0f, .norm_eps = 1e-5f,
          .bos_id = 1, .eos_id = 2}},
    };
    const int B = 8, T = 128;
    printf("\nwhole forward: batch %d x %d tokens, logits at every position; GPU median of %d, CPU one call\n", B, T,
           REPS);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const model_config *c = &shapes[s].c;
        int *len = xmalloc(B * sizeof *len), **ids = xmalloc(B * sizeof *ids);
        for (int b = 0; b < B; b++) {
            len[b] = T - 7 * b; /* right padding */
            ids[b] = xmalloc(T * sizeof **ids);
            for (int t = 0; t < T; t++) ids[b][t] = (int)(urand() * c->vocab);
        }
        kbatch batch = {B, len, (const int *const *)ids};
        double ms_gpu = forward_ms(gpu, c, KT_F32, &batch, true), ms_cpu = forward_ms(backend_cpu(), c, KT_F32, &batch, false);
        double ms_bf16 = forward_ms(gpu, c, KT_BF16, &batch, true);
        int tokens = 0;
        for (int b = 0; b < B; b++) tokens += len[b];
        double tf = forward_flop(c, B, T) / (ms_gpu * 1e-3) / 1e12, peak = peak_of(info, PEAK_FP32);
        printf("%-48s GPU %9.2f ms (%8.0f tokens/s, %.1f TFLOP/s", shapes[s].name, ms_gpu, tokens / (ms_gpu * 1e-3), tf);
        if (peak > 0) printf(" = %.0f%% of %.1f", 100 * tf / peak, peak);
        printf(")  CPU %9.1f ms  speed-up %.1fx\n", ms_cpu, ms_cpu / ms_gpu);
        printf("%-48s GPU %9.2f ms with bf16 linear weights: %.2fx the float32 time\n", "", ms_bf16, ms_bf16 / ms_gpu);
        for (int b = 0; b < B; b++) free(ids[b]);
        free(ids);
        free(len);
    }
}

int main(void) {
    if (cuda_device_count() == 0) {
        printf("bench_gpu_ops: no CUDA device: no GPU timings\n");
        return 0;
    }
    const backend *gpu = backend_cuda();
    cuda_device_info info;
    if (!gpu || cuda_device_info_get(&info)) {
        printf("bench_gpu_ops: the CUDA backend did not start: no GPU timings\n");
        return 0;
    }
    printf("device: %s (sm_%d%d, %d SMs, %.1f GiB), memory %.0f MHz x %d bits = %.0f GB/s peak\n", info.name,
           info.cc_major, info.cc_minor, info.sm_count, info.mem_bytes / 1073741824.0, info.mem_clock_khz / 1e3,
           info.bus_width_bits, info.peak_gbs);
    printf("nominal peaks at %.0f MHz: FP32 %.1f, TF32 %.1f, BF16 %.1f, FP64 %.1f TFLOP/s (0: not in the table); "
           "float32 products on %s\n",
           info.sm_clock_khz / 1e3, info.peak_fp32_tflops, info.peak_tf32_tflops, info.peak_bf16_tflops,
           info.peak_fp64_tflops, tf32_on() ? "TF32 tensor cores (KEDIT_TF32=1)" : "FP32 cores");
    bench_ops(gpu, &info);
    bench_forward(gpu, &info);
    return 0;
}

#endif
