/* The CPU backend: every op of backend.h on host memory. Dense products go to OpenBLAS (cblas), the
 * Cholesky factor and solve to LAPACKE, everything elementwise or per row is an OpenMP loop over the
 * shared per-element arithmetic of kmath.h. */
#include "backend.h"
#include "bf16.h"
#include "kmath.h"
#include "proc_memory.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* below this many elements a loop runs on one thread: the fork costs more than the work */
#define PAR_MIN 32768
/* columns per task in the column-parallel row reductions and scatters */
#define COL_CHUNK 64

/* ---------------------------------------------------------------- memory */

static void *cpu_alloc(size_t bytes) {
    void *p = calloc(bytes ? bytes : 1, 1);
    if (!p) {
        fprintf(stderr, "kedit: cpu backend: out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

static void cpu_free(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes) { if (bytes) memcpy(dst, src, bytes); }
static void cpu_zero(void *dst, size_t bytes) { if (bytes) memset(dst, 0, bytes); }
static void cpu_sync(void) {}

/* ---------------------------------------------------------------- threads */

/* All parallelism here is OpenMP's. OpenBLAS keeps to one thread, called from each OpenMP thread on its own
 * slice of the product: two thread pools (OpenMP's spinning while OpenBLAS's work) on the same cores made
 * alternating ops up to 4× slower. The large, rare float64 calls (dgemm, dsyrk, potrf, potrs) lend
 * OpenBLAS every thread for their duration instead. */
static void blas_threads(bool all) { openblas_set_num_threads(all ? omp_get_max_threads() : 1); }

/* [lo, hi) of part p of n items split into parts pieces, boundaries on multiples of align */
static void split_range(int n, int parts, int p, int align, int *lo, int *hi) {
    int units = (n + align - 1) / align;
    *lo = (int)((int64_t)units * p / parts) * align;
    *hi = (int)((int64_t)units * (p + 1) / parts) * align;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* ---------------------------------------------------------------- float32 dense */

/* products below this many multiply-adds run as one OpenBLAS call on the calling thread */
#define GEMM_PAR_MIN (1 << 20)
/* a thread widens bf16 weights this many elements at a time (4 MiB of float scratch) before sgemm */
#define BF16_BLOCK_ELEMS (1 << 20)

/* a per-thread scratch buffer of at least n floats, kept between calls */
static float *scratch_floats(size_t n) {
    static _Thread_local float *buf;
    static _Thread_local size_t cap;
    if (n > cap) {
        free(buf);
        buf = malloc(n * sizeof *buf);
        if (!buf) {
            fprintf(stderr, "kedit: cpu backend: out of memory allocating %zu bytes of gemm scratch\n",
                    n * sizeof *buf);
            exit(1);
        }
        cap = n;
    }
    return buf;
}

typedef struct gemm_args {
    bool trans_a, trans_b;
    int M, N, K;
    float alpha, beta;
    const float *A;
    const void *B;
    float *C;
    int lda, ldb, ldc;
} gemm_args;

/* rows [m0, m1) × columns [n0, n1) of C for float32 B: one single-threaded sgemm on the slices */
static void gemm_f32_tile(const gemm_args *g, int m0, int m1, int n0, int n1) {
    const float *A = g->trans_a ? g->A + m0 : g->A + (size_t)m0 * g->lda;
    const float *B = (const float *)g->B + (g->trans_b ? (size_t)n0 * g->ldb : (size_t)n0);
    cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans,
                m1 - m0, n1 - n0, g->K, g->alpha, A, g->lda, B, g->ldb, g->beta, g->C + (size_t)m0 * g->ldc + n0,
                g->ldc);
}

/* columns [n0, n1) of C for bf16 B, widened block by block into this thread's scratch. Transposed, B's
 * stored rows n0..n1 (each K wide) are C's columns: a block is some of them. Otherwise B's stored rows are
 * the K dimension: a block is a slice of K over columns n0..n1, accumulated with beta = 1 after the first. */
static void gemm_bf16_cols(const gemm_args *g, int n0, int n1) {
    const uint16_t *B = g->B;
    CBLAS_TRANSPOSE ta = g->trans_a ? CblasTrans : CblasNoTrans;
    int nc = n1 - n0, width = g->trans_b ? g->K : nc;     /* widened block: (rows, width) */
    int rows_total = g->trans_b ? nc : g->K;
    int block = BF16_BLOCK_ELEMS / width > 0 ? BF16_BLOCK_ELEMS / width : 1;
    if (block > rows_total) block = rows_total;
    float *Bf = scratch_floats((size_t)block * width);
    for (int r0 = 0; r0 < rows_total; r0 += block) {
        int nr = rows_total - r0 < block ? rows_total - r0 : block;
        for (int r = 0; r < nr; r++) {
            const uint16_t *src = g->trans_b ? B + (size_t)(n0 + r0 + r) * g->ldb : B + (size_t)(r0 + r) * g->ldb + n0;
            float *dst = Bf + (size_t)r * width;
            for (int c = 0; c < width; c++) dst[c] = bf16_to_f32(src[c]);
        }
        if (g->trans_b) /* C[:, n0+r0 : n0+r0+nr] = alpha·op(A)·Bfᵀ + beta·C */
            cblas_sgemm(CblasRowMajor, ta, CblasTrans, g->M, nr, g->K, g->alpha, g->A, g->lda, Bf, width, g->beta,
                        g->C + n0 + r0, g->ldc);
        else { /* C[:, n0:n1] += alpha·op(A)[:, r0 : r0+nr]·Bf */
            const float *A = g->trans_a ? g->A + (size_t)r0 * g->lda : g->A + r0;
            cblas_sgemm(CblasRowMajor, ta, CblasNoTrans, g->M, nc, nr, g->alpha, A, g->lda, Bf, width,
                        r0 == 0 ? g->beta : 1.0f, g->C + n0, g->ldc);
        }
    }
}

/* C = beta·C, the whole product when K = 0 (beta = 0 clears C, NaNs included, as BLAS does) */
static void scale_c(float *C, int M, int N, int ldc, float beta) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
}

/* Each thread computes a slice of C: columns for bf16 B (so each weight is widened once), otherwise
 * columns or rows, whichever dimension is longer. */
static void cpu_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                     const void *B, kweight_type b_type, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        scale_c(C, M, N, ldc, beta);
        return;
    }
    gemm_args g = {trans_a, trans_b, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc};
    bool by_cols = b_type == KT_BF16 || N >= M;
    int len = by_cols ? N : M, threads = omp_get_max_threads();
    if ((int64_t)M * N * K < GEMM_PAR_MIN || omp_in_parallel()) threads = 1;
    if (threads > len / 16) threads = len / 16 > 0 ? len / 16 : 1;
#pragma omp parallel num_threads(threads)
    {
        int lo, hi;
        split_range(len, omp_get_num_threads(), omp_get_thread_num(), 16, &lo, &hi);
        if (lo < hi) {
            if (b_type == KT_BF16) gemm_bf16_cols(&g, lo, hi);
            else if (by_cols) gemm_f32_tile(&g, 0, M, lo, hi);
            else gemm_f32_tile(&g, lo, hi, 0, N);
        }
    }
}

