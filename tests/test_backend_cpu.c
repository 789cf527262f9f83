/* The CPU backend, op by op, against naive float64 loops written here (independent of host/backend_cpu.c).
 * Backward ops are checked against central finite differences of the float64 reference of the forward,
 * on the scalar f = Σ g⊙y with a fixed random g.
 *
 * Tolerances (relative, ‖got − want‖ / ‖want‖ unless stated):
 *  - TOL_F32 = 1e-5, a float32 op (forward or backward) vs its float64 reference. Inputs are O(1) and each
 *    output sums at most ~50 terms, so float32 rounding (6e-8 per operation) gives errors of 1e-7 (measured
 *    3e-8 to 1.3e-7 here; 3e-7 for the gemms with K = 1100); a wrong or missing term gives O(1e-1).
 *    The finite differences use h = 1e-6 in float64: truncation error ~h² = 1e-12, cancellation
 *    ~1e-16/h = 1e-10, so the reference gradient is exact to ~1e-9 and what is measured is the op's own
 *    float32 rounding.
 *  - TOL_F64 = 1e-10, float64 ops (potrf, potrs, chol_update) vs float64 references: the brief's bound
 *    for the solves; rounding there is ~n·1e-16 with condition numbers below 10. Plain float64 products
 *    (dgemm, dsyrk, dger) of ≤ 12 terms use 1e-13 (measured 1e-16).
 */
#include "backend.h"
#include "backend_by_name.h"
#include "rng.h"
#include "test.h"

#include <omp.h>
#include <stdint.h>

#define TOL_F32 1e-5
#define TOL_F64 1e-10

static const backend *be;

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* uniform in [−1, 1) (splitmix64) */
static double urand(void) { return 2 * rng_uniform01(&rng_state) - 1.0; }

/* n random float32 values in [−a, a) and the same values widened to double (dd may be NULL) */
static float *rand_f(long n, double a, double **dd) {
    float *f = malloc((size_t)n * sizeof *f);
    if (dd) *dd = malloc((size_t)n * sizeof **dd);
    for (long i = 0; i < n; i++) {
        f[i] = (float)(a * urand());
        if (dd) (*dd)[i] = f[i];
    }
    return f;
}

static double *rand_d(long n, double a) {
    double *d = malloc((size_t)n * sizeof *d);
    for (long i = 0; i < n; i++) d[i] = a * urand();
    return d;
}

/* ‖got − want‖ / ‖want‖ for a float32 result against a float64 reference */
static double rel_err_fd(const float *got, const double *want, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return sqrt(num) / (den > 1e-300 ? sqrt(den) : 1e-150);
}

static double rel_err_dd(const double *got, const double *want, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return sqrt(num) / (den > 1e-300 ? sqrt(den) : 1e-150);
}

/* a float64 reference forward: out = F(in) with fixed parameters in ctx */
typedef void (*ref_fn)(const double *in, double *out, const void *ctx);

/* ∂/∂in of Σ_o g[o]·F(in)[o] by central differences (h = 1e-6, float64) */
static void fd_grad(ref_fn F, const void *ctx, const double *in, long nin, const double *g, long nout,
                    double *grad) {
    const double h = 1e-6;
    double *x = malloc((size_t)nin * sizeof *x), *y = malloc((size_t)nout * sizeof *y);
    memcpy(x, in, (size_t)nin * sizeof *x);
    for (long i = 0; i < nin; i++) {
        double f[2];
        for (int s = 0; s < 2; s++) {
            x[i] = in[i] + (s ? -h : h);
            F(x, y, ctx);
            f[s] = 0;
            for (long o = 0; o < nout; o++) f[s] += g[o] * y[o];
        }
        x[i] = in[i];
        grad[i] = (f[0] - f[1]) / (2 * h);
    }
    free(x);
    free(y);
}

/* ---------------------------------------------------------------- selection and memory */

static void test_backend_by_name(void) {
    CHECK(backend_by_name("cpu") == backend_cpu(), "cpu");
    CHECK(strcmp(backend_cpu()->name, "cpu") == 0, "name %s", backend_cpu()->name);
#ifdef KEDIT_CUDA
    CHECK(backend_by_name("cuda") != NULL, "cuda built in");
#else
    CHECK(backend_by_name("cuda") == NULL, "cuda without KEDIT_CUDA");
#endif
    CHECK(backend_by_name("tpu") == NULL, "unknown name");
    CHECK(backend_by_name(NULL) == NULL, "no name");
}

static void test_memory(void) {
    size_t n = 1000;
    float *a = be->alloc(n * sizeof *a), *b = be->alloc(n * sizeof *b);
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += a[i] != 0;
    CHECK(nonzero == 0, "alloc not zero-filled: %d", nonzero);
    float *h = rand_f((long)n, 1, NULL), *back = malloc(n * sizeof *back);
    be->to_device(a, h, n * sizeof *h);
    be->copy(b, a, n * sizeof *a);
    be->sync();
    be->to_host(back, b, n * sizeof *b);
    CHECK(memcmp(back, h, n * sizeof *h) == 0, "round trip");
    be->zero(b, n * sizeof *b);
    nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += b[i] != 0;
    CHECK(nonzero == 0, "zero: %d", nonzero);
    be->free(a);
    be->free(b);
    free(h);
    free(back);
}

/* ---------------------------------------------------------------- gemm */

/* C = alpha·op(A)·op(B) + beta·C in double; op(A) M×K, op(B) K×N, row-major with leading dimensions */
static void ref_gemm(bool ta, bool tb, int M, int N, int K, double alpha, const double *A, int lda,
                     const double *B, int ldb, double beta, double *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int p = 0; p < K; p++)
                s += (ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p]) *
                     (tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j]);
            C[(size_t)i * ldc + j] = alpha * s + beta * C[(size_t)i * ldc + j];
        }
}

/* float32 (and, with bf16, bf16-stored) gemm for every transpose pair against the double loop; padded
 * leading dimensions. B values are rounded to bf16 so both storage types hold the same numbers. */
