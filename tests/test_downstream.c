/* The downstream battery (run/downstream.h) on the bundled fact-world GPT-2 (models/factworld/gpt2):
 * accuracy, weighted F1 and MCC against confusion matrices worked out by hand; the answer rule's ties; the
 * mean NLL of every answer option and the answer of items written here (SST-2 and MMLU records, one prompt
 * too long for the model's 128 positions) against the model's forward run here on each prompt ‖ option,
 * with the prompt tokenised here as AlphaEdit's glue_eval prompts it; bad configuration fields and bad
 * records refused with a message naming the file, record and field, leaving no results file; and, with
 * the shared data ($KEDIT_DATA/downstream, skipped when absent), kedit run recording the unedited model's
 * scores and the same /downstream rows whether stopped and resumed or not, and kedit table --downstream
 * printing them. */
#include "backend.h"
#include "model.h"
#include "run/confusion.h"
#include "run/downstream.h"
#include "run/results_h5.h"
#include "test.h"
#include "test_cli.h"
#include "test_files.h"
#include "tokenizer.h"
#include "transformer.h"

#include <unistd.h>

#define MODEL "models/factworld/gpt2"
#define NLL_TOL 1e-4 /* batched forwards (padded, sorted by length) against one sequence alone */

static char dir[256];

static void write_file(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* ten few-shot records (never scored) followed by the test records */
static void write_task(const char *name, const char *pool_record, const char *const *records, int n) {
    size_t cap = 1 << 16;
    char *text = calloc(cap, 1);
    for (int i = 0; i < 10; i++) snprintf(text + strlen(text), cap - strlen(text), "%s\n", pool_record);
    for (int i = 0; i < n; i++) snprintf(text + strlen(text), cap - strlen(text), "%s\n", records[i]);
    char file[64];
    snprintf(file, sizeof file, "%s.jsonl", name);
    write_file(file, text);
    free(text);
}

static bool near(double a, double b) { return fabs(a - b) <= 1e-12; }

static void test_confusion(void) {
    // binary, c[true][pred]: TN 5, FP 3, FN 2, TP 10
    long c2[4] = {5, 3, 2, 10};
    class_scores s = confusion_scores(c2, 2);
    double f1_pos = 2.0 * 10 / (2 * 10 + 3 + 2), f1_neg = 2.0 * 5 / (2 * 5 + 2 + 3);
    double mcc = (10.0 * 5 - 3.0 * 2) / sqrt(13.0 * 12 * 8 * 7);
    CHECK(near(s.accuracy, 15.0 / 20), "accuracy %.17g", s.accuracy);
    CHECK(near(s.f1, (8 * f1_neg + 12 * f1_pos) / 20), "f1 %.17g", s.f1);
    CHECK(near(s.mcc, mcc), "mcc %.17g, expected %.17g", s.mcc, mcc);
    // every answer one class: MCC 0 (a zero denominator), F1 only from that class
    long one[4] = {0, 6, 0, 4};
    s = confusion_scores(one, 2);
    CHECK(near(s.accuracy, 0.4) && near(s.mcc, 0) && near(s.f1, 0.4 * (2 * 0.4 / 1.4)), "one class: %g %g %g",
          s.accuracy, s.f1, s.mcc);
    // two classes and "no answer" (a predicted class no item has): rows true 0, 1, none
    long c3[9] = {3, 1, 1, 0, 4, 1, 0, 0, 0};
    s = confusion_scores(c3, 3);
    double f1_0 = 2 * 1.0 * 0.6 / 1.6, f1_1 = 0.8; // P 3/3, R 3/5; P 4/5, R 4/5
    CHECK(near(s.accuracy, 0.7), "accuracy %.17g", s.accuracy);
    CHECK(near(s.f1, 0.5 * f1_0 + 0.5 * f1_1), "f1 %.17g", s.f1);
    CHECK(near(s.mcc, (7.0 * 10 - (3 * 5 + 5 * 5)) / sqrt((100.0 - (9 + 25 + 4)) * (100.0 - (25 + 25)))), "mcc %.17g",
          s.mcc);
    long none[4] = {0};
    CHECK(isnan(confusion_scores(none, 2).accuracy), "an empty matrix has no accuracy");
}

static void test_answer_ties(void) {
    CHECK(downstream_answer((double[]){2.0, 1.0}, 2) == 1, "the lower NLL wins");
    CHECK(downstream_answer((double[]){1.0, 1.0}, 2) == 0, "a binary tie goes to class 0");
    CHECK(downstream_answer((double[]){3.0, 0.5, 0.7, 0.5}, 4) == -1, "a 4-way tie for the best is no answer");
    CHECK(downstream_answer((double[]){3.0, 0.5, 0.5, 0.4}, 4) == 3, "a tie below the best does not matter");
}

/* mean NLL of option o after prompt p, from one forward of p ‖ o over every position */
static double nll_by_hand(const model *m, const int *p, int np, const int *o, int no) {
    int len = np + no, V = m->cfg.vocab;
    int *ids = malloc((size_t)len * sizeof(int));
    memcpy(ids, p, (size_t)np * sizeof(int));
    memcpy(ids + np, o, (size_t)no * sizeof(int));
    float *logits = malloc((size_t)len * V * sizeof(float));
    const int *seq[1] = {ids};
    kbatch b = {1, &len, seq};
    fwd_opts opt = {.n_logit = -1, .logits_host = logits, .bwd_from_layer = -1, .stop_layer = -1};
    fwd_state_free(transformer_forward(m, &b, &opt));
    double sum = 0;
    for (int j = 0; j < no; j++) { // row np − 1 + j predicts o[j]
        const float *row = logits + (size_t)(np - 1 + j) * V;
        double mx = row[0], z = 0;
        for (int v = 1; v < V; v++) mx = fmax(mx, row[v]);
        for (int v = 0; v < V; v++) z += exp(row[v] - mx);
        sum += mx + log(z) - row[o[j]];
    }
    free(ids);
    free(logits);
    return sum / no;
}

/* item i of task x against the prompt text written here and the options encoded alone with a space */
static void check_item(const model *m, const tokenizer *tok, const downstream_task *x, int i, const char *prompt,
                       const double *nll, const int *answer, bool cut) {
    int *p, np = tokenizer_encode(tok, prompt, true, &p), n_opt;
    const char *const *words = downstream_task_options(x->name, &n_opt);
    CHECK(n_opt == x->n_options, "%s: %d options", x->name, n_opt);
    int *o[4], no[4], longest = 0;
    for (int k = 0; k < n_opt; k++) {
        char spaced[32];
        snprintf(spaced, sizeof spaced, " %s", words[k]);
        no[k] = tokenizer_encode(tok, spaced, true, &o[k]);
        if (no[k] > longest) longest = no[k];
        const id_seq *got = &x->option[i * n_opt + k];
        CHECK(got->n == no[k] && !memcmp(got->ids, o[k], (size_t)no[k] * sizeof(int)), "%s item %d option %d: its ids",
              x->name, i, k);
    }
    int keep = m->cfg.n_ctx - longest, from = np > keep ? np - keep : 0; // a long prompt keeps its last tokens
    CHECK((np > keep) == cut, "%s item %d: expected %s", x->name, i, cut ? "a cut prompt" : "a whole prompt");
    const id_seq *gp = &x->prompt[i];
    CHECK(gp->n == np - from && !memcmp(gp->ids, p + from, (size_t)gp->n * sizeof(int)), "%s item %d: prompt ids",
          x->name, i);
    double best = INFINITY;
    int want = 0;
    for (int k = 0; k < n_opt; k++) {
        double h = nll_by_hand(m, p + from, np - from, o[k], no[k]);
        CHECK(fabs(nll[i * n_opt + k] - h) <= NLL_TOL, "%s item %d option %d: NLL %.6f, by hand %.6f", x->name, i, k,
              nll[i * n_opt + k], h);
        if (h < best) best = h, want = k;
        free(o[k]);
    }
    CHECK(answer[i] == want, "%s item %d: answer %d, by hand %d", x->name, i, answer[i], want);
    free(p);
}

static void test_items_by_hand(void) {
    char long_review[4096] = "";
    for (int i = 0; i < 60; i++) strcat(long_review, "a long and winding film , ");
    char long_record[4200];
    snprintf(long_record, sizeof long_record, "{\"sentence\": \"%s\", \"label\": 1}", long_review);
    const char *sst2[] = {"{\"sentence\": \"a gripping , funny film \", \"label\": 1}",
                          "{\"sentence\": \"dull and far too long \", \"label\": 0}", long_record};
    write_task("sst2", "{\"sentence\": \"pool\", \"label\": 0}", sst2, 3);
    const char *mmlu[] = {"{\"question\": \"What is 2 + 2?\", \"choices\": [\"3\", \"4\", \"5\", \"22\"], \"answer\": 1, "
                          "\"subject\": \"elementary_mathematics\"}",
                          "{\"question\": \"Which is a colour?\\nPick one.\", \"choices\": [\"red\", \"run\", \"rain\", "
                          "\"rock\"], \"answer\": 0, \"subject\": \"misc\"}"};
    write_task("mmlu", "{\"question\": \"q\", \"choices\": [\"a\", \"b\", \"c\", \"d\"], \"answer\": 0}", mmlu, 2);

    char err[1024];
    model m;
    tokenizer *tok = tokenizer_load(MODEL, err, sizeof err);
    CHECK(tok != NULL, "%s", err);
    if (!tok) return;
    if (model_load(MODEL, backend_cpu(), &m, err, sizeof err)) {
        CHECK(0, "%s", err);
        tokenizer_free(tok);
        return;
    }
    downstream d = {0};
    int rc = downstream_load(&d, dir, (const char *[]){"mmlu"}, 1, 3, tok, m.cfg.n_ctx, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "mmlu.jsonl: 12 records") && strstr(err, "need 13"), "too short: %s", err);
    downstream_free(&d);
    // sst2's three items (the third too long), mmlu's two
    rc = downstream_load(&d, dir, (const char *[]){"sst2"}, 1, 3, tok, m.cfg.n_ctx, err, sizeof err);
    downstream e = {0};
    rc = rc || downstream_load(&e, dir, (const char *[]){"mmlu"}, 1, 2, tok, m.cfg.n_ctx, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (!rc) {
        CHECK(d.task[0].n_truncated == 1 && e.task[0].n_truncated == 0, "cut prompts: %ld, %ld", d.task[0].n_truncated,
              e.task[0].n_truncated);
        CHECK(d.task[0].label[0] == 1 && d.task[0].label[1] == 0 && e.task[0].label[0] == 1 && e.task[0].label[1] == 0,
              "labels");
        int answer[3];
        double nll[8];
        CHECK(downstream_predict(&d.task[0], &m, NULL, 2, answer, nll, err, sizeof err) == 0, "%s", err);
        check_item(&m, tok, &d.task[0], 0, "Review :a gripping , funny film \nSentiment :", nll, answer, false);
        check_item(&m, tok, &d.task[0], 1, "Review :dull and far too long \nSentiment :", nll, answer, false);
        char prompt[4200];
        snprintf(prompt, sizeof prompt, "Review :%s\nSentiment :", long_review);
        check_item(&m, tok, &d.task[0], 2, prompt, nll, answer, true);
        CHECK(downstream_predict(&e.task[0], &m, NULL, 8, answer, nll, err, sizeof err) == 0, "%s", err);
        check_item(&m, tok, &e.task[0], 0, "Question: What is 2 + 2?\n(A) 3\n(B) 4\n(C) 5\n(D) 22\nAnswer:", nll, answer,
                   false);
        check_item(&m, tok, &e.task[0], 1,
                   "Question: Which is a colour?\nPick one.\n(A) red\n(B) run\n(C) rain\n(D) rock\nAnswer:", nll, answer,
                   false);
        // the scores: the answers' confusion matrix
        downstream_row row;
        CHECK(downstream_score(&e, &m, NULL, 8, &row, err, sizeof err) == 0, "%s", err);
        CHECK(row.n_items == 2 && !strcmp(row.task, "mmlu"), "row of %s, %lld items", row.task, row.n_items);
        CHECK(near(row.accuracy, ((answer[0] == 1) + (answer[1] == 0)) / 2.0), "accuracy %g", row.accuracy);
    }
    downstream_free(&d);
    downstream_free(&e);
    model_free(&m);
    tokenizer_free(tok);
}

/* the option ids of the first item of task name under a shared tokenizer: each option the one token want[k] */
static void check_pieces(const char *tokenizer_dir, const char *name, const int *want) {
    char path[512], err[1024];
    if (!test_data_path(path, sizeof path, tokenizer_dir)) return;
    tokenizer *tok = tokenizer_load(path, err, sizeof err);
    CHECK(tok != NULL, "%s", err);
    downstream d = {0};
    int rc = !tok || downstream_load(&d, dir, (const char *[]){name}, 1, 1, tok, 4096, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    for (int k = 0; !rc && k < d.task[0].n_options; k++) {
        const id_seq *o = &d.task[0].option[k];
        CHECK(o->n == 1 && o->ids[0] == want[k], "%s, %s option %d: %d tokens, first %d; expected the one piece %d",
              tokenizer_dir, name, k, o->n, o->ids[0], want[k]);
    }
    downstream_free(&d);
    if (tok) tokenizer_free(tok);
}

/* the answer words' ids under GPT-2's and Llama-2's tokenizers (the shared data's README): GPT-2's are
 * AlphaEdit's; Llama-2's are the words' own pieces, without the lone "▁" (29871) that " Yes" alone gives,
 * also after CoLA's prompt, which ends in a space */
static void test_answer_pieces(void) {
    char probe[512];
    if (!test_data_path(probe, sizeof probe, "tokenizers/llama2")) SKIP("no shared tokenizers");
    const char *cola[] = {"{\"sentence\": \"The cat sat .\", \"label\": 1}"};
    write_task("cola", "{}", cola, 1);
    const char *sst2[] = {"{\"sentence\": \"fine \", \"label\": 1}"};
    write_task("sst2", "{}", sst2, 1);
    const char *rte[] = {"{\"premise\": \"A cat sat.\", \"hypothesis\": \"A cat is sitting.\", \"label\": 0}"};
    write_task("rte", "{}", rte, 1);
    const char *mmlu[] = {"{\"question\": \"q?\", \"choices\": [\"w\", \"x\", \"y\", \"z\"], \"answer\": 2}"};
    write_task("mmlu", "{}", mmlu, 1);
    check_pieces("tokenizers/gpt2", "cola", (const int[]){1400, 3363});
    check_pieces("tokenizers/gpt2", "sst2", (const int[]){4633, 3967});
    check_pieces("tokenizers/gpt2", "rte", (const int[]){6407, 10352});
    check_pieces("tokenizers/gpt2", "mmlu", (const int[]){317, 347, 327, 360});
    check_pieces("tokenizers/llama2", "cola", (const int[]){1939, 3869});
    check_pieces("tokenizers/llama2", "sst2", (const int[]){8178, 6374});
    check_pieces("tokenizers/llama2", "rte", (const int[]){5852, 7700});
    check_pieces("tokenizers/llama2", "mmlu", (const int[]){319, 350, 315, 360});
}

/* a run configuration of the bundled model in dir: downstream is the field's JSON (NULL: none) */
static const char *write_config(const char *name, const char *downstream, const char *extra) {
    static char path[600];
    char text[4096];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    snprintf(text, sizeof text,
             "{\"model\": \"" MODEL "\", \"hparams\": \"configs/ft_factworld.json\",\n"
             " \"dataset\": {\"path\": \"models/factworld/data/edits_zsre.json\", \"format\": \"zsre\", \"n_edits\": 4},\n"
             " \"schedule\": {\"checkpoint_every\": 2%s},\n"
             " %s%s%s\"output\": \"%s/%s.h5\"}\n",
             extra ? extra : "", downstream ? "\"downstream\": " : "", downstream ? downstream : "",
             downstream ? ",\n " : "", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int run_config(const char *cfg, const char *a, const char *b, char *out, size_t n) {
    const char *argv[] = {"run", "--config", cfg, "--progress-every", "0", a, b, NULL};
    return kedit(argv, 0, out, n);
}

/* exits 1 naming the configuration and each of `names`, and leaves no results file */
static void check_refused(const char *name, const char *downstream, const char *extra, const char *const *names) {
    char out[16384], h5[600], part[620];
    const char *cfg = write_config(name, downstream, extra);
    int rc = run_config(cfg, NULL, NULL, out, sizeof out);
    CHECK(rc == 1, "%s: exit %d: %s", name, rc, out);
    for (int i = 0; names[i]; i++) CHECK(strstr(out, names[i]) != NULL, "%s: the message lacks '%s': %s", name, names[i], out);
    snprintf(h5, sizeof h5, "%s/%s.h5", dir, name);
    snprintf(part, sizeof part, "%s.part", h5);
    CHECK(access(h5, F_OK) != 0 && access(part, F_OK) != 0, "%s: a results file was left behind", name);
}

static void test_bad_input(void) {
    check_refused("unknown", "{\"tasks\": [\"sst2\", \"squad\"]}", NULL,
                  (const char *[]){"unknown.json", "downstream.tasks[1]", "squad", "sst2, mrpc", NULL});
    check_refused("twice", "{\"tasks\": [\"rte\", \"rte\"]}", NULL, (const char *[]){"twice.json", "downstream.tasks[1]", NULL});
    check_refused("empty", "{\"tasks\": []}", NULL, (const char *[]){"empty.json", "downstream.tasks", NULL});
    check_refused("notstr", "{\"tasks\": [3]}", NULL, (const char *[]){"downstream.tasks[0]", NULL});
    check_refused("zero", "{\"n\": 0}", NULL, (const char *[]){"zero.json", "downstream.n", NULL});
    check_refused("half", "{\"n\": 2.5}", NULL, (const char *[]){"downstream.n", NULL});
    check_refused("field", "{\"shots\": 5}", NULL, (const char *[]){"field.json", "downstream.shots", "unknown field", NULL});
    check_refused("object", "5", NULL, (const char *[]){"object.json", "field downstream:", NULL});
    check_refused("indep", "{}", ", \"mode\": \"independent\"", (const char *[]){"indep.json", "field downstream:", NULL});
    char field[800];
    snprintf(field, sizeof field, "{\"tasks\": [\"cola\"], \"path\": \"%s/nowhere\"}", dir);
    check_refused("nofile", field, NULL, (const char *[]){"nowhere/cola.jsonl", "downstream.path", NULL});
    // records: a missing field, a label out of range, not JSON, too few
    const char *cola[] = {"{\"sentence\": \"fine .\", \"label\": 1}", "{\"text\": \"no sentence\", \"label\": 0}"};
    write_task("cola", "{\"sentence\": \"pool\", \"label\": 0}", cola, 2);
    snprintf(field, sizeof field, "{\"tasks\": [\"cola\"], \"n\": 2, \"path\": \"%s\"}", dir);
    check_refused("nofield", field, NULL, (const char *[]){"cola.jsonl: record 11 (line 12): field sentence", NULL});
    const char *mrpc[] = {"{\"sentence1\": \"a\", \"sentence2\": \"b\", \"label\": 2}"};
    write_task("mrpc", "{}", mrpc, 1);
    snprintf(field, sizeof field, "{\"tasks\": [\"mrpc\"], \"n\": 1, \"path\": \"%s\"}", dir);
    check_refused("label", field, NULL, (const char *[]){"mrpc.jsonl: record 10 (line 11): field label", "[0, 1]", NULL});
    const char *nli[] = {"{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": \"entailment\"}", "{\"premise\": "};
    write_task("nli", "{}", nli, 2);
    snprintf(field, sizeof field, "{\"tasks\": [\"nli\"], \"n\": 2, \"path\": \"%s\"}", dir);
    check_refused("json", field, NULL, (const char *[]){"nli.jsonl: record 11 (line 12): not a JSON object", NULL});
    const char *rte[] = {"{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": 0}"};
    write_task("rte", "{}", rte, 1);
    snprintf(field, sizeof field, "{\"tasks\": [\"rte\"], \"n\": 2, \"path\": \"%s\"}", dir);
    check_refused("short", field, NULL, (const char *[]){"rte.jsonl: 11 records", "downstream.n = 2", NULL});
}

/* every column of /downstream/<task> in two files, bitwise */
static bool same_downstream(const char *a, const char *b, const char *task, long *rows_out) {
    static const char *const cols[] = {"n_edits", "n_items", "n_truncated", "accuracy", "f1", "mcc"};
    char err[1024];
    results *x = results_open(a, false, err, sizeof err), *y = results_open(b, false, err, sizeof err);
    bool same = x && y;
    for (size_t i = 0; same && i < sizeof cols / sizeof *cols; i++) {
        char path[128];
        snprintf(path, sizeof path, "/downstream/%s/%s", task, cols[i]);
        double *u = NULL, *v = NULL;
        long ru, rv, c;
        same = !results_read(x, path, &u, &ru, &c) && !results_read(y, path, &v, &rv, &c) && ru == rv &&
               !memcmp(u, v, (size_t)ru * sizeof(double));
        *rows_out = ru;
        free(u);
        free(v);
    }
    results_close(x);
    results_close(y);
    return same;
}

static void test_run_resume(void) {
    char data[512];
    if (!test_data_path(data, sizeof data, "downstream/sst2.jsonl")) SKIP("no downstream data in the shared data folder");
    *strrchr(data, '/') = 0;
    char field[800], out[32768], a[600], b[600], cfg_a[600], cfg_b[600];
    snprintf(field, sizeof field, "{\"n\": 20, \"path\": \"%s\"}", data);
    snprintf(cfg_a, sizeof cfg_a, "%s", write_config("whole", field, NULL));
    snprintf(cfg_b, sizeof cfg_b, "%s", write_config("resumed", field, NULL));
    snprintf(a, sizeof a, "%s/whole.h5", dir);
    snprintf(b, sizeof b, "%s/resumed.h5", dir);
    int rc = run_config(cfg_a, NULL, NULL, out, sizeof out);
    CHECK(rc == 0, "uninterrupted run: exit %d: %s", rc, out);
    rc = run_config(cfg_b, "--stop-after", "3", out, sizeof out);
    CHECK(rc == 2, "stopped run: exit %d: %s", rc, out);
    const char *argv[] = {"run", "--resume", b, "--progress-every", "0", NULL};
    rc = kedit(argv, 0, out, sizeof out);
    CHECK(rc == 0, "resumed run: exit %d: %s", rc, out);
    static const char *const tasks[] = {"sst2", "mmlu", "mrpc", "cola", "rte", "nli"};
    for (int i = 0; i < 6; i++) {
        long rows = 0;
        CHECK(same_downstream(a, b, tasks[i], &rows), "%s: the resumed run's rows differ", tasks[i]);
        CHECK(rows == 3, "%s: %ld rows, expected 3 (unedited, 2 and 4 edits)", tasks[i], rows);
    }
    // the unedited model's row against the scores computed here
    char err[1024];
    model m;
    tokenizer *tok = tokenizer_load(MODEL, err, sizeof err);
    downstream d = {0};
    rc = !tok || model_load(MODEL, backend_cpu(), &m, err, sizeof err) ||
         downstream_load(&d, data, tasks, 6, 20, tok, m.cfg.n_ctx, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    downstream_row row[6];
    results *res = rc ? NULL : results_open(a, false, err, sizeof err);
    if (res && !downstream_score(&d, &m, NULL, 32, row, err, sizeof err)) {
        char **names;
        int n;
        CHECK(!results_downstream_tasks(res, &names, &n) && n == 6, "the file's tasks");
        for (int i = 0; i < n; i++) {
            CHECK(!strcmp(names[i], tasks[i]), "task %d is %s", i, names[i]);
            free(names[i]);
        }
        free(names);
        printf("    unedited fact-world GPT-2, 20 items per task (accuracy, F1, MCC):");
        for (int i = 0; i < 6; i++) {
            char path[128];
            double *acc, *f1, *mcc, *n_ed;
            long r, c;
            snprintf(path, sizeof path, "/downstream/%s/accuracy", tasks[i]);
            results_read(res, path, &acc, &r, &c);
            snprintf(path, sizeof path, "/downstream/%s/f1", tasks[i]);
            results_read(res, path, &f1, &r, &c);
            snprintf(path, sizeof path, "/downstream/%s/mcc", tasks[i]);
            results_read(res, path, &mcc, &r, &c);
            snprintf(path, sizeof path, "/downstream/%s/n_edits", tasks[i]);
            results_read(res, path, &n_ed, &r, &c);
            CHECK(n_ed[0] == 0 && n_ed[1] == 2 && n_ed[2] == 4, "%s: rows after %g, %g, %g edits", tasks[i], n_ed[0],
                  n_ed[1], n_ed[2]);
            CHECK(acc[0] == row[i].accuracy && f1[0] == row[i].f1 && mcc[0] == row[i].mcc,
                  "%s: the file's unedited scores %g %g %g, computed here %g %g %g", tasks[i], acc[0], f1[0], mcc[0],
                  row[i].accuracy, row[i].f1, row[i].mcc);
            printf(" %s %.2f %.3f %.3f;", tasks[i], acc[0], f1[0], mcc[0]);
            // kedit table --downstream: the file's row of this task's accuracy, unedited then after 2 and 4 edits
            const char *table[] = {"table", "--downstream", "--format", "csv", a, NULL};
            char line[1024];
            CHECK(kedit(table, 0, out, sizeof out) == 0, "kedit table --downstream: %s", out);
            snprintf(line, sizeof line, "%s,%s,acc,%.2f,%.2f,%.2f\n", a, tasks[i], 100 * acc[0], 100 * acc[1], 100 * acc[2]);
            CHECK(strstr(out, line) != NULL, "kedit table --downstream lacks '%s': %s", line, out);
            free(acc);
            free(f1);
            free(mcc);
            free(n_ed);
        }
        printf("\n");
    } else CHECK(0, "%s", err);
    results_close(res);
    downstream_free(&d);
    if (!rc) model_free(&m);
    if (tok) tokenizer_free(tok);
}

int main(void) {
    if (!test_make_dir(dir, sizeof dir, "downstream")) {
        fprintf(stderr, "cannot make a temporary folder\n");
        return 1;
    }
    RUN(test_confusion);
    RUN(test_answer_ties);
    RUN(test_items_by_hand);
    RUN(test_answer_pieces);
    RUN(test_bad_input);
    RUN(test_run_resume);
    test_remove_dir(dir);
    return TEST_SUMMARY();
}
