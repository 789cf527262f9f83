/* The factors of a closed-form update (ROME, MEMIT, PMET): Δ = α·Uᵀ·V with U the n rows of d values and
 * V the n rows of d_ff values (n: the batch size, the rank of Δ), float64 on the host. The method forms
 * its Δ from them through delta_from_factors, so that a resumed run that keeps only the factors (O(d + d_ff)
 * per layer and edit) makes bitwise the same Δ again on the same backend. */
#ifndef KEDIT_DELTA_FACTORS_H
#define KEDIT_DELTA_FACTORS_H

#include "backend.h"

typedef struct delta_factors {
    int n;        /* rank (0: none recorded) */
    double alpha;
    double *U;    /* (n, d) host, malloc'd */
    double *V;    /* (n, d_ff) host, malloc'd */
} delta_factors;

/* delta (device d × d_ff float64) ← α·Uᵀ·V: one dgemm (the same call on every replay) */
void delta_from_factors(const backend *be, int d, int d_ff, const delta_factors *f, double *delta);
/* frees U and V and clears f (NULL accepted) */
void delta_factors_free(delta_factors *f);

#endif
