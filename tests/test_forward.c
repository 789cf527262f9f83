/* The forward and backward of the three architectures against the PyTorch/transformers reference states
 * of tests/fixtures/{gpt2,gptj,llama}/reference.safetensors (tests/reference/make_fixtures.py; the
 * fixtures' README gives every tensor's meaning). Each reference sequence was run alone; here the three
 * run as one right-padded batch, so agreement also proves that padding changes no number.
 *
 * Tolerances. Logits and activations: max-abs ≤ 1e-4. Both sides compute in float32 with values of
 * order 1–10; different summation orders (OpenBLAS vs PyTorch kernels) give differences of a few ulp per
 * op (~1e-6 relative), far below 1e-4 over three layers, while any real mistake (a wrong mask, position or
 * norm) moves logits by ≥ 1e-2. Gradients: ‖a − b‖/‖b‖ ≤ 1e-4, scale-free because gradient magnitudes
 * differ by orders across tensors; float32 backprop through three blocks accumulates ~1e-6 relative.
 *
 * Every test runs twice: with float32 weights against reference.safetensors (tests/reference/
 * make_fixtures.py), and with the linear layers held in bf16 (model_load_as KT_BF16) against
 * reference_bf16.safetensors (make_bf16_ref.py: PyTorch with those weights rounded to bf16 the same
 * way). Both sides then compute in float32 from identical weight values, so the same tolerances hold;
 * the rounding itself moves the logits by 2.6e-2 (GPT-2) and 4.5e-2 (Llama), far outside them. (GPT-J's
 * checkpoint is stored in BF16 already: there rounding changes nothing.)
 *
 * KEDIT_TEST_DEVICE=cuda runs all of it on the GPU (make test-gpu), where cuBLAS's float32 products
 * differ from OpenBLAS's by a few ulp like PyTorch's do, and the bf16 products add the split-A residual
 * (≤ 3.8e-6 relative, kernels/gemm.cu): still far inside 1e-4. */
#include "backend.h"
#include "model.h"
#include "safetensors.h"
#include "sample.h"
#include "test.h"
#include "test_device.h"
#include "transformer.h"

#define N_SEQ 3

typedef struct fixture {
    model m;
    st_set ref;
    int len[N_SEQ];
    int *ids[N_SEQ];
} fixture;

/* a reference tensor as a malloc'd float array (NULL with a failed check when absent) */
static float *ref_f32(const fixture *f, const char *name, int64_t *numel) {
    const st_tensor *t = st_find(&f->ref, name);
    CHECK(t != NULL, "reference tensor %s missing", name);
    if (!t) return NULL;
    float *x = malloc((size_t)t->numel * sizeof(float));
    char err[256];
    CHECK(st_read_f32(t, x, err, sizeof err) == 0, "%s", err);
    if (numel) *numel = t->numel;
    return x;
}

/* the fixture model on be with its linears held as wt, and the reference states computed that way */
static int fixture_open(fixture *f, const backend *be, const char *arch, kweight_type wt) {
    char dir[256], path[300], err[1024];
    snprintf(dir, sizeof dir, "tests/fixtures/%s", arch);
    snprintf(path, sizeof path, "%s/%s", dir, wt == KT_BF16 ? "reference_bf16.safetensors" : "reference.safetensors");
    memset(f, 0, sizeof *f);
    if (model_load_as(dir, be, wt, &f->m, err, sizeof err)) {
        CHECK(0, "loading %s: %s", dir, err);
        return -1;
    }
    if (st_open_file(path, &f->ref, err, sizeof err)) {
        CHECK(0, "%s", err);
        return -1;
    }
    for (int i = 0; i < N_SEQ; i++) {
        char name[32];
        snprintf(name, sizeof name, "ids_%d", i);
        const st_tensor *t = st_find(&f->ref, name);
        CHECK(t && t->dtype == ST_OTHER && t->nbytes == (size_t)t->numel * 4, "ids tensor %s (int32)", name);
        if (!t) return -1;
        f->len[i] = (int)t->numel;
        f->ids[i] = malloc(t->nbytes);
        memcpy(f->ids[i], t->data, t->nbytes);
    }
    return 0;
}

