/* Row-wise ops (CPU twins: cpu_add_bias, cpu_col_sum_acc, cpu_gather_rows, cpu_scatter_add_rows,
 * cpu_scatter_rows): blocks over rows, threads over columns, so every access is coalesced. */
#include "cuda_common.h"

/* y[r,c] += b[c]: a block per row (grid-stride over rows), threads across the columns */
__global__ void add_bias_kernel(float *y, const float *b, int rows, int cols) {
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        float *yr = y + (size_t)r * cols;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] += b[c];
    }
}

void cu_add_bias(float *y, const float *b, int rows, int cols) {
    if (rows <= 0 || cols <= 0) return;
    add_bias_kernel<<<cu_grid((int64_t)rows * CU_THREADS), CU_THREADS>>>(y, b, rows, cols);
    KERNEL_CHECK();
}

/* y[c] += Σ_r x[r,c], in double as the CPU: a block per 32 columns, its COL_ROWS thread rows striding the
 * rows (each warp reads 32 consecutive floats), then a shared-memory sum over the thread rows */
#define COL_ROWS 16
__global__ void col_sum_acc_kernel(const float *x, int rows, int cols, float *y) {
    __shared__ double part[COL_ROWS][32];
    int c = blockIdx.x * 32 + threadIdx.x;
    double acc = 0;
    if (c < cols)
        for (int r = threadIdx.y; r < rows; r += COL_ROWS) acc += x[(size_t)r * cols + c];
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        double s = 0;
        for (int i = 0; i < COL_ROWS; i++) s += part[i][threadIdx.x];
        y[c] = (float)(y[c] + s);
    }
}

void cu_col_sum_acc(const float *x, int rows, int cols, float *y) {
    if (rows <= 0 || cols <= 0) return;
    col_sum_acc_kernel<<<(cols + 31) / 32, dim3(32, COL_ROWS)>>>(x, rows, cols, y);
    KERNEL_CHECK();
}

/* dst[i,:] = src[idx[i],:] */
__global__ void gather_rows_kernel(const float *src, int d, const int *idx, int n, float *dst) {
    for (int i = blockIdx.x; i < n; i += gridDim.x) {
        const float *from = src + (size_t)idx[i] * d;
        float *to = dst + (size_t)i * d;
        for (int c = threadIdx.x; c < d; c += blockDim.x) to[c] = from[c];
    }
}

void cu_gather_rows(const float *src, int d, const int *idx, int n, float *dst) {
    if (n <= 0 || d <= 0) return;
    gather_rows_kernel<<<cu_grid((int64_t)n * CU_THREADS), CU_THREADS>>>(src, d, idx, n, dst);
    KERNEL_CHECK();
}

/* dst[idx[i],:] (+)= src[i,:]: a thread per column walks i = 0..n−1 in order, so repeated indices
 * accumulate (or the last one wins) exactly as on the CPU, with no atomics; a warp covers 32 columns,
 * and small blocks spread the d columns over many SMs. */
#define SCATTER_THREADS 64
__global__ void scatter_rows_kernel(float *dst, int d, const int *idx, int n, const float *src, bool accumulate) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= d) return;
    for (int i = 0; i < n; i++) {
        float *to = dst + (size_t)idx[i] * d + c;
        float from = src[(size_t)i * d + c];
        *to = accumulate ? *to + from : from;
    }
}

static void scatter_rows(float *dst, int d, const int *idx, int n, const float *src, bool accumulate) {
    if (n <= 0 || d <= 0) return;
    unsigned blocks = (d + SCATTER_THREADS - 1) / SCATTER_THREADS;
    scatter_rows_kernel<<<blocks, SCATTER_THREADS>>>(dst, d, idx, n, src, accumulate);
    KERNEL_CHECK();
}

void cu_scatter_add_rows(float *dst, int d, const int *idx, int n, const float *src) {
    scatter_rows(dst, d, idx, n, src, true);
}

void cu_scatter_rows(float *dst, int d, const int *idx, int n, const float *src) {
    scatter_rows(dst, d, idx, n, src, false);
}
