/* Every op of host/backend.h on the CUDA backend against its CPU twin (host/backend_cpu.c): the same
 * random inputs go to both, and the outputs are compared by the scale-free error ‖gpu − cpu‖/‖cpu‖
 * (rel_err of tests/test.h; rel_err_f64 below for float64). Then whole models: the fixtures' tiny GPT-2,
 * GPT-J and Llama run forward and backward on both backends, with float32 and with bf16 linear weights.
 * (Against the committed PyTorch references, tests/test_forward.c runs on the GPU too: make test-gpu.)
 * Every test is skipped with "no CUDA device" when none is visible, and with its reason when kedit was
 * built without CUDA.
 *
 * Tolerances, by the arithmetic each op does:
 *  - exact (0): copies, gathers and scatters, conversions, clamp, and scatter_add (the same float adds in
 *    the same order on both sides);
 *  - 1e-6: one or two float roundings per element (axpy, scale, Adam), where the GPU may fuse a
 *    multiply-add (one rounding fewer) and the CPU build does not: a few ulp, ~2e-7;
 *  - 1e-5: float32 sums in a different order (gemm over K ≤ 71 products: ~√K·6e-8 ≈ 5e-7) and CUDA's
 *    transcendental functions (tanhf, expf: ≤ 2 ulp against glibc) in norms, activations, attention
 *    and losses, whose row sums are accumulated in double on both sides;
 *  - 2e-5: gemm with bf16 B, where A is split into two bf16 parts (residual ≤ 2⁻¹⁸ ≈ 3.8e-6 of A);
 *  - 1e-4: rotary, whose angle pos·θ^(−2i/r) inherits powf's error (CUDA ≤ 4 ulp) times pos ≤ 200:
 *    up to ~2e-5 rad on the highest frequencies;
 *  - 5e-3 for float32 products when KEDIT_TF32=1 (TF32 keeps 10 mantissa bits: inputs rounded to
 *    2⁻¹¹ ≈ 4.9e-4 relative);
 *  - float64: 1e-12 for products and rank updates (K·2⁻⁵³ ≈ 1e-14 with margin), 1e-10 for the
 *    factorisation, solve and Cholesky update (well-conditioned SPD matrices, cond ≲ 10, so their
 *    backward error ~n·2⁻⁵³ stays far below), 1e-10 for the double reductions of 10⁶ terms (n·2⁻⁵³);
 *  - whole models: 1e-5 on logits and 1e-4 on gradients (a few dozen float32 ops in sequence, each ≲ 1e-6
 *    apart; gradients pass through twice as many); with bf16 weights 1e-4 and 2e-4: each of the ~15
 *    products of a forward carries the split-A residual (≤ 3.8e-6 relative, above), ~6e-5 if all
 *    added up, and the backward twice as many. */
#include "backend.h"
#include "bf16.h"
#include "model.h"
#include "rng.h"
#include "safetensors.h"
#include "test.h"
#include "test_device.h"
#include "transformer.h"

#include <stdint.h>

/* ---------------------------------------------------------------- set-up */

#define NEED_GPU(G)                                                                                         \
    const char *why_ = "";                                                                                  \
    const backend *G = test_cuda_backend(&why_);                                                            \
    if (!G) SKIP("%s", why_)

static bool tf32_on(void) {
    const char *e = getenv("KEDIT_TF32");
    return e && strcmp(e, "1") == 0;
}

/* the tolerance of an op whose float32 products run on cuBLAS: TF32 widens it (see the header) */
static double tol_f32_product(double tol) { return tf32_on() ? 5e-3 : tol; }

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static double urand(void) { return rng_uniform01(&rng_state); }
static double nrand(void) { return rng_gauss(&rng_state); }

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "test_gpu_ops: out of host memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static float *rand_floats(size_t n, double mean, double sd) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + sd * nrand());
    return x;
}

static double *rand_doubles(size_t n) {
    double *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = nrand();
    return x;
}

static int *rand_ints(size_t n, int lo, int hi) { /* uniform in [lo, hi) */
    int *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (int)(urand() * (hi - lo));
    return x;
}

/* ‖a − b‖/‖b‖ in float64 */
static double rel_err_f64(const double *a, const double *b, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num) / (den > 1e-300 ? sqrt(den) : 1e-150);
}

/* the same host data on both backends: c is the CPU backend's copy (host memory), g the device's */
typedef struct twin {
    void *c, *g;
    size_t bytes;
} twin;

static twin twin_of(const backend *G, const void *host, size_t bytes) {
    twin t = {xmalloc(bytes), G->alloc(bytes), bytes};
    memcpy(t.c, host, bytes);
    G->to_device(t.g, host, bytes);
    return t;
}

/* a twin of n floats drawn from N(mean, sd²) */
static twin twin_randf(const backend *G, size_t n, double mean, double sd) {
    float *h = rand_floats(n, mean, sd);
    twin t = twin_of(G, h, n * sizeof(float));
    free(h);
    return t;
}

static twin twin_randd(const backend *G, size_t n) {
    double *h = rand_doubles(n);
    twin t = twin_of(G, h, n * sizeof(double));
    free(h);
    return t;
}

static void twin_free(const backend *G, twin *t) {
    free(t->c);
    G->free(t->g);
}

