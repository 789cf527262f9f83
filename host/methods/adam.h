/* Adam as every method here runs it (torch.optim.Adam's defaults, no weight decay): the constants β₁, β₂
 * and ε in one place, and the step on a host vector (compute_z, PMET's δs) or on device memory (FT's
 * matrix, GRACE's values). The bias corrections 1 − βᵗ are taken in double from the decimal β, as torch
 * takes them; the backend's arithmetic gets β and ε as float. */
#ifndef KEDIT_ADAM_H
#define KEDIT_ADAM_H

#include "backend.h"
#include "kmath.h"

#include <math.h>
#include <stdint.h>

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8

/* step t (from 1) on x (n host floats) with gradient g, moments m and v (n each, zero before step 1) */
static inline void adam_step_host(float *x, const float *g, float *m, float *v, int n, float lr, int t) {
    float c1 = (float)(1.0 - pow(ADAM_BETA1, t)), c2 = (float)(1.0 - pow(ADAM_BETA2, t)); // 1 − βᵗ
    for (int j = 0; j < n; j++)
        x[j] = km_adam(x[j], g[j], &m[j], &v[j], lr, (float)ADAM_BETA1, (float)ADAM_BETA2, (float)ADAM_EPS, c1, c2);
}

/* the same on n floats of device memory */
static inline void adam_step_device(const backend *be, float *x, const float *g, float *m, float *v, int64_t n,
                                    float lr, int t) {
    be->adam_step(x, g, m, v, n, lr, (float)ADAM_BETA1, (float)ADAM_BETA2, (float)ADAM_EPS, t);
}

#endif
