/* Float64 linear algebra of the updates (CPU twins: cpu_dgemm, cpu_dsyrk_acc, cpu_dger_acc, cpu_potrf,
 * cpu_potrs_right, cpu_chol_update) on cuBLAS and cuSOLVER. A row-major matrix read column-major is its
 * transpose, so every call works on the same buffer with no copies: row-major lower = column-major upper.
 * chol_update is our own kernel pair, sweeping panels of PANEL columns. */
#include "cuda_common.h"

void cu_dgemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double *A, int lda,
              const double *B, int ldb, double beta, double *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta·C */
        scale_c_kernel<double><<<cu_grid((int64_t)M * N), CU_THREADS>>>(C, M, N, ldc, beta);
        KERNEL_CHECK();
        return;
    }
    /* row-major C is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ */
    CUBLAS_CHECK(cublasDgemm(cu_blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M,
                             K, &alpha, B, ldb, A, lda, &beta, C, ldc));
}

/* C[i][j] = C[j][i] for j > i (row-major): each block copies one 32×32 tile of the lower triangle to its
 * mirror in the upper through shared memory, so reads and writes are both coalesced */
__global__ void mirror_lower_kernel(double *C, int n, int ldc) {
    __shared__ double tile[32][33];
    int ti = blockIdx.y, tj = blockIdx.x; /* destination tile (rows ti·32.., columns tj·32..) */
    if (tj < ti) return;
    for (int y = threadIdx.y; y < 32; y += blockDim.y) { /* source tile: rows tj·32.., columns ti·32.. */
        int r = tj * 32 + y, c = ti * 32 + threadIdx.x;
        if (r < n && c < n) tile[y][threadIdx.x] = C[(size_t)r * ldc + c];
    }
    __syncthreads();
    for (int y = threadIdx.y; y < 32; y += blockDim.y) {
        int i = ti * 32 + y, j = tj * 32 + threadIdx.x;
        if (j > i && i < n && j < n) C[(size_t)i * ldc + j] = tile[threadIdx.x][y];
    }
}

/* C += alpha·A·Aᵀ: row-major lower is column-major upper, and A (n×k row-major) is column-major Aᵀ, so
 * dsyrk 'U' with op T writes C's row-major lower triangle; the mirror then keeps C fully symmetric */
void cu_dsyrk_acc(int n, int k, double alpha, const double *A, int lda, double *C, int ldc) {
    if (n <= 0 || k <= 0) return; /* nothing to add */
    const double one = 1.0;
    CUBLAS_CHECK(cublasDsyrk(cu_blas(), CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, n, k, &alpha, A, lda, &one, C, ldc));
    int tiles = (n + 31) / 32;
    mirror_lower_kernel<<<dim3(tiles, tiles), dim3(32, 8)>>>(C, n, ldc);
    KERNEL_CHECK();
}

/* A (m×n row-major) += alpha·x·yᵀ is, column-major, Aᵀ (n×m) += alpha·y·xᵀ */
void cu_dger_acc(int m, int n, double alpha, const double *x, const double *y, double *A, int lda) {
    if (m <= 0 || n <= 0) return;
    CUBLAS_CHECK(cublasDger(cu_blas(), n, m, &alpha, y, 1, x, 1, A, lda));
}

/* A[i][j] = 0 for j > i (row-major): a block per row */
__global__ void zero_strict_upper_kernel(double *A, int n) {
    for (int i = blockIdx.x; i < n; i += gridDim.x)
        for (int j = i + 1 + threadIdx.x; j < n; j += blockDim.x) A[(size_t)i * n + j] = 0.0;
}

#define INFO_BYTES 256 /* the device info word, padded so the workspace after it stays aligned */

/* row-major A with L wanted in its lower triangle is, column-major, A with U = Lᵀ wanted in the upper */
int cu_potrf(int n, double *A) {
    if (n <= 0) return 0;
    size_t dev_bytes = 0, host_bytes = 0;
    CUSOLVER_CHECK(cusolverDnXpotrf_bufferSize(cu_solver(), cu_solver_params(), CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F,
                                               A, n, CUDA_R_64F, &dev_bytes, &host_bytes));
    char *ws = (char *)cu_scratch(SCRATCH_LINALG, INFO_BYTES + dev_bytes); /* info, then the workspace */
    void *host_ws = NULL;
    if (host_bytes && !(host_ws = malloc(host_bytes))) {
        fprintf(stderr, "kedit: cuda backend: out of host memory for the potrf workspace (%zu bytes)\n", host_bytes);
        exit(1);
    }
    CUSOLVER_CHECK(cusolverDnXpotrf(cu_solver(), cu_solver_params(), CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F, A, n,
                                    CUDA_R_64F, ws + INFO_BYTES, dev_bytes, host_ws, host_bytes, (int *)ws));
    zero_strict_upper_kernel<<<cu_grid((int64_t)n * CU_THREADS), CU_THREADS>>>(A, n);
    KERNEL_CHECK();
    int info = 0;
    CUDA_CHECK(cudaMemcpy(&info, ws, sizeof info, cudaMemcpyDeviceToHost)); /* also waits for the factorisation */
    free(host_ws);
    return info;
}