static void fixture_close(fixture *f) {
    for (int i = 0; i < N_SEQ; i++) free(f->ids[i]);
    st_close(&f->ref);
    model_free(&f->m);
}

static kbatch fixture_batch(const fixture *f) { return (kbatch){N_SEQ, f->len, (const int *const *)f->ids}; }

/* every position of every sequence, in batch order */
static kpos *all_positions(const fixture *f, int *n) {
    *n = 0;
    for (int i = 0; i < N_SEQ; i++) *n += f->len[i];
    kpos *at = malloc((size_t)*n * sizeof(kpos));
    for (int i = 0, j = 0; i < N_SEQ; i++)
        for (int t = 0; t < f->len[i]; t++) at[j++] = (kpos){i, t};
    return at;
}

/* compares rows of x (batch order) with the per-sequence reference tensors prefix_i */
static void check_rows(const fixture *f, const float *x, int dim, const char *prefix, double tol) {
    size_t off = 0;
    for (int i = 0; i < N_SEQ; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s_%d", prefix, i);
        int64_t n;
        float *r = ref_f32(f, name, &n);
        if (!r) return;
        CHECK(n == (int64_t)f->len[i] * dim, "%s has %ld values, expected %d", name, (long)n, f->len[i] * dim);
        double e = max_abs_diff(x + off, r, n);
        CHECK(e <= tol, "%s: max-abs error %.3g > %.1g", name, e, tol);
        off += (size_t)n;
        free(r);
    }
}

static void forward_parity(const char *arch, kweight_type wt) {
    NEED_BACKEND(be);
    fixture f;
    if (fixture_open(&f, be, arch, wt)) return;
    const model_config *c = &f.m.cfg;
    int n;
    kpos *at = all_positions(&f, &n);
    float *logits = malloc((size_t)n * c->vocab * sizeof(float));
    float *key = malloc((size_t)n * c->d_ff * sizeof(float)), *h = malloc((size_t)n * c->d * sizeof(float));
    khook hooks[2] = {{HOOK_CAPTURE, SITE_MLP_KEY, 1, n, at, key, false}, {HOOK_CAPTURE, SITE_BLOCK_OUT, 1, n, at, h, false}};
    kbatch b = fixture_batch(&f);
    fwd_opts o = {.hooks = hooks, .n_hooks = 2, .n_logit = -1, .logits_host = logits, .bwd_from_layer = -1, .stop_layer = -1};
    fwd_state *s = transformer_forward(&f.m, &b, &o);
    CHECK(s != NULL, "forward failed");
    fwd_state_free(s);
    check_rows(&f, logits, c->vocab, "logits", 1e-4);
    check_rows(&f, key, c->d_ff, "key_l1", 1e-4);
    check_rows(&f, h, c->d, "h_l1", 1e-4);
    free(logits);
    free(key);
    free(h);
    free(at);
    fixture_close(&f);
}

/* The reference loss: for each sequence i the NLL of its last two tokens (weight 1/3 · 1/2 each), plus
 * 0.5·KL(p ‖ ref) at the last position of sequence 2, with δ0, δ1 added to the outputs of blocks 0 and 1
 * at position 2 of every sequence. */
typedef struct loss_setup {
    kpos at[2 * N_SEQ + 1];
    int y[2 * N_SEQ + 1];
    float w_nll[2 * N_SEQ + 1];
    float *ref_logp;  /* (V) device: the KL row's reference */
    kl_term kl;
    kpos delta_at[N_SEQ];
} loss_setup;