static void check_gemm(int M, int N, int K, double tol, double tol_vs_f32) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
            long na = (long)(ta ? K : M) * lda, nb = (long)(tb ? N : K) * ldb, nc = (long)M * ldc;
            double *Ad, *Cd;
            float *A = rand_f(na, 1, &Ad), *C = rand_f(nc, 1, &Cd);
            float *B = malloc((size_t)nb * sizeof *B), *C16 = malloc((size_t)nc * sizeof *C16);
            uint16_t *B16 = malloc((size_t)nb * sizeof *B16);
            double *Bd = malloc((size_t)nb * sizeof *Bd);
            for (long i = 0; i < nb; i++) {
                float f = (float)urand();
                uint32_t bits;
                memcpy(&bits, &f, sizeof bits);
                B16[i] = (uint16_t)(bits >> 16); /* truncation: the kept half is exactly a bf16 value */
                bits &= 0xffff0000u;
                memcpy(&B[i], &bits, sizeof bits);
                Bd[i] = B[i];
            }
            memcpy(C16, C, (size_t)nc * sizeof *C);
            be->gemm(ta, tb, M, N, K, 0.7f, A, lda, B, KT_F32, ldb, 0.3f, C, ldc);
            be->gemm(ta, tb, M, N, K, 0.7f, A, lda, B16, KT_BF16, ldb, 0.3f, C16, ldc);
            ref_gemm(ta, tb, M, N, K, 0.7, Ad, lda, Bd, ldb, 0.3, Cd, ldc);
            double e32 = rel_err_fd(C, Cd, nc), e16 = rel_err_fd(C16, Cd, nc), e16_32 = rel_err(C16, C, nc);
            CHECK(e32 <= tol, "f32 M%d N%d K%d ta%d tb%d: rel err %.3g", M, N, K, ta, tb, e32);
            CHECK(e16 <= tol, "bf16 M%d N%d K%d ta%d tb%d: rel err %.3g", M, N, K, ta, tb, e16);
            CHECK(e16_32 <= tol_vs_f32, "bf16 vs f32 M%d N%d K%d ta%d tb%d: rel err %.3g", M, N, K, ta, tb, e16_32);
            free(A), free(Ad), free(B), free(B16), free(Bd), free(C), free(C16), free(Cd);
        }
}

static void test_gemm_small(void) {
    /* same values in both storage types: the bf16 path only widens them, so it matches f32 to the last
     * bits (1e-7 allows a different summation order inside OpenBLAS) */
    check_gemm(5, 7, 12, TOL_F32, 1e-7);
}

static void test_gemm_wide(void) {
    /* C split by columns over threads; each thread's bf16 slice of B (1100 × 1024 on two threads) exceeds
     * one widening block (2²⁰ elements), so the K-sliced (beta applied once, then accumulated) and
     * column-sliced paths both run. Slicing K changes the float32 summation order, hence 1e-6 against
     * f32 (rounding of sums of 1100 terms is ~1e-7 relative) */
    check_gemm(3, 2048, 1100, TOL_F32, 1e-6);
}

static void test_gemm_tall(void) {
    /* M > N: float32 C split by rows over threads (bf16 still by columns) */
    check_gemm(300, 40, 100, TOL_F32, 1e-6);
}

/* ---------------------------------------------------------------- elementwise and row ops */

/* one or two float operations per element (column sums: 5 terms summed in double): ~1 ulp, so 1e-6 */
static void test_elementwise(void) {
    int rows = 5, cols = 12;
    long n = (long)rows * cols;
    double *yd, *bd, *xd;
    float *y = rand_f(n, 1, &yd), *b = rand_f(cols, 1, &bd), *x = rand_f(n, 1, &xd);
    be->add_bias(y, b, rows, cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) yd[r * cols + c] += bd[c];
    CHECK(rel_err_fd(y, yd, n) <= 1e-6, "add_bias %.3g", rel_err_fd(y, yd, n));
    be->axpy(n, -0.6f, x, y);
    for (long i = 0; i < n; i++) yd[i] += (double)-0.6f * xd[i];
    CHECK(rel_err_fd(y, yd, n) <= 1e-6, "axpy %.3g", rel_err_fd(y, yd, n));
    be->scale(n, 1.7f, y);
    for (long i = 0; i < n; i++) yd[i] *= (double)1.7f;
    CHECK(rel_err_fd(y, yd, n) <= 1e-6, "scale %.3g", rel_err_fd(y, yd, n));
    be->col_sum_acc(x, rows, cols, b);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) bd[c] += xd[r * cols + c];
    CHECK(rel_err_fd(b, bd, cols) <= 1e-6, "col_sum_acc %.3g", rel_err_fd(b, bd, cols));
    free(y), free(yd), free(b), free(bd), free(x), free(xd);
}

/* the same ops above the size where they go parallel (n > 32768) */
static void test_elementwise_large(void) {
    int rows = 300, cols = 1000;
    long n = (long)rows * cols;
    double *xd, *yd, *bd;
    float *x = rand_f(n, 1, &xd), *y = rand_f(n, 1, &yd), *b = rand_f(cols, 1, &bd);
    be->axpy(n, 0.25f, x, y);
    for (long i = 0; i < n; i++) yd[i] += 0.25 * xd[i];
    CHECK(rel_err_fd(y, yd, n) <= 1e-6, "axpy %.3g", rel_err_fd(y, yd, n));
    be->col_sum_acc(y, rows, cols, b);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) bd[c] += yd[(long)r * cols + c];
    /* column sums of 300 terms accumulated in double, rounded once to float */
    CHECK(rel_err_fd(b, bd, cols) <= 1e-6, "col_sum_acc %.3g", rel_err_fd(b, bd, cols));
    free(x), free(xd), free(y), free(yd), free(b), free(bd);
}

