#include "rome.h"

#include "normal_eq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int rome_left_vector(const backend *be, int d_ff, const double *k_mean, const float *C, double *u, char *err,
                     size_t errlen) {
    for (int j = 0; j < d_ff; j++) u[j] = k_mean[j];
    if (C) {
        double *L = be->alloc((size_t)d_ff * d_ff * sizeof(double)); // (d_ff, d_ff) factor of C
        double *ud = be->alloc((size_t)d_ff * sizeof(double));
        neq_load_cov(be, d_ff, C, L);
        int rc = be->potrf(d_ff, L);
        if (!rc) {
            be->to_device(ud, u, (size_t)d_ff * sizeof(double));
            be->potrs_right(d_ff, 1, L, ud); // u = C⁻¹k̄
            be->to_host(u, ud, (size_t)d_ff * sizeof(double));
        }
        be->free(L);
        be->free(ud);
        if (rc) {
            snprintf(err, errlen, "ROME: the covariance C is not positive definite (leading minor %d of %d)", rc, d_ff);
            return -1;
        }
    }
    double norm = 0;
    for (int j = 0; j < d_ff; j++) norm += u[j] * u[j];
    norm = sqrt(norm);
    if (!(norm > 0)) {
        snprintf(err, errlen, "ROME: the key of the subject is zero, no update direction");
        return -1;
    }
    for (int j = 0; j < d_ff; j++) u[j] /= norm; // u ← u/‖u‖
    return 0;
}

int rome_delta(const backend *be, int d, int d_ff, const double *u, const double *k_star, const double *z_minus_m,
               double *delta, char *err, size_t errlen) {
    double ku = 0;
    for (int j = 0; j < d_ff; j++) ku += k_star[j] * u[j];
    if (ku == 0 || !isfinite(ku)) {
        snprintf(err, errlen, "ROME: k*ᵀu is %g, the update is undefined", ku);
        return -1;
    }
    double *v = malloc((size_t)d * sizeof(double));
    for (int j = 0; j < d; j++) v[j] = z_minus_m[j] / ku; // v = (z − m*)/(k*ᵀu)
    double *vd = be->alloc((size_t)d * sizeof(double)), *ud = be->alloc((size_t)d_ff * sizeof(double));
    be->to_device(vd, v, (size_t)d * sizeof(double));
    be->to_device(ud, u, (size_t)d_ff * sizeof(double));
    be->zero(delta, (size_t)d * d_ff * sizeof(double));
    be->dger_acc(d, d_ff, 1.0, vd, ud, delta, d_ff); // Δ = v·uᵀ
    be->free(vd);
    be->free(ud);
    free(v);
    return 0;
}
