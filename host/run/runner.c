#include "run/runner.h"

#include "methods/editor.h"
#include "model_save.h"
#include "run/metrics.h"
#include "run/interrupt.h"
#include "run/progress.h"
#include "run/results_h5.h"
#include "version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run {
    run_config *c;
    const run_opts *o;
    const backend *be;
    model m;
    tokenizer *tok;
    edit_hparams hp;
    edit_dataset ds;
    eval_set es;
    results *res;
    editor *ed;
    progress pr;
    long done;                 /* edits already made (and in the results file) */
    int *ppl_ids;              /* held-out text for the perplexity, n_ppl tokens */
    long n_ppl;
    double ppl0;               /* perplexity of the unedited model (NaN without a text) */
    double *prob_pre;          /* n target probabilities on W₀ */
    unsigned char *state;      /* resuming: the file's resume state (its edit count, then the editor's) */
    size_t state_len;
    char err[2048];
} run;

#define FAIL(r, ...)                                                                                          \
    do {                                                                                                      \
        snprintf((r)->err, sizeof (r)->err, __VA_ARGS__);                                                     \
        return -1;                                                                                            \
    } while (0)

#include "git_rev.h" /* KEDIT_GIT_REV, written by the Makefile */

/* the bytes a run holds besides the weights, for the estimate printed before it starts */
static double state_bytes(const model *m, const edit_hparams *h) {
    double d = m->cfg.d, f = m->cfg.d_ff, E = h->n_layers;
    double bytes = E * d * f * (4 + 8) + E * f * f * 4; // W₀ copies (float32) and the last Δ (float64), C
    if (h->method == METHOD_D4S) bytes += E * (f * f * 8 + d * f * 8);
    else bytes += E * f * f * 8; // the float64 system of one solve
    return bytes;
}

static int load_inputs(run *r) {
    run_config *c = r->c;
    r->be = backend_by_name(r->o->device ? r->o->device : c->device);
    if (!r->be) FAIL(r, "%s: no backend \"%s\"", c->source, r->o->device ? r->o->device : c->device);
    if (model_load_as(c->model_path, r->be, c->weights, &r->m, r->err, sizeof r->err)) return -1;
    const char *tp = c->tokenizer_path ? c->tokenizer_path : c->model_path;
    r->tok = tokenizer_load(tp, r->err, sizeof r->err);
    if (!r->tok) return -1;
    if (hparams_load(c->hparams_path, &r->hp, r->err, sizeof r->err)) return -1;
    if (dataset_load(c->dataset_path, &c->ds, &r->ds, r->err, sizeof r->err)) return -1;
    if (r->ds.n == 0) FAIL(r, "%s: no edit requests selected from %s", c->source, c->dataset_path);
    if (eval_set_tokenize(&r->es, r->tok, r->ds.req, r->ds.n, c->ds.protocol, r->err, sizeof r->err)) return -1;
    printf("kedit run %s: %s on %s (%s), %d edits from %s, protocol %s\n", c->name, method_name(r->hp.method),
           c->model_path, r->be->name, r->ds.n, c->dataset_path, protocol_name(c->ds.protocol));
    printf("memory: %.1f MiB of weights + %.1f MiB of method state\n", model_weight_bytes(&r->m.cfg, r->m.weights) / 1048576.0,
           state_bytes(&r->m, &r->hp) / 1048576.0);
    return 0;
}

/* the first ppl_tokens tokens of the held-out text */
static int load_ppl_text(run *r) {
    r->ppl0 = NAN;
    if (!r->c->ppl_text) return 0;
    FILE *f = fopen(r->c->ppl_text, "rb");
    if (!f) FAIL(r, "%s: field perplexity.text: cannot read %s", r->c->source, r->c->ppl_text);
    size_t cap = (size_t)r->c->ppl_tokens * 16 + 1; // enough bytes for the tokens asked
    char *text = malloc(cap);
    size_t n = fread(text, 1, cap - 1, f);
    fclose(f);
    text[n] = 0;
    int *ids, k = tokenizer_encode(r->tok, text, true, &ids);
    free(text);
    if (k < 2) FAIL(r, "%s: field perplexity.text: %s gives fewer than 2 tokens", r->c->source, r->c->ppl_text);
    r->n_ppl = k < r->c->ppl_tokens ? k : r->c->ppl_tokens;
    r->ppl_ids = ids;
    return 0;
}

static int perplexity(run *r, double *ppl) {
    *ppl = NAN;
    if (!r->ppl_ids) return 0;
    return metrics_perplexity(&r->m, r->ppl_ids, r->n_ppl, r->c->ppl_window, r->c->eval_batch, ppl, r->err, sizeof r->err);
}