static void test_gather_scatter(void) {
    int d = 70, n = 9, src_rows = 6; /* d > 64 so more than one column block */
    int idx[9] = {3, 0, 5, 3, 3, 1, 0, 2, 5}; /* repeats */
    float *src = rand_f((long)src_rows * d, 1, NULL), *g = malloc((size_t)n * d * sizeof *g);
    be->gather_rows(src, d, idx, n, g);
    int bad = 0;
    for (int i = 0; i < n; i++) bad += memcmp(g + i * d, src + idx[i] * d, (size_t)d * sizeof *g) != 0;
    CHECK(bad == 0, "gather_rows: %d rows differ", bad);

    /* scatter_add accumulates repeated rows in order i = 0..n−1: bitwise equal to the sequential loop */
    float *dst = rand_f((long)src_rows * d, 1, NULL), *want = malloc((size_t)src_rows * d * sizeof *want);
    float *rows = rand_f((long)n * d, 1, NULL);
    memcpy(want, dst, (size_t)src_rows * d * sizeof *want);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) want[idx[i] * d + c] += rows[i * d + c];
    be->scatter_add_rows(dst, d, idx, n, rows);
    CHECK(max_abs_diff(dst, want, (long)src_rows * d) == 0, "scatter_add_rows %.3g",
          max_abs_diff(dst, want, (long)src_rows * d));

    int uniq[4] = {4, 1, 0, 5};
    memcpy(want, dst, (size_t)src_rows * d * sizeof *want);
    for (int i = 0; i < 4; i++) memcpy(want + uniq[i] * d, rows + i * d, (size_t)d * sizeof *want);
    be->scatter_rows(dst, d, uniq, 4, rows);
    CHECK(max_abs_diff(dst, want, (long)src_rows * d) == 0, "scatter_rows");
    free(src), free(g), free(dst), free(want), free(rows);
}

