/* The covariance statistics around the accumulation (whose numbers test_edit checks against PyTorch):
 * corpus splitting (flat text and JSON Lines), the truncation rules counted by hand, the cache kept apart
 * by rule and precision, float32 accumulation against float64, the two options in a run configuration,
 * the §10.5 regularisation, and on stories260K (skipped without ../shared/data) the cache (a second
 * request loads the file written by the first, bit for bit), resumption after an interruption (the same
 * result as an uninterrupted pass) and the refusal of fewer tokens than d_ff. */
#include "methods/corpus.h"
#include "methods/corpus_jsonl.h"
#include "methods/covariance.h"
#include "run/run_config.h"
#include "test.h"

#include <signal.h>

static void test_documents_split(void) {
    // blank lines and top-level headings start documents; section headings stay inside; CRLF is stripped
    const char *text = " = Alpha = \r\n first line \r\n second line\r\n \r\n after blank\n = = Section = = \n"
                       " body\n = Beta = \n last";
    char **docs;
    int n = corpus_documents(text, &docs);
    const char *want[] = {" = Alpha = \n first line \n second line", " after blank\n = = Section = = \n body",
                          " = Beta = \n last"};
    CHECK(n == 3, "%d documents", n);
    for (int i = 0; i < n && i < 3; i++) CHECK(!strcmp(docs[i], want[i]), "document %d is [%s]", i, docs[i]);
    for (int i = 0; i < n; i++) free(docs[i]);
    free(docs);
}

/* one document a line, other fields ignored, blank lines skipped; a bad record is named by line and field */
static void test_jsonl_documents(void) {
    const char *text = "{\"id\": 1, \"text\": \"first \\\"doc\\\"\\nline two\"}\r\n\n{\"text\": \"second\"}\n";
    char **docs, err[256];
    int n = corpus_jsonl_documents("c.jsonl", text, &docs, err, sizeof err);
    CHECK(n == 2, "%d documents (%s)", n, n < 0 ? err : "");
    if (n == 2) {
        CHECK(!strcmp(docs[0], "first \"doc\"\nline two") && !strcmp(docs[1], "second"), "documents [%s] [%s]",
              docs[0], docs[1]);
        for (int i = 0; i < n; i++) free(docs[i]);
        free(docs);
    }
    const char *bad[][2] = {{"{\"text\": \"a\"}\n{\"title\": \"b\"}\n", "line 2: the record has no field \"text\""},
                            {"{\"text\": \"a\"}\n\n{\"text\": 7}\n",
                             "line 3: the record field \"text\" is not a string"},
                            {"[\"a\"]\n", "line 1: the record is not a JSON object"},
                            {"{\"text\": \"a\"\n", "line 1: the record is not a JSON object"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        n = corpus_jsonl_documents("c.jsonl", bad[i][0], &docs, err, sizeof err);
        CHECK(n == -1 && strstr(err, "c.jsonl: ") && strstr(err, bad[i][1]), "case %zu: %d, message: %s", i, n, err);
    }
    CHECK(corpus_is_jsonl("a/b.jsonl") && !corpus_is_jsonl("a/b.txt") && !corpus_is_jsonl("jsonl"), "suffix test");
}

#define FW_MODEL "models/factworld/gpt2"

/* the model at model_path on the CPU and its tokenizer; a failed check (and nothing to free) when either fails */
static bool load_with_tokenizer(const char *model_path, const char *tokenizer_path, model *m, tokenizer **tok) {
    char err[1024];
    *tok = tokenizer_load(tokenizer_path, err, sizeof err);
    bool loaded = *tok && !model_load(model_path, backend_cpu(), m, err, sizeof err);
    CHECK(loaded, "%s", err);
    if (!loaded) tokenizer_free(*tok);
    return loaded;
}
static const char *const SMALL_DOCS[3] = {"one two three four five six seven eight nine ten", "one two three",
                                          "one two three four five six"};

/* writes SMALL_DOCS as a JSON Lines corpus; non-zero on failure */
static int write_small_corpus(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int d = 0; d < 3; d++) fprintf(f, "{\"text\": \"%s\"}\n", SMALL_DOCS[d]);
    return fclose(f);
}