static void loss_setup_make(const fixture *f, loss_setup *L, const float *ref_row) {
    int V = f->m.cfg.vocab, r = 0;
    for (int i = 0; i < N_SEQ; i++) {
        L->delta_at[i] = (kpos){i, 2};
        for (int t = f->len[i] - 2; t < f->len[i]; t++) {
            L->at[r] = (kpos){i, t - 1}; // the logits at t − 1 predict token t
            L->y[r] = f->ids[i][t];
            L->w_nll[r++] = 1.0f / (N_SEQ * 2);
        }
    }
    L->at[r] = (kpos){2, f->len[2] - 1};
    L->y[r] = 0;
    L->w_nll[r] = 0.0f;
    L->ref_logp = f->m.be->alloc((size_t)V * sizeof(float));
    f->m.be->to_device(L->ref_logp, ref_row, (size_t)V * sizeof(float));
    L->kl = (kl_term){r, 0.5f, L->ref_logp};
}

/* forward with δ0, δ1 added, then the loss; returns the state (kept for the backward from layer 0) */
static fwd_state *loss_forward(const fixture *f, const loss_setup *L, float *d0, float *d1, double *loss,
                               float *logits_all) {
    kbatch b = fixture_batch(f);
    khook add[2] = {{HOOK_ADD, SITE_BLOCK_OUT, 0, N_SEQ, L->delta_at, d0, true},
                    {HOOK_ADD, SITE_BLOCK_OUT, 1, N_SEQ, L->delta_at, d1, true}};
    if (logits_all) { // the logits at every position, for the ADD hook check
        fwd_opts o = {.hooks = add, .n_hooks = 2, .n_logit = -1, .logits_host = logits_all, .bwd_from_layer = -1, .stop_layer = -1};
        fwd_state_free(transformer_forward(&f->m, &b, &o));
    }
    fwd_opts o = {.hooks = add, .n_hooks = 2, .n_logit = 2 * N_SEQ + 1, .logit_at = L->at, .bwd_from_layer = 0, .stop_layer = -1};
    fwd_state *s = transformer_forward(&f->m, &b, &o);
    CHECK(s != NULL, "forward failed");
    if (s) *loss = transformer_loss(&f->m, s, L->y, L->w_nll, &L->kl, NULL);
    return s;
}

static void check_grad(const fixture *f, const char *name, const float *g, int64_t n) {
    int64_t rn;
    float *r = ref_f32(f, name, &rn);
    if (!r) return;
    CHECK(rn == n, "%s: %ld values, expected %ld", name, (long)rn, (long)n);
    double e = rel_err(g, r, n);
    CHECK(e <= 1e-4, "%s: relative error %.3g > 1e-4", name, e);
    free(r);
}

