#include "memit.h"

#include "normal_eq.h"

#include <stdlib.h>

int memit_delta(const backend *be, int d, int d_ff, int n, const double *K, const double *R, const float *C,
                double lambda, double split, double *delta, char *err, size_t errlen) {
    size_t kb = (size_t)n * d_ff * sizeof(double);
    double *Kh = malloc(kb);
    neq_transpose(K, n, d_ff, Kh);
    double *Kc = be->alloc(kb);                                   // (d_ff, n) keys as columns
    double *Kt = be->alloc(kb);                                   // (n, d_ff) keys as rows
    double *Rt = be->alloc((size_t)n * d * sizeof(double));       // (n, d) residuals as rows
    double *N = be->alloc((size_t)d * d_ff * sizeof(double));     // (d, d_ff) R·Kᵀ
    double *L = be->alloc((size_t)d_ff * d_ff * sizeof(double));  // (d_ff, d_ff) factor of C + KKᵀ/λ
    be->to_device(Kc, Kh, kb);
    be->to_device(Kt, K, kb);
    be->to_device(Rt, R, (size_t)n * d * sizeof(double));
    free(Kh);
    be->dgemm(true, false, d, d_ff, n, 1.0, Rt, d, Kt, d_ff, 0.0, N, d_ff); // N = R·Kᵀ
    neq_load_cov(be, d_ff, C, L);
    be->dsyrk_acc(d_ff, n, 1.0 / lambda, Kc, n, L, d_ff);                  // A' = C + KKᵀ/λ
    int rc = neq_factor(be, d_ff, L, "MEMIT", err, errlen);
    if (!rc) neq_solve(be, d, d_ff, L, N, lambda, split, delta);           // Δ = (N/(λ(E−i)))·A'⁻¹
    void *dev[] = {Kc, Kt, Rt, N, L};
    for (size_t j = 0; j < sizeof dev / sizeof *dev; j++) be->free(dev[j]);
    return rc ? -1 : 0;
}
