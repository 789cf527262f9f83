#include "normal_eq.h"

#include <stdio.h>

void neq_load_cov(const backend *be, int d_ff, const float *C, double *L) {
    be->f32_to_f64(C, L, (int64_t)d_ff * d_ff);
}

int neq_factor(const backend *be, int d_ff, double *L, const char *what, char *err, size_t errlen) {
    int info = be->potrf(d_ff, L);
    if (info != 0)
        snprintf(err, errlen, "%s: λC + S is not positive definite (leading minor %d of %d)", what, info, d_ff);
    return info;
}

void neq_solve(const backend *be, int d, int d_ff, const double *L, const double *N, double lambda, double split,
               double *delta) {
    int64_t n = (int64_t)d * d_ff;
    be->zero(delta, (size_t)n * sizeof(double));
    be->f64_axpy(n, 1.0 / (lambda * split), N, delta); // Δ = N/(λ(E−i))
    be->potrs_right(d_ff, d, L, delta);                 // Δ ← Δ·A'⁻¹
}

double neq_dot(const backend *be, int n, const double *a, const double *b, double *scratch1) {
    be->dgemm(false, false, 1, 1, n, 1.0, a, n, b, 1, 0.0, scratch1, 1); // (1×n)·(n×1)
    double v;
    be->to_host(&v, scratch1, sizeof v);
    return v;
}

void neq_transpose(const double *src, int n, int m, double *dst) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) dst[(size_t)j * n + i] = src[(size_t)i * m + j];
}