static void test_clamp_box(void) {
    long n = 50;
    float *x = rand_f(n, 2, NULL), *x0 = rand_f(n, 1, NULL), *want = malloc((size_t)n * sizeof *want);
    float eps = 0.5f;
    int clamped = 0;
    for (long i = 0; i < n; i++) {
        float lo = x0[i] - eps, hi = x0[i] + eps;
        want[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
        clamped += want[i] != x[i];
    }
    be->clamp_box(x, x0, eps, n);
    CHECK(clamped > 5 && clamped < n - 5, "test data should clamp some but not all (%d)", clamped);
    CHECK(max_abs_diff(x, want, n) == 0, "clamp_box %.3g", max_abs_diff(x, want, n));
    free(x), free(x0), free(want);
}

static void test_reductions(void) {
    long n = 100003;
    double *ad, *bd;
    float *a = rand_f(n, 1, &ad), *b = rand_f(n, 1, &bd);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (long i = 0; i < n; i++) {
        s1 += fabs(ad[i]);
        s2 += ad[i] * ad[i];
        s3 += fabs(ad[i] - bd[i]);
        s4 += (ad[i] - bd[i]) * (ad[i] - bd[i]);
    }
    /* double accumulation in another order: rounding ~n·1e-16 = 1e-11 at worst */
    CHECK(fabs(be->sum_abs(a, n) - s1) <= 1e-10 * s1, "sum_abs %.17g vs %.17g", be->sum_abs(a, n), s1);
    CHECK(fabs(be->sum_sq(a, n) - s2) <= 1e-10 * s2, "sum_sq");
    CHECK(fabs(be->sum_abs_diff(a, b, n) - s3) <= 1e-10 * s3, "sum_abs_diff");
    CHECK(fabs(be->sum_sq_diff(a, b, n) - s4) <= 1e-10 * s4, "sum_sq_diff");
    free(a), free(ad), free(b), free(bd);
}

static void test_conversions(void) {
    long n = 40;
    double *xd, *back = malloc((size_t)n * sizeof *back);
    float *x = rand_f(n, 3, &xd), *xf = malloc((size_t)n * sizeof *xf);
    be->f32_to_f64(x, back, n);
    CHECK(rel_err_dd(back, xd, n) == 0, "f32_to_f64 exact");
    double *y = rand_d(n, 1), *yd = malloc((size_t)n * sizeof *yd);
    memcpy(yd, y, (size_t)n * sizeof *yd);
    be->f64_axpy(n, -1.25, xd, y);
    for (long i = 0; i < n; i++) yd[i] += -1.25 * xd[i];
    CHECK(rel_err_dd(y, yd, n) == 0, "f64_axpy");
    be->f64_to_f32(y, xf, n);
    int bad = 0;
    for (long i = 0; i < n; i++) bad += xf[i] != (float)yd[i];
    CHECK(bad == 0, "f64_to_f32 rounds to nearest: %d", bad);
    free(xd), free(back), free(x), free(xf), free(y), free(yd);
}

/* ---------------------------------------------------------------- normalisation */

typedef struct { int rows, d; double eps; const double *w, *b; } norm_ctx; /* b NULL: RMSNorm */

static void ref_norm(const double *x, double *y, const void *vctx) {
    const norm_ctx *c = vctx;
    for (int r = 0; r < c->rows; r++) {
        const double *xr = x + r * c->d;
        double mu = 0, var = 0;
        if (c->b) {
            for (int i = 0; i < c->d; i++) mu += xr[i] / c->d;
            for (int i = 0; i < c->d; i++) var += (xr[i] - mu) * (xr[i] - mu) / c->d;
        } else
            for (int i = 0; i < c->d; i++) var += xr[i] * xr[i] / c->d; /* mean square */
        for (int i = 0; i < c->d; i++)
            y[r * c->d + i] = (xr[i] - mu) / sqrt(var + c->eps) * c->w[i] + (c->b ? c->b[i] : 0);
    }
}

static void check_norm(bool layernorm) {
    int rows = 5, d = 12;
    long n = (long)rows * d;
    double *xd, *wd, *bd, *gd;
    float *x = rand_f(n, 2, &xd), *w = rand_f(d, 1.5, &wd), *b = rand_f(d, 1, &bd), *g = rand_f(n, 1, &gd);
    for (int i = 0; i < d; i++) x[i] = (float)(xd[i] += 3.0); /* a row with a large mean */
    float *y = malloc((size_t)n * sizeof *y), *dx = malloc((size_t)n * sizeof *dx);
    float mean[5] = {0}, rstd[5];
    norm_ctx c = {rows, d, 1e-5, wd, layernorm ? bd : NULL};
    if (layernorm) be->layernorm_fwd(x, w, b, y, mean, rstd, rows, d, 1e-5f);
    else be->rmsnorm_fwd(x, w, y, rstd, rows, d, 1e-5f);
    double *yd = malloc((size_t)n * sizeof *yd), *grad = malloc((size_t)n * sizeof *grad);
    ref_norm(xd, yd, &c);
    CHECK(rel_err_fd(y, yd, n) <= TOL_F32, "forward %.3g", rel_err_fd(y, yd, n));
    for (int r = 0; r < rows; r++) {
        double mu = 0, ms = 0;
        for (int i = 0; i < d; i++) mu += xd[r * d + i] / d;
        for (int i = 0; i < d; i++) {
            double e = xd[r * d + i] - (layernorm ? mu : 0);
            ms += e * e / d;
        }
        CHECK(!layernorm || fabs(mean[r] - mu) <= 1e-5 * (1 + fabs(mu)), "mean[%d] %g vs %g", r, mean[r], mu);
        CHECK(fabs(rstd[r] - 1 / sqrt(ms + 1e-5)) <= 1e-5 / sqrt(ms + 1e-5), "rstd[%d]", r);
    }
    if (layernorm) be->layernorm_bwd(g, x, w, mean, rstd, dx, rows, d);
    else be->rmsnorm_bwd(g, x, w, rstd, dx, rows, d);
    fd_grad(ref_norm, &c, xd, n, gd, n, grad);
    CHECK(rel_err_fd(dx, grad, n) <= TOL_F32, "backward vs finite differences %.3g", rel_err_fd(dx, grad, n));
    free(x), free(xd), free(w), free(wd), free(b), free(bd), free(g), free(gd), free(y), free(dx), free(yd),
        free(grad);
}

static void test_layernorm(void) { check_norm(true); }
static void test_rmsnorm(void) { check_norm(false); }

/* ---------------------------------------------------------------- activations */

static void ref_gelu(const double *x, double *y, const void *ctx) {
    long n = *(const long *)ctx;
    for (long i = 0; i < n; i++)
        y[i] = 0.5 * x[i] * (1 + tanh(sqrt(2 / M_PI) * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
}

/* in = (gate, up), each n long */
static void ref_silu_mul(const double *in, double *y, const void *ctx) {
    long n = *(const long *)ctx;
    for (long i = 0; i < n; i++) y[i] = in[i] / (1 + exp(-in[i])) * in[n + i];
}

static void test_gelu(void) {
    long n = 60;
    double *xd, *gd, *yd = malloc((size_t)n * sizeof *yd), *grad = malloc((size_t)n * sizeof *grad);
    float *x = rand_f(n, 4, &xd), *g = rand_f(n, 1, &gd), *y = malloc((size_t)n * sizeof *y),
          *dx = malloc((size_t)n * sizeof *dx);
    be->gelu_fwd(x, y, n);
    ref_gelu(xd, yd, &n);
    CHECK(rel_err_fd(y, yd, n) <= TOL_F32, "forward %.3g", rel_err_fd(y, yd, n));
    be->gelu_bwd(x, g, dx, n);
    fd_grad(ref_gelu, &n, xd, n, gd, n, grad);
    CHECK(rel_err_fd(dx, grad, n) <= TOL_F32, "backward %.3g", rel_err_fd(dx, grad, n));
    free(xd), free(gd), free(yd), free(grad), free(x), free(g), free(y), free(dx);
}

static void test_silu_mul(void) {
    long n = 60;
    double *in, *gd, *yd = malloc((size_t)n * sizeof *yd), *grad = malloc((size_t)2 * n * sizeof *grad);
    float *gu = rand_f(2 * n, 4, &in), *g = rand_f(n, 1, &gd), *y = malloc((size_t)n * sizeof *y),
          *dgu = malloc((size_t)2 * n * sizeof *dgu);
    be->silu_mul_fwd(gu, gu + n, y, n);
    ref_silu_mul(in, yd, &n);
    CHECK(rel_err_fd(y, yd, n) <= TOL_F32, "forward %.3g", rel_err_fd(y, yd, n));
    be->silu_mul_bwd(gu, gu + n, g, dgu, dgu + n, n);
    fd_grad(ref_silu_mul, &n, in, 2 * n, gd, n, grad);
    CHECK(rel_err_fd(dgu, grad, n) <= TOL_F32, "dgate %.3g", rel_err_fd(dgu, grad, n));
    CHECK(rel_err_fd(dgu + n, grad + n, n) <= TOL_F32, "dup %.3g", rel_err_fd(dgu + n, grad + n, n));
    free(in), free(gd), free(yd), free(grad), free(gu), free(g), free(y), free(dgu);
}

/* ---------------------------------------------------------------- rotary */

typedef struct { int rows, nh, hd, rot; double theta; bool interleaved; const int *pos; } rot_ctx;

static void ref_rotary(const double *x, double *y, const void *vctx) {
    const rot_ctx *c = vctx;
    int half = c->rot / 2;
    memcpy(y, x, (size_t)c->rows * c->nh * c->hd * sizeof *y);
    for (int r = 0; r < c->rows; r++)
        for (int h = 0; h < c->nh; h++)
            for (int i = 0; i < half; i++) {
                double ang = c->pos[r] * pow(c->theta, -2.0 * i / c->rot);
                long base = ((long)r * c->nh + h) * c->hd;
                long a = base + (c->interleaved ? 2 * i : i), b = base + (c->interleaved ? 2 * i + 1 : i + half);
                y[a] = x[a] * cos(ang) - x[b] * sin(ang);
                y[b] = x[a] * sin(ang) + x[b] * cos(ang);
            }
}

static void test_rotary(void) {
    int rows = 5, nh = 3, hd = 8, pos[5] = {0, 1, 7, 23, 41};
    long n = (long)rows * nh * hd;
    for (int rot = 4; rot <= hd; rot += 4) /* partial (GPT-J style) and full */
        for (int il = 0; il < 2; il++) {
            rot_ctx c = {rows, nh, hd, rot, 10000.0, il, pos};
            double *xd, *gd, *yd = malloc((size_t)n * sizeof *yd), *grad = malloc((size_t)n * sizeof *grad);
            float *x = rand_f(n, 1, &xd), *g = rand_f(n, 1, &gd), *y = malloc((size_t)n * sizeof *y);
            memcpy(y, x, (size_t)n * sizeof *y);
            be->rotary(y, pos, rows, nh, hd, rot, 10000.0f, il, false);
            ref_rotary(xd, yd, &c);
            /* angles up to 41 rad computed in float32: ~41·6e-8 absolute error */
            CHECK(rel_err_fd(y, yd, n) <= TOL_F32, "rot %d interleaved %d forward %.3g", rot, il, rel_err_fd(y, yd, n));
            be->rotary(y, pos, rows, nh, hd, rot, 10000.0f, il, true);
            CHECK(max_abs_diff(y, x, n) <= 1e-6, "rot %d interleaved %d inverse∘forward %.3g", rot, il,
                  max_abs_diff(y, x, n));
            /* the backward is the inverse rotation applied to the output gradient */
            be->rotary(g, pos, rows, nh, hd, rot, 10000.0f, il, true);
            fd_grad(ref_rotary, &c, xd, n, gd, n, grad);
            CHECK(rel_err_fd(g, grad, n) <= TOL_F32, "rot %d interleaved %d backward %.3g", rot, il,
                  rel_err_fd(g, grad, n));
            free(xd), free(gd), free(yd), free(grad), free(x), free(g), free(y);
        }
}

/* ---------------------------------------------------------------- attention */

typedef struct { int B, T, nh, nkv, hd; const int *len; double scale; } attn_ctx;

static long attn_nq(const attn_ctx *c) { return (long)c->B * c->T * c->nh * c->hd; }
static long attn_nkv(const attn_ctx *c) { return (long)c->B * c->T * c->nkv * c->hd; }

/* in = (q, k, v) packed; out (B·T, nh·hd). Written directly from the definition: masked scores −∞ */
static void ref_attention(const double *in, double *out, const void *vctx) {
    const attn_ctx *c = vctx;
    const double *q = in, *k = in + attn_nq(c), *v = k + attn_nkv(c);
    double *s = malloc((size_t)c->T * sizeof *s);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->nh; h++) {
            int kvh = h / (c->nh / c->nkv);
            for (int t = 0; t < c->T; t++) {
                double *o = out + ((long)(b * c->T + t) * c->nh + h) * c->hd, m = -INFINITY, z = 0;
                for (int j = 0; j < c->T; j++) {
                    s[j] = -INFINITY;
                    if (j > t || j >= c->len[b]) continue;
                    s[j] = 0;
                    for (int e = 0; e < c->hd; e++)
                        s[j] += q[((long)(b * c->T + t) * c->nh + h) * c->hd + e] *
                                k[((long)(b * c->T + j) * c->nkv + kvh) * c->hd + e];
                    s[j] *= c->scale;
                    m = fmax(m, s[j]);
                }
                for (int e = 0; e < c->hd; e++) o[e] = 0;
                if (t >= c->len[b]) continue;
                for (int j = 0; j < c->T; j++) z += s[j] == -INFINITY ? 0 : exp(s[j] - m);
                for (int j = 0; j < c->T; j++) {
                    if (s[j] == -INFINITY) continue;
                    for (int e = 0; e < c->hd; e++)
                        o[e] += exp(s[j] - m) / z * v[((long)(b * c->T + j) * c->nkv + kvh) * c->hd + e];
                }
            }
        }
    free(s);
}

/* forward (output and probs) against the definition, backward (dq, dk, dv) against finite differences */
static void check_attention(int B, int T, int nh, int nkv, int hd, const int *len) {
    attn_ctx c = {B, T, nh, nkv, hd, len, 1.0 / sqrt(hd)};
    long nq = attn_nq(&c), nk = attn_nkv(&c), nin = nq + 2 * nk, np = (long)B * nh * T * T;
    double *in, *gd, *od = malloc((size_t)nq * sizeof *od), *grad = malloc((size_t)nin * sizeof *grad);
    float *qkv = rand_f(nin, 1.5, &in), *g = rand_f(nq, 1, &gd);
    float *out = malloc((size_t)nq * sizeof *out), *probs = malloc((size_t)np * sizeof *probs);
    float *dqkv = malloc((size_t)nin * sizeof *dqkv);
    for (long i = 0; i < nq; i++) out[i] = NAN; /* the op must write every entry, padding included */
    for (long i = 0; i < np; i++) probs[i] = NAN;
    for (long i = 0; i < nin; i++) dqkv[i] = NAN;
    float *q = qkv, *k = qkv + nq, *v = k + nk;
    be->attention_fwd(q, k, v, out, probs, B, T, nh, nkv, hd, len, (float)c.scale);
    ref_attention(in, od, &c);
    double e = rel_err_fd(out, od, nq);
    CHECK(e <= TOL_F32, "B%d T%d nh%d nkv%d forward %.3g", B, T, nh, nkv, e);

    /* probs rows: each valid row sums to 1 over j ≤ t and is zero elsewhere; padding rows all zero */
    int bad_rows = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++)
            for (int t = 0; t < T; t++) {
                const float *p = probs + (((long)b * nh + h) * T + t) * T;
                double sum = 0, outside = 0;
                for (int j = 0; j < T; j++) *(j <= t && t < len[b] ? &sum : &outside) += fabs(p[j]);
                bad_rows += fabs(sum - (t < len[b] ? 1.0 : 0.0)) > 1e-5 || outside != 0;
            }
    CHECK(bad_rows == 0, "B%d T%d nh%d nkv%d: %d probs rows wrong", B, T, nh, nkv, bad_rows);

    be->attention_bwd(g, q, k, v, probs, dqkv, dqkv + nq, dqkv + nq + nk, B, T, nh, nkv, hd, len, (float)c.scale);
    fd_grad(ref_attention, &c, in, nin, gd, nq, grad);
    CHECK(rel_err_fd(dqkv, grad, nq) <= TOL_F32, "dq %.3g", rel_err_fd(dqkv, grad, nq));
    CHECK(rel_err_fd(dqkv + nq, grad + nq, nk) <= TOL_F32, "dk %.3g", rel_err_fd(dqkv + nq, grad + nq, nk));
    CHECK(rel_err_fd(dqkv + nq + nk, grad + nq + nk, nk) <= TOL_F32, "dv %.3g",
          rel_err_fd(dqkv + nq + nk, grad + nq + nk, nk));
    free(in), free(gd), free(od), free(grad), free(qkv), free(g), free(out), free(probs), free(dqkv);
}

static void test_attention(void) {
    int len[2] = {7, 4}; /* the second sequence has 3 padding rows */
    check_attention(2, 7, 4, 2, 4, len); /* grouped-query: two query heads per kv head */
    check_attention(2, 7, 4, 4, 4, len); /* multi-head */
    check_attention(2, 7, 4, 1, 4, len); /* multi-query */
}

/* a size where the op runs its OpenMP loops: forward against the definition, and the backward on all
 * threads bitwise equal to the backward on one (each kv head's dk, dv summed by one thread in order) */
static void test_attention_parallel(void) {
    int B = 2, T = 48, nh = 4, nkv = 2, hd = 16, len[2] = {48, 30};
    attn_ctx c = {B, T, nh, nkv, hd, len, 1.0 / sqrt(hd)};
    long nq = attn_nq(&c), nk = attn_nkv(&c), nin = nq + 2 * nk, np = (long)B * nh * T * T;
    double *in, *od = malloc((size_t)nq * sizeof *od);
    float *qkv = rand_f(nin, 1.5, &in), *g = rand_f(nq, 1, NULL), *out = malloc((size_t)nq * sizeof *out);
    float *probs = malloc((size_t)np * sizeof *probs), *d1 = malloc((size_t)nin * sizeof *d1),
          *dn = malloc((size_t)nin * sizeof *dn);
    float *q = qkv, *k = qkv + nq, *v = k + nk;
    be->attention_fwd(q, k, v, out, probs, B, T, nh, nkv, hd, len, (float)c.scale);
    ref_attention(in, od, &c);
    CHECK(rel_err_fd(out, od, nq) <= TOL_F32, "forward %.3g", rel_err_fd(out, od, nq));
    be->attention_bwd(g, q, k, v, probs, dn, dn + nq, dn + nq + nk, B, T, nh, nkv, hd, len, (float)c.scale);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    be->attention_bwd(g, q, k, v, probs, d1, d1 + nq, d1 + nq + nk, B, T, nh, nkv, hd, len, (float)c.scale);
    omp_set_num_threads(threads);
    CHECK(memcmp(d1, dn, (size_t)nin * sizeof *d1) == 0, "backward depends on the thread count");
    free(in), free(od), free(qkv), free(g), free(out), free(probs), free(d1), free(dn);
}

/* ---------------------------------------------------------------- losses */

typedef struct { int rows, V; const int *y; const double *w, *ref; } loss_ctx; /* ref NULL: NLL */

/* per-row loss of logits x: NLL w·(lse − x_y), or KL w·Σ p(log p − ref); 0 where w = 0 */
static void ref_loss(const double *x, double *loss, const void *vctx) {
    const loss_ctx *c = vctx;
    for (int r = 0; r < c->rows; r++) {
        const double *xr = x + (long)r * c->V;
        double m = -INFINITY, z = 0, kl = 0;
        loss[r] = 0;
        if (c->w[r] == 0) continue;
        for (int j = 0; j < c->V; j++) m = fmax(m, xr[j]);
        for (int j = 0; j < c->V; j++) z += exp(xr[j] - m);
        double lse = m + log(z);
        if (!c->ref) {
            loss[r] = c->w[r] * (lse - xr[c->y[r]]);
            continue;
        }
        for (int j = 0; j < c->V; j++) kl += exp(xr[j] - lse) * (xr[j] - lse - c->ref[(long)r * c->V + j]);
        loss[r] = c->w[r] * kl;
    }
}

static void check_loss(bool kl) {
    int rows = 5, V = 11, y[5] = {3, 0, 10, 7, 3};
    long n = (long)rows * V;
    float w[5] = {1.0f, 0.5f, 0.0f, 2.0f, 1.0f}; /* row 2 is skipped */
    double wd[5], ones[5] = {1, 1, 1, 1, 1}, lossd[5];
    for (int r = 0; r < rows; r++) wd[r] = w[r];
    double *xd, *refd = NULL, *grad = malloc((size_t)n * sizeof *grad);
    float *x = rand_f(n, 3, &xd), *dx = rand_f(n, 1, NULL), *dx0 = malloc((size_t)n * sizeof *dx0), loss[5];
    float *ref = NULL;
    for (int j = 0; j < V; j++) x[2 * V + j] = (float)(xd[2 * V + j] = NAN); /* a skipped row is never read */
    memcpy(dx0, dx, (size_t)n * sizeof *dx);
    if (kl) { /* ref: a log-distribution, the log-softmax of other logits (computed here in double) */
        refd = rand_d(n, 3);
        for (int r = 0; r < rows; r++) {
            double z = 0;
            for (int j = 0; j < V; j++) z += exp(refd[r * V + j]);
            for (int j = 0; j < V; j++) refd[r * V + j] = (float)(refd[r * V + j] - log(z));
        }
        ref = malloc((size_t)n * sizeof *ref);
        for (long i = 0; i < n; i++) ref[i] = (float)refd[i];
    }
    loss_ctx c = {rows, V, y, wd, refd};
    if (kl) be->kl_loss(x, ref, w, rows, V, loss, dx);
    else be->nll_loss(x, y, w, rows, V, loss, dx);
    ref_loss(xd, lossd, &c);
    CHECK(rel_err_fd(loss, lossd, rows) <= TOL_F32, "loss %.3g", rel_err_fd(loss, lossd, rows));
    CHECK(loss[2] == 0, "skipped row loss %g", loss[2]);
    CHECK(memcmp(dx + 2 * V, dx0 + 2 * V, (size_t)V * sizeof *dx) == 0, "skipped row changed dx");
    fd_grad(ref_loss, &c, xd, n, ones, rows, grad);
    double *added = malloc((size_t)n * sizeof *added); /* what the op accumulated into dx */
    for (long i = 0; i < n; i++) added[i] = (double)dx[i] - dx0[i];
    double e = rel_err_dd(added, grad, n);
    CHECK(e <= TOL_F32, "dx accumulated vs finite differences %.3g", e);
    free(grad), free(xd), free(refd), free(x), free(dx), free(dx0), free(ref), free(added);
}

static void test_nll_loss(void) { check_loss(false); }
static void test_kl_loss(void) { check_loss(true); }

static void test_log_softmax(void) {
    int rows = 3, V = 11;
    long n = (long)rows * V;
    double *xd;
    float *x = rand_f(n, 5, &xd), *y = malloc((size_t)n * sizeof *y);
    for (int j = 0; j < V; j++) xd[V + j] = x[V + j] = (float)(1e4 + 10 * xd[V + j]); /* exp would overflow */
    be->log_softmax(x, y, rows, V);
    double *yd = malloc((size_t)n * sizeof *yd);
    for (int r = 0; r < rows; r++) {
        double m = -INFINITY, z = 0;
        for (int j = 0; j < V; j++) m = fmax(m, xd[r * V + j]);
        for (int j = 0; j < V; j++) z += exp(xd[r * V + j] - m);
        for (int j = 0; j < V; j++) yd[r * V + j] = xd[r * V + j] - m - log(z);
    }
    int finite = 1;
    for (long i = 0; i < n; i++) finite &= isfinite(y[i]);
    CHECK(finite, "non-finite output");
    CHECK(rel_err_fd(y, yd, n) <= TOL_F32, "log_softmax %.3g", rel_err_fd(y, yd, n));
    free(xd), free(x), free(y), free(yd);
}

/* ---------------------------------------------------------------- optimiser */

static void test_adam(void) {
    long n = 40;
    double *pd, md[40] = {0}, vd[40] = {0};
    float *p = rand_f(n, 1, &pd), m[40] = {0}, v[40] = {0};
    const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int t = 1; t <= 3; t++) {
        double *gd;
        float *g = rand_f(n, 1, &gd);
        be->adam_step(p, g, m, v, n, (float)lr, (float)b1, (float)b2, (float)eps, t);
        for (long i = 0; i < n; i++) { /* m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p −= lr·m̂/(√v̂ + ε) */
            md[i] = (double)(float)b1 * md[i] + (1 - (double)(float)b1) * gd[i];
            vd[i] = (double)(float)b2 * vd[i] + (1 - (double)(float)b2) * gd[i] * gd[i];
            double mh = md[i] / (1 - pow((float)b1, t)), vh = vd[i] / (1 - pow((float)b2, t));
            pd[i] -= (double)(float)lr * mh / (sqrt(vh) + (double)(float)eps);
        }
        free(g), free(gd);
    }
    /* the reference uses the same float-rounded hyper-parameters (1 − β is exact in float for β near 1),
     * so only the float32 state rounding differs: ~1e-7 relative after 3 steps (measured 5e-8) */
    CHECK(rel_err_fd(p, pd, n) <= 1e-6, "p %.3g", rel_err_fd(p, pd, n));
    CHECK(rel_err_fd(m, md, n) <= 1e-6, "m %.3g", rel_err_fd(m, md, n));
    CHECK(rel_err_fd(v, vd, n) <= 1e-6, "v %.3g", rel_err_fd(v, vd, n));
    free(p), free(pd);
}

