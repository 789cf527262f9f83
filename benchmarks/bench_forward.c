/* Forward throughput (tokens/s) of a GPT-2-small-shaped model with random weights on the CPU backend:
 * batches of B sequences of T tokens, logits at every position; then the same model with its linear
 * weights held in bf16, as a ratio to float32 in this process. benchmarks/forward.sh runs this and the
 * same forward in PyTorch on the same thread count, and prints the ratio. */
#include "random_gpt2.h"
#include "transformer.h"

#include <stdio.h>

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 4, T = argc > 2 ? atoi(argv[2]) : 128, reps = argc > 3 ? atoi(argv[3]) : 3;
    const backend *be = backend_cpu();
    model m = {0};
    gpt2_small(be, &m);
    int *len = malloc((size_t)B * sizeof(int)), **ids = malloc((size_t)B * sizeof(int *));
    for (int b = 0; b < B; b++) {
        len[b] = T;
        ids[b] = malloc((size_t)T * sizeof(int));
        for (int t = 0; t < T; t++) ids[b][t] = (int)((uint64_t)(frand() + 1.0f) * 25000) % m.cfg.vocab;
    }
    kbatch batch = {B, len, (const int *const *)ids};
    fwd_opts o = {.n_logit = -1, .bwd_from_layer = -1, .stop_layer = -1};
    double best[2];
    for (int bf16 = 0; bf16 < 2; bf16++) {
        if (bf16) linears_to_bf16(&m);
        fwd_state_free(transformer_forward(&m, &batch, &o)); // warm-up
        best[bf16] = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            fwd_state_free(transformer_forward(&m, &batch, &o));
            double dt = now() - t0;
            best[bf16] = dt < best[bf16] ? dt : best[bf16];
        }
    }
    printf("kedit forward: GPT-2 small shape, batch %d x %d tokens, logits at every position: %.0f tokens/s (best of %d)\n",
           B, T, B * T / best[0], reps);
    printf("kedit forward with bf16 linear weights: %.0f tokens/s, %.2fx the float32 throughput\n", B * T / best[1],
           best[0] / best[1]);
    return 0;
}