/* the device copy brought back to a malloc'd host buffer */
static void *fetch(const backend *G, const twin *t) {
    void *h = xmalloc(t->bytes);
    G->to_host(h, t->g, t->bytes);
    return h;
}

/* the GPU result against the CPU result within tol, by ‖gpu − cpu‖/‖cpu‖ (tol 0: bitwise equal) */
static void check_f32(const backend *G, const twin *t, double tol, const char *what) {
    float *g = fetch(G, t);
    long n = (long)(t->bytes / sizeof(float));
    if (tol == 0) {
        CHECK(memcmp(g, t->c, t->bytes) == 0, "%s: GPU differs from CPU (max-abs %.3g, exact expected)", what,
              max_abs_diff(g, t->c, n));
    } else {
        double e = rel_err(g, t->c, n);
        CHECK(e <= tol, "%s: relative error %.3g > %.1g", what, e, tol);
    }
    free(g);
}

static void check_f64(const backend *G, const twin *t, double tol, const char *what) {
    double *g = fetch(G, t);
    long n = (long)(t->bytes / sizeof(double));
    if (tol == 0) {
        CHECK(memcmp(g, t->c, t->bytes) == 0, "%s: GPU differs from CPU (exact expected)", what);
    } else {
        double e = rel_err_f64(g, t->c, n);
        CHECK(e <= tol, "%s: relative error %.3g > %.1g", what, e, tol);
    }
    free(g);
}

#define F(t) ((float *)(t).c)
#define FG(t) ((float *)(t).g)
#define D(t) ((double *)(t).c)
#define DG(t) ((double *)(t).g)
#define I(t) ((int *)(t).c)
#define IG(t) ((int *)(t).g)

/* ---------------------------------------------------------------- memory */

static void test_memory(void) {
    NEED_GPU(G);
    const size_t n = 1001, bytes = n * sizeof(float);
    float *h = rand_floats(n, 0, 1), *back = xmalloc(bytes), *zeros = calloc(n, sizeof(float));
    float *d = G->alloc(bytes), *d2 = G->alloc(bytes);
    G->to_host(back, d, bytes);
    CHECK(memcmp(back, zeros, bytes) == 0, "alloc is not zero-filled");
    G->to_device(d, h, bytes);
    G->copy(d2, d, bytes);
    G->to_host(back, d2, bytes);
    CHECK(memcmp(back, h, bytes) == 0, "to_device → copy → to_host changed the data");
    const size_t half = n / 2 * sizeof(float);
    G->zero(d2, half);
    G->sync();
    G->to_host(back, d2, bytes);
    CHECK(memcmp(back, zeros, half) == 0 && memcmp(back + n / 2, h + n / 2, bytes - half) == 0,
          "zero cleared the wrong bytes");
    G->free(d);
    G->free(d2);
    free(h);
    free(back);
    free(zeros);
}

/* ---------------------------------------------------------------- float32 dense */

/* every transpose combination, padded leading dimensions, beta 0 and not */
static void gemm_cases(const backend *G, kweight_type bt, double tol) {
    const backend *C0 = backend_cpu();
    const int M = 37, N = 53, K = 71;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bz = 0; bz < 2; bz++) {
                int ra = ta ? K : M, ca = ta ? M : K, lda = ca + 3; /* A stored ra × ca */
                int rb = tb ? N : K, cb = tb ? K : N, ldb = cb + 5; /* B stored rb × cb */
                int ldc = N + 2;
                float beta = bz ? 0.0f : 0.3f;
                twin A = twin_randf(G, (size_t)ra * lda, 0, 1), C = twin_randf(G, (size_t)M * ldc, 0, 1);
                float *Bf = rand_floats((size_t)rb * ldb, 0, 1);
                twin B;
                if (bt == KT_BF16) {
                    uint16_t *Bh = xmalloc((size_t)rb * ldb * sizeof *Bh);
                    for (size_t i = 0; i < (size_t)rb * ldb; i++) Bh[i] = f32_to_bf16(Bf[i]);
                    B = twin_of(G, Bh, (size_t)rb * ldb * sizeof *Bh);
                    free(Bh);
                } else {
                    B = twin_of(G, Bf, (size_t)rb * ldb * sizeof *Bf);
                }
                C0->gemm(ta, tb, M, N, K, 0.7f, F(A), lda, B.c, bt, ldb, beta, F(C), ldc);
                G->gemm(ta, tb, M, N, K, 0.7f, FG(A), lda, B.g, bt, ldb, beta, FG(C), ldc);
                char what[96];
                snprintf(what, sizeof what, "gemm %s ta %d tb %d beta %.1f", bt == KT_BF16 ? "bf16" : "f32", ta, tb,
                         beta);
                check_f32(G, &C, tol, what);
                twin_free(G, &A);
                twin_free(G, &B);
                twin_free(G, &C);
                free(Bf);
            }
}

