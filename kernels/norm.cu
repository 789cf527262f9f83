/* LayerNorm and RMSNorm, forward and backward to the input (CPU twins: cpu_layernorm_fwd/bwd,
 * cpu_rmsnorm_fwd/bwd): one block per row, the row's sums accumulated in double as on the CPU and
 * combined by warp-shuffle block reductions, then the same float expressions per element. */
#include "cuda_common.h"

#define NORM_THREADS 256

/* μ = Σx/d, σ² = Σ(x − μ)²/d (two passes), y = (x − μ)·rstd·w + b with rstd = 1/√(σ² + eps) */
__global__ void layernorm_fwd_kernel(const float *x, const float *w, const float *b, float *y, float *mean,
                                     float *rstd, int d, float eps) {
    size_t r = blockIdx.x;
    const float *xr = x + r * d;
    float *yr = y + r * d;
    double s = 0, ss = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) s += xr[i];
    double mu = block_sum(s) / d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) ss += (xr[i] - mu) * (xr[i] - mu);
    ss = block_sum(ss);
    float m = (float)mu, rs = (float)(1.0 / sqrt(ss / d + eps));
    for (int i = threadIdx.x; i < d; i += blockDim.x) yr[i] = km_layernorm(xr[i], m, rs, w[i], b[i]);
    if (threadIdx.x == 0) {
        mean[r] = m;
        rstd[r] = rs;
    }
}

void cu_layernorm_fwd(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd, int rows,
                      int d, float eps) {
    if (rows <= 0 || d <= 0) return;
    layernorm_fwd_kernel<<<rows, NORM_THREADS>>>(x, w, b, y, mean, rstd, d, eps);
    KERNEL_CHECK();
}

/* dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙w, x̂ = (x − μ)·rstd */
__global__ void layernorm_bwd_kernel(const float *dy, const float *x, const float *w, const float *mean,
                                     const float *rstd, float *dx, int d) {
    size_t r = blockIdx.x;
    const float *xr = x + r * d, *dyr = dy + r * d;
    float *dxr = dx + r * d;
    float m = mean[r], rs = rstd[r];
    double sg = 0, sgx = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float g = dyr[i] * w[i];
        sg += g;
        sgx += (double)g * ((xr[i] - m) * rs);
    }
    sg = block_sum(sg);
    sgx = block_sum(sgx);
    float mg = (float)(sg / d), mgx = (float)(sgx / d);
    for (int i = threadIdx.x; i < d; i += blockDim.x) dxr[i] = rs * (dyr[i] * w[i] - mg - (xr[i] - m) * rs * mgx);
}

void cu_layernorm_bwd(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                      float *dx, int rows, int d) {
    if (rows <= 0 || d <= 0) return;
    layernorm_bwd_kernel<<<rows, NORM_THREADS>>>(dy, x, w, mean, rstd, dx, d);
    KERNEL_CHECK();
}

/* y = w ⊙ x·rstd, rstd = 1/√(mean(x²) + eps) */
__global__ void rmsnorm_fwd_kernel(const float *x, const float *w, float *y, float *rstd, int d, float eps) {
    size_t r = blockIdx.x;
    const float *xr = x + r * d;
    float *yr = y + r * d;
    double ss = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) ss += (double)xr[i] * xr[i];
    ss = block_sum(ss);
    float rs = (float)(1.0 / sqrt(ss / d + eps));
    for (int i = threadIdx.x; i < d; i += blockDim.x) yr[i] = w[i] * (xr[i] * rs);
    if (threadIdx.x == 0) rstd[r] = rs;
}

void cu_rmsnorm_fwd(const float *x, const float *w, float *y, float *rstd, int rows, int d, float eps) {
    if (rows <= 0 || d <= 0) return;
    rmsnorm_fwd_kernel<<<rows, NORM_THREADS>>>(x, w, y, rstd, d, eps);
    KERNEL_CHECK();
}

/* dx = rstd·(g − x·rstd²·mean(g⊙x)), g = dy⊙w */
__global__ void rmsnorm_bwd_kernel(const float *dy, const float *x, const float *w, const float *rstd, float *dx,
                                   int d) {
    size_t r = blockIdx.x;
    const float *xr = x + r * d, *dyr = dy + r * d;
    float *dxr = dx + r * d;
    float rs = rstd[r];
    double sgx = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) sgx += (double)(dyr[i] * w[i]) * xr[i];
    sgx = block_sum(sgx);
    float k = (float)(sgx / d) * rs * rs;
    for (int i = threadIdx.x; i < d; i += blockDim.x) dxr[i] = rs * (dyr[i] * w[i] - xr[i] * k);
}

void cu_rmsnorm_bwd(const float *dy, const float *x, const float *w, const float *rstd, float *dx, int rows, int d) {
    if (rows <= 0 || d <= 0) return;
    rmsnorm_bwd_kernel<<<rows, NORM_THREADS>>>(dy, x, w, rstd, dx, d);
    KERNEL_CHECK();
}