static char *config_text(const run *r) { return cJSON_PrintUnformatted(r->c->json); }

/* reads the file's resume state into r->state; *t = its edit count (0 when the run stopped before one) */
static int state_edits(run *r, long *t) {
    *t = 0;
    if (!results_has_blob(r->res, "resume")) return 0;
    void *buf;
    if (results_read_blob(r->res, "resume", &buf, &r->state_len)) FAIL(r, "%s", results_error(r->res));
    r->state = buf;
    int64_t v = -1;
    if (r->state_len >= sizeof v) memcpy(&v, r->state, sizeof v);
    if (v < 0 || v > r->ds.n) FAIL(r, "%s: /method_state/resume is damaged (edit count %lld)", r->o->resume, (long long)v);
    *t = (long)v;
    return 0;
}

static int open_results(run *r) {
    run_config *c = r->c;
    if (r->o->resume) {
        r->res = results_open(r->o->resume, true, r->err, sizeof r->err);
        if (!r->res) return -1;
        double flushed = 0;
        if (results_attr_double(r->res, "edits_flushed", &flushed)) FAIL(r, "%s", results_error(r->res));
        if (state_edits(r, &r->done)) return -1;
        if (r->done > (long)flushed)
            FAIL(r, "%s: its resume state is of edit %ld but only %ld edits were flushed", r->o->resume, r->done,
                 (long)flushed);
        if (results_truncate_edits(r->res, r->done)) FAIL(r, "%s", results_error(r->res));
        if (r->done < (long)flushed)
            printf("%s: %ld edits were flushed after its last resume state; they are made again\n", r->o->resume,
                   (long)flushed - r->done);
        return 0;
    }
    char *cfg = config_text(r);
    results_meta meta = {.config_json = cfg, .method = method_name(r->hp.method), .model_path = c->model_path,
                         .model_name = c->model_name, .model_checksum = r->m.checksum, .dataset = c->dataset_path,
                         .protocol = protocol_name(c->ds.protocol), .git_revision = KEDIT_GIT_REV,
                         .device = r->be->name, .weights = weight_type_name(r->m.weights), .seed = (long long)c->seed, .n_edits = r->ds.n};
    r->res = results_create(c->output, &meta, r->err, sizeof r->err);
    free(cfg);
    return r->res ? 0 : -1;
}

/* scores of all requests on W₀: the target probability before each edit, the pre-edit means */
static int evaluate_unedited(run *r) {
    int n = r->ds.n;
    if (eval_cache_reference(&r->es, &r->m, r->c->eval_batch, r->err, sizeof r->err)) return -1;
    request_scores *s = malloc((size_t)n * sizeof *s);
    if (eval_score(&r->es, &r->m, 0, n, r->c->eval_batch, s, r->err, sizeof r->err)) {
        free(s);
        return -1;
    }
    r->prob_pre = malloc((size_t)n * sizeof(double));
    double eff = 0, par = 0, spe = 0;
    for (int i = 0; i < n; i++) {
        r->prob_pre[i] = s[i].target_prob;
        eff += s[i].efficacy, par += s[i].paraphrase, spe += s[i].specificity;
    }
    free(s);
    if (perplexity(r, &r->ppl0)) return -1;
    if (r->done == 0) {
        results_set_attr_double(r->res, "pre_efficacy", eff / n);
        results_set_attr_double(r->res, "pre_paraphrase", par / n);
        results_set_attr_double(r->res, "pre_specificity", spe / n);
        results_set_attr_double(r->res, "ppl_unedited", r->ppl0);
    }
    printf("unedited: efficacy %.2f, paraphrase %.2f, specificity %.2f on the %d requests%s", 100 * eff / n,
           100 * par / n, 100 * spe / n, n, isnan(r->ppl0) ? "\n" : "");
    if (!isnan(r->ppl0)) printf(", perplexity %.3f\n", r->ppl0);
    return 0;
}

static int prepare_editor(run *r) {
    r->ed = editor_create(&r->m, &r->hp, r->err, sizeof r->err);
    if (!r->ed) return -1;
    cov_opts cov = {.corpus = r->c->stats_corpus, .max_tokens = r->c->stats_tokens, .cache_dir = r->c->stats_cache,
                    .progress = !r->o->quiet, .stop = interrupt_flag()};
    editor_resources res = {.tok = r->tok, .templates_path = r->c->templates_path, .cov = &cov};
    if (editor_prepare(r->ed, &res, r->err, sizeof r->err)) return -1;
    const ctx_templates *t = editor_templates(r->ed);
    if (r->done == 0 && t && results_set_templates(r->res, (const char *const *)t->text, t->n))
        FAIL(r, "%s", results_error(r->res));
    return 0;
}