/* B (m×n row-major) is Bᵀ (n×m) column-major: solving A·X = Bᵀ with the column-major upper factor U = Lᵀ
 * gives X = A⁻¹Bᵀ, which read back row-major is B·A⁻¹ */
void cu_potrs_right(int n, int m, const double *L, double *B) {
    if (n <= 0 || m <= 0) return;
    int *info_d = (int *)cu_scratch(SCRATCH_LINALG, sizeof(int));
    CUSOLVER_CHECK(cusolverDnXpotrs(cu_solver(), cu_solver_params(), CUBLAS_FILL_MODE_UPPER, n, m, CUDA_R_64F, L, n,
                                    CUDA_R_64F, B, n, info_d));
    int info = 0;
    CUDA_CHECK(cudaMemcpy(&info, info_d, sizeof info, cudaMemcpyDeviceToHost));
    if (info != 0) {
        fprintf(stderr, "kedit: cuda backend: potrs rejected argument %d (n %d, m %d)\n", -info, n, m);
        exit(1);
    }
}

/* ---- rank-1 Cholesky update L ← chol(L·Lᵀ + x·xᵀ) ----
 * Column j's rotation (c_j, s_j) = km_cholup_pivot(L_jj, x_j) needs L_jj and x_j after columns < j, and
 * every L_ij (i > j) then takes km_cholup_apply(L_ij, x_i, c_j, s_j) in order j = 0, 1, ... (the CPU
 * sweeps row by row, the same sequence per element). Per panel of PANEL columns j0..j0+pn−1:
 * cholup_pivots_kernel (one block) runs the sequence on the panel's diagonal triangle and stores the pn
 * rotations; cholup_apply_kernel then applies them, in order, to every row below the panel, a thread per
 * row on a tile staged through shared memory (row segments of pn doubles read and written coalesced). */
#define PANEL 32
#define APPLY_ROWS 64

__global__ void cholup_pivots_kernel(double *L, double *x, int n, int j0, int pn, double *cs) {
    __shared__ double D[PANEL][PANEL + 1]; /* the panel's diagonal triangle, row t = row j0 + t of L */
    __shared__ double xp[PANEL], c[PANEL], s[PANEL];
    int t = threadIdx.x;
    if (t < pn) {
        for (int k = 0; k <= t; k++) D[t][k] = L[(size_t)(j0 + t) * n + j0 + k];
        xp[t] = x[j0 + t];
    }
    __syncthreads();
    for (int k = 0; k < pn; k++) {
        if (t == k) D[k][k] = km_cholup_pivot(D[k][k], xp[k], &c[k], &s[k]);
        __syncthreads();
        if (t > k && t < pn) km_cholup_apply(&D[t][k], &xp[t], c[k], s[k]);
        __syncthreads();
    }
    if (t < pn) {
        for (int k = 0; k <= t; k++) L[(size_t)(j0 + t) * n + j0 + k] = D[t][k];
        x[j0 + t] = xp[t];
        cs[2 * t] = c[t];
        cs[2 * t + 1] = s[t];
    }
}

__global__ void cholup_apply_kernel(double *L, double *x, int n, int j0, int pn, const double *cs) {
    __shared__ double tile[APPLY_ROWS][PANEL + 1]; /* L[i0 + r][j0 + k] */
    __shared__ double c[PANEL], s[PANEL];
    int i0 = j0 + pn + blockIdx.x * APPLY_ROWS, nr = min(APPLY_ROWS, n - i0), r = threadIdx.x;
    if (r < pn) {
        c[r] = cs[2 * r];
        s[r] = cs[2 * r + 1];
    }
    for (int e = threadIdx.x; e < nr * pn; e += blockDim.x)
        tile[e / pn][e % pn] = L[(size_t)(i0 + e / pn) * n + j0 + e % pn];
    __syncthreads();
    if (r < nr) {
        double xi = x[i0 + r];
        for (int k = 0; k < pn; k++) km_cholup_apply(&tile[r][k], &xi, c[k], s[k]);
        x[i0 + r] = xi;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < nr * pn; e += blockDim.x)
        L[(size_t)(i0 + e / pn) * n + j0 + e % pn] = tile[e / pn][e % pn];
}

void cu_chol_update(int n, double *L, double *x) {
    if (n <= 0) return;
    double *cs = (double *)cu_scratch(SCRATCH_LINALG, 2 * PANEL * sizeof(double)); /* (PANEL, 2): (c_j, s_j) */
    for (int j0 = 0; j0 < n; j0 += PANEL) {
        int pn = min(PANEL, n - j0), below = n - j0 - pn;
        cholup_pivots_kernel<<<1, PANEL>>>(L, x, n, j0, pn, cs);
        KERNEL_CHECK();
        if (below > 0) {
            cholup_apply_kernel<<<(below + APPLY_ROWS - 1) / APPLY_ROWS, APPLY_ROWS>>>(L, x, n, j0, pn, cs);
            KERNEL_CHECK();
        }
    }
}