/* ---------------------------------------------------------------- float64 linear algebra */

static void test_dgemm(void) {
    int M = 5, N = 7, K = 12;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
            long na = (long)(ta ? K : M) * lda, nb = (long)(tb ? N : K) * ldb, nc = (long)M * ldc;
            double *A = rand_d(na, 1), *B = rand_d(nb, 1), *C = rand_d(nc, 1), *Cr = malloc((size_t)nc * sizeof *Cr);
            memcpy(Cr, C, (size_t)nc * sizeof *C);
            be->dgemm(ta, tb, M, N, K, -0.4, A, lda, B, ldb, 1.5, C, ldc);
            ref_gemm(ta, tb, M, N, K, -0.4, A, lda, B, ldb, 1.5, Cr, ldc);
            CHECK(rel_err_dd(C, Cr, nc) <= 1e-13, "ta%d tb%d %.3g", ta, tb, rel_err_dd(C, Cr, nc));
            free(A), free(B), free(C), free(Cr);
        }
    /* K = 0 (empty A and B, leading dimensions 1): C = beta·C, exactly */
    double a = 0, *C = rand_d((long)M * N, 1), *Cr = malloc((size_t)M * N * sizeof *Cr);
    memcpy(Cr, C, (size_t)M * N * sizeof *C);
    be->dgemm(false, false, M, N, 0, -0.4, &a, 1, &a, 1, 1.5, C, N);
    ref_gemm(false, false, M, N, 0, -0.4, &a, 1, &a, 1, 1.5, Cr, N);
    CHECK(memcmp(C, Cr, (size_t)M * N * sizeof *C) == 0, "K = 0: C is not 1.5·C");
    free(C), free(Cr);
}

