/* The normal equations shared by MEMIT and D4S: Δ = (N/(E−i))·(λC + S)⁻¹ with N = Σ r kᵀ (d × d_ff) and
 * S = Σ k kᵀ (d_ff × d_ff), in float64 on the backend. The system is factored as A' = C + S/λ = A/λ, so
 * that building it needs only a widening copy of C and one axpy (no float64 scale op):
 * Δ = (N/(λ·(E−i)))·A'⁻¹. All pointers are device pointers. */
#ifndef KEDIT_NORMAL_EQ_H
#define KEDIT_NORMAL_EQ_H

#include "backend.h"

/* L (d_ff × d_ff) ← C widened to float64 (C: d_ff × d_ff float32) */
void neq_load_cov(const backend *be, int d_ff, const float *C, double *L);

/* factors L = C + S/λ in place (S added by the caller), reporting a non-PD system in err as
 * "<what>: λC + S is not positive definite (leading minor m)". Returns 0 or the potrf code. */
int neq_factor(const backend *be, int d_ff, double *L, const char *what, char *err, size_t errlen);

/* delta (d × d_ff) ← (N/(λ·split))·A'⁻¹, given the factor L of A' = C + S/λ; split = E − i */
void neq_solve(const backend *be, int d, int d_ff, const double *L, const double *N, double lambda, double split,
               double *delta);

/* the scalar a·b of two device vectors of n float64 (a 1×1 dgemm), on the host */
double neq_dot(const backend *be, int n, const double *a, const double *b, double *scratch1);

/* host (n × m) row-major → host (m × n) row-major */
void neq_transpose(const double *src, int n, int m, double *dst);

#endif
