#include "cov_health.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int cov_health_of(const float *C, int d, double eps, cov_health *h, char *err, size_t errlen) {
    size_t nn = (size_t)d * d;
    double *A = malloc(nn * sizeof *A), *lambda = malloc((size_t)d * sizeof *lambda);
    if (!A || !lambda) {
        free(A), free(lambda);
        snprintf(err, errlen, "health of C: out of memory for %d × %d", d, d);
        return -1;
    }
    double diag_max = 0;
    for (size_t e = 0; e < nn; e++) A[e] = C[e];
    for (int i = 0; i < d; i++) {
        A[(size_t)i * d + i] -= eps;
        if (A[(size_t)i * d + i] > diag_max) diag_max = A[(size_t)i * d + i];
    }
    *h = (cov_health){.d = d};
    for (int i = 0; i < d; i++) h->dead_inputs += A[(size_t)i * d + i] < COV_HEALTH_REL * diag_max;
    int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', d, A, d, lambda); // ascending eigenvalues
    free(A);
    if (info) {
        free(lambda);
        snprintf(err, errlen, "health of C: the eigenvalue solver failed (LAPACK info %d)", info);
        return -1;
    }
    h->lambda_max = lambda[d - 1];
    h->lambda_min = lambda[0];
    h->condition = lambda[0] > 0 ? lambda[d - 1] / lambda[0] : INFINITY;
    double total = 0, entropy = 0, cum = 0;
    for (int i = 0; i < d; i++) {
        h->small_eigenvalues += lambda[i] < COV_HEALTH_REL * h->lambda_max;
        if (lambda[i] > 0) total += lambda[i];
    }
    for (int i = d - 1; i >= 0 && total > 0; i--) { // largest first: Σ of the top directions to 99% of Σλ
        if (lambda[i] <= 0) continue;
        double p = lambda[i] / total;
        entropy -= p * log(p);
        if (cum < 0.99 * total) h->directions_99++;
        cum += lambda[i];
    }
    h->effective_rank = exp(entropy);
    free(lambda);
    return 0;
}

int cov_health_ok(const cov_health *h) {
    return 100 * h->dead_inputs <= h->d && 100 * h->small_eigenvalues <= h->d;
}