/* C (n×n in a row stride ldc, symmetric) += 0.3·A·Aᵀ: the whole of C against the double loop */
static void check_dsyrk(int n, int k, int lda, int ldc) {
    double *A = rand_d((long)n * lda, 1), *C = rand_d((long)n * ldc, 1), *Cr = malloc((size_t)n * ldc * sizeof *Cr);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) C[i * ldc + j] = C[j * ldc + i]; /* symmetric start */
    memcpy(Cr, C, (size_t)n * ldc * sizeof *C);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++) Cr[i * ldc + j] += 0.3 * A[i * lda + p] * A[j * lda + p];
    be->dsyrk_acc(n, k, 0.3, A, lda, C, ldc);
    CHECK(rel_err_dd(C, Cr, (long)n * ldc) <= 1e-13, "n%d k%d: %.3g", n, k, rel_err_dd(C, Cr, (long)n * ldc));
    int asym = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) asym += C[i * ldc + j] != C[j * ldc + i];
    CHECK(asym == 0, "n%d k%d: result not exactly symmetric (%d)", n, k, asym);
    free(A), free(C), free(Cr);
}

static void test_dsyrk(void) {
    check_dsyrk(6, 5, 7, 8);       /* padded strides */
    check_dsyrk(6, 0, 1, 8);       /* k = 0: C unchanged */
    check_dsyrk(120, 100, 100, 120); /* large enough for OpenBLAS threads; 100-term sums: ~1e-15 */
}