static void cpu_add_bias(float *y, const float *b, int rows, int cols) {
#pragma omp parallel for if ((int64_t)rows * cols >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * cols;
        for (int c = 0; c < cols; c++) yr[c] += b[c];
    }
}

static void cpu_axpy(int64_t n, float a, const float *x, float *y) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void cpu_scale(int64_t n, float a, float *x) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] *= a;
}

/* y[c] += Σ_r x[r,c], summed in double per column; parallel over blocks of columns */
static void cpu_col_sum_acc(const float *x, int rows, int cols, float *y) {
    int nchunk = (cols + COL_CHUNK - 1) / COL_CHUNK;
#pragma omp parallel for if ((int64_t)rows * cols >= PAR_MIN)
    for (int ch = 0; ch < nchunk; ch++) {
        int c0 = ch * COL_CHUNK, nc = cols - c0 < COL_CHUNK ? cols - c0 : COL_CHUNK;
        double acc[COL_CHUNK] = {0};
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * cols + c0;
            for (int c = 0; c < nc; c++) acc[c] += xr[c];
        }
        for (int c = 0; c < nc; c++) y[c0 + c] = (float)(y[c0 + c] + acc[c]);
    }
}

static void cpu_gather_rows(const float *src, int d, const int *idx, int n, float *dst) {
#pragma omp parallel for if ((int64_t)n * d >= PAR_MIN)
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * d, src + (size_t)idx[i] * d, (size_t)d * sizeof *dst);
}

