#include "sample.h"

#include "rng.h"
#include "transformer.h"

#include <math.h>
#include <stdlib.h>

sampler sampler_make(float temperature, int top_k, uint64_t seed) {
    return (sampler){temperature, top_k, seed};
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef struct scored {
    float logit;
    int id;
} scored;

static int by_logit_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    return x->logit < y->logit ? 1 : x->logit > y->logit ? -1 : x->id - y->id;
}

int sample_next(sampler *s, const float *logits, int V) {
    if (s->temperature <= 0.0f) return argmax(logits, V);
    int k = s->top_k > 0 && s->top_k < V ? s->top_k : V;
    scored *c = malloc((size_t)V * sizeof *c);
    for (int i = 0; i < V; i++) c[i] = (scored){logits[i], i};
    qsort(c, (size_t)V, sizeof *c, by_logit_desc);
    double z = 0; // p_i ∝ exp((x_i − x_max)/T) over the k best
    for (int i = 0; i < k; i++) z += exp((c[i].logit - c[0].logit) / s->temperature);
    double u = rng_uniform01(&s->state) * z, acc = 0;
    int pick = c[k - 1].id;
    for (int i = 0; i < k; i++) {
        acc += exp((c[i].logit - c[0].logit) / s->temperature);
        if (u < acc) {
            pick = c[i].id;
            break;
        }
    }
    free(c);
    return pick;
}

int generate_tokens(const model *m, int *ids, int n_prompt, int steps, sampler *s, int stop_id) {
    int n = n_prompt, V = m->cfg.vocab;
    float *logits = malloc((size_t)V * sizeof(float));
    for (int step = 0; step < steps && n < m->cfg.n_ctx; step++) {
        const int *seq[1] = {ids};
        kbatch b = {1, &n, seq};
        kpos last = {0, n - 1};
        fwd_opts o = {.n_logit = 1, .logit_at = &last, .logits_host = logits, .bwd_from_layer = -1, .stop_layer = -1};
        fwd_state *st = transformer_forward(m, &b, &o);
        if (!st) {
            free(logits);
            return -1;
        }
        fwd_state_free(st);
        int next = sample_next(s, logits, V);
        if (next == stop_id) break;
        ids[n++] = next;
    }
    free(logits);
    return n;
}
