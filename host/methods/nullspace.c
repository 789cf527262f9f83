#include "nullspace.h"

#include <lapacke.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nullspace_get(const backend *be, int d_ff, const float *C, double eps, double tau, int layer, nullspace *ns,
                  char *err, size_t errlen) {
    size_t nn = (size_t)d_ff * d_ff;
    float *Cf = malloc(nn * sizeof *Cf);
    double *A = malloc(nn * sizeof *A), *w = malloc((size_t)d_ff * sizeof *w);
    memset(ns, 0, sizeof *ns);
    if (!Cf || !A || !w) {
        free(Cf), free(A), free(w);
        snprintf(err, errlen, "layer %d: out of memory for the %d × %d eigendecomposition of C", layer, d_ff, d_ff);
        return -1;
    }
    be->to_host(Cf, C, nn * sizeof *Cf);
    for (size_t e = 0; e < nn; e++) A[e] = Cf[e];
    free(Cf);
    for (int i = 0; i < d_ff; i++) A[(size_t)i * d_ff + i] -= eps; // C as measured, without the εI
    int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d_ff, A, d_ff, w); // C = V·diag(w)·Vᵀ, w ascending
    int m = 0;
    while (!info && m < d_ff && w[m] < tau) m++; // σ_j < τ (strict, absolute)
    if (info || m == 0) {
        if (info) snprintf(err, errlen, "layer %d: the eigensolver (LAPACK dsyevd) failed on C (info %d)", layer, info);
        else snprintf(err, errlen, "layer %d: no eigenvalue of C is below nullspace_threshold τ = %g (the smallest is "
                      "%g): the null space is empty, so no edit could change this layer", layer, tau, w[0]);
        free(A), free(w);
        return -1;
    }
    double *Ut = malloc((size_t)m * d_ff * sizeof *Ut);
    for (int j = 0; j < m; j++)
        for (int r = 0; r < d_ff; r++) Ut[(size_t)j * d_ff + r] = A[(size_t)r * d_ff + j]; // row j = column j of V
    ns->m = m;
    ns->Ut = be->alloc((size_t)m * d_ff * sizeof(double));
    be->to_device(ns->Ut, Ut, (size_t)m * d_ff * sizeof(double));
    ns->lambda = malloc((size_t)m * sizeof(double));
    memcpy(ns->lambda, w, (size_t)m * sizeof(double));
    free(Ut), free(A), free(w);
    return 0;
}

void nullspace_free(const backend *be, nullspace *ns) {
    if (ns->Ut) be->free(ns->Ut);
    free(ns->lambda);
    memset(ns, 0, sizeof *ns);
}

void nullspace_solve(const backend *be, const nullspace *ns, int d_ff, int rows, const double *L, double *B,
                     double alpha, double *out) {
    be->potrs_right(ns->m, rows, L, B);                                                      // B ← B·A⁻¹
    be->dgemm(false, false, rows, d_ff, ns->m, alpha, B, ns->m, ns->Ut, d_ff, 0.0, out, d_ff); // out = α·B·A⁻¹·Uᵀ
}

void nullspace_diag(const backend *be, const nullspace *ns, double mu, double alpha, double *out) {
    int m = ns->m;
    double *h = calloc((size_t)m * m, sizeof *h);
    for (int j = 0; j < m; j++) h[(size_t)j * m + j] = mu * ns->lambda[j] + alpha; // μΛ + αI
    be->to_device(out, h, (size_t)m * m * sizeof *h);
    free(h);
}

int nullspace_factor(const backend *be, int m, double *A, const char *what, char *err, size_t errlen) {
    int info = be->potrf(m, A);
    if (info != 0)
        snprintf(err, errlen, "%s: the reduced system is not positive definite (leading minor %d of %d)", what, info, m);
    return info;
}