/* dst[idx[i],:] (+)= src[i,:]: parallel over blocks of columns, sequential over i inside each block, so
 * repeated indices accumulate (or, without accumulate, the last one wins) in order, deterministically */
static void scatter_rows_by_columns(float *dst, int d, const int *idx, int n, const float *src, bool accumulate) {
    int nchunk = (d + COL_CHUNK - 1) / COL_CHUNK;
#pragma omp parallel for if ((int64_t)n * d >= PAR_MIN)
    for (int ch = 0; ch < nchunk; ch++) {
        int c0 = ch * COL_CHUNK, nc = d - c0 < COL_CHUNK ? d - c0 : COL_CHUNK;
        for (int i = 0; i < n; i++) {
            float *to = dst + (size_t)idx[i] * d + c0;
            const float *from = src + (size_t)i * d + c0;
            if (accumulate)
                for (int c = 0; c < nc; c++) to[c] += from[c];
            else
                memcpy(to, from, (size_t)nc * sizeof *to);
        }
    }
}

static void cpu_scatter_add_rows(float *dst, int d, const int *idx, int n, const float *src) {
    scatter_rows_by_columns(dst, d, idx, n, src, true);
}

static void cpu_scatter_rows(float *dst, int d, const int *idx, int n, const float *src) {
    scatter_rows_by_columns(dst, d, idx, n, src, false);
}

/* ---------------------------------------------------------------- normalisation */

static void cpu_layernorm_fwd(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                              int rows, int d, float eps) {
#pragma omp parallel for if ((int64_t)rows * d >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        double s = 0, ss = 0;
        for (int i = 0; i < d; i++) s += xr[i];
        double mu = s / d; /* μ = Σx/d, then σ² = Σ(x − μ)²/d (two passes) */
        for (int i = 0; i < d; i++) ss += (xr[i] - mu) * (xr[i] - mu);
        float m = (float)mu, rs = (float)(1.0 / sqrt(ss / d + eps));
        for (int i = 0; i < d; i++) yr[i] = km_layernorm(xr[i], m, rs, w[i], b[i]);
        mean[r] = m;
        rstd[r] = rs;
    }
}

/* dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙w, x̂ = (x − μ)·rstd */
static void cpu_layernorm_bwd(const float *dy, const float *x, const float *w, const float *mean,
                              const float *rstd, float *dx, int rows, int d) {
#pragma omp parallel for if ((int64_t)rows * d >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d, *dyr = dy + (size_t)r * d;
        float *dxr = dx + (size_t)r * d;
        float m = mean[r], rs = rstd[r];
        double sg = 0, sgx = 0;
        for (int i = 0; i < d; i++) {
            float g = dyr[i] * w[i];
            sg += g;
            sgx += (double)g * ((xr[i] - m) * rs);
        }
        float mg = (float)(sg / d), mgx = (float)(sgx / d);
        for (int i = 0; i < d; i++) dxr[i] = rs * (dyr[i] * w[i] - mg - (xr[i] - m) * rs * mgx);
    }
}

/* y = w ⊙ x·rstd, rstd = 1/√(mean(x²) + eps) */
static void cpu_rmsnorm_fwd(const float *x, const float *w, float *y, float *rstd, int rows, int d, float eps) {
#pragma omp parallel for if ((int64_t)rows * d >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)xr[i] * xr[i];
        float rs = (float)(1.0 / sqrt(ss / d + eps));
        for (int i = 0; i < d; i++) yr[i] = w[i] * (xr[i] * rs);
        rstd[r] = rs;
    }
}

/* dx = rstd·(g − x·rstd²·mean(g⊙x)), g = dy⊙w */
static void cpu_rmsnorm_bwd(const float *dy, const float *x, const float *w, const float *rstd, float *dx,
                            int rows, int d) {
#pragma omp parallel for if ((int64_t)rows * d >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d, *dyr = dy + (size_t)r * d;
        float *dxr = dx + (size_t)r * d;
        float rs = rstd[r];
        double sgx = 0;
        for (int i = 0; i < d; i++) sgx += (double)(dyr[i] * w[i]) * xr[i];
        float k = (float)(sgx / d) * rs * rs;
        for (int i = 0; i < d; i++) dxr[i] = rs * (dyr[i] * w[i] - xr[i] * k);
    }
}

