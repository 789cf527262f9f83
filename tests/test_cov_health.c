/* The health of a layer's keys (methods/cov_health.h, `kedit stats --report`): on matrices whose spectrum
 * is known by construction, and on every layer of the bundled fact-world model against PyTorch's numbers for
 * the same corpus (tests/reference/make_key_health_ref.py), including the failure that the report exists to
 * show (the committed model's edited layers 1–3: most inputs dead). The counts of layers and unhealthy
 * layers come from the fixture, so a rebuilt model needs only its fixture made again. Needs no shared data. */
#include "methods/cov_health.h"
#include "methods/covariance.h"
#include "model.h"
#include "test.h"
#include "test_cli.h"
#include "test_files.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>

#define FW "models/factworld"

/* C = Q diag(λ) Qᵀ (float32) with Q = I − 2vvᵀ/‖v‖², an orthogonal reflection that mixes every input */
static float *spectrum_matrix(const double *lambda, int d) {
    double *v = malloc((size_t)d * sizeof *v), vv = 0;
    for (int i = 0; i < d; i++) v[i] = 1.0 + 0.37 * i - 0.011 * i * i, vv += v[i] * v[i];
    float *C = malloc((size_t)d * d * sizeof *C);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double c = 0; // Σ_k Q_ik λ_k Q_jk
            for (int k = 0; k < d; k++) {
                double qik = (i == k) - 2 * v[i] * v[k] / vv, qjk = (j == k) - 2 * v[j] * v[k] / vv;
                c += qik * lambda[k] * qjk;
            }
            C[(size_t)i * d + j] = (float)c;
        }
    free(v);
    return C;
}

/* Σλ-normalised entropy rank and the 99% directions of a descending spectrum, from their definitions */
static void spectrum_ranks(const double *desc, int d, double *eff_rank, int *dirs99) {
    double total = 0, h = 0, cum = 0;
    for (int i = 0; i < d; i++) total += desc[i];
    *dirs99 = 0;
    for (int i = 0; i < d; i++) {
        double p = desc[i] / total;
        h -= p * log(p);
        if (cum < 0.99 * total) ++*dirs99;
        cum += desc[i];
    }
    *eff_rank = exp(h);
}

/* 40 eigenvalues spread over [1, 1e-3] and 24 at 1e-9: the small ones lie 1000× below the threshold, far
 * beyond float32's rounding of C (≈ 6e-8 of λ_max), the large ones 1000× above it */
static void test_known_spectrum(void) {
    enum { D = 64 };
    double lambda[D];
    for (int i = 0; i < D; i++) lambda[i] = i < 40 ? pow(10, -3.0 * i / 39) : 1e-9;
    float *C = spectrum_matrix(lambda, D);
    cov_health h;
    char err[256];
    CHECK(cov_health_of(C, D, 0, &h, err, sizeof err) == 0, "%s", err);
    CHECK(h.d == D && h.small_eigenvalues == 24, "small eigenvalues %d, want 24", h.small_eigenvalues);
    CHECK(h.dead_inputs == 0, "dead inputs %d: the reflection leaves no input without variance", h.dead_inputs);
    CHECK(fabs(h.lambda_max - 1) < 1e-6, "λ_max %.9g", h.lambda_max);
    double eff;
    int dirs;
    spectrum_ranks(lambda, D, &eff, &dirs); // the 1e-9 tail changes neither beyond 1e-7
    CHECK(fabs(h.effective_rank - eff) < 1e-5 * eff, "effective rank %.9g, want %.9g", h.effective_rank, eff);
    CHECK(h.directions_99 == dirs, "99%% directions %d, want %d", h.directions_99, dirs);
    CHECK(!cov_health_ok(&h), "24 of 64 small eigenvalues must be unhealthy");
    free(C);

    // well conditioned (all of [1, 1e-3]): the condition number is exact to float32's rounding of C
    double good[D];
    for (int i = 0; i < D; i++) good[i] = pow(10, -3.0 * i / (D - 1));
    C = spectrum_matrix(good, D);
    CHECK(cov_health_of(C, D, 0, &h, err, sizeof err) == 0, "%s", err);
    CHECK(fabs(h.condition / 1e3 - 1) < 1e-3, "condition %.9g, want 1000", h.condition);
    CHECK(h.small_eigenvalues == 0 && h.dead_inputs == 0 && cov_health_ok(&h), "healthy C judged unhealthy");

    // an εI added by cov_regularise is taken off: the same numbers as without it
    const double eps = 1e-4;
    for (int i = 0; i < D; i++) C[(size_t)i * D + i] += (float)eps;
    cov_health he;
    CHECK(cov_health_of(C, D, eps, &he, err, sizeof err) == 0, "%s", err);
    CHECK(fabs(he.condition / 1e3 - 1) < 1e-3, "condition after taking εI off %.9g, want 1000", he.condition);
    free(C);
}