/* the windows of one plan against a hand-made list: (document, first token, length) each */
static void check_windows(const corpus_plan *p, int *const *doc_ids, const int (*want)[3], int n_want,
                          const char *rule) {
    CHECK(p->n_docs == 3 && p->n_win == n_want, "%s: %d documents, %d windows", rule, p->n_docs, p->n_win);
    int64_t total = 0;
    for (int w = 0; w < n_want && w < p->n_win; w++) {
        int len = (int)(p->start[w + 1] - p->start[w]);
        const int *from = doc_ids[want[w][0]] + want[w][1];
        CHECK(len == want[w][2] && !memcmp(p->ids + p->start[w], from, (size_t)len * sizeof(int)),
              "%s: window %d holds %d tokens, expected %d from document %d at %d", rule, w, len, want[w][2], want[w][0],
              want[w][1]);
        total += want[w][2];
    }
    CHECK(p->n_tokens == total, "%s: %lld tokens, expected %lld", rule, (long long)p->n_tokens, (long long)total);
}

/* three documents of 26, 8 and 14 tokens (the fact-world tokenizer, no BOS) in windows of 10: "windows"
 * cuts them into 10+10+6, 8, 10+4; "document" keeps 10, 8, 10 and drops the rest; a limit of 15 tokens
 * keeps the first window whole and 5 tokens of the second */
static void test_truncation_rules(void) {
    char err[1024];
    const char *path = "build/test_cov_small.jsonl";
    tokenizer *tok = tokenizer_load(FW_MODEL, err, sizeof err);
    CHECK(tok != NULL, "%s", err);
    CHECK(!write_small_corpus(path), "cannot write %s", path);
    if (!tok) return;
    int *ids[3], n[3];
    for (int d = 0; d < 3; d++) n[d] = tokenizer_encode(tok, SMALL_DOCS[d], true, &ids[d]);
    CHECK(n[0] == 26 && n[1] == 8 && n[2] == 14, "the documents have %d, %d, %d tokens (the hand counts: 26, 8, 14)",
          n[0], n[1], n[2]);
    if (n[0] == 26 && n[1] == 8 && n[2] == 14) {
        static const int windows[][3] = {{0, 0, 10}, {0, 10, 10}, {0, 20, 6}, {1, 0, 8}, {2, 0, 10}, {2, 10, 4}};
        static const int document[][3] = {{0, 0, 10}, {1, 0, 8}, {2, 0, 10}};
        static const int limited[][3] = {{0, 0, 10}, {1, 0, 5}};
        corpus_plan p;
        CHECK(!corpus_plan_make(path, tok, CORPUS_WINDOWS, 10, 0, &p, err, sizeof err), "%s", err);
        check_windows(&p, ids, windows, 6, "windows");
        corpus_plan_free(&p);
        CHECK(!corpus_plan_make(path, tok, CORPUS_DOCUMENT, 10, 0, &p, err, sizeof err), "%s", err);
        check_windows(&p, ids, document, 3, "document");
        corpus_plan_free(&p);
        CHECK(!corpus_plan_make(path, tok, CORPUS_DOCUMENT, 10, 15, &p, err, sizeof err), "%s", err);
        check_windows(&p, ids, limited, 2, "document, 15 tokens");
        corpus_plan_free(&p);
    }
    for (int d = 0; d < 3; d++) free(ids[d]);
    FILE *f = fopen(path, "a");
    fputs("{\"text\": null}\n", f);
    fclose(f);
    corpus_plan p;
    CHECK(corpus_plan_make(path, tok, CORPUS_DOCUMENT, 10, 0, &p, err, sizeof err) != 0 &&
              strstr(err, "test_cov_small.jsonl: line 4: the record field \"text\" is not a string"),
          "a bad record: %s", err);
    remove(path);
    tokenizer_free(tok);
}