/* ---- the state a resumed run needs: the edit count it belongs to, then the editor's state (the
 * matrices the method changed and its own state) ---- */

static int save_state(run *r, long n_edits) {
    void *state;
    size_t n;
    if (editor_save_state(r->ed, &state, &n, r->err, sizeof r->err)) return -1;
    int64_t t = n_edits;
    unsigned char *buf = malloc(sizeof t + n);
    memcpy(buf, &t, sizeof t);
    memcpy(buf + sizeof t, state, n);
    free(state);
    int rc = results_write_blob(r->res, "resume", buf, sizeof t + n);
    free(buf);
    if (rc) FAIL(r, "%s", results_error(r->res));
    return 0;
}

static int restore_state(run *r) {
    return editor_load_state(r->ed, r->state + sizeof(int64_t), r->state_len - sizeof(int64_t), r->err,
                             sizeof r->err);
}

/* ---- the edits ---- */

static int record_norms(run *r, long i) {
    for (int j = 0; j < editor_n_matrices(r->ed); j++) {
        layer_norms ln;
        const char *name = editor_matrix_name(r->ed, j);
        if (editor_norms(r->ed, j, &ln)) FAIL(r, "the norms of %s failed", name);
        norm_row row = {ln.dev_l1_mean, ln.dev_fro, ln.inc_fro, ln.w_l1_mean, ln.codebook_size, ln.values_norm};
        if (results_append_norms(r->res, name, i, &row)) FAIL(r, "%s", results_error(r->res));
    }
    return 0;
}

/* re-evaluates edits 0 … n−1 on the current model: one row of the retention matrices */
static int checkpoint(run *r, long n, double t_start) {
    request_scores *s = malloc((size_t)n * sizeof *s);
    double *eff = malloc((size_t)n * sizeof(double)), *par = malloc((size_t)n * sizeof(double)),
           *spe = malloc((size_t)n * sizeof(double));
    int rc = eval_score_hooked(&r->es, &r->m, editor_eval_hooks(r->ed), 0, (int)n, r->c->eval_batch, s, r->err,
                               sizeof r->err);
    double me = 0, mp = 0, ms = 0, ppl = NAN;
    for (long i = 0; !rc && i < n; i++) {
        eff[i] = s[i].efficacy, par[i] = s[i].paraphrase, spe[i] = s[i].specificity;
        me += eff[i] / n, mp += par[i] / n, ms += spe[i] / n;
    }
    if (!rc) rc = perplexity(r, &ppl);
    checkpoint_row row = {n, eff, par, spe, ppl, r->ppl0, progress_now() - t_start};
    if (!rc && results_append_checkpoint(r->res, &row)) rc = -1, snprintf(r->err, sizeof r->err, "%s", results_error(r->res));
    char ppl_note[64] = "";
    if (!isnan(ppl)) snprintf(ppl_note, sizeof ppl_note, ", perplexity %.3f (unedited %.3f)", ppl, r->ppl0);
    if (!rc)
        progress_note(&r->pr, "checkpoint %ld: efficacy %.2f, paraphrase %.2f, specificity %.2f, avg %.2f%s", n,
                      100 * me, 100 * mp, 100 * ms, 100 * (me + mp + ms) / 3, ppl_note);
    free(s);
    free(eff);
    free(par);
    free(spe);
    return rc;
}

