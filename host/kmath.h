/* Per-element and per-row arithmetic shared by the CPU backend and the CUDA kernels: written once, so the
 * CPU tests exercise the GPU's arithmetic. KM_FN expands to __host__ __device__ under nvcc and to
 * static inline under a C compiler. */
#ifndef KEDIT_KMATH_H
#define KEDIT_KMATH_H

#include <math.h>

#ifdef __CUDACC__
#define KM_FN static __host__ __device__ __forceinline__
#else
#define KM_FN static inline
#endif

#define KM_SQRT_2_OVER_PI 0.7978845608028654f
#define KM_GELU_C 0.044715f

/* gelu_new(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) */
KM_FN float km_gelu(float x) {
    float u = KM_SQRT_2_OVER_PI * (x + KM_GELU_C * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
}

/* d gelu_new / dx */
KM_FN float km_gelu_grad(float x) {
    float u = KM_SQRT_2_OVER_PI * (x + KM_GELU_C * x * x * x);
    float t = tanhf(u);
    float du = KM_SQRT_2_OVER_PI * (1.0f + 3.0f * KM_GELU_C * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

KM_FN float km_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* silu(g)·u */
KM_FN float km_silu_mul(float g, float u) { return g * km_sigmoid(g) * u; }

/* gradients of y = silu(g)·u: dg = dy·u·σ(g)(1 + g(1 − σ(g))), du = dy·silu(g) */
KM_FN void km_silu_mul_grad(float g, float u, float dy, float *dg, float *du) {
    float s = km_sigmoid(g);
    *dg = dy * u * s * (1.0f + g * (1.0f - s));
    *du = dy * g * s;
}

/* rotation of one pair (a, b) by the angle of position pos and pair index i of rot_dim:
 * θᵢ = pos·theta^(−2i/rot_dim); inverse rotates by −θᵢ (the transpose, for the backward). */
KM_FN void km_rotate_pair(float *a, float *b, int pos, int i, int rot_dim, float theta, int inverse) {
    float freq = powf(theta, -2.0f * (float)i / (float)rot_dim);
    float ang = (float)pos * freq;
    float c = cosf(ang), s = sinf(ang);
    if (inverse) s = -s;
    float x0 = *a, x1 = *b;
    *a = x0 * c - x1 * s;
    *b = x0 * s + x1 * c;
}

/* layernorm of one element given its row's mean and 1/std: y = (x − μ)·rstd·w + b */
KM_FN float km_layernorm(float x, float mean, float rstd, float w, float b) { return (x - mean) * rstd * w + b; }

/* Adam step of one parameter (bias-corrected; c1 = 1 − β₁ᵗ, c2 = 1 − β₂ᵗ) */
KM_FN float km_adam(float p, float g, float *m, float *v, float lr, float b1, float b2, float eps, float c1,
                    float c2) {
    *m = b1 * *m + (1.0f - b1) * g;
    *v = b2 * *v + (1.0f - b2) * g * g;
    float mhat = *m / c1, vhat = *v / c2;
    return p - lr * mhat / (sqrtf(vhat) + eps);
}

/* one Givens-style step of the rank-1 Cholesky update on column j: given the diagonal L_jj and x_j,
 * returns the new diagonal r and the rotation (c, s) that the rest of the column uses. */
KM_FN double km_cholup_pivot(double ljj, double xj, double *c, double *s) {
    double r = sqrt(ljj * ljj + xj * xj);
    *c = r / ljj;
    *s = xj / ljj;
    return r;
}

/* the rest of column j below the pivot: L_ij ← (L_ij + s·x_i)/c, then x_i ← c·x_i − s·L_ij(new) */
KM_FN void km_cholup_apply(double *lij, double *xi, double c, double s) {
    double l = (*lij + s * *xi) / c;
    *xi = c * *xi - s * l;
    *lij = l;
}

#endif
