/* The evaluation metrics against tests/fixtures/metrics/reference.json, written by
 * tests/reference/make_metrics_ref.py with transformers on the tiny GPT-2 of tests/fixtures/gpt2 (each
 * sequence run alone): request scores before and after adding the fixed ΔW of delta.safetensors to layer
 * 1's W_out, under both protocols, with the W₀ argmax cache; perplexity over windows; and the token ids
 * of real requests under the GPT-2 and Llama-2 tokenizers (leading space on targets, BOS dropped).
 *
 * Tolerances. Accuracies, argmaxes and the success flag are compared exactly: the reference's smallest
 * gap between the two largest logits at a scored row is 5.4e-3 (printed by the script), while kedit's
 * float32 logits differ from PyTorch's by ~1e-6 (tests/test_forward.c bounds them by 1e-4), so no argmax
 * can flip. Mean NLLs: |Δ| ≤ 2e-4 nats, twice the logit bound (a log-softmax moves by at most twice
 * the largest logit change). Target probability and perplexity are exp of such means: relative ≤ 2e-4. */
#include "backend.h"
#include "json_file.h"
#include "model.h"
#include "run/dataset.h"
#include "run/metrics.h"
#include "safetensors.h"
#include "test.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>

#define FIX "tests/fixtures/metrics"
#define NLL_TOL 2e-4
#define REL_TOL 2e-4

static const cJSON *get(const cJSON *o, const char *name) { return cJSON_GetObjectItemCaseSensitive(o, name); }
static double num(const cJSON *o, const char *name) { return cJSON_GetNumberValue(get(o, name)); }

/* a JSON list of ints as an id sequence */
static id_seq ids_of(const cJSON *list) {
    id_seq s = {malloc(((size_t)cJSON_GetArraySize(list) + 1) * sizeof(int)), 0};
    const cJSON *e;
    cJSON_ArrayForEach(e, list) s.ids[s.n++] = (int)e->valuedouble;
    return s;
}

static id_seq *seqs_of(const cJSON *lists, int *n) {
    *n = cJSON_GetArraySize(lists);
    id_seq *s = calloc((size_t)*n + 1, sizeof(id_seq));
    for (int i = 0; i < *n; i++) s[i] = ids_of(cJSON_GetArrayItem(lists, i));
    return s;
}

/* the reference's requests as an eval_set (no tokenizer: the model's vocabulary is 101 ids) */
static void set_from_json(const cJSON *reqs, eval_protocol p, eval_set *s) {
    s->protocol = p;
    s->n = cJSON_GetArraySize(reqs);
    s->req = calloc((size_t)s->n, sizeof(eval_request));
    for (int i = 0; i < s->n; i++) {
        const cJSON *r = cJSON_GetArrayItem(reqs, i);
        eval_request *q = &s->req[i];
        int n_ans;
        q->prompt = ids_of(get(r, "prompt"));
        q->target_new = ids_of(get(r, "target_new"));
        q->target_true = ids_of(get(r, "target_true"));
        q->rephrase = seqs_of(get(r, "rephrase"), &q->n_rephrase);
        q->loc = seqs_of(get(r, "loc"), &q->n_loc);
        q->loc_ans = seqs_of(get(r, "loc_ans"), &n_ans);
    }
}

static cJSON *load_ref(void) {
    char err[512];
    cJSON *ref = json_file_read(FIX "/reference.json", err, sizeof err);
    CHECK(ref != NULL, "%s", err);
    return ref;
}

static int load_model(model *m) {
    char err[1024];
    int rc = model_load("tests/fixtures/gpt2", backend_cpu(), m, err, sizeof err);
    CHECK(rc == 0, "loading tests/fixtures/gpt2: %s", err);
    return rc;
}