static void backward_parity(const char *arch, kweight_type wt) {
    NEED_BACKEND(be);
    fixture f;
    if (fixture_open(&f, be, arch, wt)) return;
    const model_config *c = &f.m.cfg;
    float *d0 = ref_f32(&f, "delta_l0", NULL), *d1 = ref_f32(&f, "delta_l1", NULL), *ref = ref_f32(&f, "ref_logp", NULL);
    float *loss_ref = ref_f32(&f, "loss", NULL);
    if (!d0 || !d1 || !ref || !loss_ref) return;
    loss_setup L;
    loss_setup_make(&f, &L, ref);
    int n;
    kpos *at = all_positions(&f, &n);
    float *logits = malloc((size_t)n * c->vocab * sizeof(float));
    double loss;
    fwd_state *s = loss_forward(&f, &L, d0, d1, &loss, logits);
    if (!s) return;
    check_rows(&f, logits, c->vocab, "logits_delta", 1e-4);
    CHECK(fabs(loss - loss_ref[0]) <= 1e-5 * fabs(loss_ref[0]), "loss %.8g vs reference %.8g", loss, loss_ref[0]);

    float *g0 = calloc((size_t)c->d, sizeof(float)), *g1 = calloc((size_t)c->d, sizeof(float));
    float *dW = calloc((size_t)c->d * c->d_ff, sizeof(float)), *db = calloc((size_t)c->d_ff, sizeof(float));
    khook grads[2] = {{HOOK_ADD, SITE_BLOCK_OUT, 0, N_SEQ, L.delta_at, g0, true},
                      {HOOK_ADD, SITE_BLOCK_OUT, 1, N_SEQ, L.delta_at, g1, true}};
    bwd_opts bo = {.grads = grads, .n_grads = 2, .wgrad_layer = 1, .wgrad_which = 0, .dW = dW, .db = db};
    CHECK(transformer_backward(&f.m, s, &bo) == 0, "backward failed");
    check_grad(&f, "grad_delta_l0", g0, c->d);
    check_grad(&f, "grad_delta_l1", g1, c->d);
    check_grad(&f, "grad_wout_l1", dW, (int64_t)c->d * c->d_ff);
    if (f.m.layers[1].mlp_out.b) check_grad(&f, "grad_bout_l1", db, c->d);
    bwd_opts bi = {.wgrad_layer = 1, .wgrad_which = 1, .dW = dW, .db = db};
    CHECK(transformer_backward(&f.m, s, &bi) == 0, "backward failed");
    check_grad(&f, "grad_win_l1", dW, (int64_t)c->d_ff * c->d);
    if (f.m.layers[1].mlp_in.b) check_grad(&f, "grad_bin_l1", db, c->d_ff);
    fwd_state_free(s);

    /* finite differences along a direction u of δ1: (L(δ+εu) − L(δ−εu))/2ε ≈ g1·u. With ε = 1e-2 on δ
     * of norm ~0.5 the central difference's truncation error is O(ε²) ~ 1e-4 relative; float32 rounding
     * of L (~1e-7·L) adds ~1e-7·L/ε ~ 1e-5 absolute, so u is taken half along g1 (u ∝ g1/‖g1‖ + s/‖s‖,
     * s a fixed direction) to keep g1·u ≈ 0.7‖g1‖ well above that noise: 2e-3 relative leaves room. */
    float *u = malloc((size_t)c->d * sizeof(float)), *dp = malloc((size_t)c->d * sizeof(float));
    double gu = 0, sn = 0, gn = 0, un = 0;
    for (int j = 0; j < c->d; j++) {
        double sj = sin(1.0 + 3.7 * j);
        sn += sj * sj;
        gn += (double)g1[j] * g1[j];
    }
    for (int j = 0; j < c->d; j++) {
        u[j] = (float)(g1[j] / sqrt(gn) + sin(1.0 + 3.7 * j) / sqrt(sn));
        un += (double)u[j] * u[j];
    }
    for (int j = 0; j < c->d; j++) {
        u[j] = (float)(u[j] / sqrt(un));
        gu += (double)g1[j] * u[j];
    }
    const float eps = 1e-2f;
    double lp, lm;
    for (int j = 0; j < c->d; j++) dp[j] = d1[j] + eps * u[j];
    fwd_state_free(loss_forward(&f, &L, d0, dp, &lp, NULL));
    for (int j = 0; j < c->d; j++) dp[j] = d1[j] - eps * u[j];
    fwd_state_free(loss_forward(&f, &L, d0, dp, &lm, NULL));
    double fd = (lp - lm) / (2 * eps);
    CHECK(fabs(fd - gu) <= 2e-3 * fabs(gu) + 1e-6, "finite difference %.6g vs analytic %.6g", fd, gu);

    free(u);
    free(dp);
    free(g0);
    free(g1);
    free(dW);
    free(db);
    free(logits);
    free(at);
    f.m.be->free(L.ref_logp);
    free(d0);
    free(d1);
    free(ref);
    free(loss_ref);
    fixture_close(&f);
}

/* Starting at block 2 from block 1's output of a forward that stopped there (with δ0 added at block 0's
 * output), δ1 added to that output on the start, gives the same logits as the whole forward with both δs
 * (bitwise: the same ops on the same inputs) and the reference gradient of δ1 both at block 1's output
 * and at block 2's input, which are one value. Starting at the final norm from the output of every block
 * gives the same logits, and the same gradient at the last block's output, too. */