/* K = 0: C = beta·C without reading A or B (leading dimensions 1), exactly on both sides */
static void gemm_empty_k(const backend *G, kweight_type bt) {
    const backend *C0 = backend_cpu();
    const int M = 5, N = 7, ldc = N + 1;
    for (int bz = 0; bz < 2; bz++) {
        float beta = bz ? 0.0f : 0.3f, dummy = 0;
        twin C = twin_randf(G, (size_t)M * ldc, 0, 1);
        C0->gemm(false, true, M, N, 0, 0.7f, &dummy, 1, &dummy, bt, 1, beta, F(C), ldc);
        G->gemm(false, true, M, N, 0, 0.7f, NULL, 1, NULL, bt, 1, beta, FG(C), ldc);
        check_f32(G, &C, 0, beta == 0 ? "gemm K = 0, beta 0" : "gemm K = 0, beta 0.3");
        twin_free(G, &C);
    }
}

static void test_gemm_f32(void) {
    NEED_GPU(G);
    gemm_cases(G, KT_F32, tol_f32_product(1e-5));
    gemm_empty_k(G, KT_F32);
}

static void test_gemm_bf16(void) {
    NEED_GPU(G);
    gemm_cases(G, KT_BF16, 2e-5); /* bf16 tensor-core products, unaffected by KEDIT_TF32 */
    gemm_empty_k(G, KT_BF16);
}

static void test_dense_rows(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int rows = 45, cols = 300, n_idx = 60;
    twin y = twin_randf(G, (size_t)rows * cols, 0, 1), b = twin_randf(G, (size_t)cols, 0, 1);
    C0->add_bias(F(y), F(b), rows, cols);
    G->add_bias(FG(y), FG(b), rows, cols);
    check_f32(G, &y, 1e-6, "add_bias");

    twin x = twin_randf(G, (size_t)rows * cols, 0, 1);
    C0->axpy((int64_t)rows * cols, -0.37f, F(x), F(y));
    G->axpy((int64_t)rows * cols, -0.37f, FG(x), FG(y));
    check_f32(G, &y, 1e-6, "axpy");
    C0->scale((int64_t)rows * cols, 1.7f, F(y));
    G->scale((int64_t)rows * cols, 1.7f, FG(y));
    check_f32(G, &y, 1e-6, "scale");

    twin s = twin_randf(G, (size_t)cols, 0, 1);
    C0->col_sum_acc(F(x), rows, cols, F(s));
    G->col_sum_acc(FG(x), rows, cols, FG(s));
    check_f32(G, &s, 1e-6, "col_sum_acc"); /* double sums on both sides, one float rounding at the end */

    int *idx_h = rand_ints(n_idx, 0, rows); /* 60 draws from 45 rows: indices repeat */
    twin idx = twin_of(G, idx_h, n_idx * sizeof(int));
    twin g = twin_randf(G, (size_t)n_idx * cols, 0, 1), src = twin_randf(G, (size_t)n_idx * cols, 0, 1);
    C0->gather_rows(F(x), cols, I(idx), n_idx, F(g));
    G->gather_rows(FG(x), cols, IG(idx), n_idx, FG(g));
    check_f32(G, &g, 0, "gather_rows");
    G->to_device(y.g, y.c, y.bytes); /* the same y on both sides (axpy may round differently): scatters are exact */
    C0->scatter_add_rows(F(y), cols, I(idx), n_idx, F(src));
    G->scatter_add_rows(FG(y), cols, IG(idx), n_idx, FG(src));
    check_f32(G, &y, 0, "scatter_add_rows (repeated indices, in order)");
    C0->scatter_rows(F(y), cols, I(idx), n_idx, F(src));
    G->scatter_rows(FG(y), cols, IG(idx), n_idx, FG(src));
    check_f32(G, &y, 0, "scatter_rows (repeated indices: the last wins)");

    twin *all[] = {&y, &b, &x, &s, &idx, &g, &src};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(G, all[i]);
    free(idx_h);
}

/* ---------------------------------------------------------------- normalisation */