/* ---------------------------------------------------------------- activations */

static void cpu_gelu_fwd(const float *x, float *y, int64_t n) {
#pragma omp parallel for if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = km_gelu(x[i]);
}

static void cpu_gelu_bwd(const float *x, const float *dy, float *dx, int64_t n) {
#pragma omp parallel for if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * km_gelu_grad(x[i]);
}

static void cpu_silu_mul_fwd(const float *gate, const float *up, float *y, int64_t n) {
#pragma omp parallel for if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = km_silu_mul(gate[i], up[i]);
}

static void cpu_silu_mul_bwd(const float *gate, const float *up, const float *dy, float *dgate, float *dup,
                             int64_t n) {
#pragma omp parallel for if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) km_silu_mul_grad(gate[i], up[i], dy[i], &dgate[i], &dup[i]);
}

/* ---------------------------------------------------------------- rotary */

static void cpu_rotary(float *x, const int *pos, int rows, int n_heads, int head_dim, int rot_dim, float theta,
                       bool interleaved, bool inverse) {
    int half = rot_dim / 2; /* a pair costs a powf, a cosf and a sinf: parallel from fewer elements */
#pragma omp parallel for if ((int64_t)rows * n_heads * half >= PAR_MIN / 4)
    for (int r = 0; r < rows; r++) {
        for (int h = 0; h < n_heads; h++) {
            float *xh = x + ((size_t)r * n_heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                float *a = interleaved ? xh + 2 * i : xh + i;     /* pair (2i, 2i+1) or (i, i + rot_dim/2) */
                float *b = interleaved ? xh + 2 * i + 1 : xh + i + half;
                km_rotate_pair(a, b, pos[r], i, rot_dim, theta, inverse);
            }
        }
    }
}

/* ---------------------------------------------------------------- attention */

static float dot_f32(const float *a, const float *b, int n) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_f32(int n, float a, const float *x, float *y) {
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* valid length of sequence b, clamped to [0, T] */
static int seq_len(const int *len, int b, int T) { return len[b] < 0 ? 0 : len[b] > T ? T : len[b]; }

/* one task per (sequence b, query head h): P[t, j≤t] = softmax_j(scale·q_t·k_j), out_t = Σ_j P[t,j]·v_j */
static void cpu_attention_fwd(const float *q, const float *k, const float *v, float *out, float *probs, int B,
                              int T, int nh, int nkv, int hd, const int *len, float scale) {
    int group = nh / nkv;                          /* query heads per kv head */
    size_t qs = (size_t)nh * hd, ks = (size_t)nkv * hd; /* row strides of q/out and k/v */
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)B * nh * T * T * hd >= PAR_MIN)
    for (int bh = 0; bh < B * nh; bh++) {
        int b = bh / nh, h = bh % nh, g = h / group, L = seq_len(len, b, T);
        const float *kb = k + (size_t)b * T * ks + (size_t)g * hd, *vb = v + (size_t)b * T * ks + (size_t)g * hd;
        float *P = probs + (size_t)bh * T * T; /* (T, T) of this (b, h) */
        for (int t = 0; t < T; t++) {
            float *prow = P + (size_t)t * T, *o = out + ((size_t)b * T + t) * qs + (size_t)h * hd;
            memset(o, 0, (size_t)hd * sizeof *o);
            if (t >= L) {
                memset(prow, 0, (size_t)T * sizeof *prow);
                continue;
            }
            const float *qt = q + ((size_t)b * T + t) * qs + (size_t)h * hd;
            float smax = -INFINITY;
            for (int j = 0; j <= t; j++) {
                prow[j] = scale * dot_f32(qt, kb + (size_t)j * ks, hd);
                if (prow[j] > smax) smax = prow[j];
            }
            double z = 0;
            for (int j = 0; j <= t; j++) {
                prow[j] = expf(prow[j] - smax);
                z += prow[j];
            }
            float inv_z = (float)(1.0 / z);
            for (int j = 0; j <= t; j++) {
                prow[j] *= inv_z;
                axpy_f32(hd, prow[j], vb + (size_t)j * ks, o);
            }
            memset(prow + t + 1, 0, (size_t)(T - t - 1) * sizeof *prow);
        }
    }
}