static void start_layer_parity(const char *arch, kweight_type wt) {
    NEED_BACKEND(be);
    fixture f;
    if (fixture_open(&f, be, arch, wt)) return;
    const model_config *c = &f.m.cfg;
    float *d0 = ref_f32(&f, "delta_l0", NULL), *d1 = ref_f32(&f, "delta_l1", NULL), *ref = ref_f32(&f, "ref_logp", NULL);
    if (!d0 || !d1 || !ref) return;
    loss_setup L;
    loss_setup_make(&f, &L, ref);
    int nl = 2 * N_SEQ + 1;
    size_t bytes = (size_t)nl * c->vocab * sizeof(float);
    float *full = malloc(bytes), *part = malloc(bytes), *g1 = calloc((size_t)4 * c->d, sizeof(float)), *g2 = g1 + c->d;
    float *g_top = g2 + c->d, *g_top_ref = g_top + c->d; // ∂L/∂δ1 at the last block's output: from the top, whole
    khook top = {HOOK_CAPTURE, SITE_BLOCK_OUT, c->n_layer - 1, N_SEQ, L.delta_at, g_top_ref, true};
    bwd_opts bo_top = {.grads = &top, .n_grads = 1, .wgrad_layer = -1};
    kbatch b = fixture_batch(&f);
    khook hooks[2] = {{HOOK_ADD, SITE_BLOCK_OUT, 0, N_SEQ, L.delta_at, d0, true},
                      {HOOK_ADD, SITE_BLOCK_OUT, 1, N_SEQ, L.delta_at, d1, true}};
    fwd_opts o = {.hooks = hooks, .n_hooks = 2, .n_logit = nl, .logit_at = L.at, .logits_host = full,
                  .bwd_from_layer = c->n_layer - 1, .stop_layer = -1};
    fwd_state *s = transformer_forward(&f.m, &b, &o);
    if (s) transformer_loss(&f.m, s, L.y, L.w_nll, &L.kl, NULL);
    CHECK(s && transformer_backward(&f.m, s, &bo_top) == 0, "the whole forward and backward failed");
    float *out_all = s ? fwd_state_take_resid(s, c->n_layer) : NULL; // every block's output, both δs in
    fwd_state_free(s);
    fwd_opts pre = {.hooks = hooks, .n_hooks = 1, .bwd_from_layer = -1, .stop_layer = 1};
    s = transformer_forward(&f.m, &b, &pre);
    float *out1 = s ? fwd_state_take_resid(s, 2) : NULL; // block 1's output, δ0 in
    CHECK(out_all && out1 && !fwd_state_take_resid(s, 1), "the residual handed over at the wrong layer");
    if (!out_all || !out1) return;
    fwd_state_free(s);
    fwd_opts o2 = {.hooks = hooks + 1, .n_hooks = 1, .n_logit = nl, .logit_at = L.at, .logits_host = part,
                   .bwd_from_layer = 2, .stop_layer = -1, .start_layer = 2, .start_resid = out1};
    s = transformer_forward(&f.m, &b, &o2);
    CHECK(s != NULL, "forward from layer 2 failed");
    if (s) {
        CHECK(memcmp(full, part, bytes) == 0, "logits differ when starting at block 2");
        transformer_loss(&f.m, s, L.y, L.w_nll, &L.kl, NULL);
        khook g[2] = {{HOOK_CAPTURE, SITE_BLOCK_OUT, 1, N_SEQ, L.delta_at, g1, true},
                      {HOOK_CAPTURE, SITE_RESID_IN, 2, N_SEQ, L.delta_at, g2, true}};
        bwd_opts bo = {.grads = g, .n_grads = 2, .wgrad_layer = -1};
        CHECK(transformer_backward(&f.m, s, &bo) == 0, "backward failed");
        check_grad(&f, "grad_delta_l1", g1, c->d);
        check_grad(&f, "grad_delta_l1", g2, c->d);
        fwd_state_free(s);
    }
    fwd_opts o3 = {.n_logit = nl, .logit_at = L.at, .logits_host = part, .bwd_from_layer = -1, .stop_layer = -1,
                   .start_layer = c->n_layer, .start_resid = out_all};
    s = transformer_forward(&f.m, &b, &o3);
    CHECK(s && memcmp(full, part, bytes) == 0, "logits differ when starting at the final norm");
    if (s) {
        transformer_loss(&f.m, s, L.y, L.w_nll, &L.kl, NULL);
        top.data = g_top;
        CHECK(transformer_backward(&f.m, s, &bo_top) == 0, "backward from the final norm failed");
        CHECK(memcmp(g_top, g_top_ref, (size_t)c->d * sizeof(float)) == 0,
              "the gradient at the last block's output differs when starting at the final norm");
    }
    fwd_state_free(s);
    be->free(out_all);
    be->free(out1);
    free(full);
    free(part);
    free(g1);
    f.m.be->free(L.ref_logp);
    free(d0);
    free(d1);
    free(ref);
    fixture_close(&f);
}

