/* MEMIT (editing-spec §3): per edited layer l at position i of E, with the n keys K (d_ff × n) measured on
 * the current model and the residuals R = Z − H_L (d × n),
 *   Δ = (R/(E−i))·Kᵀ·(λC + K·Kᵀ)⁻¹   (float64),
 * added in float32 to the current weights, so that sequential edits accumulate. */
#ifndef KEDIT_MEMIT_H
#define KEDIT_MEMIT_H

#include "backend.h"
#include "delta_factors.h"

#include <stddef.h>

/* K: n keys as rows (n × d_ff), R: n residuals as rows (n × d), host float64; C: device float32
 * (d_ff × d_ff); split = E − i; delta: device (d × d_ff), formed from its factors U = R, V = Kᵀ·A'⁻¹
 * (A' = C + KKᵀ/λ), α = 1/(λ·split), which go to fac when it is not NULL. Non-zero with a message in
 * err when λC + KKᵀ is not positive definite. */
int memit_delta(const backend *be, int d, int d_ff, int n, const double *K, const double *R, const float *C,
                double lambda, double split, double *delta, delta_factors *fac, char *err, size_t errlen);

#endif
