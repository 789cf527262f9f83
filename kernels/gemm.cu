/* C = alpha·op(A)·op(B) + beta·C on cuBLAS (CPU twin: cpu_gemm). Row-major C (M×N) is column-major Cᵀ,
 * and Cᵀ = op(B)ᵀ·op(A)ᵀ: one column-major call with the operands swapped and no copies.
 *
 * bf16 B (weights): cuBLAS has no float32 × bf16 product, and rounding A to bf16 would cost ~3e-3
 * relative error where the CPU twin (B widened exactly, sgemm) has ~1e-7. So A is split in two bf16
 * parts, A = A_hi + A_lo (A_hi = bf16(A), A_lo = bf16(A − A_hi), |A − A_hi − A_lo| ≤ 2⁻¹⁸|A|), and
 * C = alpha·A_hi·B + beta·C, then C += alpha·A_lo·B: two bf16 tensor-core GEMMs with float32
 * accumulation (bf16 products are exact in float32), reading B as bf16. */
#include "cuda_common.h"

#include <cuda_bf16.h>

static cublasOperation_t op_of(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* hi[i] = bf16(a), lo[i] = bf16(a − hi) for the rows × cols matrix A (stride lda) into compact rows × cols */
__global__ void split_bf16_kernel(const float *A, int lda, int rows, int cols, __nv_bfloat16 *hi, __nv_bfloat16 *lo) {
    int64_t n = (int64_t)rows * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / cols, c = i % cols;
        float a = A[r * lda + c];
        __nv_bfloat16 h = __float2bfloat16_rn(a);
        if (isinf(__bfloat162float(h)) && isfinite(a)) h = __float2bfloat16_rz(a); /* |a| near FLT_MAX: stay finite */
        float hf = __bfloat162float(h);
        hi[i] = h;
        lo[i] = __float2bfloat16_rn(isfinite(hf) ? a - hf : 0.0f); /* ±inf and NaN pass through hi alone */
    }
}

static void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                      const void *B, int ldb, float beta, float *C, int ldc) {
    int rows = trans_a ? K : M, cols = trans_a ? M : K; /* A as stored: rows × cols, stride lda */
    size_t n = (size_t)rows * cols;
    __nv_bfloat16 *hi = (__nv_bfloat16 *)cu_scratch(SCRATCH_GEMM, 2 * n * sizeof(__nv_bfloat16)); /* (2, rows, cols) */
    __nv_bfloat16 *lo = hi + n;
    split_bf16_kernel<<<cu_grid((int64_t)n), CU_THREADS>>>(A, lda, rows, cols, hi, lo);
    KERNEL_CHECK();
    const float one = 1.0f;
    CUBLAS_CHECK(cublasGemmEx(cu_blas(), op_of(trans_b), op_of(trans_a), N, M, K, &alpha, B, CUDA_R_16BF, ldb, hi,
                              CUDA_R_16BF, cols, &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CUBLAS_CHECK(cublasGemmEx(cu_blas(), op_of(trans_b), op_of(trans_a), N, M, K, &alpha, B, CUDA_R_16BF, ldb, lo,
                              CUDA_R_16BF, cols, &one, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void cu_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda, const void *B,
             kweight_type b_type, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta·C, B never read */
        scale_c_kernel<float><<<cu_grid((int64_t)M * N), CU_THREADS>>>(C, M, N, ldc, beta);
        KERNEL_CHECK();
        return;
    }
    if (b_type == KT_BF16) {
        gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* float32 B: Cᵀ = op(B)ᵀ·op(A)ᵀ */
    CUBLAS_CHECK(cublasSgemm(cu_blas(), op_of(trans_b), op_of(trans_a), N, M, K, &alpha, (const float *)B, ldb, A,
                             lda, &beta, C, ldc));
}
