#include "run/runner.h"

#include "backend_by_name.h"
#include "methods/editor.h"
#include "model_save.h"
#include "progress.h"
#include "run/downstream.h"
#include "run/input_digest.h"
#include "run/metrics.h"
#include "run/interrupt.h"
#include "run/record_fit.h"
#include "run/results_h5.h"
#include "run/run_state.h"
#include "version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct run {
    run_config *c;
    const run_opts *o;
    const backend *be;
    model m;
    tokenizer *tok;
    edit_hparams hp;
    ctx_templates templates;   /* the method's context templates (n 0: the bare prompt, FT and GRACE) */
    edit_dataset ds;
    eval_set es;
    results *res;
    const char *path;          /* the results file */
    run_state *st;             /* its state folder */
    char run_id[RUN_ID_LEN + 1];
    cJSON *digests, *digest_paths; /* the inputs' digests now, and the path of each (for messages) */
    editor *ed;
    progress pr;
    long done;                 /* edits already made (and in the results file) */
    void **pending;            /* records of the edit calls since the last state write (state_every > 1) */
    size_t *pending_len;
    long *pending_at;          /* the edit count after each of those calls */
    int n_pending;
    long saved;                /* the edit count of the last state written */
    int *ppl_ids;              /* held-out text for the perplexity, n_ppl tokens */
    long n_ppl;
    double ppl0;               /* perplexity of the unedited model (NaN without a text) */
    double *prob_pre;          /* n target probabilities on W₀ */
    downstream down;           /* the downstream tasks' test items (n 0: none) */
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
    if (h->method == METHOD_ALPHAEDIT || h->method == METHOD_D4SP) // at most (m ≤ d_ff): U and C̃_p or S̃ (+ Ñ)
        bytes += E * (2 * f * f * 8 + (h->method == METHOD_D4SP ? d * f * 8 : 0));
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
    if (tokenizer_check_vocab(r->tok, tp, r->m.cfg.vocab, r->err, sizeof r->err)) return -1;
    if (hparams_load(c->hparams_path, &r->hp, r->err, sizeof r->err) ||
        hparams_check_model(&r->hp, c->hparams_path, r->m.cfg.n_layer, r->err, sizeof r->err))
        return -1;
    // the editor (it widens the matrices it edits) and its context templates, which the dataset's check needs
    if (!(r->ed = editor_create(&r->m, &r->hp, r->err, sizeof r->err))) return -1;
    if (r->hp.templates[0] && templates_get(&r->m, r->tok, r->hp.templates, c->templates_path, &r->templates, r->err,
                                            sizeof r->err))
        return -1;
    // a selected record is valid only when every sequence that edits or scores it fits the model's context
    record_fit fit = {r->tok, r->m.cfg.n_ctx, r->templates.n ? &r->templates : NULL};
    dataset_opts ds = c->ds;
    ds.check = record_fits;
    ds.check_ctx = &fit;
    if (dataset_load(c->dataset_path, &ds, &r->ds, r->err, sizeof r->err)) return -1;
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
    if (k < 2) {
        free(ids);
        FAIL(r, "%s: field perplexity.text: %s gives fewer than 2 tokens", r->c->source, r->c->ppl_text);
    }
    r->n_ppl = k < r->c->ppl_tokens ? k : r->c->ppl_tokens;
    r->ppl_ids = ids;
    return 0;
}

static int perplexity(run *r, double *ppl) {
    *ppl = NAN;
    if (!r->ppl_ids) return 0;
    return metrics_perplexity(&r->m, r->ppl_ids, r->n_ppl, r->c->ppl_window, r->c->eval_batch, ppl, r->err, sizeof r->err);
}

static int load_downstream(run *r) {
    run_config *c = r->c;
    if (!c->n_downstream) return 0;
    if (downstream_load(&r->down, c->downstream_path, (const char *const *)c->downstream_tasks, c->n_downstream,
                        c->downstream_n, r->tok, r->m.cfg.n_ctx, r->err, sizeof r->err))
        return -1;
    for (int i = 0; i < r->down.n; i++)
        if (r->down.task[i].n_truncated)
            printf("downstream %s: %ld of %d prompts cut on the left to fit the model's %d positions\n",
                   r->down.task[i].name, r->down.task[i].n_truncated, r->down.task[i].n_items, r->m.cfg.n_ctx);
    return 0;
}