/* dead inputs: 3 of 64 inputs with a second moment of 1e-9 of the largest and no covariance with the rest;
 * one at 1e-5 (alive) */
static void test_dead_inputs(void) {
    enum { D = 64 };
    double lambda[D];
    for (int i = 0; i < D; i++) lambda[i] = pow(10, -2.0 * i / (D - 1));
    float *C = spectrum_matrix(lambda, D);
    const int dead[3] = {5, 17, 40}, alive = 50;
    for (int t = 0; t < 4; t++) {
        int i = t < 3 ? dead[t] : alive;
        float keep = (float)(t < 3 ? 1e-9 : 1e-5) * C[0];
        for (int j = 0; j < D; j++) C[(size_t)i * D + j] = C[(size_t)j * D + i] = 0;
        C[(size_t)i * D + i] = keep;
    }
    cov_health h;
    char err[256];
    CHECK(cov_health_of(C, D, 0, &h, err, sizeof err) == 0, "%s", err);
    CHECK(h.dead_inputs == 3, "dead inputs %d, want 3", h.dead_inputs);
    CHECK(h.small_eigenvalues == 3, "small eigenvalues %d, want 3 (the dead inputs' own directions)",
          h.small_eigenvalues);
    CHECK(!cov_health_ok(&h), "3 of 64 dead inputs (4.7%%) must be unhealthy");
    free(C);
}

/* |a − b| ≤ near: a count differs from PyTorch's only by items at its threshold */
#define CHECK_COUNT(what, got, ref, near, layer)                                                            \
    CHECK(abs((got) - (ref)) <= (near), "layer %d: %s %d, PyTorch %d (%d near the threshold)", layer, what, \
          got, ref, near)

