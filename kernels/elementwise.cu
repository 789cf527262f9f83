/* Per-element ops (CPU twins: cpu_axpy, cpu_scale, cpu_gelu_*, cpu_silu_mul_*, cpu_adam_step,
 * cpu_clamp_box, cpu_f32_to_f64, cpu_f64_to_f32, cpu_f64_axpy): one grid-stride loop over a functor
 * whose body is the CPU loop's body, the arithmetic coming from kmath.h. Outputs may alias inputs at the
 * same index (the transformer runs gelu_bwd and silu_mul_bwd in place): each element is read before it
 * is written, by the same thread. */
#include "cuda_common.h"

template <typename F> __global__ void for_each_kernel(int64_t n, F f) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        f(i);
}

template <typename F> static void for_each(int64_t n, F f) {
    if (n <= 0) return;
    for_each_kernel<<<cu_grid(n), CU_THREADS>>>(n, f);
    KERNEL_CHECK();
}

struct axpy_op {
    float a;
    const float *x;
    float *y;
    __device__ void operator()(int64_t i) const { y[i] += a * x[i]; }
};
void cu_axpy(int64_t n, float a, const float *x, float *y) { for_each(n, axpy_op{a, x, y}); }

struct scale_op {
    float a;
    float *x;
    __device__ void operator()(int64_t i) const { x[i] *= a; }
};
void cu_scale(int64_t n, float a, float *x) { for_each(n, scale_op{a, x}); }

struct gelu_fwd_op {
    const float *x;
    float *y;
    __device__ void operator()(int64_t i) const { y[i] = km_gelu(x[i]); }
};
void cu_gelu_fwd(const float *x, float *y, int64_t n) { for_each(n, gelu_fwd_op{x, y}); }

struct gelu_bwd_op {
    const float *x, *dy;
    float *dx;
    __device__ void operator()(int64_t i) const { dx[i] = dy[i] * km_gelu_grad(x[i]); }
};
void cu_gelu_bwd(const float *x, const float *dy, float *dx, int64_t n) { for_each(n, gelu_bwd_op{x, dy, dx}); }

struct silu_mul_fwd_op {
    const float *gate, *up;
    float *y;
    __device__ void operator()(int64_t i) const { y[i] = km_silu_mul(gate[i], up[i]); }
};
void cu_silu_mul_fwd(const float *gate, const float *up, float *y, int64_t n) {
    for_each(n, silu_mul_fwd_op{gate, up, y});
}

struct silu_mul_bwd_op {
    const float *gate, *up, *dy;
    float *dgate, *dup;
    __device__ void operator()(int64_t i) const {
        float dg, du;
        km_silu_mul_grad(gate[i], up[i], dy[i], &dg, &du);
        dgate[i] = dg;
        dup[i] = du;
    }
};
void cu_silu_mul_bwd(const float *gate, const float *up, const float *dy, float *dgate, float *dup, int64_t n) {
    for_each(n, silu_mul_bwd_op{gate, up, dy, dgate, dup});
}

struct adam_op {
    float *p;
    const float *g;
    float *m, *v;
    float lr, b1, b2, eps, c1, c2;
    __device__ void operator()(int64_t i) const {
        float mi = m[i], vi = v[i];
        p[i] = km_adam(p[i], g[i], &mi, &vi, lr, b1, b2, eps, c1, c2);
        m[i] = mi;
        v[i] = vi;
    }
};
void cu_adam_step(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2, float eps,
                  int t) {
    /* bias corrections 1 − βᵗ, computed as the CPU does */
    float c1 = (float)(1.0 - pow((double)b1, (double)t)), c2 = (float)(1.0 - pow((double)b2, (double)t));
    for_each(n, adam_op{p, g, m, v, lr, b1, b2, eps, c1, c2});
}

struct clamp_box_op {
    float *x;
    const float *x0;
    float eps;
    __device__ void operator()(int64_t i) const {
        float lo = x0[i] - eps, hi = x0[i] + eps;
        x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
    }
};
void cu_clamp_box(float *x, const float *x0, float eps, int64_t n) { for_each(n, clamp_box_op{x, x0, eps}); }

struct f32_to_f64_op {
    const float *x;
    double *y;
    __device__ void operator()(int64_t i) const { y[i] = x[i]; }
};
void cu_f32_to_f64(const float *x, double *y, int64_t n) { for_each(n, f32_to_f64_op{x, y}); }

struct f64_to_f32_op {
    const double *x;
    float *y;
    __device__ void operator()(int64_t i) const { y[i] = (float)x[i]; }
};
void cu_f64_to_f32(const double *x, float *y, int64_t n) { for_each(n, f64_to_f32_op{x, y}); }

struct f64_axpy_op {
    double a;
    const double *x;
    double *y;
    __device__ void operator()(int64_t i) const { y[i] += a * x[i]; }
};
void cu_f64_axpy(int64_t n, double a, const double *x, double *y) { for_each(n, f64_axpy_op{a, x, y}); }
