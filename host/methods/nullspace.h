/* AlphaEdit's null-space basis (editing-spec §11.1): the eigenvectors of a layer's covariance C whose
 * eigenvalue is below τ (absolute, strict), so that P = U·Uᵀ projects onto the directions the corpus keys
 * (almost) never take. kedit never forms P: it keeps U (d_ff × m) as m rows of d_ff and the kept
 * eigenvalues Λ. The eigendecomposition runs on the host in float64 (LAPACKE dsyevd) on C as the statistics
 * gave it (the εI of covariance.h's regularisation taken off again), on any backend: C is downloaded
 * and U uploaded, so the CUDA path needs no eigensolver of its own. The same C gives bitwise the same U
 * on the same machine and thread count, which a resumed run relies on. */
#ifndef KEDIT_NULLSPACE_H
#define KEDIT_NULLSPACE_H

#include "backend.h"

#include <stddef.h>

typedef struct nullspace {
    int m;          /* dimension of the null space (kept eigenvectors) */
    double *Ut;     /* device (m, d_ff) float64: row j is the eigenvector of the j-th smallest eigenvalue */
    double *lambda; /* host (m): the kept eigenvalues, ascending */
} nullspace;

/* U and Λ of a device C (d_ff × d_ff float32) minus eps·I, for edited layer `layer` (named in messages):
 * the eigenvectors with eigenvalue < tau. Refuses (non-zero, message naming the layer and the smallest
 * eigenvalue) when none is below tau, and when the eigensolver fails. */
int nullspace_get(const backend *be, int d_ff, const float *C, double eps, double tau, int layer, nullspace *ns,
                  char *err, size_t errlen);
void nullspace_free(const backend *be, nullspace *ns);

/* out (m × m, device) ← μΛ + αI */
void nullspace_diag(const backend *be, const nullspace *ns, double mu, double alpha, double *out);

/* Cholesky of an m × m device A in place, reporting a non-PD A as "<what>: the reduced system is not
 * positive definite (leading minor j of m)". Returns 0 or the potrf code. */
int nullspace_factor(const backend *be, int m, double *A, const char *what, char *err, size_t errlen);

/* out (rows × d_ff, device) ← α·B·A⁻¹·Uᵀ for B (rows × m, device) and the Cholesky factor L of an
 * m × m SPD A (device, backend potrf): the reduced-coordinate solve of AlphaEdit and D4S-P. B is
 * overwritten with B·A⁻¹. */
void nullspace_solve(const backend *be, const nullspace *ns, int d_ff, int rows, const double *L, double *B,
                     double alpha, double *out);

#endif
