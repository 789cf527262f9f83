#include "delta_factors.h"

#include <stdlib.h>
#include <string.h>

void delta_from_factors(const backend *be, int d, int d_ff, const delta_factors *f, double *delta) {
    size_t ub = (size_t)f->n * d * sizeof(double), vb = (size_t)f->n * d_ff * sizeof(double);
    double *U = be->alloc(ub), *V = be->alloc(vb);
    be->to_device(U, f->U, ub);
    be->to_device(V, f->V, vb);
    be->dgemm(true, false, d, d_ff, f->n, f->alpha, U, d, V, d_ff, 0.0, delta, d_ff); // Δ = α·Uᵀ·V
    be->free(U);
    be->free(V);
}

void delta_factors_free(delta_factors *f) {
    if (!f) return;
    free(f->U);
    free(f->V);
    memset(f, 0, sizeof *f);
}