static void test_dger(void) {
    int sizes[2][2] = {{4, 6}, {200, 200}}; /* the second runs on threads */
    for (int s = 0; s < 2; s++) {
        int m = sizes[s][0], n = sizes[s][1], lda = n + 1;
        double *x = rand_d(m, 1), *y = rand_d(n, 1), *A = rand_d((long)m * lda, 1);
        double *Ar = malloc((size_t)m * lda * sizeof *Ar);
        memcpy(Ar, A, (size_t)m * lda * sizeof *A);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) Ar[i * lda + j] += -2.0 * x[i] * y[j];
        be->dger_acc(m, n, -2.0, x, y, A, lda);
        CHECK(rel_err_dd(A, Ar, (long)m * lda) <= 1e-15, "m%d n%d: %.3g", m, n, rel_err_dd(A, Ar, (long)m * lda));
        free(x), free(y), free(A), free(Ar);
    }
}

/* A = M·Mᵀ/n + I: SPD with eigenvalues in [1, ~5] */
static double *spd(int n) {
    double *M = rand_d((long)n * n, 1), *A = calloc((size_t)n * n, sizeof *A);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            for (int p = 0; p < n; p++) A[i * n + j] += M[i * n + p] * M[j * n + p] / n;
            A[i * n + j] += i == j;
        }
    free(M);
    return A;
}

