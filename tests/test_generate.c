/* The real pretrained stories260K (llama2.c format) reproduces its published greedy sample from BOS,
 * byte for byte (the sentence quoted in ../shared/data/README.md), and seeded top-k sampling is
 * reproducible. Skips when ../shared/data is absent. */
#include "backend.h"
#include "model.h"
#include "sample.h"
#include "test.h"
#include "tokenizer.h"

static const char *const published =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball.";

/* 1: the shared data is absent; −1: it failed to load (a failed check); 0: m and *tok loaded */
static int load_stories(model *m, tokenizer **tok) {
    char mp[512], tp[512], err[1024];
    if (!test_data_path(mp, sizeof mp, "models/stories260K/stories260K.bin") ||
        !test_data_path(tp, sizeof tp, "models/stories260K/tok512.bin"))
        return 1;
    int bad = model_load(mp, backend_cpu(), m, err, sizeof err) != 0;
    CHECK(!bad, "%s", err);
    if (bad) return -1;
    *tok = tokenizer_load(tp, err, sizeof err);
    CHECK(*tok != NULL, "%s", err);
    if (!*tok) {
        model_free(m);
        return -1;
    }
    return 0;
}

static void test_stories_greedy(void) {
    model m;
    tokenizer *tok = NULL;
    int loaded = load_stories(&m, &tok);
    if (loaded > 0) SKIP("../shared/data/models/stories260K absent");
    if (loaded < 0) return;
    int steps = 60, ids[64] = {tokenizer_bos(tok)};
    sampler s = sampler_make(0.0f, 0, 0);
    int n = generate_tokens(&m, ids, 1, steps, &s, tokenizer_eos(tok));
    CHECK(n > 1, "nothing generated");
    char *text = tokenizer_decode(tok, ids, n, true);
    CHECK(strncmp(text, published, strlen(published)) == 0, "greedy sample differs:\n      got:  %s\n      want: %s...", text,
          published);
    free(text);
    tokenizer_free(tok);
    model_free(&m);
}

static void test_stories_topk_seeded(void) {
    model m;
    tokenizer *tok = NULL;
    int loaded = load_stories(&m, &tok);
    if (loaded > 0) SKIP("../shared/data/models/stories260K absent");
    if (loaded < 0) return;
    int a[40] = {tokenizer_bos(tok)}, b[40] = {tokenizer_bos(tok)}, c[40] = {tokenizer_bos(tok)};
    sampler sa = sampler_make(1.0f, 40, 7), sb = sampler_make(1.0f, 40, 7), sc = sampler_make(1.0f, 40, 8);
    int na = generate_tokens(&m, a, 1, 30, &sa, -1), nb = generate_tokens(&m, b, 1, 30, &sb, -1);
    int nc = generate_tokens(&m, c, 1, 30, &sc, -1);
    CHECK(na == 31 && nb == 31 && nc == 31, "lengths %d %d %d", na, nb, nc);
    CHECK(memcmp(a, b, sizeof a) == 0, "the same seed gave different samples");
    CHECK(memcmp(a, c, sizeof a) != 0, "different seeds gave the same 30-token sample");
    for (int i = 1; i < na; i++) CHECK(a[i] >= 0 && a[i] < m.cfg.vocab, "token %d out of range", a[i]);
    tokenizer_free(tok);
    model_free(&m);
}

int main(void) {
    RUN(test_stories_greedy);
    RUN(test_stories_topk_seeded);
    return TEST_SUMMARY();
}
