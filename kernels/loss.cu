/* Losses on logit rows (CPU twins: cpu_nll_loss, cpu_kl_loss, cpu_log_softmax): one block per row; the
 * row's max and its normaliser Σ exp(x − max) (in double) by block reductions, then the CPU's
 * per-element expressions. Rows with weight 0 are skipped (loss 0, dx untouched), as on the CPU. */
#include "cuda_common.h"

#define LOSS_THREADS 512

/* log Σ_j exp(x_j), stable (max subtracted), summed in double; every thread gets it */
__device__ double row_logsumexp(const float *x, int V) {
    float m = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, x[j]);
    m = block_max(m);
    double z = 0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) z += expf(x[j] - m);
    z = block_sum(z);
    return m + log(z);
}

/* loss[r] = w·(−log softmax(x)[y]); dx += w·(softmax(x) − onehot(y)) */
__global__ void nll_loss_kernel(const float *x, const int *y, const float *w, int V, float *loss, float *dx) {
    size_t r = blockIdx.x;
    float wr = w[r];
    if (wr == 0) { /* the whole block leaves together, before any barrier */
        if (threadIdx.x == 0) loss[r] = 0;
        return;
    }
    const float *xr = x + r * V;
    float *dxr = dx + r * V;
    int yr = y[r];
    double lse = row_logsumexp(xr, V);
    if (threadIdx.x == 0) loss[r] = (float)(wr * (lse - xr[yr]));
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float g = dxr[j] + wr * expf((float)(xr[j] - lse));
        if (j == yr) g -= wr;
        dxr[j] = g;
    }
}

void cu_nll_loss(const float *x, const int *y, const float *w, int rows, int V, float *loss, float *dx) {
    if (rows <= 0) return;
    nll_loss_kernel<<<rows, LOSS_THREADS>>>(x, y, w, V, loss, dx);
    KERNEL_CHECK();
}

/* KL = Σ p (log p − ref), p = softmax(x): loss[r] = w·KL; dx += w·p ⊙ (log p − ref − KL), in double */
__global__ void kl_loss_kernel(const float *x, const float *ref_logp, const float *w, int V, float *loss, float *dx) {
    size_t r = blockIdx.x;
    float wr = w[r];
    if (wr == 0) {
        if (threadIdx.x == 0) loss[r] = 0;
        return;
    }
    const float *xr = x + r * V, *ref = ref_logp + r * V;
    float *dxr = dx + r * V;
    double lse = row_logsumexp(xr, V), kl = 0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        double logp = xr[j] - lse;
        kl += exp(logp) * (logp - ref[j]);
    }
    kl = block_sum(kl);
    if (threadIdx.x == 0) loss[r] = (float)(wr * kl);
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        double logp = xr[j] - lse;
        dxr[j] += (float)(wr * exp(logp) * (logp - ref[j] - kl));
    }
}

void cu_kl_loss(const float *x, const float *ref_logp, const float *w, int rows, int V, float *loss, float *dx) {
    if (rows <= 0) return;
    kl_loss_kernel<<<rows, LOSS_THREADS>>>(x, ref_logp, w, V, loss, dx);
    KERNEL_CHECK();
}

__global__ void log_softmax_kernel(const float *x, float *y, int V) {
    size_t r = blockIdx.x;
    const float *xr = x + r * V;
    float *yr = y + r * V;
    double lse = row_logsumexp(xr, V);
    for (int j = threadIdx.x; j < V; j += blockDim.x) yr[j] = (float)(xr[j] - lse);
}

void cu_log_softmax(const float *x, float *y, int rows, int V) {
    if (rows <= 0 || V <= 0) return;
    log_softmax_kernel<<<rows, LOSS_THREADS>>>(x, y, V);
    KERNEL_CHECK();
}