/* L = potrf(A) reproduces A, X = potrs_right(B) solves X·A = B, for a well-conditioned SPD A (n×n) */
static void check_potrf_potrs(int n, int m) {
    double *A = spd(n), *L = malloc((size_t)n * n * sizeof *L), *LLt = calloc((size_t)n * n, sizeof *LLt);
    memcpy(L, A, (size_t)n * n * sizeof *L);
    int info = be->potrf(n, L);
    CHECK(info == 0, "n%d: SPD matrix rejected (%d)", n, info);
    int upper = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) upper += L[i * n + j] != 0;
    CHECK(upper == 0, "n%d: strict upper triangle not zeroed (%d)", n, upper);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int p = 0; p < n; p++) LLt[i * n + j] += L[i * n + p] * L[j * n + p];
    CHECK(rel_err_dd(LLt, A, (long)n * n) <= TOL_F64, "n%d: L·Lᵀ vs A %.3g", n, rel_err_dd(LLt, A, (long)n * n));

    double *B = rand_d((long)m * n, 1), *X = malloc((size_t)m * n * sizeof *X), *XA = calloc((size_t)m * n, sizeof *XA);
    memcpy(X, B, (size_t)m * n * sizeof *X);
    be->potrs_right(n, m, L, X); /* X = B·A⁻¹, so X·A = B */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            for (int p = 0; p < n; p++) XA[i * n + j] += X[i * n + p] * A[p * n + j];
    CHECK(rel_err_dd(XA, B, (long)m * n) <= TOL_F64, "n%d: X·A vs B %.3g", n, rel_err_dd(XA, B, (long)m * n));

    free(A), free(L), free(LLt), free(B), free(X), free(XA);
}

static void test_potrf_potrs(void) {
    check_potrf_potrs(50, 7);
    check_potrf_potrs(200, 30); /* large enough for OpenBLAS threads */
    double *N = spd(5);
    N[2 * 5 + 2] = -1; /* the leading 3×3 minor is not positive definite */
    int info = be->potrf(5, N);
    CHECK(info == 3, "non-PD matrix: order %d", info);
    free(N);
}

static void test_chol_update(void) {
    int n = 50;
    double *A = spd(n), *x = rand_d(n, 1), *L = malloc((size_t)n * n * sizeof *L);
    memcpy(L, A, (size_t)n * n * sizeof *L);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) A[i * n + j] += x[i] * x[j]; /* A + x·xᵀ */
    int info_l = be->potrf(n, L);
    be->chol_update(n, L, x);
    int info_a = be->potrf(n, A);
    CHECK(info_l == 0 && info_a == 0, "potrf %d, potrf of the update %d", info_l, info_a);
    double e = rel_err_dd(L, A, (long)n * n);
    CHECK(e <= TOL_F64, "chol_update vs potrf(A + x·xᵀ) %.3g", e);
    free(A), free(x), free(L);
}

int main(void) {
    be = backend_cpu();
    RUN(test_backend_by_name);
    RUN(test_memory);
    RUN(test_gemm_small);
    RUN(test_gemm_wide);
    RUN(test_gemm_tall);
    RUN(test_elementwise);
    RUN(test_elementwise_large);
    RUN(test_gather_scatter);
    RUN(test_clamp_box);
    RUN(test_reductions);
    RUN(test_conversions);
    RUN(test_layernorm);
    RUN(test_rmsnorm);
    RUN(test_gelu);
    RUN(test_silu_mul);
    RUN(test_rotary);
    RUN(test_attention);
    RUN(test_attention_parallel);
    RUN(test_nll_loss);
    RUN(test_kl_loss);
    RUN(test_log_softmax);
    RUN(test_adam);
    RUN(test_dgemm);
    RUN(test_dsyrk);
    RUN(test_dger);
    RUN(test_potrf_potrs);
    RUN(test_chol_update);
    return TEST_SUMMARY();
}
