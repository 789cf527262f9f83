/* The backend boundary: every numeric op the transformer, the editing methods and the evaluation need.
 * The model code calls only these; host/backend_cpu.c (OpenBLAS, LAPACKE, OpenMP) and kernels/ (CUDA,
 * cuBLAS, cuSOLVER) implement them. All pointers passed to an op are device pointers of that backend
 * (on the CPU backend: plain host memory). Matrices are row-major unless stated otherwise. Ops that
 * write an output overwrite it unless their name says accumulate ("acc", "add"). */
#ifndef KEDIT_BACKEND_H
#define KEDIT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { KT_F32 = 0, KT_BF16 = 1 } kweight_type;

typedef struct backend {
    const char *name; /* "cpu" or "cuda" */

    /* ---- memory ---- */
    void *(*alloc)(size_t bytes);                                  /* zero-filled; exits with a clear error */
    void (*free)(void *p);
    void (*to_device)(void *dst, const void *host_src, size_t bytes);
    void (*to_host)(void *host_dst, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);        /* device to device */
    void (*zero)(void *dst, size_t bytes);
    void (*sync)(void);
    size_t (*mem_available)(void); /* bytes it can still allocate (CPU: MemAvailable; CUDA: the device's free
                                    * memory); 0 if unknown */

    /* ---- float32 dense ---- */
    /* C = alpha·op(A)·op(B) + beta·C; op(A) is M×K, op(B) is K×N. B may be bf16 (weights); leading
     * dimensions count elements whatever the type. */
    void (*gemm)(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                 const void *B, kweight_type b_type, int ldb, float beta, float *C, int ldc);
    void (*add_bias)(float *y, const float *b, int rows, int cols);        /* y[r,c] += b[c] */
    void (*axpy)(int64_t n, float a, const float *x, float *y);             /* y += a·x */
    void (*scale)(int64_t n, float a, float *x);                           /* x *= a */
    void (*col_sum_acc)(const float *x, int rows, int cols, float *y);     /* y[c] += Σ_r x[r,c] */
    /* dst[i,:] = src[idx[i],:] for i < n (rows of width d); idx is a device int array */
    void (*gather_rows)(const float *src, int d, const int *idx, int n, float *dst);
    /* dst[idx[i],:] += src[i,:] (idx may repeat: accumulated in order) */
    void (*scatter_add_rows)(float *dst, int d, const int *idx, int n, const float *src);
    /* dst[idx[i],:] = src[i,:] */
    void (*scatter_rows)(float *dst, int d, const int *idx, int n, const float *src);

    /* ---- normalisation (per row of width d), saving the statistics the backward needs ---- */
    void (*layernorm_fwd)(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                          int rows, int d, float eps);
    void (*layernorm_bwd)(const float *dy, const float *x, const float *w, const float *mean,
                          const float *rstd, float *dx, int rows, int d);
    void (*rmsnorm_fwd)(const float *x, const float *w, float *y, float *rstd, int rows, int d, float eps);
    void (*rmsnorm_bwd)(const float *dy, const float *x, const float *w, const float *rstd, float *dx,
                        int rows, int d);

    /* ---- activations ---- */
    void (*gelu_fwd)(const float *x, float *y, int64_t n);                 /* GPT-2's tanh "gelu_new" */
    void (*gelu_bwd)(const float *x, const float *dy, float *dx, int64_t n);
    void (*silu_mul_fwd)(const float *gate, const float *up, float *y, int64_t n); /* y = silu(g)·u */
    void (*silu_mul_bwd)(const float *gate, const float *up, const float *dy, float *dgate, float *dup,
                         int64_t n);

    /* ---- rotary position embedding, in place on rows × (n_heads·head_dim) ----
     * the first rot_dim dims of each head rotate by angle pos·theta^(−2i/rot_dim); interleaved pairs
     * (2i, 2i+1) as GPT-J, or halves (i, i + rot_dim/2) as Llama; inverse rotates back (the backward). */
    void (*rotary)(float *x, const int *pos, int rows, int n_heads, int head_dim, int rot_dim, float theta,
                   bool interleaved, bool inverse);

    /* ---- causal attention with right padding and grouped-query heads ----
     * q: (B·T, nh·hd), k, v: (B·T, nkv·hd), out: (B·T, nh·hd), probs: (B, nh, T, T) saved for the
     * backward. Query t of sequence b attends to keys j ≤ t; rows t ≥ len[b] (padding) give zeros.
     * len is a device int array of B entries. nh is a multiple of nkv; query head h reads kv head
     * h / (nh / nkv). Padding rows of q, k, v (and dout) may hold anything finite: no output depends
     * on them (the GPU multiplies them by exact zeros, so they must not be ±inf or NaN). */
    void (*attention_fwd)(const float *q, const float *k, const float *v, float *out, float *probs, int B,
                          int T, int nh, int nkv, int hd, const int *len, float scale);
    void (*attention_bwd)(const float *dout, const float *q, const float *k, const float *v,
                          const float *probs, float *dq, float *dk, float *dv, int B, int T, int nh, int nkv,
                          int hd, const int *len, float scale);

    /* ---- losses on logit rows (rows × V) ----
     * NLL: loss[r] = w[r]·(−log softmax(x_r)[y_r]); dx_r += w[r]·(softmax(x_r) − onehot(y_r)).
     * KL:  loss[r] = w[r]·Σ p (log p − ref_r), p = softmax(x_r), ref_r a log-distribution;
     *      dx_r += w[r]·p ⊙ (log p − ref_r − KL_r).  loss is a device array of rows floats. */
    void (*nll_loss)(const float *x, const int *y, const float *w, int rows, int V, float *loss, float *dx);
    void (*kl_loss)(const float *x, const float *ref_logp, const float *w, int rows, int V, float *loss,
                    float *dx);
    void (*log_softmax)(const float *x, float *y, int rows, int V);

    /* ---- reductions (result returned to the host, accumulated in float64) ---- */
    double (*sum_abs)(const float *x, int64_t n);
    double (*sum_sq)(const float *x, int64_t n);
    double (*sum_abs_diff)(const float *a, const float *b, int64_t n);   /* Σ |a − b| */
    double (*sum_sq_diff)(const float *a, const float *b, int64_t n);    /* Σ (a − b)² */

    /* ---- optimiser ---- */
    /* Adam (β₁, β₂, ε; bias-corrected at step t ≥ 1), no weight decay */
    void (*adam_step)(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                      float eps, int t);
    /* x = clamp(x, lo, hi) elementwise around reference: x ∈ [x0 − eps, x0 + eps] (FT-L's box) */
    void (*clamp_box)(float *x, const float *x0, float eps, int64_t n);

    /* ---- float64 linear algebra (the updates) ---- */
    void (*f32_to_f64)(const float *x, double *y, int64_t n);
    void (*f64_to_f32)(const double *x, float *y, int64_t n);
    void (*f64_axpy)(int64_t n, double a, const double *x, double *y);
    /* C = alpha·op(A)·op(B) + beta·C in float64 */
    void (*dgemm)(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double *A, int lda,
                  const double *B, int ldb, double beta, double *C, int ldc);
    /* C (n×n, full symmetric) += alpha·A·Aᵀ, A: n×k row-major */
    void (*dsyrk_acc)(int n, int k, double alpha, const double *A, int lda, double *C, int ldc);
    /* A (m×n) += alpha·x·yᵀ */
    void (*dger_acc)(int m, int n, double alpha, const double *x, const double *y, double *A, int lda);
    /* Cholesky A = L·Lᵀ in place (A symmetric positive definite, n×n); L in the lower triangle, the
     * strict upper triangle is zeroed. Returns 0, or the order of the leading minor that is not PD. */
    int (*potrf)(int n, double *A);
    /* B ← B·A⁻¹ for B (m×n) row-major, given the factor L of A from potrf (A symmetric, so this also
     * solves A·xᵢ = bᵢ for every row bᵢ of B). */
    void (*potrs_right)(int n, int m, const double *L, double *B);
    /* L ← chol(L·Lᵀ + x·xᵀ) (rank-1 update, O(n²)); x is used as scratch and destroyed */
    void (*chol_update)(int n, double *L, double *x);
} backend;

const backend *backend_cpu(void);
#ifdef KEDIT_CUDA
const backend *backend_cuda(void);
#endif
#endif