static int edit_one(run *r, long i, double t_start) {
    const edit_record *q = &r->ds.req[i];
    edit_request req = {q->prompt_template, q->subject, q->target_new};
    edit_outcome out;
    bool each = r->c->schedule == EVAL_EACH;
    request_scores s;
    double t0 = progress_now(), t_before = 0;
    if (each) { // the live model's target probability before the edit: what this edit has to change
        if (eval_score_hooked(&r->es, &r->m, editor_eval_hooks(r->ed), (int)i, 1, r->c->eval_batch, &s, r->err,
                              sizeof r->err))
            return -1;
        t_before = progress_now() - t0;
    }
    if (editor_edit(r->ed, &req, 1, &out, r->err, sizeof r->err)) return -1;
    edit_row row = {.edit = i, .case_id = q->case_id, .target_prob_pre = r->prob_pre[i], .t_z = out.t_z,
                    .t_keys = out.t_keys, .t_solve = out.t_solve, .t_apply = out.t_apply,
                    .efficacy = NAN, .paraphrase = NAN, .specificity = NAN,
                    .target_prob_before = each ? s.target_prob : NAN, .target_prob_post = NAN};
    if (each) {
        t0 = progress_now();
        if (eval_score_hooked(&r->es, &r->m, editor_eval_hooks(r->ed), (int)i, 1, r->c->eval_batch, &s, r->err,
                              sizeof r->err))
            return -1;
        row.efficacy = s.efficacy, row.paraphrase = s.paraphrase, row.specificity = s.specificity;
        row.target_prob_post = s.target_prob;
        row.t_eval = t_before + progress_now() - t0;
    }
    row.peak_rss = peak_rss_bytes();
    if (results_append_edit(r->res, &row)) FAIL(r, "%s", results_error(r->res));
    if (record_norms(r, i)) return -1;
    long n = i + 1;
    if ((n % r->c->checkpoint_every == 0 || n == r->ds.n) && checkpoint(r, n, t_start)) return -1;
    if ((n % r->c->state_every == 0 || n == r->ds.n) && save_state(r, n)) return -1;
    if (results_flush(r->res)) FAIL(r, "%s", results_error(r->res));
    progress_edit(&r->pr, n, row.efficacy);
    return 0;
}

/* a signal (run/interrupt.h) stopped the run after edit n: the resume state of edit n unless edit n wrote it */
static int save_interrupted(run *r, long n) {
    if (n > r->done && n % r->c->state_every != 0) {
        if (save_state(r, n)) return -1;
        if (results_flush(r->res)) FAIL(r, "%s", results_error(r->res));
    }
    return EXIT_INTERRUPTED;
}

static void run_free(run *r) {
    editor_free(r->ed);
    results_close(r->res);
    eval_set_free(&r->es);
    dataset_free(&r->ds);
    if (r->tok) tokenizer_free(r->tok);
    if (r->m.layers) model_free(&r->m);
    free(r->ppl_ids);
    free(r->prob_pre);
    free(r->state);
}

int run_execute(run_config *c, const run_opts *o) {
    run r = {.c = c, .o = o};
    double t_start = progress_now();
    // a signal is acted on between the phases (and within the covariance pass)
    int rc = load_inputs(&r) || interrupt_signal() || open_results(&r) || load_ppl_text(&r) || evaluate_unedited(&r) ||
             interrupt_signal() || prepare_editor(&r) || interrupt_signal();
    if (!rc && r.done > 0) {
        rc = restore_state(&r);
        if (!rc) printf("resuming %s after edit %ld of %d\n", o->resume, r.done, r.ds.n);
    }
    if (!rc) {
        progress_start(&r.pr, stdout, method_name(r.hp.method), r.ds.n, o->quiet);
        if (o->progress_every >= 0) r.pr.interval = o->progress_every;
        long stop = o->stop_after > 0 ? r.done + o->stop_after : r.ds.n;
        long i = r.done;
        while (!rc && i < r.ds.n && i < stop && !interrupt_signal()) rc = edit_one(&r, i++, t_start);
        progress_finish(&r.pr);
        if (!rc && i < r.ds.n && interrupt_signal()) rc = save_interrupted(&r, i);
        else if (!rc && stop < r.ds.n) rc = 2; // stopped on request: the file stays "running"
    } else if (interrupt_signal()) rc = EXIT_INTERRUPTED; // stopped before the edits (a covariance pass saved its sums)
    if (!rc && results_mark_complete(r.res)) rc = -1, snprintf(r.err, sizeof r.err, "%s", results_error(r.res));
    if (!rc && o->save_model && model_save_hf(&r.m, c->model_path, c->tokenizer_path, o->save_model, r.err, sizeof r.err))
        rc = -1;
    if (!rc) printf("results: %s (complete)\n", r.o->resume ? r.o->resume : c->output);
    else if (rc == EXIT_INTERRUPTED && !r.res)
        printf("%s: stopped before the results file was created; run the same command again\n", interrupt_signal_name());
    else if (rc == EXIT_INTERRUPTED)
        printf("%s: stopped after %ld edits, the state saved; continue with: kedit run --resume %s\n",
               interrupt_signal_name(), results_n_edits(r.res), r.o->resume ? r.o->resume : c->output);
    else if (rc == 2) printf("stopped after %ld edits; continue with: kedit run --resume %s\n", results_n_edits(r.res), r.o->resume ? r.o->resume : c->output);
    else fprintf(stderr, "kedit run: %s\n", r.err);
    run_free(&r);
    return rc;
}
