/* Shared by the CUDA op files (C++, nvcc only): the library handles, grow-only scratch buffers, launch
 * sizes, warp-shuffle block reductions, and the declarations of the ops that kernels/backend_cuda.cu
 * puts in the backend table. Every op runs on the legacy default stream, so ops are ordered among
 * themselves and with the cudaMemcpy calls of the memory ops. */
#ifndef KEDIT_CUDA_COMMON_H
#define KEDIT_CUDA_COMMON_H

extern "C" {
#include "backend.h"
}
#include "cuda_check.h"
#include "kmath.h"

#include <stdint.h>

/* ---- handles (created by backend_cuda()) ---- */
cublasHandle_t cu_blas(void);
cusolverDnHandle_t cu_solver(void);
cusolverDnParams_t cu_solver_params(void);

/* ---- scratch: one grow-only device buffer per slot, valid until the next request for that slot; an op
 * asks for each slot at most once, and stream order keeps a later op from overwriting it too early ---- */
enum cu_scratch_slot { SCRATCH_GEMM, SCRATCH_ATTN, SCRATCH_PTRS, SCRATCH_REDUCE, SCRATCH_LINALG, SCRATCH_COUNT };
void *cu_scratch(cu_scratch_slot slot, size_t bytes);

/* ---- launch sizes ---- */
#define CU_THREADS 256
/* blocks for a grid-stride loop over n items with CU_THREADS threads each (enough to fill the device) */
unsigned cu_grid(int64_t n);

/* ---- block reductions: every thread passes its partial and gets the block's total; blockDim.x must be
 * a multiple of 32. Safe to call repeatedly in one kernel (each call starts with a barrier). ---- */
struct cu_sum {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct cu_max {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename T, typename Op> __device__ __forceinline__ T warp_reduce(T v, Op op) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <typename T, typename Op> __device__ T block_reduce(T v, Op op, T identity) {
    __shared__ T part[32]; /* one partial per warp */
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarp = blockDim.x >> 5;
    v = warp_reduce(v, op);
    __syncthreads(); /* part[] is free: readers of an earlier call are done */
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = warp_reduce(lane < nwarp ? part[lane] : identity, op);
        if (lane == 0) part[0] = v;
    }
    __syncthreads();
    return part[0];
}

template <typename T> __device__ __forceinline__ T block_sum(T v) { return block_reduce(v, cu_sum(), T(0)); }
__device__ __forceinline__ float block_max(float v) { return block_reduce(v, cu_max(), -INFINITY); }

/* C = beta·C over a rows × cols matrix of stride ldc (beta = 0 clears C, NaNs included, as BLAS does):
 * a product with K = 0, which cuBLAS is not asked to do (CPU twins: scale_c / the K = 0 branch of
 * cpu_dgemm) */
template <typename T> __global__ void scale_c_kernel(T *C, int rows, int cols, int ldc, T beta) {
    int64_t n = (int64_t)rows * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        T *c = C + (i / cols) * ldc + i % cols;
        *c = beta == T(0) ? T(0) : beta * *c;
    }
}

/* ---- the ops (meaning: host/backend.h; CPU twin: host/backend_cpu.c) ---- */
/* gemm.cu */
void cu_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda, const void *B,
             kweight_type b_type, int ldb, float beta, float *C, int ldc);
/* rows.cu */
void cu_add_bias(float *y, const float *b, int rows, int cols);
void cu_col_sum_acc(const float *x, int rows, int cols, float *y);
void cu_gather_rows(const float *src, int d, const int *idx, int n, float *dst);
void cu_scatter_add_rows(float *dst, int d, const int *idx, int n, const float *src);
void cu_scatter_rows(float *dst, int d, const int *idx, int n, const float *src);
/* elementwise.cu */
void cu_axpy(int64_t n, float a, const float *x, float *y);
void cu_scale(int64_t n, float a, float *x);
void cu_gelu_fwd(const float *x, float *y, int64_t n);
void cu_gelu_bwd(const float *x, const float *dy, float *dx, int64_t n);
void cu_silu_mul_fwd(const float *gate, const float *up, float *y, int64_t n);
void cu_silu_mul_bwd(const float *gate, const float *up, const float *dy, float *dgate, float *dup, int64_t n);
void cu_adam_step(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2, float eps,
                  int t);
void cu_clamp_box(float *x, const float *x0, float eps, int64_t n);
void cu_f32_to_f64(const float *x, double *y, int64_t n);
void cu_f64_to_f32(const double *x, float *y, int64_t n);
void cu_f64_axpy(int64_t n, double a, const double *x, double *y);
/* norm.cu */
void cu_layernorm_fwd(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd, int rows,
                      int d, float eps);
void cu_layernorm_bwd(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                      float *dx, int rows, int d);
void cu_rmsnorm_fwd(const float *x, const float *w, float *y, float *rstd, int rows, int d, float eps);
void cu_rmsnorm_bwd(const float *dy, const float *x, const float *w, const float *rstd, float *dx, int rows, int d);
/* rotary.cu */
void cu_rotary(float *x, const int *pos, int rows, int n_heads, int head_dim, int rot_dim, float theta,
               bool interleaved, bool inverse);
/* attention.cu */
void cu_attention_fwd(const float *q, const float *k, const float *v, float *out, float *probs, int B, int T, int nh,
                      int nkv, int hd, const int *len, float scale);
void cu_attention_bwd(const float *dout, const float *q, const float *k, const float *v, const float *probs,
                      float *dq, float *dk, float *dv, int B, int T, int nh, int nkv, int hd, const int *len,
                      float scale);
/* loss.cu */
void cu_nll_loss(const float *x, const int *y, const float *w, int rows, int V, float *loss, float *dx);
void cu_kl_loss(const float *x, const float *ref_logp, const float *w, int rows, int V, float *loss, float *dx);
void cu_log_softmax(const float *x, float *y, int rows, int V);
/* reduce.cu */
double cu_sum_abs(const float *x, int64_t n);
double cu_sum_sq(const float *x, int64_t n);
double cu_sum_abs_diff(const float *a, const float *b, int64_t n);
double cu_sum_sq_diff(const float *a, const float *b, int64_t n);
/* linalg.cu */
void cu_dgemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double *A, int lda,
              const double *B, int ldb, double beta, double *C, int ldc);
void cu_dsyrk_acc(int n, int k, double alpha, const double *A, int lda, double *C, int ldc);
void cu_dger_acc(int m, int n, double alpha, const double *x, const double *y, double *A, int lda);
int cu_potrf(int n, double *A);
void cu_potrs_right(int n, int m, const double *L, double *B);
void cu_chol_update(int n, double *L, double *x);

#endif