/* the downstream tasks' scores on the live model, a row of /downstream after n edits (0: W₀) */
static int downstream_checkpoint(run *r, long n) {
    if (!r->down.n) return 0;
    downstream_row *row = malloc((size_t)r->down.n * sizeof *row);
    int rc = downstream_score(&r->down, &r->m, n ? editor_eval_hooks(r->ed) : NULL, r->c->eval_batch, row, r->err,
                              sizeof r->err);
    if (!rc && results_append_downstream(r->res, n, row, r->down.n))
        rc = -1, snprintf(r->err, sizeof r->err, "%s", results_error(r->res));
    if (!rc) {
        char line[1024];
        int k = 0;
        for (int i = 0; i < r->down.n && k < (int)sizeof line; i++)
            k += snprintf(line + k, sizeof line - (size_t)k, "%s %s %.2f", i ? "," : "", row[i].task, 100 * row[i].accuracy);
        if (n) progress_note(&r->pr, "checkpoint %ld: downstream accuracy%s", n, line);
        else printf("unedited: downstream accuracy%s\n", line);
    }
    free(row);
    return rc;
}

static char *config_text(const run *r) { return cJSON_PrintUnformatted(r->c->json); }

/* how the editor's covariance statistics were made (every layer's come from one corpus plan), JSON; NULL
 * when the method uses none */
static char *statistics_text(const run *r) {
    for (int i = 0; i < editor_n_layers(r->ed); i++) {
        const cov_info *ci = editor_cov_info(r->ed, i);
        if (!ci) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "truncate", corpus_rule_name(ci->truncate));
        cJSON_AddStringToObject(o, "precision", cov_precision_name(ci->precision));
        cJSON_AddNumberToObject(o, "documents", ci->n_docs);
        cJSON_AddNumberToObject(o, "windows", ci->n_win);
        cJSON_AddNumberToObject(o, "tokens", (double)ci->n_tokens);
        char *text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return text;
    }
    return NULL;
}

/* a fresh run's id: 32 hex digits from /dev/urandom (the time and process id where it cannot be read) */
static void make_run_id(char *id) {
    unsigned char b[RUN_ID_LEN / 2];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    if (got != sizeof b) {
        unsigned long long x = (unsigned long long)time(NULL) * 6364136223846793005ull ^ (unsigned long long)getpid();
        for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)(x >> (8 * (i % 8))) ^ (unsigned char)i;
    }
    for (size_t i = 0; i < sizeof b; i++) snprintf(id + 2 * i, 3, "%02x", b[i]);
}

static bool regular_file(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void add_file_digest(run *r, const char *name, const char *path) {
    digest_add_file(r->digests, name, path);
    cJSON_AddStringToObject(r->digest_paths, name, path);
}

/* the digests of the inputs read from files (the statistics are added by digest_statistics) */
static void digest_inputs(run *r) {
    run_config *c = r->c;
    r->digests = cJSON_CreateObject();
    r->digest_paths = cJSON_CreateObject();
    char *cfg = cJSON_PrintUnformatted(c->json);
    digest_add(r->digests, "config", digest_more(digest_start(), cfg, strlen(cfg)));
    free(cfg);
    cJSON_AddStringToObject(r->digest_paths, "config", "the results file's config attribute");
    add_file_digest(r, "hparams", c->hparams_path);
    cJSON_AddStringToObject(r->digests, "model", r->m.checksum);
    cJSON_AddStringToObject(r->digest_paths, "model", c->model_path);
    const char *tp = c->tokenizer_path ? c->tokenizer_path : c->model_path;
    if (regular_file(tp)) add_file_digest(r, "tokenizer", tp);
    add_file_digest(r, "dataset", c->dataset_path);
    if (c->ppl_text) add_file_digest(r, "perplexity_text", c->ppl_text);
    for (int i = 0; i < c->n_downstream; i++) {
        char name[64], *path = downstream_task_path(c->downstream_path, c->downstream_tasks[i]);
        snprintf(name, sizeof name, "downstream_%s", c->downstream_tasks[i]);
        add_file_digest(r, name, path);
        free(path);
    }
}

/* the covariances the editor uses (after the statistics cache or corpus and their regularisation) and,
 * where it uses any, the corpus they come from */
static void digest_statistics(run *r, cJSON *into) {
    size_t nn = (size_t)r->m.cfg.d_ff * r->m.cfg.d_ff;
    unsigned long long h = digest_start();
    float *host = NULL;
    for (int i = 0; i < editor_n_layers(r->ed); i++) {
        const float *C = editor_cov(r->ed, i);
        if (!C) continue;
        if (!host) host = malloc(nn * sizeof(float));
        r->be->to_host(host, C, nn * sizeof(float));
        h = digest_more(h, host, nn * sizeof(float));
    }
    if (host) digest_add(into, "covariance", h);
    if (host && r->c->stats_corpus) {
        digest_add_file(into, "corpus", r->c->stats_corpus);
        cJSON_AddStringToObject(r->digest_paths, "corpus", r->c->stats_corpus);
    }
    free(host);
}

/* the recorded digests against now's (a resume), or recorded in the file (a fresh run) */
static int check_digests(run *r, const cJSON *now) {
    char *text = results_attr_str(r->res, "input_digests");
    cJSON *was = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!was) FAIL(r, "%s: no input_digests attribute (written by an older kedit): its inputs cannot be verified, "
                      "resume refused", r->path);
    int rc = digests_check(was, now, r->digest_paths, r->path, r->err, sizeof r->err);
    cJSON_Delete(was);
    return rc;
}

