/* One D4S update of one edited layer (spec §10.4): the exact path (S += kkᵀ, Cholesky of λC + S, Δ by two
 * triangular solves: O(d_ff³)) against the incremental path (a recursive-least-squares step and a rank-1
 * Cholesky update: O(d_ff²)), on the backend named by KEDIT_BENCH_BACKEND (default cpu), with d = d_ff/4
 * as in GPT-J/GPT-2 XL. Both paths start from the same 8 warm-up edits; the timed edit is the median of a
 * few. Prints seconds per update and the ratio exact/incremental, and checks the two Δ agree: to 1e-6
 * relative (Frobenius), spec §10.4's bound for the two paths; exit 1 when they do not.
 *   usage: bench_d4s [d_ff,d_ff,...]   (default 1024,4096,6400) */
#include "backend_by_name.h"
#include "methods/d4s.h"
#include "rng.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WARMUP_EDITS 8

static uint64_t rng = 42;

static double gauss(void) { return rng_gauss(&rng); }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* C = X·Xᵀ/m of m = 2·d_ff Gaussian vectors (positive definite), device float32 */
static float *random_cov(const backend *be, int f) {
    int m = 2 * f;
    size_t nx = (size_t)f * m, nn = (size_t)f * f;
    double *X = malloc(nx * sizeof(double));
    for (size_t i = 0; i < nx; i++) X[i] = gauss();
    double *Xd = be->alloc(nx * sizeof(double)), *Cd = be->alloc(nn * sizeof(double));
    be->to_device(Xd, X, nx * sizeof(double));
    be->dsyrk_acc(f, m, 1.0 / m, Xd, m, Cd, f);
    float *C = be->alloc(nn * sizeof(float));
    be->f64_to_f32(Cd, C, (int64_t)nn);
    be->free(Xd);
    be->free(Cd);
    free(X);
    return C;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median seconds of `reps` timed edits of state s (keys and residuals drawn fresh each time, rng reset so
 * both paths see the same ones) */
static double time_edits(d4s_state *s, int d, int f, int reps, uint64_t seed) {
    double *r = malloc((size_t)d * sizeof(double)), *k = malloc((size_t)f * sizeof(double)), t[16];
    char err[256];
    rng = seed;
    for (int e = 0; e < WARMUP_EDITS + reps; e++) {
        for (int j = 0; j < d; j++) r[j] = gauss();
        for (int j = 0; j < f; j++) k[j] = gauss();
        double t0 = now_s();
        if (d4s_begin(s, 1, r, err, sizeof err) || d4s_update_layer(s, 0, k, err, sizeof err)) {
            fprintf(stderr, "bench_d4s: %s\n", err);
            exit(1);
        }
        if (e >= WARMUP_EDITS) t[e - WARMUP_EDITS] = now_s() - t0;
    }
    free(r), free(k);
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    return t[reps / 2];
}

int main(int argc, char **argv) {
    const char *name = getenv("KEDIT_BENCH_BACKEND");
    const backend *be = backend_by_name(name ? name : "cpu");
    if (!be) return 2;
    const char *sizes = argc > 1 ? argv[1] : "1024,4096,6400";
    int failed = 0;
    printf("bench_d4s: one D4S update of one layer on the %s backend (median of timed edits after %d warm-up)\n",
           be->name, WARMUP_EDITS);
    printf("%7s %6s %5s %12s %16s %18s %14s\n", "d_ff", "d", "reps", "exact (s)", "incremental (s)",
           "exact/incremental", "rel. diff of Δ");
    for (const char *p = sizes; *p;) {
        char *end;
        long f = strtol(p, &end, 10);
        if (end == p || f < 8) {
            fprintf(stderr, "bench_d4s: '%s' is not a list of sizes like 1024,4096\n", sizes);
            return 2;
        }
        p = *end == ',' ? end + 1 : end;
        int d = (int)f / 4, layer = 0, reps = f <= 2048 ? 9 : 3;
        float *C = random_cov(be, (int)f);
        const float *Cs[1] = {C};
        char err[256];
        d4s_opts ex = {D4S_EXACT, 0, true}, inc = {D4S_INCREMENTAL, 0, false};
        d4s_state *a = d4s_create(be, d, (int)f, 1, &layer, 15000.0, Cs, &ex, err, sizeof err);
        d4s_state *b = a ? d4s_create(be, d, (int)f, 1, &layer, 15000.0, Cs, &inc, err, sizeof err) : NULL;
        if (!a || !b) {
            fprintf(stderr, "bench_d4s: %s\n", err);
            return 1;
        }
        double te = time_edits(a, d, (int)f, reps, 7), ti = time_edits(b, d, (int)f, reps, 7);
        size_t n = (size_t)d * f;
        double *da = malloc(n * sizeof(double)), *db = malloc(n * sizeof(double)), num = 0, den = 0;
        be->to_host(da, d4s_delta(a, 0), n * sizeof(double));
        be->to_host(db, d4s_delta(b, 0), n * sizeof(double));
        for (size_t i = 0; i < n; i++) num += (da[i] - db[i]) * (da[i] - db[i]), den += da[i] * da[i];
        double rel = sqrt(num / den);
        printf("%7ld %6d %5d %12.4f %16.5f %17.1fx %14.2e\n", f, d, reps, te, ti, te / ti, rel);
        fflush(stdout);
        if (!(rel <= 1e-6)) { // also refuses NaN
            fprintf(stderr, "bench_d4s: d_ff %ld: the exact and incremental Δ differ by %.3e (> 1e-6)\n", f, rel);
            failed = 1;
        }
        free(da), free(db);
        d4s_free(a), d4s_free(b);
        be->free(C);
    }
    return failed;
}