/* one task per (sequence b, kv head g), looping over the query heads that share it, so dk and dv of that
 * kv head are accumulated by one thread in a fixed order. With S = scale·QKᵀ, P = softmax(S):
 * dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = scale·dS·K, dK = scale·dSᵀ·Q. */
static void cpu_attention_bwd(const float *dout, const float *q, const float *k, const float *v,
                              const float *probs, float *dq, float *dk, float *dv, int B, int T, int nh, int nkv,
                              int hd, const int *len, float scale) {
    int group = nh / nkv;
    size_t qs = (size_t)nh * hd, ks = (size_t)nkv * hd;
#pragma omp parallel if ((int64_t)B * nh * T * T * hd >= PAR_MIN)
    {
        float *dS = malloc((size_t)(T > 0 ? T : 1) * sizeof *dS); /* (T) one row of dS */
        if (!dS) {
            fprintf(stderr, "kedit: cpu backend: out of memory in attention_bwd\n");
            exit(1);
        }
#pragma omp for schedule(dynamic, 1)
        for (int bg = 0; bg < B * nkv; bg++) {
            int b = bg / nkv, g = bg % nkv, L = seq_len(len, b, T);
            size_t kv_off = (size_t)b * T * ks + (size_t)g * hd;
            const float *kb = k + kv_off, *vb = v + kv_off;
            float *dkb = dk + kv_off, *dvb = dv + kv_off;
            for (int j = 0; j < T; j++) {
                memset(dkb + (size_t)j * ks, 0, (size_t)hd * sizeof *dkb);
                memset(dvb + (size_t)j * ks, 0, (size_t)hd * sizeof *dvb);
            }
            for (int h = g * group; h < (g + 1) * group; h++) {
                const float *P = probs + ((size_t)b * nh + h) * T * T;
                for (int t = 0; t < T; t++) {
                    size_t qrow = ((size_t)b * T + t) * qs + (size_t)h * hd;
                    float *dqt = dq + qrow;
                    memset(dqt, 0, (size_t)hd * sizeof *dqt);
                    if (t >= L) continue;
                    const float *prow = P + (size_t)t * T, *qt = q + qrow, *dOt = dout + qrow;
                    double pdp = 0; /* Σ_j P[t,j]·dP[t,j] */
                    for (int j = 0; j <= t; j++) {
                        dS[j] = dot_f32(dOt, vb + (size_t)j * ks, hd);
                        pdp += (double)prow[j] * dS[j];
                    }
                    for (int j = 0; j <= t; j++) {
                        float ds = prow[j] * (dS[j] - (float)pdp);
                        axpy_f32(hd, scale * ds, kb + (size_t)j * ks, dqt);
                        axpy_f32(hd, scale * ds, qt, dkb + (size_t)j * ks);
                        axpy_f32(hd, prow[j], dOt, dvb + (size_t)j * ks);
                    }
                }
            }
        }
        free(dS);
    }
}

/* ---------------------------------------------------------------- losses */

/* log Σ_j exp(x_j), stable (max subtracted), summed in double */
static double row_logsumexp(const float *x, int V) {
    float m = -INFINITY;
    for (int j = 0; j < V; j++)
        if (x[j] > m) m = x[j];
    double z = 0;
    for (int j = 0; j < V; j++) z += expf(x[j] - m);
    return m + log(z);
}

static void cpu_nll_loss(const float *x, const int *y, const float *w, int rows, int V, float *loss, float *dx) {
#pragma omp parallel for if ((int64_t)rows * V >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        loss[r] = 0;
        if (w[r] == 0) continue;
        const float *xr = x + (size_t)r * V;
        float *dxr = dx + (size_t)r * V;
        double lse = row_logsumexp(xr, V);
        loss[r] = (float)(w[r] * (lse - xr[y[r]])); /* w·(−log softmax(x)[y]) */
        for (int j = 0; j < V; j++) dxr[j] += w[r] * expf((float)(xr[j] - lse));
        dxr[y[r]] -= w[r];
    }
}