/* a resumed file must be the run its configuration describes: its id, its plan, its inputs */
static int check_resumed_file(run *r) {
    char *id = results_attr_str(r->res, "run_id");
    bool ok = id && strlen(id) == RUN_ID_LEN;
    if (ok) snprintf(r->run_id, sizeof r->run_id, "%s", id);
    free(id);
    if (!ok) FAIL(r, "%s: no run_id attribute (schema version 1): its state is inside the file; resume it with the "
                     "kedit that wrote it", r->path);
    double planned = 0;
    if (results_attr_double(r->res, "n_edits_planned", &planned)) FAIL(r, "%s", results_error(r->res));
    if ((long)planned != r->ds.n)
        FAIL(r, "%s: inconsistent: n_edits_planned is %ld but its config attribute selects %d edits", r->path,
             (long)planned, r->ds.n);
    return check_digests(r, r->digests);
}

static int open_results(run *r) {
    run_config *c = r->c;
    digest_inputs(r);
    if (r->o->resume) {
        r->path = r->o->resume;
        r->res = results_open(r->path, false, r->err, sizeof r->err); // checked before anything is written
        if (!r->res || check_resumed_file(r)) return -1;
        results_close(r->res);
        r->res = results_open(r->path, true, r->err, sizeof r->err);
        if (!r->res) return -1;
        r->st = run_state_open(r->path, r->run_id, r->err, sizeof r->err);
        return r->st ? 0 : -1;
    }
    r->path = c->output;
    make_run_id(r->run_id);
    char *cfg = config_text(r), *stats = statistics_text(r);
    results_meta meta = {.config_json = cfg, .method = method_name(r->hp.method), .model_path = c->model_path,
                         .model_name = c->model_name, .model_checksum = r->m.checksum, .dataset = c->dataset_path,
                         .protocol = protocol_name(c->ds.protocol), .git_revision = KEDIT_GIT_REV,
                         .device = r->be->name, .weights = weight_type_name(r->m.weights), .statistics = stats,
                         .run_id = r->run_id, .seed = (long long)c->seed, .n_edits = r->ds.n};
    r->res = results_create(c->output, &meta, r->err, sizeof r->err);
    free(cfg), free(stats);
    if (!r->res) return -1;
    r->st = run_state_create(r->path, r->run_id, r->err, sizeof r->err);
    return r->st ? 0 : -1;
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
    if (!r->o->resume && downstream_checkpoint(r, 0)) return -1; // a resumed file has its row
    if (!r->o->resume) {
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

/* the editor's statistics (and templates, load_inputs's): read or computed before the results file is
 * created, so that a bad corpus or covariance cache leaves nothing behind */
static int prepare_editor(run *r) {
    cov_opts cov = {.corpus = r->c->stats_corpus, .truncate = r->c->stats_truncate,
                    .precision = r->c->stats_precision, .max_tokens = r->c->stats_tokens,
                    .cache_dir = r->c->stats_cache, .progress = !r->o->quiet, .stop = interrupt_flag()};
    editor_resources res = {.tok = r->tok, .templates = r->templates.n ? &r->templates : NULL, .cov = &cov};
    return editor_prepare(r->ed, &res, r->err, sizeof r->err);
}

/* every input that the run reads before its first edit, read and checked before the results file exists
 * (load_inputs has checked the model, tokenizer, hyper-parameters, templates and dataset) */
static int validate_inputs(run *r) { return load_ppl_text(r) || load_downstream(r) || prepare_editor(r); }

static int record_templates(run *r) {
    const ctx_templates *t = editor_templates(r->ed);
    if (!r->o->resume && t && results_set_templates(r->res, (const char *const *)t->text, t->n))
        FAIL(r, "%s", results_error(r->res));
    return 0;
}

/* AlphaEdit and D4S-P: τ and the null-space dimension m of every edited layer (editing-spec §11.1, §11.7),
 * as root attributes nullspace_threshold and nullspace_m.layer<l> */
static int record_nullspace(run *r) {
    for (int i = 0; !r->o->resume && i < editor_n_layers(r->ed) && editor_nullspace_dim(r->ed, i) >= 0; i++) {
        char name[48];
        snprintf(name, sizeof name, "nullspace_m.layer%d", editor_layer(r->ed, i));
        if ((i == 0 && results_set_attr_double(r->res, "nullspace_threshold", r->hp.nullspace_threshold)) ||
            results_set_attr_double(r->res, name, editor_nullspace_dim(r->ed, i)))
            FAIL(r, "%s", results_error(r->res));
    }
    return 0;
}

/* ---- the durable state (run/run_state.h): the record of every edit call, or a snapshot ---- */

/* a fresh run: the digests (with the statistics) recorded and the file published under its name; a
 * resumed one: the covariances checked */
static int start_or_verify(run *r) {
    cJSON *cov = cJSON_CreateObject();
    digest_statistics(r, cov);
    int rc = 0;
    if (r->o->resume) rc = check_digests(r, cov);
    else {
        for (cJSON *d; (d = cov->child);) {
            cJSON_DetachItemViaPointer(cov, d);
            cJSON_AddItemToObject(r->digests, d->string, d);
        }
        char *text = cJSON_PrintUnformatted(r->digests);
        rc = results_set_attr_str(r->res, "input_digests", text) || results_publish(r->res);
        free(text);
        if (rc) snprintf(r->err, sizeof r->err, "%s", results_error(r->res));
    }
    cJSON_Delete(cov);
    return rc;
}

/* the state of edit n is one file that replaces the previous (FT, GRACE; every method under independent edits) */
static bool state_is_snapshot(const run *r) {
    return r->c->mode == EDITS_INDEPENDENT || editor_journal_is_snapshot(r->ed);
}

/* the journal of the edit call just made (ending at edit count n), kept until the next state write */
static int keep_record(run *r, long n) {
    if (state_is_snapshot(r)) return 0; // taken at the state write
    r->pending = realloc(r->pending, (size_t)(r->n_pending + 1) * sizeof *r->pending);
    r->pending_len = realloc(r->pending_len, (size_t)(r->n_pending + 1) * sizeof *r->pending_len);
    r->pending_at = realloc(r->pending_at, (size_t)(r->n_pending + 1) * sizeof *r->pending_at);
    r->pending_at[r->n_pending] = n;
    if (editor_journal(r->ed, &r->pending[r->n_pending], &r->pending_len[r->n_pending], r->err, sizeof r->err))
        return -1;
    r->n_pending++;
    return 0;
}

static void drop_pending(run *r) {
    for (int k = 0; k < r->n_pending; k++) free(r->pending[k]);
    r->n_pending = 0;
}

/* writes the records of the edit calls since the last write (or the snapshot of edit n) */
static int save_state(run *r, long n) {
    int rc = 0;
    if (r->c->mode == EDITS_INDEPENDENT) // the model is W₀ after every edit: the state is the count alone
        rc = run_state_write(r->st, n, "", 0, true, r->err, sizeof r->err);
    else if (editor_journal_is_snapshot(r->ed)) {
        void *rec;
        size_t len;
        rc = editor_journal(r->ed, &rec, &len, r->err, sizeof r->err) ||
             run_state_write(r->st, n, rec, len, true, r->err, sizeof r->err);
        if (!rc) free(rec);
    }
    for (int k = 0; k < r->n_pending && !rc; k++)
        rc = run_state_write(r->st, r->pending_at[k], r->pending[k], r->pending_len[k], false, r->err, sizeof r->err);
    drop_pending(r);
    if (!rc) r->saved = n;
    return rc ? -1 : 0;
}

/* the replayed editor's norms against the results file's last row: the replay is the run's */
static int check_replay(run *r) {
    static const char *const cols[] = {"l1_diff", "fro_diff", "fro_step", "l1", "codebook_size", "values_norm"};
    for (int j = 0; j < editor_n_matrices(r->ed); j++) {
        layer_norms ln;
        const char *name = editor_matrix_name(r->ed, j);
        if (editor_norms(r->ed, j, &ln)) FAIL(r, "the norms of %s failed", name);
        double now[6] = {ln.dev_l1_mean, ln.dev_fro, ln.inc_fro, ln.w_l1_mean, ln.codebook_size, ln.values_norm};
        for (int c = 0; c < 6; c++) {
            char path[256];
            snprintf(path, sizeof path, "/norms/%s/%s", name, cols[c]);
            double *v;
            long rows, one;
            if (results_read(r->res, path, &v, &rows, &one)) FAIL(r, "%s", results_error(r->res));
            double was = rows >= r->done ? v[r->done - 1] : NAN;
            free(v);
            if (memcmp(&was, &now[c], sizeof was) == 0 || (isnan(was) && isnan(now[c]))) continue;
            if (!(fabs(now[c] - was) <= 1e-6 * fabs(was)))
                FAIL(r, "%s: the replayed state gives %s = %.17g after edit %ld, the run recorded %.17g: its state "
                     "does not reproduce the run", r->path, path, now[c], r->done, was);
            fprintf(stderr, "kedit: %s: the replayed %s differs from the recorded one by %.3g (relative; rounding "
                    "of another device or library)\n", r->path, path, fabs(now[c] - was) / fabs(was));
        }
    }
    return 0;
}

/* a resumed run: the edit to continue after (the last state written, at most the last row flushed), the
 * results past it dropped, the state replayed and checked */
static int resume_state(run *r) {
    double flushed = 0;
    if (results_attr_double(r->res, "edits_flushed", &flushed)) FAIL(r, "%s", results_error(r->res));
    bool snapshot = state_is_snapshot(r);
    long t = run_state_last(r->st);
    if (t > (long)flushed) {
        if (snapshot) FAIL(r, "%s: its state is of edit %ld but only %ld edits were flushed", r->path, t, (long)flushed);
        printf("%s: the state of edits %ld … %ld is past the last flushed edit; they are made again\n", r->path,
               (long)flushed + 1, t);
        t = (long)flushed;
        if (run_state_drop_after(r->st, t, r->err, sizeof r->err)) return -1;
    }
    if (results_truncate_edits(r->res, t)) FAIL(r, "%s", results_error(r->res));
    if (t < (long)flushed)
        printf("%s: %ld edits were flushed after its last resume state; they are made again\n", r->path,
               (long)flushed - t);
    r->done = r->saved = t;
    if (t == 0 || r->c->mode == EDITS_INDEPENDENT) return 0; // independent edits: nothing to replay onto W₀
    int n = 0;
    void **recs = NULL;
    size_t *lens = NULL;
    int rc = run_state_read(r->st, t, r->c->batch_size, snapshot, &n, &recs, &lens, r->err, sizeof r->err);
    if (!rc) rc = editor_replay(r->ed, n, (const void *const *)recs, lens, r->err, sizeof r->err);
    for (int k = 0; k < n; k++) free(recs[k]);
    free(recs);
    free(lens);
    return rc || check_replay(r) ? -1 : 0;
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

/* independent edits: the scores of edits 0 … n−1, each right after it was made on the unedited model */
static int scores_after_each(run *r, long n, double *eff, double *par, double *spe) {
    static const char *const paths[3] = {"/edits/efficacy", "/edits/paraphrase", "/edits/specificity"};
    double *into[3] = {eff, par, spe};
    for (int k = 0; k < 3; k++) {
        double *v;
        long rows, cols;
        if (results_read(r->res, paths[k], &v, &rows, &cols)) FAIL(r, "%s", results_error(r->res));
        if (rows < n) {
            free(v);
            FAIL(r, "%s: %ld rows of %s, %ld expected", r->path, rows, paths[k], n);
        }
        memcpy(into[k], v, (size_t)n * sizeof(double));
        free(v);
    }
    return 0;
}

/* sequential edits: re-evaluates edits 0 … n−1 on the current model, one row of the retention matrices, and
 * the perplexity; independent edits: their scores right after each (the model is the unedited one here) */
static int checkpoint(run *r, long n, double t_start) {
    request_scores *s = malloc((size_t)n * sizeof *s);
    double *eff = malloc((size_t)n * sizeof(double)), *par = malloc((size_t)n * sizeof(double)),
           *spe = malloc((size_t)n * sizeof(double));
    bool independent = r->c->mode == EDITS_INDEPENDENT;
    int rc = independent ? scores_after_each(r, n, eff, par, spe)
                         : eval_score_hooked(&r->es, &r->m, editor_eval_hooks(r->ed), 0, (int)n, r->c->eval_batch, s,
                                             r->err, sizeof r->err);
    double me = 0, mp = 0, ms = 0, ppl = NAN;
    for (long i = 0; !rc && i < n; i++) {
        if (!independent) eff[i] = s[i].efficacy, par[i] = s[i].paraphrase, spe[i] = s[i].specificity;
        me += eff[i] / n, mp += par[i] / n, ms += spe[i] / n;
    }
    if (!rc && !independent) rc = perplexity(r, &ppl) || downstream_checkpoint(r, n);
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

/* whether the edit count went from n − nb to n past a multiple of every (or reached the last edit) */
static bool reached(const run *r, long n, int nb, int every) { return n / every > (n - nb) / every || n == r->ds.n; }

/* requests i … i+nb−1 as one edit call (schedule.batch_size): each scored before and right after the call
 * (evaluate "each"), one row and one set of norms per request (the call's: its requests share them) */
static int edit_batch(run *r, long i, int nb, double t_start) {
    edit_request *req = malloc((size_t)nb * sizeof *req);
    edit_outcome *out = malloc((size_t)nb * sizeof *out);
    request_scores *before = malloc((size_t)nb * sizeof *before), *after = malloc((size_t)nb * sizeof *after);
    for (int j = 0; j < nb; j++) {
        const edit_record *q = &r->ds.req[i + j];
        req[j] = (edit_request){q->prompt_template, q->subject, q->target_new};
    }
    bool each = r->c->schedule == EVAL_EACH;
    double t0 = progress_now(), t_eval = 0;
    const struct eval_hooks *hooks = editor_eval_hooks(r->ed);
    // the live model's target probability before the edit: what this edit has to change
    int rc = each && eval_score_hooked(&r->es, &r->m, hooks, (int)i, nb, r->c->eval_batch, before, r->err, sizeof r->err);
    t_eval = progress_now() - t0;
    if (!rc) rc = editor_edit(r->ed, req, nb, out, r->err, sizeof r->err);
    t0 = progress_now();
    if (!rc && each)
        rc = eval_score_hooked(&r->es, &r->m, editor_eval_hooks(r->ed), (int)i, nb, r->c->eval_batch, after, r->err,
                               sizeof r->err);
    t_eval += progress_now() - t0;
    for (int j = 0; !rc && j < nb; j++) {
        edit_row row = {.edit = i + j, .case_id = r->ds.req[i + j].case_id, .target_prob_pre = r->prob_pre[i + j],
                        .t_z = out[j].t_z, .t_keys = out[j].t_keys, .t_solve = out[j].t_solve, .t_apply = out[j].t_apply,
                        .efficacy = NAN, .paraphrase = NAN, .specificity = NAN, .target_prob_before = NAN,
                        .target_prob_post = NAN, .peak_rss = peak_rss_bytes()};
        if (each) {
            row.efficacy = after[j].efficacy, row.paraphrase = after[j].paraphrase, row.specificity = after[j].specificity;
            row.target_prob_before = before[j].target_prob, row.target_prob_post = after[j].target_prob;
            row.t_eval = t_eval / nb;
        }
        if (results_append_edit(r->res, &row)) rc = -1, snprintf(r->err, sizeof r->err, "%s", results_error(r->res));
        else rc = record_norms(r, i + j);
    }
    double last_eff = each && !rc ? after[nb - 1].efficacy : NAN;
    free(req), free(out), free(before), free(after);
    if (rc) return -1;
    if (r->c->mode == EDITS_INDEPENDENT && editor_reset(r->ed, r->err, sizeof r->err)) return -1; // back to W₀
    long n = i + nb;
    if (reached(r, n, nb, r->c->checkpoint_every) && checkpoint(r, n, t_start)) return -1;
    if (keep_record(r, n)) return -1;
    if (results_flush(r->res)) FAIL(r, "%s", results_error(r->res)); // the rows first: a state is never ahead
    if (reached(r, n, nb, r->c->state_every) && save_state(r, n)) return -1;
    progress_edit(&r->pr, n, last_eff);
    return 0;
}

/* a signal (run/interrupt.h) stopped the run after edit n: the resume state of edit n unless edit n wrote it */
static int save_interrupted(run *r, long n) {
    if (n > r->saved) {
        if (save_state(r, n)) return -1;
        if (results_flush(r->res)) FAIL(r, "%s", results_error(r->res));
    }
    return EXIT_INTERRUPTED;
}

/* a fresh run that failed before it was published leaves nothing behind */
static void run_free(run *r, bool failed) {
    editor_free(r->ed);
    templates_free(&r->templates);
    if (failed && !r->o->resume && r->res && !results_published(r->res)) {
        results_discard(r->res);
        run_state_remove(r->path);
    } else results_close(r->res);
    run_state_close(r->st);
    drop_pending(r);
    free(r->pending);
    free(r->pending_len);
    free(r->pending_at);
    cJSON_Delete(r->digests);
    cJSON_Delete(r->digest_paths);
    eval_set_free(&r->es);
    downstream_free(&r->down);
    dataset_free(&r->ds);
    if (r->tok) tokenizer_free(r->tok);
    if (r->m.layers) model_free(&r->m);
    free(r->ppl_ids);
    free(r->prob_pre);
}

int run_execute(run_config *c, const run_opts *o) {
    run r = {.c = c, .o = o};
    double t_start = progress_now();
    // every input is read and checked before the results file is created (validate_inputs); a signal is acted
    // on between the phases (and within the covariance pass)
    int rc = load_inputs(&r) || interrupt_signal() || validate_inputs(&r) || interrupt_signal() || open_results(&r) ||
             record_templates(&r) || record_nullspace(&r) || evaluate_unedited(&r) || interrupt_signal() || start_or_verify(&r) ||
             (o->resume && resume_state(&r));
    if (!rc && o->resume) printf("resuming %s after edit %ld of %d\n", o->resume, r.done, r.ds.n);
    if (!rc) {
        progress_start(&r.pr, stdout, method_name(r.hp.method), r.ds.n, o->quiet);
        if (o->progress_every >= 0) r.pr.interval = o->progress_every;
        long stop = o->stop_after > 0 ? r.done + o->stop_after : r.ds.n;
        long i = r.done;
        for (int nb; !rc && i < r.ds.n && i < stop && !interrupt_signal(); i += nb) {
            nb = (int)(r.ds.n - i < r.c->batch_size ? r.ds.n - i : r.c->batch_size);
            rc = edit_batch(&r, i, nb, t_start);
        }
        progress_finish(&r.pr);
        if (!rc && i < r.ds.n && interrupt_signal()) rc = save_interrupted(&r, i);
        else if (!rc && i < r.ds.n) rc = 2; // stopped on request: the file stays "running"
    } else if (interrupt_signal()) rc = EXIT_INTERRUPTED; // stopped before the edits (a covariance pass saved its sums)
    if (!rc && results_mark_complete(r.res)) rc = -1, snprintf(r.err, sizeof r.err, "%s", results_error(r.res));
    if (!rc && o->save_model && model_save_hf(&r.m, c->model_path, c->tokenizer_path, o->save_model, r.err, sizeof r.err))
        rc = -1;
    if (rc && rc != 2 && rc != EXIT_INTERRUPTED) rc = 1; // every failure exits 1, a requested stop 2
    if (!rc) printf("results: %s (complete)\n", r.o->resume ? r.o->resume : c->output);
    else if (rc == EXIT_INTERRUPTED && (!r.res || !results_published(r.res))) // removed by run_free
        printf("%s: stopped before the results file was created; run the same command again\n", interrupt_signal_name());
    else if (rc == EXIT_INTERRUPTED)
        printf("%s: stopped after %ld edits, the state saved; continue with: kedit run --resume %s\n",
               interrupt_signal_name(), results_n_edits(r.res), r.o->resume ? r.o->resume : c->output);
    else if (rc == 2) printf("stopped after %ld edits; continue with: kedit run --resume %s\n", results_n_edits(r.res), r.o->resume ? r.o->resume : c->output);
    else fprintf(stderr, "kedit run: %s\n", r.err);
    run_free(&r, rc != 0 && rc != 2);
    return rc;
}