/* a statistic cached under one truncation rule or precision is never read for another: each has its own file */
static void test_cache_by_rule(void) {
    char err[1024];
    model m;
    tokenizer *tok;
    if (!load_with_tokenizer(FW_MODEL, FW_MODEL, &m, &tok)) return;
    int layer = 1;
    cov_opts o = {.corpus = "models/factworld/data/corpus.txt", .max_tokens = 2000, .cache_dir = "build/test_cov_rule",
                  .checkpoint_seconds = -1};
    CHECK(system("rm -rf build/test_cov_rule") == 0, "cannot clear the test cache folder");
    float *C;
    cov_info w, d, d2;
    CHECK(!cov_get(&m, tok, &layer, 1, &o, &C, &w, err, sizeof err), "%s", err);
    m.be->free(C);
    o.truncate = CORPUS_DOCUMENT;
    CHECK(!cov_get(&m, tok, &layer, 1, &o, &C, &d, err, sizeof err), "%s", err);
    m.be->free(C);
    CHECK(!w.from_cache && !d.from_cache && strcmp(w.path, d.path) != 0, "document read %s (windows wrote %s)", d.path,
          w.path);
    // the corpus's documents all exceed the 128-token context: "document" gives 15 full windows and 80 tokens
    CHECK(w.truncate == CORPUS_WINDOWS && d.truncate == CORPUS_DOCUMENT && d.n_tokens == 2000 && d.n_win == 16 &&
              w.n_win != d.n_win,
          "info: %d windows (windows), %d (document), %lld tokens", w.n_win, d.n_win, (long long)d.n_tokens);
    CHECK(!cov_get(&m, tok, &layer, 1, &o, &C, &d2, err, sizeof err), "%s", err);
    m.be->free(C);
    CHECK(d2.from_cache && !strcmp(d2.path, d.path), "the document rule's second request did not load its cache");
    o.truncate = CORPUS_WINDOWS, o.precision = COV_FLOAT32;
    cov_info w32;
    CHECK(!cov_get(&m, tok, &layer, 1, &o, &C, &w32, err, sizeof err), "%s", err);
    m.be->free(C);
    CHECK(!w32.from_cache && strcmp(w32.path, w.path) != 0 && w32.precision == COV_FLOAT32,
          "float32 read %s (float64 wrote %s)", w32.path, w.path);
    tokenizer_free(tok);
    model_free(&m);
}

/* float32 running sums (the references' mom2_dtype) against float64 on 8,192 tokens of the fact-world
 * corpus, layers 1-3: ‖C32 − C64‖_F/‖C64‖_F is float32 rounding only, 1.0–1.5e-7 when measured (2⁻²⁴ ≈ 6e-8
 * a product; BLAS sums a batch's tokens in blocks, so it grows slowly). The bound 1e-6 leaves a margin of
 * 7 and still fails on anything but rounding: one token lost or counted twice moves C by about 1/8,192
 * ≈ 1e-4. It must also be non-zero (the float32 path taken). */
static void test_float32_accumulation(void) {
    char err[1024];
    model m;
    tokenizer *tok;
    if (!load_with_tokenizer(FW_MODEL, FW_MODEL, &m, &tok)) return;
    int layers[3] = {1, 2, 3}, f = m.cfg.d_ff;
    corpus_plan plan;
    CHECK(!corpus_plan_make("models/factworld/data/corpus.txt", tok, CORPUS_WINDOWS, m.cfg.n_ctx, 8192, &plan, err,
                            sizeof err),
          "%s", err);
    cov_opts o64 = {.precision = COV_FLOAT64}, o32 = {.precision = COV_FLOAT32};
    double *C64[3], *C32[3];
    CHECK(!cov_compute(&m, &plan, layers, 3, &o64, C64, err, sizeof err), "%s", err);
    CHECK(!cov_compute(&m, &plan, layers, 3, &o32, C32, err, sizeof err), "%s", err);
    for (int j = 0; j < 3; j++) {
        double diff = 0, norm = 0;
        for (size_t e = 0; e < (size_t)f * f; e++) {
            diff += (C32[j][e] - C64[j][e]) * (C32[j][e] - C64[j][e]);
            norm += C64[j][e] * C64[j][e];
        }
        double rel = sqrt(diff / norm);
        CHECK(rel > 0 && rel < 1e-6, "layer %d: relative Frobenius difference %.3g", layers[j], rel);
        free(C64[j]), free(C32[j]);
    }
    corpus_plan_free(&plan);
    tokenizer_free(tok);
    model_free(&m);
}