static void cpu_kl_loss(const float *x, const float *ref_logp, const float *w, int rows, int V, float *loss,
                        float *dx) {
#pragma omp parallel for if ((int64_t)rows * V >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        loss[r] = 0;
        if (w[r] == 0) continue;
        const float *xr = x + (size_t)r * V, *ref = ref_logp + (size_t)r * V;
        float *dxr = dx + (size_t)r * V;
        double lse = row_logsumexp(xr, V), kl = 0;
        for (int j = 0; j < V; j++) { /* KL = Σ p (log p − ref) */
            double logp = xr[j] - lse;
            kl += exp(logp) * (logp - ref[j]);
        }
        loss[r] = (float)(w[r] * kl);
        for (int j = 0; j < V; j++) { /* dx += w·p ⊙ (log p − ref − KL) */
            double logp = xr[j] - lse;
            dxr[j] += (float)(w[r] * exp(logp) * (logp - ref[j] - kl));
        }
    }
}

static void cpu_log_softmax(const float *x, float *y, int rows, int V) {
#pragma omp parallel for if ((int64_t)rows * V >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * V;
        float *yr = y + (size_t)r * V;
        double lse = row_logsumexp(xr, V);
        for (int j = 0; j < V; j++) yr[j] = (float)(xr[j] - lse);
    }
}

/* ---------------------------------------------------------------- reductions (float64 accumulators) */

static double cpu_sum_abs(const float *x, int64_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) s += fabs((double)x[i]);
    return s;
}

static double cpu_sum_sq(const float *x, int64_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

static double cpu_sum_abs_diff(const float *a, const float *b, int64_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) s += fabs((double)a[i] - b[i]);
    return s;
}

static double cpu_sum_sq_diff(const float *a, const float *b, int64_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        s += e * e;
    }
    return s;
}

/* ---------------------------------------------------------------- optimiser */

static void cpu_adam_step(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                          float eps, int t) {
    float c1 = (float)(1.0 - pow(b1, t)), c2 = (float)(1.0 - pow(b2, t)); /* bias corrections 1 − βᵗ */
#pragma omp parallel for if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) p[i] = km_adam(p[i], g[i], &m[i], &v[i], lr, b1, b2, eps, c1, c2);
}

static void cpu_clamp_box(float *x, const float *x0, float eps, int64_t n) {
#pragma omp parallel for if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float lo = x0[i] - eps, hi = x0[i] + eps;
        x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
    }
}

/* ---------------------------------------------------------------- float64 linear algebra */

static void cpu_f32_to_f64(const float *x, double *y, int64_t n) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i];
}

static void cpu_f64_to_f32(const double *x, float *y, int64_t n) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = (float)x[i];
}

static void cpu_f64_axpy(int64_t n, double a, const double *x, double *y) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void cpu_dgemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double *A, int lda,
                      const double *B, int ldb, double beta, double *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta·C (cblas would reject the leading dimensions of empty A, B) */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
        return;
    }
    blas_threads((int64_t)M * N * K >= GEMM_PAR_MIN);
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
    blas_threads(false);
}

/* C += alpha·A·Aᵀ on the lower triangle by dsyrk, then mirrored so C stays fully symmetric */
static void cpu_dsyrk_acc(int n, int k, double alpha, const double *A, int lda, double *C, int ldc) {
    if (n <= 0 || k <= 0) return; /* nothing to add */
    blas_threads((int64_t)n * n * k >= GEMM_PAR_MIN);
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, n, k, alpha, A, lda, 1.0, C, ldc);
    blas_threads(false);
#pragma omp parallel for schedule(dynamic, 16) if ((int64_t)n * n >= PAR_MIN)
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) C[(size_t)i * ldc + j] = C[(size_t)j * ldc + i];
}

static void cpu_dger_acc(int m, int n, double alpha, const double *x, const double *y, double *A, int lda) {
#pragma omp parallel for if ((int64_t)m * n >= PAR_MIN)
    for (int i = 0; i < m; i++) {
        double *Ai = A + (size_t)i * lda, ax = alpha * x[i];
#pragma omp simd
        for (int j = 0; j < n; j++) Ai[j] += ax * y[j];
    }
}

/* A row-major with L wanted in its lower triangle is, read column-major, Aᵀ = A with U = Lᵀ wanted in the
 * upper triangle: one column-major 'U' factorisation, no transposed copies. */
