/* D4S (editing-spec §4, §10.3–10.4): per edited layer l (position i of E in the edited-layer list),
 *   N_l = Σ_t r_t k_{t,l}ᵀ (d × d_ff),  S_l = Σ_t k_{t,l} k_{t,l}ᵀ (d_ff × d_ff),
 *   Δ_l = (N_l/(E−i))·(S_l + λC_l)⁻¹,
 * all float64 on the backend. Two solve paths give the same Δ:
 *   exact        A = S + λC factored (potrf) and Δ solved (potrs) after every edit, O(d_ff³);
 *   incremental  recursive least squares: u = A_{t−1}⁻¹k_t, Δ_t = Δ_{t−1} + (r' − Δ_{t−1}k_t)uᵀ/(1 + k_tᵀu),
 *                r' = r_t/(E−i), then a rank-1 update of the Cholesky factor, O(d_ff²); every K edits the
 *                factor and Δ are recomputed exactly.
 * The durable state is the append-only log of (r_t, k_{t,l} for every edited layer) and the batch sizes:
 * replayed, it rebuilds N, S, the factor and Δ bitwise, and it is what d4s_serialise writes. The matrices live on the backend's device; the log
 * and the inputs (r, k: float64) are host memory. C_l (d_ff × d_ff float32, device) stays the caller's
 * and must be positive definite (covariance.h regularises it). */
#ifndef KEDIT_D4S_H
#define KEDIT_D4S_H

#include "backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { D4S_EXACT = 0, D4S_INCREMENTAL = 1 } d4s_solve_kind;

typedef struct d4s_opts {
    d4s_solve_kind solve;
    int refactor_every; /* incremental: refactorise from λC + S and re-solve Δ every K edits (0: never) */
    bool keep_S;        /* incremental: keep S_l in memory (d_ff² float64 per layer) rather than rebuilding it
                         * from the log at a refactorisation; the exact path always keeps it */
} d4s_opts;

typedef struct d4s_state d4s_state;

/* layers: the E model layer indices (ascending, as edited); C: E device covariances. The state starts
 * empty (Δ = 0, factor of λC). NULL with a message in err on failure (λC not positive definite). */
d4s_state *d4s_create(const backend *be, int d, int d_ff, int E, const int *layers, double lambda,
                      const float *const *C, const d4s_opts *o, char *err, size_t errlen);
void d4s_free(d4s_state *s);

/* Starts the next n edits with their residuals r (n × d, host): r_t = z_t − h_L(W₀). Every edited layer
 * must then get its keys through d4s_update_layer before the next d4s_begin. */
int d4s_begin(d4s_state *s, int n, const double *r, char *err, size_t errlen);

/* The keys of the n edits of d4s_begin at layer position i (n × d_ff, host): updates N_i, S_i and Δ_i. */
int d4s_update_layer(d4s_state *s, int i, const double *k, char *err, size_t errlen);

const double *d4s_delta(const d4s_state *s, int i); /* Δ_i (d × d_ff), device */
const double *d4s_factor(const d4s_state *s, int i); /* the Cholesky factor of C + S_i/λ in the lower triangle
                                                      * of a d_ff × d_ff device matrix */
int64_t d4s_edits(const d4s_state *s);              /* edits begun so far */
int d4s_layer(const d4s_state *s, int i);           /* model layer index of position i */
int d4s_n_layers(const d4s_state *s);
void d4s_dims(const d4s_state *s, int *d, int *d_ff);
double d4s_lambda(const d4s_state *s);

/* back to no edits (the log is cleared) */
int d4s_reset(d4s_state *s, char *err, size_t errlen);

/* the log as bytes: "KEDITD4S", version 2, d, d_ff, E, λ, t, number of batches, layers (int32), the
 * edits of each batch (int32), then per edit r_t (d) and k_{t,i} (E × d_ff) float64, little-endian.
 * *buf is malloc'd. Fails while an edit is incomplete. */
int d4s_serialise(const d4s_state *s, void **buf, size_t *len, char *err, size_t errlen);
/* A state rebuilt from such bytes by replaying the logged batches through the operations of
 * d4s_update_layer (N and S updated batch by batch; the factor and Δ recomputed where the edits last
 * recomputed them, RLS steps after that): with the same C and options (o) as the state that wrote it,
 * every matrix is bitwise that state's. Cost: the N/S updates of all edits, one factorisation per layer,
 * and the RLS steps since the last refactorisation. */
d4s_state *d4s_deserialise(const backend *be, const void *buf, size_t len, const float *const *C,
                           const d4s_opts *o, char *err, size_t errlen);
/* the log records of the last batch (*n edits, each d4s_record_len doubles: r_t, then k_{t,i} of every
 * layer), or NULL with *n = 0 before the first edit; valid until the next d4s_begin */
const double *d4s_last_batch(const d4s_state *s, int *n);
size_t d4s_record_len(const d4s_state *s); /* d + E·d_ff */
/* A state rebuilt from n_batch batches of batch_len[b] log records each (log: their records in order),
 * as d4s_deserialise does: bitwise the state that logged them, given the same C and options. */
d4s_state *d4s_from_log(const backend *be, int d, int d_ff, int E, const int *layers, double lambda,
                        int64_t n_batch, const int32_t *batch_len, const double *log, const float *const *C,
                        const d4s_opts *o, char *err, size_t errlen);
int d4s_save(const d4s_state *s, const char *path, char *err, size_t errlen);
d4s_state *d4s_load(const backend *be, const char *path, const float *const *C, const d4s_opts *o, char *err,
                    size_t errlen);

#endif