/* stats.truncate and stats.precision in a run configuration: read when given, refused naming the field
 * when unknown, and left out of the resolved configuration when absent (older runs' configurations resume) */
static void test_stats_options_in_config(void) {
    static const char *const text_of = "{\"model\": \"m\", \"hparams\": \"h\", \"dataset\": {\"path\": \"d\"}, "
                                       "\"output\": \"o.h5\", \"stats\": {%s}}";
    static const char *const cases[][2] = {{"\"truncate\": \"document\", \"precision\": \"float32\"", NULL},
                                           {"", NULL},
                                           {"\"truncate\": \"sentence\"", "stats.truncate"},
                                           {"\"precision\": \"float16\"", "stats.precision"}};
    for (int i = 0; i < 4; i++) {
        char text[512], err[1024] = "";
        snprintf(text, sizeof text, text_of, cases[i][0]);
        run_config c;
        int rc = run_config_from_json(cJSON_Parse(text), "cfg.json", &c, err, sizeof err);
        if (cases[i][1]) {
            CHECK(rc != 0 && strstr(err, "cfg.json") && strstr(err, cases[i][1]), "case %d: %d, %s", i, rc, err);
            continue;
        }
        CHECK(rc == 0, "case %d: %s", i, err);
        if (rc) continue;
        cJSON *st = cJSON_GetObjectItem(c.json, "stats");
        if (i == 0)
            CHECK(c.stats_truncate == CORPUS_DOCUMENT && c.stats_precision == COV_FLOAT32, "the options were not read");
        else
            CHECK(c.stats_truncate == CORPUS_WINDOWS && c.stats_precision == COV_FLOAT64 &&
                      !cJSON_GetObjectItem(st, "truncate") && !cJSON_GetObjectItem(st, "precision"),
                  "absent options: defaults, not written");
        run_config_free(&c);
    }
}

/* spec §10.5: a C that is not positive definite gets εI, ε = 1e-6·tr(C)/d_ff; a PD C is left alone */
static void test_regularise(void) {
    const backend *be = backend_cpu();
    int f = 4;
    float h[16] = {0}, back[16];
    h[0] = 2, h[5] = 0, h[10] = 1, h[15] = 3; // singular: a dead unit
    float *C = be->alloc(sizeof h);
    be->to_device(C, h, sizeof h);
    double eps;
    char err[256];
    CHECK(!cov_regularise(be, f, C, &eps, err, sizeof err), "%s", err);
    double want = 1e-6 * (2 + 0 + 1 + 3) / f;
    CHECK(fabs(eps - want) <= 1e-12 * want, "ε = %g, expected %g", eps, want);
    be->to_host(back, C, sizeof back);
    // float32 storage: the added ε is exact on the zero entry and within one ulp (2.4e-7 at 2) on the other
    CHECK(back[5] == (float)want && fabs(back[0] - (2 + want)) <= 2.4e-7, "diagonal %g %g", back[0], back[5]);
    CHECK(!cov_regularise(be, f, C, &eps, err, sizeof err) && eps == 0, "a PD C was changed (ε = %g)", eps);
    h[1] = h[4] = 5; // indefinite: [[2,5],[5,0]] has a negative eigenvalue far beyond ε
    be->to_device(C, h, sizeof h);
    CHECK(cov_regularise(be, f, C, &eps, err, sizeof err) != 0, "an indefinite C was accepted");
    be->free(C);
}