static void norm_case(const backend *G, int rows, int d) {
    const backend *C0 = backend_cpu();
    const float eps = 1e-5f;
    char what[64];
    /* a mean far from 0 exercises the two-pass variance */
    twin x = twin_randf(G, (size_t)rows * d, 3.0, 1.0), dy = twin_randf(G, (size_t)rows * d, 0, 1);
    twin w = twin_randf(G, (size_t)d, 1.0, 0.2), b = twin_randf(G, (size_t)d, 0, 0.2);
    twin y = twin_randf(G, (size_t)rows * d, 0, 1), dx = twin_randf(G, (size_t)rows * d, 0, 1);
    twin mean = twin_randf(G, (size_t)rows, 0, 1), rstd = twin_randf(G, (size_t)rows, 0, 1);

    C0->layernorm_fwd(F(x), F(w), F(b), F(y), F(mean), F(rstd), rows, d, eps);
    G->layernorm_fwd(FG(x), FG(w), FG(b), FG(y), FG(mean), FG(rstd), rows, d, eps);
    snprintf(what, sizeof what, "layernorm_fwd y (d %d)", d);
    check_f32(G, &y, 1e-5, what);
    check_f32(G, &mean, 1e-6, "layernorm_fwd mean");
    check_f32(G, &rstd, 1e-6, "layernorm_fwd rstd");
    C0->layernorm_bwd(F(dy), F(x), F(w), F(mean), F(rstd), F(dx), rows, d);
    G->layernorm_bwd(FG(dy), FG(x), FG(w), FG(mean), FG(rstd), FG(dx), rows, d); /* the GPU's own statistics */
    snprintf(what, sizeof what, "layernorm_bwd dx (d %d)", d);
    check_f32(G, &dx, 1e-5, what);

    C0->rmsnorm_fwd(F(x), F(w), F(y), F(rstd), rows, d, eps);
    G->rmsnorm_fwd(FG(x), FG(w), FG(y), FG(rstd), rows, d, eps);
    snprintf(what, sizeof what, "rmsnorm_fwd y (d %d)", d);
    check_f32(G, &y, 1e-5, what);
    check_f32(G, &rstd, 1e-6, "rmsnorm_fwd rstd");
    C0->rmsnorm_bwd(F(dy), F(x), F(w), F(rstd), F(dx), rows, d);
    G->rmsnorm_bwd(FG(dy), FG(x), FG(w), FG(rstd), FG(dx), rows, d);
    snprintf(what, sizeof what, "rmsnorm_bwd dx (d %d)", d);
    check_f32(G, &dx, 1e-5, what);

    twin *all[] = {&x, &dy, &w, &b, &y, &dx, &mean, &rstd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(G, all[i]);
}

static void test_norms(void) {
    NEED_GPU(G);
    norm_case(G, 13, 32);   /* narrower than a block */
    norm_case(G, 7, 1031);  /* several elements per thread, not a multiple of 32 */
    norm_case(G, 3, 4096);
}

/* ---------------------------------------------------------------- activations */

static void test_activations(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int64_t n = 100003;
    twin x = twin_randf(G, n, 0, 3), u = twin_randf(G, n, 0, 1), dy = twin_randf(G, n, 0, 1);
    twin y = twin_randf(G, n, 0, 1), dx = twin_randf(G, n, 0, 1), du = twin_randf(G, n, 0, 1);
    C0->gelu_fwd(F(x), F(y), n);
    G->gelu_fwd(FG(x), FG(y), n);
    check_f32(G, &y, 1e-5, "gelu_fwd");
    C0->gelu_bwd(F(x), F(dy), F(dx), n);
    G->gelu_bwd(FG(x), FG(dy), FG(dx), n);
    check_f32(G, &dx, 1e-5, "gelu_bwd");
    C0->silu_mul_fwd(F(x), F(u), F(y), n);
    G->silu_mul_fwd(FG(x), FG(u), FG(y), n);
    check_f32(G, &y, 1e-5, "silu_mul_fwd");
    C0->silu_mul_bwd(F(x), F(u), F(dy), F(dx), F(du), n);
    G->silu_mul_bwd(FG(x), FG(u), FG(dy), FG(dx), FG(du), n);
    check_f32(G, &dx, 1e-5, "silu_mul_bwd dgate");
    check_f32(G, &du, 1e-5, "silu_mul_bwd dup");
    /* in place, as the transformer calls them: the gradient overwrites dy */
    C0->silu_mul_bwd(F(x), F(u), F(dy), F(dy), F(du), n);
    G->silu_mul_bwd(FG(x), FG(u), FG(dy), FG(dy), FG(du), n);
    check_f32(G, &dy, 1e-5, "silu_mul_bwd in place");
    C0->gelu_bwd(F(x), F(dy), F(dy), n);
    G->gelu_bwd(FG(x), FG(dy), FG(dy), n);
    check_f32(G, &dy, 1e-5, "gelu_bwd in place");
    twin *all[] = {&x, &u, &dy, &y, &dx, &du};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(G, all[i]);
}

/* ---------------------------------------------------------------- rotary */

static void test_rotary(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const struct { int n_heads, head_dim, rot_dim; bool interleaved; } cases[] = {
        {4, 16, 4, true},    /* GPT-J: partial, interleaved pairs */
        {6, 64, 64, false},  /* Llama: whole head, halves */
        {3, 32, 16, false},  /* partial halves */
    };
    const int rows = 29;
    int *pos_h = rand_ints(rows, 0, 200);
    twin pos = twin_of(G, pos_h, rows * sizeof(int));
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n = (size_t)rows * cases[c].n_heads * cases[c].head_dim;
        twin x = twin_randf(G, n, 0, 1);
        float *x0 = xmalloc(n * sizeof(float));
        memcpy(x0, x.c, n * sizeof(float));
        for (int inverse = 0; inverse < 2; inverse++) {
            C0->rotary(F(x), I(pos), rows, cases[c].n_heads, cases[c].head_dim, cases[c].rot_dim, 10000.0f,
                       cases[c].interleaved, inverse);
            G->rotary(FG(x), IG(pos), rows, cases[c].n_heads, cases[c].head_dim, cases[c].rot_dim, 10000.0f,
                      cases[c].interleaved, inverse);
            char what[80];
            snprintf(what, sizeof what, "rotary case %zu %s", c, inverse ? "inverse (round trip)" : "forward");
            check_f32(G, &x, 1e-4, what);
        }
        float *g = fetch(G, &x); /* forward then inverse: the input again, up to rounding */
        CHECK(rel_err(g, x0, (long)n) <= 1e-5, "rotary case %zu: inverse does not undo forward (%.3g)", c,
              rel_err(g, x0, (long)n));
        free(g);
        free(x0);
        twin_free(G, &x);
    }
    twin_free(G, &pos);
    free(pos_h);
}