/* the fact-world model's layers over its covariance corpus, against PyTorch; then the command's report */
static void test_factworld_against_pytorch(void) {
    cJSON *ref = read_json("tests/fixtures/factworld/key_health.json");
    CHECK(ref != NULL, "tests/fixtures/factworld/key_health.json missing (make_key_health_ref.py)");
    if (!ref) return;
    char err[1024];
    const char *dir = TEST_FACTWORLD_STATS;
    model m;
    tokenizer *tok = tokenizer_load(FW "/gpt2", err, sizeof err);
    int loaded = tok && !model_load(FW "/gpt2", backend_cpu(), &m, err, sizeof err);
    CHECK(loaded, "%s", err);
    if (!loaded) {
        tokenizer_free(tok);
        return;
    }
    cJSON *layers = cJSON_GetObjectItem(ref, "layers");
    enum { MAX_LAYERS = 64 };
    int n = cJSON_GetArraySize(layers), ids[MAX_LAYERS];
    CHECK(n == m.cfg.n_layer && n <= MAX_LAYERS, "%d layers in the fixture, %d in the model", n, m.cfg.n_layer);
    if (n != m.cfg.n_layer || n > MAX_LAYERS) n = 0;
    for (int j = 0; j < n; j++) ids[j] = j;
    float *C[MAX_LAYERS];
    cov_info info[MAX_LAYERS];
    cov_opts o = {.corpus = FW "/data/corpus.txt", .cache_dir = dir, .checkpoint_seconds = -1};
    int rc = cov_get(&m, tok, ids, n, &o, C, info, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    CHECK(!rc && info[0].n_tokens == (int64_t)cJSON_GetObjectItem(ref, "n_tokens")->valuedouble,
          "tokens %lld, PyTorch %d", (long long)info[0].n_tokens, cJSON_GetObjectItem(ref, "n_tokens")->valueint);
    int d = m.cfg.d_ff;
    float *host = malloc((size_t)d * d * sizeof *host);
    for (int j = 0; j < n && !rc; j++) {
        cJSON *r = cJSON_GetArrayItem(layers, j);
#define REF(k) cJSON_GetObjectItem(r, k)->valueint
#define REFD(k) cJSON_GetObjectItem(r, k)->valuedouble
        cov_health h;
        m.be->to_host(host, C[j], (size_t)d * d * sizeof *host);
        CHECK(cov_health_of(host, d, info[j].eps, &h, err, sizeof err) == 0, "%s", err);
        CHECK_COUNT("dead inputs", h.dead_inputs, REF("dead_inputs"), REF("dead_inputs_near"), j);
        CHECK_COUNT("small eigenvalues", h.small_eigenvalues, REF("small_eigenvalues"),
                    REF("small_eigenvalues_near"), j);
        CHECK_COUNT("99% directions", h.directions_99, REF("directions_99"), REF("directions_99_near"), j);
        // kedit's and PyTorch's keys differ by float32 rounding (≈1e-6 relative); both spectra are read
        // from float32 C: 1e-4 relative on the spectrum's summaries is 100× that noise
        CHECK(fabs(h.lambda_max / REFD("lambda_max") - 1) < 1e-4, "layer %d: λ_max %.9g, PyTorch %.9g", j,
              h.lambda_max, REFD("lambda_max"));
        CHECK(fabs(h.effective_rank / REFD("effective_rank") - 1) < 1e-4, "layer %d: effective rank %.6g, "
              "PyTorch %.6g", j, h.effective_rank, REFD("effective_rank"));
        m.be->free(C[j]);
    }
    free(host);

    // the command: the same cache, a table with one line per layer, exit 4 when a layer is unhealthy
    int n_unhealthy = 0;
    for (int j = 0; j < n; j++) {
        cJSON *r = cJSON_GetArrayItem(layers, j);
        n_unhealthy += !(100 * REF("dead_inputs") <= d && 100 * REF("small_eigenvalues") <= d);
    }
    char out[1 << 14], range[32], summary[96];
    snprintf(range, sizeof range, "0-%d", n - 1);
    snprintf(summary, sizeof summary, "%d of %d layers have more than 1%%", n_unhealthy, n);
    const char *argv[] = {"stats", "--model", FW "/gpt2", "--layers", range, "--corpus", FW "/data/corpus.txt",
                          "--cache", dir, "--report", NULL};
    int st = kedit(argv, 0, out, sizeof out);
    CHECK(st == (n_unhealthy ? 4 : 0), "exit %d, want %d (%d unhealthy layers); output:\n%s", st,
          n_unhealthy ? 4 : 0, n_unhealthy, out);
    CHECK(strstr(out, "key health") && (!n_unhealthy || strstr(out, summary)), "report:\n%s", out);
    for (int j = 0; j < n; j++) {
        cJSON *r = cJSON_GetArrayItem(layers, j);
        bool ok = 100 * REF("dead_inputs") <= d && 100 * REF("small_eigenvalues") <= d;
        char head[32];
        snprintf(head, sizeof head, "\n%5d %6d ", j, d);
        const char *line = strstr(out, head), *end = line ? strchr(line + 1, '\n') : NULL;
        bool marked = line && end && memmem(line, (size_t)(end - line), "unhealthy", 9);
        CHECK(line && marked == !ok, "layer %d: %s line, want %s", j, line ? (marked ? "marked" : "unmarked") : "no",
              ok ? "healthy" : "unhealthy");
    }
#undef REF
#undef REFD
    tokenizer_free(tok);
    model_free(&m);
    cJSON_Delete(ref);
}

int main(void) {
    RUN(test_known_spectrum);
    RUN(test_dead_inputs);
    RUN(test_factworld_against_pytorch);
    return TEST_SUMMARY();
}
