/* The health of a layer's keys, read from its covariance statistics C = Σ k kᵀ / #tokens (covariance.h):
 * whether the W_out inputs that a closed-form edit writes into are ever used. A closed-form update
 * Δ = R Kᵀ (λC + K Kᵀ)⁻¹ puts large weights into the directions where C is tiny, so a layer with dead
 * inputs or a rank-deficient C lets MEMIT, PMET and D4S write weights the model never reads and blows up
 * ‖W − W₀‖ (the failure the bundled model's first version showed). Thresholds are relative, 10⁻⁶. */
#ifndef KEDIT_COV_HEALTH_H
#define KEDIT_COV_HEALTH_H

#include <stddef.h>

#define COV_HEALTH_REL 1e-6 /* "dead" / "small": below this fraction of the largest */

typedef struct cov_health {
    int d;                  /* d_ff: the number of W_out inputs */
    int dead_inputs;        /* inputs i with C_ii < 1e-6 · max_j C_jj (an input whose second moment vanishes) */
    int small_eigenvalues;  /* eigenvalues λ of C with λ < 1e-6 · λ_max (directions the corpus never uses) */
    int directions_99;      /* the fewest eigen-directions holding 99% of tr C = Σλ */
    double effective_rank;  /* exp(−Σ p log p) with p = λ / Σλ (Roy & Vetterli's effective rank) */
    double lambda_max, lambda_min;
    double condition;       /* λ_max / λ_min; +inf when λ_min ≤ 0 */
} cov_health;

/* The health of C (host, d × d, row-major, symmetric; float32 as the statistics cache holds it), from its
 * diagonal and its eigenvalues in float64 (LAPACK dsyevd). eps: an εI that was added to C's diagonal
 * (cov_regularise) and is taken off again first (0: none). Non-zero with a message in err on failure. */
int cov_health_of(const float *C, int d, double eps, cov_health *h, char *err, size_t errlen);

/* true when at most 1% of the inputs are dead and at most 1% of the eigenvalues small */
int cov_health_ok(const cov_health *h);

#endif