/* ---------------------------------------------------------------- attention */

static void attention_case(const backend *G, int B, int T, int nh, int nkv, int hd, const int *len_h) {
    const backend *C0 = backend_cpu();
    const double tol = tol_f32_product(1e-5);
    float scale = 1.0f / sqrtf((float)hd);
    size_t nq = (size_t)B * T * nh * hd, nk = (size_t)B * T * nkv * hd, np = (size_t)B * nh * T * T;
    twin len = twin_of(G, len_h, B * sizeof(int));
    twin q = twin_randf(G, nq, 0, 1), k = twin_randf(G, nk, 0, 1), v = twin_randf(G, nk, 0, 1);
    twin out = twin_randf(G, nq, 0, 1), probs = twin_randf(G, np, 0, 1), dout = twin_randf(G, nq, 0, 1);
    twin dq = twin_randf(G, nq, 0, 1), dk = twin_randf(G, nk, 0, 1), dv = twin_randf(G, nk, 0, 1);
    C0->attention_fwd(F(q), F(k), F(v), F(out), F(probs), B, T, nh, nkv, hd, I(len), scale);
    G->attention_fwd(FG(q), FG(k), FG(v), FG(out), FG(probs), B, T, nh, nkv, hd, IG(len), scale);
    char what[96];
    snprintf(what, sizeof what, "attention (nh %d, nkv %d)", nh, nkv);
    check_f32(G, &out, tol, what);
    check_f32(G, &probs, tol, "attention probs");
    float *og = fetch(G, &out); /* padding rows are exact zeros */
    for (int b = 0; b < B; b++)
        for (int t = len_h[b]; t < T; t++)
            for (int j = 0; j < nh * hd; j++)
                if (og[((size_t)b * T + t) * nh * hd + j] != 0.0f) {
                    CHECK(0, "attention out: padding row (b %d, t %d) is not zero", b, t);
                    b = B, t = T, j = nh * hd; /* one report is enough */
                }
    free(og);
    C0->attention_bwd(F(dout), F(q), F(k), F(v), F(probs), F(dq), F(dk), F(dv), B, T, nh, nkv, hd, I(len), scale);
    G->attention_bwd(FG(dout), FG(q), FG(k), FG(v), FG(probs), FG(dq), FG(dk), FG(dv), B, T, nh, nkv, hd, IG(len),
                     scale);
    check_f32(G, &dq, tol, "attention_bwd dq");
    check_f32(G, &dk, tol, "attention_bwd dk");
    check_f32(G, &dv, tol, "attention_bwd dv");
    twin *all[] = {&len, &q, &k, &v, &out, &probs, &dout, &dq, &dk, &dv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(G, all[i]);
}

static void test_attention(void) {
    NEED_GPU(G);
    const int len[3] = {9, 5, 1};
    attention_case(G, 3, 9, 4, 4, 16, len); /* one kv head per query head */
    attention_case(G, 3, 9, 4, 2, 16, len); /* grouped-query */
    attention_case(G, 3, 9, 4, 1, 16, len); /* multi-query */
    const int len_long[2] = {70, 41};       /* rows longer than a warp */
    attention_case(G, 2, 70, 2, 1, 32, len_long);
}

/* ---------------------------------------------------------------- losses */

static void test_losses(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int rows = 6, V = 1003;
    const float w_h[6] = {0.5f, 0.0f, 1.0f, 0.25f, 2.0f, 0.1f}; /* row 1 is skipped (weight 0) */
    int *y_h = rand_ints(rows, 0, V);
    twin x = twin_randf(G, (size_t)rows * V, 0, 3), w = twin_of(G, w_h, sizeof w_h);
    twin y = twin_of(G, y_h, rows * sizeof(int));
    twin loss = twin_randf(G, rows, 0, 1), dx = twin_randf(G, (size_t)rows * V, 0, 1);
    twin ref = twin_randf(G, (size_t)rows * V, 0, 2), lsm = twin_randf(G, (size_t)rows * V, 0, 1);
    C0->log_softmax(F(ref), F(ref), rows, V); /* a log-distribution, in place, the same on both sides */
    G->to_device(ref.g, ref.c, ref.bytes);

    C0->nll_loss(F(x), I(y), F(w), rows, V, F(loss), F(dx));
    G->nll_loss(FG(x), IG(y), FG(w), rows, V, FG(loss), FG(dx));
    check_f32(G, &loss, 1e-5, "nll_loss loss");
    check_f32(G, &dx, 1e-5, "nll_loss dx (accumulated)");
    C0->kl_loss(F(x), F(ref), F(w), rows, V, F(loss), F(dx));
    G->kl_loss(FG(x), FG(ref), FG(w), rows, V, FG(loss), FG(dx));
    check_f32(G, &loss, 1e-5, "kl_loss loss");
    check_f32(G, &dx, 1e-5, "kl_loss dx (accumulated)");
    C0->log_softmax(F(x), F(lsm), rows, V);
    G->log_softmax(FG(x), FG(lsm), rows, V);
    check_f32(G, &lsm, 1e-6, "log_softmax"); /* x − lse in double, one rounding */
    twin *all[] = {&x, &w, &y, &loss, &dx, &ref, &lsm};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(G, all[i]);
    free(y_h);
}

/* ---------------------------------------------------------------- reductions */

static void test_reductions(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int64_t n = 1000003;
    twin a = twin_randf(G, n, 0.1, 1), b = twin_randf(G, n, 0, 1);
    const struct { const char *name; double cpu, gpu; } r[] = {
        {"sum_abs", C0->sum_abs(F(a), n), G->sum_abs(FG(a), n)},
        {"sum_sq", C0->sum_sq(F(a), n), G->sum_sq(FG(a), n)},
        {"sum_abs_diff", C0->sum_abs_diff(F(a), F(b), n), G->sum_abs_diff(FG(a), FG(b), n)},
        {"sum_sq_diff", C0->sum_sq_diff(F(a), F(b), n), G->sum_sq_diff(FG(a), FG(b), n)},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++)
        CHECK(fabs(r[i].gpu - r[i].cpu) <= 1e-10 * fabs(r[i].cpu), "%s: GPU %.17g vs CPU %.17g", r[i].name, r[i].gpu,
              r[i].cpu);
    CHECK(G->sum_sq(FG(a), 0) == 0.0, "sum_sq of nothing is not 0");
    twin_free(G, &a);
    twin_free(G, &b);
}

/* ---------------------------------------------------------------- optimiser */

static void test_optimiser(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int64_t n = 50001;
    twin p = twin_randf(G, n, 0, 1), m = twin_randf(G, n, 0, 0.1), v = twin_randf(G, n, 1, 0.1);
    twin g = twin_randf(G, n, 0, 1), x0 = twin_randf(G, n, 0, 1);
    for (int t = 1; t <= 3; t++) {
        C0->adam_step(F(p), F(g), F(m), F(v), n, 0.05f, 0.9f, 0.999f, 1e-8f, t);
        G->adam_step(FG(p), FG(g), FG(m), FG(v), n, 0.05f, 0.9f, 0.999f, 1e-8f, t);
    }
    check_f32(G, &p, 1e-6, "adam_step p");
    check_f32(G, &m, 1e-6, "adam_step m");
    check_f32(G, &v, 1e-6, "adam_step v");
    G->to_device(p.g, p.c, p.bytes); /* the same p on both sides: the clamp itself is exact */
    C0->clamp_box(F(p), F(x0), 0.5f, n);
    G->clamp_box(FG(p), FG(x0), 0.5f, n);
    check_f32(G, &p, 0, "clamp_box");
    twin *all[] = {&p, &m, &v, &g, &x0};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(G, all[i]);
}

/* ---------------------------------------------------------------- float64 */

static void test_conversions(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int64_t n = 70001;
    twin f = twin_randf(G, n, 0, 1), d = twin_randd(G, n), d2 = twin_randd(G, n), f2 = twin_randf(G, n, 0, 1);
    C0->f32_to_f64(F(f), D(d), n);
    G->f32_to_f64(FG(f), DG(d), n);
    check_f64(G, &d, 0, "f32_to_f64");
    C0->f64_to_f32(D(d2), F(f2), n);
    G->f64_to_f32(DG(d2), FG(f2), n);
    check_f32(G, &f2, 0, "f64_to_f32");
    C0->f64_axpy(n, -0.3, D(d2), D(d));
    G->f64_axpy(n, -0.3, DG(d2), DG(d));
    check_f64(G, &d, 1e-15, "f64_axpy"); /* one fused multiply-add at most apart */
    twin *all[] = {&f, &d, &d2, &f2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(G, all[i]);
}

static void test_dgemm(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int M = 33, N = 47, K = 65;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 3, ldc = N + 1;
            twin A = twin_randd(G, (size_t)(ta ? K : M) * lda), B = twin_randd(G, (size_t)(tb ? N : K) * ldb);
            twin C = twin_randd(G, (size_t)M * ldc);
            C0->dgemm(ta, tb, M, N, K, 1.3, D(A), lda, D(B), ldb, -0.4, D(C), ldc);
            G->dgemm(ta, tb, M, N, K, 1.3, DG(A), lda, DG(B), ldb, -0.4, DG(C), ldc);
            char what[48];
            snprintf(what, sizeof what, "dgemm ta %d tb %d", ta, tb);
            check_f64(G, &C, 1e-12, what);
            twin_free(G, &A);
            twin_free(G, &B);
            twin_free(G, &C);
        }
    twin C = twin_randd(G, (size_t)M * (N + 1)); /* K = 0: C = beta·C, exactly */
    double dummy = 0;
    C0->dgemm(false, false, M, N, 0, 1.3, &dummy, 1, &dummy, N, -0.4, D(C), N + 1);
    G->dgemm(false, false, M, N, 0, 1.3, NULL, 1, NULL, N, -0.4, DG(C), N + 1);
    check_f64(G, &C, 0, "dgemm K = 0");
    twin_free(G, &C);
}

/* a symmetric n×n matrix R·Rᵀ/k + shift·I (k = n), row stride ld: SPD with cond ≲ 4 for shift ≥ 1 */
static double *spd_matrix(int n, int ld, double shift) {
    double *R = rand_doubles((size_t)n * n), *A = calloc((size_t)n * ld, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int l = 0; l < n; l++) s += R[(size_t)i * n + l] * R[(size_t)j * n + l];
            A[(size_t)i * ld + j] = A[(size_t)j * ld + i] = s / n + (i == j ? shift : 0.0);
        }
    free(R);
    return A;
}

