/* ROME (editing-spec §3, §10.6): a rank-one update of W_out at one layer,
 *   u = k̄ (mean key over the ROME templates), or C⁻¹k̄ with mom2_adjustment; u ← u/‖u‖,
 *   v = (z − m*)/(k*ᵀu),  Δ = v·uᵀ  (d × d_ff),
 * where z = m₀ + δ is the optimised W_out output (compute_v) and k*, m* the key and W_out output at the
 * subject's last token of the bare prompt on the current model. Float64. */
#ifndef KEDIT_ROME_H
#define KEDIT_ROME_H

#include "backend.h"
#include "delta_factors.h"

#include <stddef.h>

/* u (host, d_ff) from the mean key k_mean; C (device float32, d_ff × d_ff) or NULL for no mom2
 * adjustment (u = C⁻¹k̄ solved by a float64 Cholesky). Non-zero with a message in err when C is not
 * positive definite or u is zero. */
int rome_left_vector(const backend *be, int d_ff, const double *k_mean, const float *C, double *u, char *err,
                     size_t errlen);

/* delta (device, d × d_ff) = v·uᵀ with v = z_minus_m/(k*ᵀu); z_minus_m = z − m* (d), k_star (d_ff), u
 * (d_ff), host; formed from its factors (v, u), which go to fac when it is not NULL. Non-zero when k*ᵀu
 * is zero. */
int rome_delta(const backend *be, int d, int d_ff, const double *u, const double *k_star, const double *z_minus_m,
               double *delta, delta_factors *fac, char *err, size_t errlen);

#endif