/* W_out of layer `layer` += ΔW (d × d_ff, math orientation, as the model stores it) */
static void apply_delta(model *m, int layer) {
    char err[512];
    st_set st;
    int rc = st_open_file(FIX "/delta.safetensors", &st, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    const st_tensor *t = st_find(&st, "delta_wout_l1");
    linear *w = &m->layers[layer].mlp_out;
    CHECK(t && t->numel == (int64_t)w->out * w->in, "delta_wout_l1 missing or not %d × %d", w->out, w->in);
    if (t && t->numel == (int64_t)w->out * w->in) {
        size_t n = (size_t)t->numel;
        float *delta = malloc(n * sizeof(float)), *host = malloc(n * sizeof(float));
        CHECK(st_read_f32(t, delta, err, sizeof err) == 0, "%s", err);
        m->be->to_host(host, w->w, n * sizeof(float));
        for (size_t i = 0; i < n; i++) host[i] += delta[i];
        m->be->to_device(w->w, host, n * sizeof(float));
        free(delta);
        free(host);
    }
    st_close(&st);
}

static void check_close(double got, double want, double tol, bool relative, const char *what, int i) {
    double e = fabs(got - want) / (relative ? fabs(want) : 1.0);
    CHECK(e <= tol, "request %d %s: %.9g, reference %.9g (error %.3g > %.1g)", i, what, got, want, e, tol);
}

static void check_scores(const request_scores *got, const cJSON *want, eval_protocol p, const char *phase) {
    for (int i = 0; i < cJSON_GetArraySize(want); i++) {
        const cJSON *w = cJSON_GetArrayItem(want, i);
        const request_scores *g = &got[i];
        double spe = num(w, p == PROTOCOL_EASYEDIT ? "specificity_easyedit" : "specificity_memit");
        CHECK(g->efficacy == num(w, "efficacy"), "%s request %d efficacy %g, reference %g", phase, i, g->efficacy, num(w, "efficacy"));
        CHECK(fabs(g->paraphrase - num(w, "paraphrase")) < 1e-12, "%s request %d paraphrase %g, reference %g", phase, i,
              g->paraphrase, num(w, "paraphrase"));
        CHECK(fabs(g->specificity - spe) < 1e-12, "%s request %d specificity (%s) %g, reference %g", phase, i,
              protocol_name(p), g->specificity, spe);
        CHECK(g->success == cJSON_IsTrue(get(w, "success")), "%s request %d success", phase, i);
        check_close(g->nll_new, num(w, "nll_new"), NLL_TOL, false, "nll_new", i);
        check_close(g->nll_true, num(w, "nll_true"), NLL_TOL, false, "nll_true", i);
        check_close(g->target_prob, num(w, "target_prob"), REL_TOL, true, "target_prob", i);
    }
}

/* request scores before and after the edit, under both protocols, batched 3 sequences per forward */
static void request_scores_protocol(eval_protocol p) {
    cJSON *ref = load_ref();
    model m;
    if (!ref || load_model(&m)) return;
    char err[1024];
    eval_set s;
    set_from_json(get(ref, "requests"), p, &s);
    request_scores *out = calloc((size_t)s.n, sizeof *out);
    if (p == PROTOCOL_EASYEDIT) {
        int rc = eval_score(&s, &m, 0, s.n, 3, out, err, sizeof err);
        CHECK(rc != 0 && strstr(err, "eval_cache_reference"), "easyedit scoring without the W₀ cache: %s", rc ? err : "accepted");
    }
    CHECK(eval_cache_reference(&s, &m, 3, err, sizeof err) == 0, "%s", err);
    // the cached argmax is the reference's W₀ argmax on loc ‖ loc_ans
    const cJSON *loc_ref = get(ref, "loc_ref");
    for (int i = 0; i < s.n; i++)
        for (int j = 0; j < s.req[i].n_loc; j++) {
            id_seq want = ids_of(cJSON_GetArrayItem(cJSON_GetArrayItem(loc_ref, i), j));
            CHECK(want.n == s.req[i].loc_ans[j].n && !memcmp(want.ids, s.req[i].loc_ref[j], (size_t)want.n * sizeof(int)),
                  "request %d loc %d: cached argmax differs from the reference", i, j);
            free(want.ids);
        }
    CHECK(eval_score(&s, &m, 0, s.n, 3, out, err, sizeof err) == 0, "%s", err);
    check_scores(out, get(ref, "pre"), p, "pre-edit");
    apply_delta(&m, (int)num(ref, "edit_layer"));
    CHECK(eval_score(&s, &m, 0, s.n, 3, out, err, sizeof err) == 0, "%s", err);
    check_scores(out, get(ref, "post"), p, "post-edit");
    // a sub-range scores the same requests the same way
    request_scores part[2];
    CHECK(eval_score(&s, &m, 2, 2, 1, part, err, sizeof err) == 0, "%s", err);
    CHECK(part[0].efficacy == out[2].efficacy && fabs(part[1].nll_new - out[3].nll_new) < 1e-5,
          "requests 2, 3 scored alone differ from the whole set");
    CHECK(eval_score(&s, &m, 5, 2, 1, part, err, sizeof err) != 0 && strstr(err, "the set has 6"), "range past the end: %s", err);
    free(out);
    eval_set_free(&s);
    model_free(&m);
    cJSON_Delete(ref);
}

static void test_scores_easyedit(void) { request_scores_protocol(PROTOCOL_EASYEDIT); }
static void test_scores_memit(void) { request_scores_protocol(PROTOCOL_MEMIT); }

/* the token-level API directly: one batch or one sequence per forward give the same numbers */
static void test_batch_invariance(void) {
    cJSON *ref = load_ref();
    model m;
    if (!ref || load_model(&m)) return;
    eval_set s;
    set_from_json(get(ref, "requests"), PROTOCOL_MEMIT, &s);
    int n = 0;
    tf_item items[64];
    int *am1[64], *am2[64];
    for (int i = 0; i < s.n; i++) {
        eval_request *q = &s.req[i];
        items[n++] = (tf_item){q->prompt.ids, q->prompt.n, q->target_new.ids, q->target_new.n, NULL};
        for (int j = 0; j < q->n_rephrase; j++)
            items[n++] = (tf_item){q->rephrase[j].ids, q->rephrase[j].n, q->target_new.ids, q->target_new.n, NULL};
        for (int j = 0; j < q->n_loc; j++)
            items[n++] = (tf_item){q->loc[j].ids, q->loc[j].n, q->loc_ans[j].ids, q->loc_ans[j].n, NULL};
    }
    for (int i = 0; i < n; i++) {
        am1[i] = malloc((size_t)items[i].n_target * sizeof(int));
        am2[i] = malloc((size_t)items[i].n_target * sizeof(int));
    }
    tf_score one[64], all[64];
    char err[512];
    CHECK(tf_score_items(&m, items, n, 1, one, am1, err, sizeof err) == 0, "%s", err);
    CHECK(tf_score_items(&m, items, n, 64, all, am2, err, sizeof err) == 0, "%s", err);
    // padding changes no number (the transformer masks it); summation order may differ by a few ulp
    for (int i = 0; i < n; i++) {
        CHECK(one[i].acc == all[i].acc && !memcmp(am1[i], am2[i], (size_t)items[i].n_target * sizeof(int)),
              "item %d: accuracy or argmax depends on the batch", i);
        CHECK(fabs(one[i].nll - all[i].nll) <= 1e-5, "item %d: nll %.9g alone, %.9g batched", i, one[i].nll, all[i].nll);
        free(am1[i]);
        free(am2[i]);
    }
    // errors name the item
    int long_ids[80] = {0};
    tf_item bad = {long_ids, 70, long_ids, 5, NULL};
    CHECK(tf_score_items(&m, &bad, 1, 1, one, NULL, err, sizeof err) != 0 && strstr(err, "item 0") && strstr(err, "75 tokens"),
          "too long: %s", err);
    bad.n_prompt = 0;
    CHECK(tf_score_items(&m, &bad, 1, 1, one, NULL, err, sizeof err) != 0 && strstr(err, "0 prompt"), "empty prompt: %s", err);
    eval_set_free(&s);
    model_free(&m);
    cJSON_Delete(ref);
}

static void test_perplexity(void) {
    cJSON *ref = load_ref();
    model m;
    if (!ref || load_model(&m)) return;
    id_seq stream = ids_of(get(ref, "ppl_stream"));
    int w = (int)num(ref, "ppl_window");
    double ppl;
    char err[512];
    CHECK(metrics_perplexity(&m, stream.ids, stream.n, w, 2, &ppl, err, sizeof err) == 0, "%s", err);
    check_close(ppl, num(ref, "ppl_pre"), REL_TOL, true, "perplexity (unedited)", -1);
    apply_delta(&m, (int)num(ref, "edit_layer"));
    CHECK(metrics_perplexity(&m, stream.ids, stream.n, w, 3, &ppl, err, sizeof err) == 0, "%s", err);
    check_close(ppl, num(ref, "ppl_post"), REL_TOL, true, "perplexity (edited)", -1);
    printf("    perplexity edited %.4f (reference %.4f)\n", ppl, num(ref, "ppl_post"));
    CHECK(metrics_perplexity(&m, stream.ids, stream.n, 65, 1, &ppl, err, sizeof err) != 0 && strstr(err, "window 65"),
          "window beyond the context: %s", err);
    free(stream.ids);
    model_free(&m);
    cJSON_Delete(ref);
}

static void check_seq(const id_seq *got, const cJSON *want, const char *what, const char *tok, long record) {
    id_seq w = ids_of(want);
    bool same = got->n == w.n && !memcmp(got->ids, w.ids, (size_t)w.n * sizeof(int));
    CHECK(same, "%s record %ld %s: %d ids, reference %d%s", tok, record, what, got->n, w.n, same ? "" : " (ids differ)");
    free(w.ids);
}

/* real requests tokenised with the shared GPT-2 and Llama-2 tokenizers against the `tokenizers` library */
static void test_tokenized_requests(void) {
    char path[512], err[1024];
    if (!test_data_dir()) SKIP("shared data folder absent (set KEDIT_DATA)");
    cJSON *ref = load_ref();
    if (!ref) return;
    const cJSON *t;
    cJSON_ArrayForEach(t, get(ref, "tokenized")) {
        const char *tok_name = cJSON_GetStringValue(get(t, "tokenizer"));
        char rel[128];
        snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer.json", tok_name);
        tokenizer *tk = test_data_path(path, sizeof path, rel) ? tokenizer_load(path, err, sizeof err) : NULL;
        CHECK(tk != NULL, "tokenizer %s: %s", rel, err);
        edit_dataset d;
        dataset_opts o = dataset_opts_default();
        long record = (long)num(t, "record");
        o.offset = record;
        o.n_edits = 1;
        int rc = test_data_path(path, sizeof path, cJSON_GetStringValue(get(t, "file"))) ? dataset_load(path, &o, &d, err, sizeof err) : -1;
        CHECK(rc == 0, "%s", err);
        if (tk && !rc) {
            eval_set s;
            CHECK(eval_set_tokenize(&s, tk, d.req, 1, PROTOCOL_EASYEDIT, err, sizeof err) == 0, "%s", err);
            if (s.n == 1) {
                eval_request *q = &s.req[0];
                check_seq(&q->prompt, get(t, "prompt"), "prompt", tok_name, record);
                check_seq(&q->target_new, get(t, "target_new"), "target_new", tok_name, record);
                check_seq(&q->target_true, get(t, "target_true"), "target_true", tok_name, record);
                check_seq(&q->rephrase[0], cJSON_GetArrayItem(get(t, "rephrase"), 0), "rephrase", tok_name, record);
                check_seq(&q->loc[0], cJSON_GetArrayItem(get(t, "loc"), 0), "loc", tok_name, record);
                check_seq(&q->loc_ans[0], cJSON_GetArrayItem(get(t, "loc_ans"), 0), "loc_ans", tok_name, record);
                eval_set_free(&s);
            }
        }
        if (!rc) dataset_free(&d);
        if (tk) tokenizer_free(tk);
    }
    cJSON_Delete(ref);
}

int main(void) {
    RUN(test_scores_easyedit);
    RUN(test_scores_memit);
    RUN(test_batch_invariance);
    RUN(test_perplexity);
    RUN(test_tokenized_requests);
    return TEST_SUMMARY();
}