static void test_dsyrk_dger(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int n = 75, k = 30, lda = k + 3, ldc = n + 2;
    double *Ch = spd_matrix(n, ldc, 1.0);
    twin C = twin_of(G, Ch, (size_t)n * ldc * sizeof(double)), A = twin_randd(G, (size_t)n * lda);
    C0->dsyrk_acc(n, k, 0.6, D(A), lda, D(C), ldc);
    G->dsyrk_acc(n, k, 0.6, DG(A), lda, DG(C), ldc);
    check_f64(G, &C, 1e-12, "dsyrk_acc");
    C0->dsyrk_acc(n, 0, 0.6, D(A), 1, D(C), ldc); /* k = 0 adds nothing */
    G->dsyrk_acc(n, 0, 0.6, DG(A), 1, DG(C), ldc);
    check_f64(G, &C, 1e-12, "dsyrk_acc k = 0");
    double *g = fetch(G, &C);
    int asym = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) asym += g[(size_t)i * ldc + j] != g[(size_t)j * ldc + i];
    CHECK(asym == 0, "dsyrk_acc: %d entries of the GPU result are not exactly symmetric", asym);
    free(g);

    const int m = 41, nn = 57, ld = nn + 4;
    twin M = twin_randd(G, (size_t)m * ld), x = twin_randd(G, m), y = twin_randd(G, nn);
    C0->dger_acc(m, nn, -0.8, D(x), D(y), D(M), ld);
    G->dger_acc(m, nn, -0.8, DG(x), DG(y), DG(M), ld);
    check_f64(G, &M, 1e-14, "dger_acc"); /* one multiply-add per element */
    twin *all[] = {&C, &A, &M, &x, &y};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(G, all[i]);
    free(Ch);
}