static float *to_host_cov(const backend *be, const float *C, int f) {
    float *h = malloc((size_t)f * f * sizeof(float));
    be->to_host(h, C, (size_t)f * f * sizeof(float));
    return h;
}

static void test_cache_resume_refusal(void) {
    char mpath[512], tpath[512], cpath[512], err[1024];
    if (!test_data_path(mpath, sizeof mpath, "models/stories260K/stories260K.bin") ||
        !test_data_path(tpath, sizeof tpath, "models/stories260K/tok512.bin") ||
        !test_data_path(cpath, sizeof cpath, "text/wikitext-2-raw-test.txt"))
        SKIP("../shared/data (stories260K, wikitext-2) absent");
    model m;
    tokenizer *tok;
    if (!load_with_tokenizer(mpath, tpath, &m, &tok)) return;
    int layers[2] = {1, 3}, f = m.cfg.d_ff;
    volatile sig_atomic_t stop = 0;
    cov_opts o = {.corpus = cpath, .max_tokens = 3000, .max_len = 256, .batch_tokens = 512,
                  .cache_dir = "build/test_cov_a", .checkpoint_seconds = -1, .stop = &stop};
    float *C1[2], *C2[2], *C3[2];
    cov_info info[2];
    CHECK(system("rm -rf build/test_cov_a build/test_cov_b") == 0, "cannot clear the test cache folders");
    CHECK(!cov_get(&m, tok, layers, 2, &o, C1, info, err, sizeof err), "%s", err);
    CHECK(!info[0].from_cache && info[0].n_tokens == 3000, "first pass: from_cache %d, %lld tokens", info[0].from_cache,
          (long long)info[0].n_tokens);
    CHECK(!cov_get(&m, tok, layers, 2, &o, C2, info, err, sizeof err), "%s", err);
    CHECK(info[0].from_cache && info[1].from_cache, "the second request did not load the cache");
    // an interrupted pass (stop already set: it checkpoints after its first batch) resumes to the same C
    o.cache_dir = "build/test_cov_b";
    stop = 1;
    CHECK(cov_get(&m, tok, layers, 2, &o, C3, info, err, sizeof err) != 0, "an interrupted pass succeeded");
    CHECK(strstr(err, "interrupted") != NULL, "message: %s", err);
    stop = 0;
    CHECK(!cov_get(&m, tok, layers, 2, &o, C3, info, err, sizeof err), "%s", err);
    for (int j = 0; j < 2; j++) {
        float *a = to_host_cov(m.be, C1[j], f), *b = to_host_cov(m.be, C2[j], f), *c = to_host_cov(m.be, C3[j], f);
        CHECK(!memcmp(a, b, (size_t)f * f * sizeof(float)), "layer %d: the cached C differs", layers[j]);
        CHECK(!memcmp(a, c, (size_t)f * f * sizeof(float)), "layer %d: the resumed C differs", layers[j]);
        free(a), free(b), free(c);
        m.be->free(C1[j]), m.be->free(C2[j]), m.be->free(C3[j]);
    }
    o.max_tokens = f - 1; // fewer tokens than d_ff: refused
    CHECK(cov_get(&m, tok, layers, 2, &o, C1, info, err, sizeof err) != 0, "%d tokens were accepted", f - 1);
    tokenizer_free(tok);
    model_free(&m);
}

int main(void) {
    RUN(test_documents_split);
    RUN(test_jsonl_documents);
    RUN(test_truncation_rules);
    RUN(test_cache_by_rule);
    RUN(test_float32_accumulation);
    RUN(test_stats_options_in_config);
    RUN(test_regularise);
    RUN(test_cache_resume_refusal);
    return TEST_SUMMARY();
}