/* greedy continuation of sequence 0 equals transformers' greedy decoding */
static void greedy_parity(const char *arch, kweight_type wt) {
    NEED_BACKEND(be);
    fixture f;
    if (fixture_open(&f, be, arch, wt)) return;
    const st_tensor *t = st_find(&f.ref, "greedy_ids");
    CHECK(t != NULL, "greedy_ids missing");
    if (t) {
        int steps = (int)t->numel, *ids = malloc((size_t)(f.len[0] + steps) * sizeof(int));
        memcpy(ids, f.ids[0], (size_t)f.len[0] * sizeof(int));
        sampler s = sampler_make(0.0f, 0, 1);
        int n = generate_tokens(&f.m, ids, f.len[0], steps, &s, -1);
        CHECK(n == f.len[0] + steps, "generated %d tokens", n - f.len[0]);
        CHECK(memcmp(ids + f.len[0], t->data, (size_t)steps * sizeof(int)) == 0, "greedy continuation differs");
        free(ids);
    }
    fixture_close(&f);
}

/* a capture at a position beyond a sequence's length is refused, not read out of bounds */
static void test_bad_position(void) {
    NEED_BACKEND(be);
    fixture f;
    if (fixture_open(&f, be, "gpt2", KT_F32)) return;
    float buf[128];
    kpos bad = {1, f.len[1]};
    khook hk = {HOOK_CAPTURE, SITE_BLOCK_OUT, 0, 1, &bad, buf, false};
    kbatch b = fixture_batch(&f);
    fwd_opts o = {.hooks = &hk, .n_hooks = 1, .bwd_from_layer = -1, .stop_layer = -1};
    CHECK(transformer_forward(&f.m, &b, &o) == NULL, "out-of-range position accepted");
    fixture_close(&f);
}

/* test_<kind>_<arch> with float32 weights, test_<kind>_<arch>_bf16 with bf16 linears */
#define ARCH_TESTS(kind)                                                                                     \
    static void test_##kind##_gpt2(void) { kind##_parity("gpt2", KT_F32); }                                  \
    static void test_##kind##_gptj(void) { kind##_parity("gptj", KT_F32); }                                  \
    static void test_##kind##_llama(void) { kind##_parity("llama", KT_F32); }                                \
    static void test_##kind##_gpt2_bf16(void) { kind##_parity("gpt2", KT_BF16); }                            \
    static void test_##kind##_gptj_bf16(void) { kind##_parity("gptj", KT_BF16); }                            \
    static void test_##kind##_llama_bf16(void) { kind##_parity("llama", KT_BF16); }
#define RUN_ARCH_TESTS(kind)                                                                                 \
    do {                                                                                                     \
        RUN(test_##kind##_gpt2);                                                                             \
        RUN(test_##kind##_gptj);                                                                             \
        RUN(test_##kind##_llama);                                                                            \
        RUN(test_##kind##_gpt2_bf16);                                                                        \
        RUN(test_##kind##_gptj_bf16);                                                                        \
        RUN(test_##kind##_llama_bf16);                                                                       \
    } while (0)

ARCH_TESTS(forward)
ARCH_TESTS(backward)
ARCH_TESTS(start_layer)
ARCH_TESTS(greedy)

int main(void) {
    RUN_ARCH_TESTS(forward);
    RUN_ARCH_TESTS(backward);
    RUN_ARCH_TESTS(start_layer);
    RUN_ARCH_TESTS(greedy);
    RUN(test_bad_position);
    return TEST_SUMMARY();
}