static void test_cholesky(void) {
    NEED_GPU(G);
    const backend *C0 = backend_cpu();
    const int sizes[] = {1, 33, 100, 257};
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        int n = sizes[c], m = 23;
        double *Ah = spd_matrix(n, n, 1.0);
        twin L = twin_of(G, Ah, (size_t)n * n * sizeof(double));
        int ic = C0->potrf(n, D(L)), ig = G->potrf(n, DG(L));
        CHECK(ic == 0 && ig == 0, "potrf n %d: info CPU %d GPU %d, expected 0", n, ic, ig);
        char what[64];
        snprintf(what, sizeof what, "potrf n %d", n);
        check_f64(G, &L, 1e-10, what); /* the strict upper triangle is part of the comparison: zero on both */

        twin B = twin_randd(G, (size_t)m * n);
        C0->potrs_right(n, m, D(L), D(B));
        G->potrs_right(n, m, DG(L), DG(B));
        snprintf(what, sizeof what, "potrs_right n %d m %d", n, m);
        check_f64(G, &B, 1e-10, what);

        twin x = twin_randd(G, (size_t)n);
        C0->chol_update(n, D(L), D(x));
        G->chol_update(n, DG(L), DG(x));
        snprintf(what, sizeof what, "chol_update n %d", n);
        check_f64(G, &L, 1e-10, what);
        twin_free(G, &L);
        twin_free(G, &B);
        twin_free(G, &x);
        free(Ah);
    }
    /* not positive definite: both report the same leading minor */
    const int n = 70;
    double *Ah = spd_matrix(n, n, 1.0);
    Ah[37 * n + 37] = -1e3;
    twin A = twin_of(G, Ah, (size_t)n * n * sizeof(double));
    int ic = C0->potrf(n, D(A)), ig = G->potrf(n, DG(A));
    CHECK(ic == 38 && ig == ic, "potrf of a matrix that is not PD: info CPU %d GPU %d, expected 38", ic, ig);
    twin_free(G, &A);
    free(Ah);
}

/* ---------------------------------------------------------------- whole models */

/* the fixture's sequences run as one padded batch on a backend: the logits at every real token, then the
 * mean next-token NLL, its gradient at block 0's output (every position) and the gradient of W_out of
 * block 1 */
typedef struct model_run {
    float *logits, *g_block0, *dW; /* (n, V), (n, d), (d, d_ff) */
    double loss;
    long n, V, d, d_ff;
} model_run;