static int cpu_potrf(int n, double *A) {
    if (n <= 0) return 0;
    blas_threads((int64_t)n * n * n >= GEMM_PAR_MIN);
    int info = (int)LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', n, A, n);
    blas_threads(false);
#pragma omp parallel for if ((int64_t)n * n >= PAR_MIN)
    for (int i = 0; i < n; i++) memset(A + (size_t)i * n + i + 1, 0, (size_t)(n - 1 - i) * sizeof *A);
    return info;
}

/* B (m×n row-major) is Bᵀ (n×m) column-major; solving A·X = Bᵀ gives X = A⁻¹Bᵀ, which read back row-major is
 * B·A⁻ᵀ = B·A⁻¹. The row-major lower factor L is the column-major upper factor U = Lᵀ. */
static void cpu_potrs_right(int n, int m, const double *L, double *B) {
    if (n <= 0 || m <= 0) return;
    blas_threads((int64_t)n * n * m >= GEMM_PAR_MIN);
    lapack_int info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'U', n, m, L, n, B, n);
    blas_threads(false);
    if (info != 0) {
        fprintf(stderr, "kedit: cpu backend: dpotrs rejected argument %d (n %d, m %d)\n", (int)-info, n, m);
        exit(1);
    }
}

/* L ← chol(L·Lᵀ + x·xᵀ). Column j's pivot (c_j, s_j) depends only on columns < j, and every element of
 * row i sees columns k = 0..i−1 in order, so sweeping row by row (contiguous in row-major storage) applies
 * exactly the column-by-column sequence of km_cholup_apply steps to each L_ik and x_i. */
static void cpu_chol_update(int n, double *L, double *x) {
    if (n <= 0) return;
    double *cs = malloc((size_t)2 * n * sizeof *cs); /* (n, 2): (c_j, s_j) of each pivot */
    if (!cs) {
        fprintf(stderr, "kedit: cpu backend: out of memory in chol_update (n %d)\n", n);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        double *li = L + (size_t)i * n;
        for (int k = 0; k < i; k++) km_cholup_apply(&li[k], &x[i], cs[2 * k], cs[2 * k + 1]);
        li[i] = km_cholup_pivot(li[i], x[i], &cs[2 * i], &cs[2 * i + 1]);
    }
    free(cs);
}

/* ---------------------------------------------------------------- the table */

static const backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_copy,
    .to_host = cpu_copy,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .sync = cpu_sync,
    .mem_available = proc_mem_available,
    .gemm = cpu_gemm,
    .add_bias = cpu_add_bias,
    .axpy = cpu_axpy,
    .scale = cpu_scale,
    .col_sum_acc = cpu_col_sum_acc,
    .gather_rows = cpu_gather_rows,
    .scatter_add_rows = cpu_scatter_add_rows,
    .scatter_rows = cpu_scatter_rows,
    .layernorm_fwd = cpu_layernorm_fwd,
    .layernorm_bwd = cpu_layernorm_bwd,
    .rmsnorm_fwd = cpu_rmsnorm_fwd,
    .rmsnorm_bwd = cpu_rmsnorm_bwd,
    .gelu_fwd = cpu_gelu_fwd,
    .gelu_bwd = cpu_gelu_bwd,
    .silu_mul_fwd = cpu_silu_mul_fwd,
    .silu_mul_bwd = cpu_silu_mul_bwd,
    .rotary = cpu_rotary,
    .attention_fwd = cpu_attention_fwd,
    .attention_bwd = cpu_attention_bwd,
    .nll_loss = cpu_nll_loss,
    .kl_loss = cpu_kl_loss,
    .log_softmax = cpu_log_softmax,
    .sum_abs = cpu_sum_abs,
    .sum_sq = cpu_sum_sq,
    .sum_abs_diff = cpu_sum_abs_diff,
    .sum_sq_diff = cpu_sum_sq_diff,
    .adam_step = cpu_adam_step,
    .clamp_box = cpu_clamp_box,
    .f32_to_f64 = cpu_f32_to_f64,
    .f64_to_f32 = cpu_f64_to_f32,
    .f64_axpy = cpu_f64_axpy,
    .dgemm = cpu_dgemm,
    .dsyrk_acc = cpu_dsyrk_acc,
    .dger_acc = cpu_dger_acc,
    .potrf = cpu_potrf,
    .potrs_right = cpu_potrs_right,
    .chol_update = cpu_chol_update,
};

const backend *backend_cpu(void) {
    blas_threads(false);
    return &cpu_backend;
}
