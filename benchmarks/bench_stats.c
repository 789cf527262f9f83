/* The covariance statistics (kedit stats, editing-spec §10.5) per million tokens on a GPT-2-small-shaped
 * random model (d_ff 3072), beside the reference run in the same process: the forward alone over the
 * same windows, up to the deepest layer the statistics need (what accumulating Σ k kᵀ adds to it).
 * Usage: bench_stats [WINDOWS] [TOKENS_PER_WINDOW] [LAYERS], e.g. bench_stats 8 512 3. */
#include "methods/covariance.h"
#include "random_gpt2.h"
#include "transformer.h"

#include <stdio.h>

int main(int argc, char **argv) {
    int W = argc > 1 ? atoi(argv[1]) : 8, T = argc > 2 ? atoi(argv[2]) : 512, E = argc > 3 ? atoi(argv[3]) : 3;
    if (W < 1 || T < 2 || T > 1024 || E < 1 || E > 12) {
        fprintf(stderr, "usage: bench_stats [WINDOWS] [TOKENS_PER_WINDOW ≤ 1024] [LAYERS ≤ 12]\n");
        return 2;
    }
    const backend *be = backend_cpu();
    model m = {0};
    gpt2_small(be, &m);
    corpus_plan plan = {.n_docs = W, .n_win = W};
    plan.start = malloc((size_t)(W + 1) * sizeof *plan.start);
    plan.ids = malloc((size_t)W * T * sizeof *plan.ids);
    for (int w = 0; w <= W; w++) plan.start[w] = (int64_t)w * T;
    for (long i = 0; i < (long)W * T; i++) plan.ids[i] = (int)(i * 7919 % m.cfg.vocab);
    plan.n_tokens = (int64_t)W * T;
    int layers[12];
    for (int i = 0; i < E; i++) layers[i] = 3 + i; // MEMIT-like consecutive layers, the deepest 2 + E
    // reference: the forward over the same batches (4096 tokens each, as cov_compute), stopping at the
    // deepest layer
    int per_batch = 4096 / T > 0 ? 4096 / T : 1;
    double t0 = now();
    for (int w = 0; w < W; w += per_batch) {
        int nb = W - w < per_batch ? W - w : per_batch;
        int *len = malloc((size_t)nb * sizeof(int));
        const int **ids = malloc((size_t)nb * sizeof *ids);
        for (int b = 0; b < nb; b++) len[b] = T, ids[b] = plan.ids + (size_t)(w + b) * T;
        kbatch batch = {nb, len, ids};
        fwd_opts o = {.n_logit = 0, .bwd_from_layer = -1, .stop_layer = layers[E - 1]};
        fwd_state_free(transformer_forward(&m, &batch, &o));
        free(len);
        free((void *)ids);
    }
    double t_fwd = now() - t0;
    cov_opts co = {.batch_tokens = 4096};
    double **C = calloc((size_t)E, sizeof *C);
    char err[512];
    t0 = now();
    if (cov_compute(&m, &plan, layers, E, &co, C, err, sizeof err)) {
        fprintf(stderr, "bench_stats: %s\n", err);
        return 1;
    }
    double t_cov = now() - t0, mtok = (double)plan.n_tokens / 1e6;
    printf("bench_stats: GPT-2 small shape (d_ff %d), %d windows x %d tokens, statistics of %d layers\n",
           m.cfg.d_ff, W, T, E);
    printf("  forward to layer %d alone: %8.1f s per million tokens\n", layers[E - 1], t_fwd / mtok);
    printf("  kedit statistics:          %8.1f s per million tokens (%.2fx the forward alone)\n", t_cov / mtok,
           t_cov / t_fwd);
    for (int i = 0; i < E; i++) free(C[i]);
    free(C);
    return 0;
}