static int model_run_on(const backend *be, const char *dir, kweight_type wt, const kbatch *b, model_run *r) {
    model m;
    char err[1024];
    if (model_load_as(dir, be, wt, &m, err, sizeof err)) {
        CHECK(0, "loading %s on %s: %s", dir, be->name, err);
        return -1;
    }
    const model_config *c = &m.cfg;
    int n = 0;
    for (int i = 0; i < b->n_seq; i++) n += b->len[i];
    kpos *at = xmalloc((size_t)n * sizeof *at);
    int *y = xmalloc((size_t)n * sizeof *y);
    float *w = xmalloc((size_t)n * sizeof *w);
    for (int i = 0, j = 0; i < b->n_seq; i++)
        for (int t = 0; t < b->len[i]; t++, j++) {
            at[j] = (kpos){i, t};
            y[j] = b->ids[i][(t + 1) % b->len[i]]; /* next token (the last row wraps: any label will do) */
            w[j] = 1.0f / n;
        }
    r->n = n;
    r->V = c->vocab;
    r->d = c->d;
    r->d_ff = c->d_ff;
    r->logits = xmalloc((size_t)n * c->vocab * sizeof(float));
    r->g_block0 = calloc((size_t)n * c->d, sizeof(float));
    r->dW = calloc((size_t)c->d * c->d_ff, sizeof(float));
    fwd_opts o = {.n_logit = n, .logit_at = at, .logits_host = r->logits, .bwd_from_layer = 0, .stop_layer = -1};
    fwd_state *s = transformer_forward(&m, b, &o);
    int ok = s != NULL;
    CHECK(ok, "forward on %s failed", be->name);
    if (ok) {
        r->loss = transformer_loss(&m, s, y, w, NULL, NULL);
        khook g = {HOOK_CAPTURE, SITE_BLOCK_OUT, 0, n, at, r->g_block0, false};
        bwd_opts bo = {.grads = &g, .n_grads = 1, .wgrad_layer = 1, .wgrad_which = 0, .dW = r->dW, .db = NULL};
        CHECK(transformer_backward(&m, s, &bo) == 0, "backward on %s failed", be->name);
        fwd_state_free(s);
    }
    free(at);
    free(y);
    free(w);
    model_free(&m);
    return ok ? 0 : -1;
}

static void model_parity(const char *arch, kweight_type wt) {
    NEED_GPU(G);
    char dir[128], path[192], err[256];
    snprintf(dir, sizeof dir, "tests/fixtures/%s", arch);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    st_set ref;
    if (st_open_file(path, &ref, err, sizeof err)) SKIP("%s", err);
    int len[3], *ids[3];
    for (int i = 0; i < 3; i++) { /* the fixture's three token sequences (int32) */
        char name[16];
        snprintf(name, sizeof name, "ids_%d", i);
        const st_tensor *t = st_find(&ref, name);
        CHECK(t != NULL, "%s: no %s", path, name);
        if (!t) {
            st_close(&ref);
            return;
        }
        len[i] = (int)t->numel;
        ids[i] = xmalloc(t->nbytes);
        memcpy(ids[i], t->data, t->nbytes);
    }
    st_close(&ref);
    kbatch b = {3, len, (const int *const *)ids};
    model_run rc = {0}, rg = {0};
    if (model_run_on(backend_cpu(), dir, wt, &b, &rc) == 0 && model_run_on(G, dir, wt, &b, &rg) == 0) {
        double e_logits = rel_err(rg.logits, rc.logits, rc.n * rc.V);
        double e_g = rel_err(rg.g_block0, rc.g_block0, rc.n * rc.d);
        double e_w = rel_err(rg.dW, rc.dW, rc.d * rc.d_ff);
        double tl = tol_f32_product(wt == KT_BF16 ? 1e-4 : 1e-5), tg = tol_f32_product(wt == KT_BF16 ? 2e-4 : 1e-4);
        CHECK(e_logits <= tl, "%s logits: relative error %.3g > %.1g", arch, e_logits, tl);
        CHECK(fabs(rg.loss - rc.loss) <= tl * fabs(rc.loss), "%s loss: GPU %.9g CPU %.9g", arch, rg.loss, rc.loss);
        CHECK(e_g <= tg, "%s gradient at block 0's output: relative error %.3g > %.1g", arch, e_g, tg);
        CHECK(e_w <= tg, "%s gradient of W_out (block 1): relative error %.3g > %.1g", arch, e_w, tg);
    }
    model_run *runs[] = {&rc, &rg};
    for (int i = 0; i < 2; i++) {
        free(runs[i]->logits);
        free(runs[i]->g_block0);
        free(runs[i]->dW);
    }
    for (int i = 0; i < 3; i++) free(ids[i]);
}

static void test_model_gpt2(void) { model_parity("gpt2", KT_F32); }
static void test_model_gptj(void) { model_parity("gptj", KT_F32); }
static void test_model_llama(void) { model_parity("llama", KT_F32); }
static void test_model_gpt2_bf16(void) { model_parity("gpt2", KT_BF16); }
static void test_model_gptj_bf16(void) { model_parity("gptj", KT_BF16); }
static void test_model_llama_bf16(void) { model_parity("llama", KT_BF16); }

int main(void) {
    RUN(test_memory);
    RUN(test_gemm_f32);
    RUN(test_gemm_bf16);
    RUN(test_dense_rows);
    RUN(test_norms);
    RUN(test_activations);
    RUN(test_rotary);
    RUN(test_attention);
    RUN(test_losses);
    RUN(test_reductions);
    RUN(test_optimiser);
    RUN(test_conversions);
    RUN(test_dgemm);
    RUN(test_dsyrk_dger);
    RUN(test_cholesky);
    RUN(test_model_gpt2);
    RUN(test_model_gptj);
    RUN(test_model_llama);
    RUN(test_model_gpt2_bf16);
    RUN(test_model_gptj_bf16);
    RUN(test_model_llama_bf16);
    return TEST_SUMMARY();
}
