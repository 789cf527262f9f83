/* Sums over a float array accumulated in double and returned to the host (CPU twins: cpu_sum_abs,
 * cpu_sum_sq, cpu_sum_abs_diff, cpu_sum_sq_diff). Deterministic: a fixed grid writes one partial per
 * block (grid-stride loop, then a block reduction), one block adds the partials, no atomics. */
#include "cuda_common.h"

struct abs_term {
    __device__ double operator()(const float *a, const float *b, int64_t i) const { return fabs((double)a[i]); }
};
struct sq_term {
    __device__ double operator()(const float *a, const float *b, int64_t i) const { return (double)a[i] * a[i]; }
};
struct abs_diff_term {
    __device__ double operator()(const float *a, const float *b, int64_t i) const { return fabs((double)a[i] - b[i]); }
};
struct sq_diff_term {
    __device__ double operator()(const float *a, const float *b, int64_t i) const {
        double e = (double)a[i] - b[i];
        return e * e;
    }
};

template <typename Term>
__global__ void reduce_partial_kernel(const float *a, const float *b, int64_t n, double *partial) {
    Term term;
    double s = 0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        s += term(a, b, i);
    s = block_sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void reduce_final_kernel(const double *partial, int n, double *out) {
    double s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
    s = block_sum(s);
    if (threadIdx.x == 0) *out = s;
}

template <typename Term> static double reduce(const float *a, const float *b, int64_t n) {
    if (n <= 0) return 0;
    unsigned blocks = cu_grid(n);
    double *buf = (double *)cu_scratch(SCRATCH_REDUCE, (blocks + 1) * sizeof(double)); /* partials, then the total */
    reduce_partial_kernel<Term><<<blocks, CU_THREADS>>>(a, b, n, buf);
    KERNEL_CHECK();
    reduce_final_kernel<<<1, 1024>>>(buf, (int)blocks, buf + blocks);
    KERNEL_CHECK();
    double total = 0;
    CUDA_CHECK(cudaMemcpy(&total, buf + blocks, sizeof total, cudaMemcpyDeviceToHost));
    return total;
}

double cu_sum_abs(const float *x, int64_t n) { return reduce<abs_term>(x, NULL, n); }
double cu_sum_sq(const float *x, int64_t n) { return reduce<sq_term>(x, NULL, n); }
double cu_sum_abs_diff(const float *a, const float *b, int64_t n) { return reduce<abs_diff_term>(a, b, n); }
double cu_sum_sq_diff(const float *a, const float *b, int64_t n) { return reduce<sq_diff_term>(a, b, n); }
