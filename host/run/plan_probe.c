#include "run/plan_probe.h"

#include "methods/compute_z.h"
#include "methods/corpus.h"
#include "methods/covariance.h"
#include "proc_memory.h"
#include "run/metrics.h"
#include "progress.h"
#include "tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_PASSES 2 /* z optimisation passes timed; the estimate scales one pass */

typedef struct probe {
    model m;
    bool loaded;
    tokenizer *tok;
    edit_dataset ds;
    eval_set es;
    ctx_templates tmpl;
} probe;

/* the context templates compute_z averages over: the frozen file's when it exists, else as many bare
 * prompts as the kind has (memit: 1 + 5, rome: 21; none: 1), so the batch has the run's width */
static int probe_templates(const run_config *c, const edit_hparams *hp, ctx_templates *t, char *err, size_t errlen) {
    if (hp->templates[0] && c->templates_path && access(c->templates_path, R_OK) == 0)
        return templates_load(c->templates_path, t, err, errlen);
    int n = !hp->templates[0] ? 1 : !strcmp(hp->templates, "rome") ? 21 : 6;
    t->n = n;
    t->n_groups = !strcmp(hp->templates, "memit") ? 2 : 1;
    t->text = malloc((size_t)n * sizeof *t->text);
    t->group = malloc((size_t)n * sizeof *t->group);
    for (int i = 0; i < n; i++) {
        t->text[i] = strdup("{}");
        t->group[i] = t->n_groups == 2 && i > 0;
    }
    return 0;
}

static int max_int(int a, int b) { return a > b ? a : b; }

/* the evaluation's largest batch (metrics.c scores items of prompt ‖ answer, batched by length) and the
 * z optimisation's (every template's prompt ‖ target, and the KL prompt) */
static void shapes_of(const probe *q, const run_config *c, plan_shapes *s) {
    int items = 0, len = 0, tgt = 0;
    for (int i = 0; i < q->es.n; i++) {
        const eval_request *r = &q->es.req[i];
        items += 1 + (r->target_true.n > 0) + r->n_rephrase + r->n_loc;
        len = max_int(len, r->prompt.n + max_int(r->target_new.n, r->target_true.n));
        tgt = max_int(tgt, max_int(r->target_new.n, r->target_true.n));
        for (int j = 0; j < r->n_rephrase; j++) len = max_int(len, r->rephrase[j].n + r->target_new.n);
        for (int j = 0; j < r->n_loc; j++) {
            len = max_int(len, r->loc[j].n + r->loc_ans[j].n);
            tgt = max_int(tgt, r->loc_ans[j].n);
        }
    }
    s->eval_seqs = items < c->eval_batch ? items : c->eval_batch;
    s->eval_len = len;
    s->eval_rows = s->eval_seqs * tgt;
    s->z_seqs = q->tmpl.n + 1;
    s->z_len = 0;
    for (int i = 0; i < q->es.n; i++) s->z_len = max_int(s->z_len, q->es.req[i].prompt.n + q->es.req[i].target_new.n);
    s->z_len += q->tmpl.n > 1 ? 12 : 0; // a template's sampled prefix: 10 tokens and ". "
    s->z_rows = q->tmpl.n * q->es.req[0].target_new.n + 1;
}

/* the statistics' token count and whether the cache holds every edited layer's */
static int probe_stats(const probe *q, const run_config *c, const edit_hparams *hp, run_plan *p, plan_shapes *s,
                       char *err, size_t errlen) {
    corpus_plan cp;
    if (corpus_plan_make(c->stats_corpus, q->tok, c->stats_truncate, q->m.cfg.n_ctx,
                         p->stats_tokens > 0 ? p->stats_tokens : 0, &cp, err, errlen))
        return -1;
    p->stats_tokens = cp.n_tokens;
    // the largest batch of compute_pass: windows while they hold at most PLAN_COV_BATCH_TOKENS tokens
    for (int w = 0; w < cp.n_win;) {
        int w1 = w + 1, T = (int)(cp.start[w + 1] - cp.start[w]);
        while (w1 < cp.n_win && cp.start[w1 + 1] - cp.start[w] <= PLAN_COV_BATCH_TOKENS) {
            T = max_int(T, (int)(cp.start[w1 + 1] - cp.start[w1]));
            w1++;
        }
        if ((double)(w1 - w) * T > (double)s->cov_seqs * s->cov_len) s->cov_seqs = w1 - w, s->cov_len = T;
        s->cov_tokens = max_int(s->cov_tokens, (int)(cp.start[w1] - cp.start[w]));
        w = w1;
    }
    p->stats_cached = 1;
    for (int i = 0; i < hp->n_layers; i++) {
        char path[1024];
        if (cov_cache_path(c->stats_cache, q->m.checksum, hp->layers[i], &cp, c->stats_precision, path, sizeof path) ||
            access(path, R_OK) != 0)
            p->stats_cached = 0;
    }
    corpus_plan_free(&cp);
    return 0;
}

/* one compute_z of PROBE_PASSES passes on the first request: seconds per pass */
static int probe_time(const probe *q, const edit_hparams *hp, run_plan *p, char *err, size_t errlen) {
    const edit_record *r = &q->ds.req[0];
    edit_prompts ep;
    if (edit_prompts_build(q->tok, &q->tmpl, r->prompt, r->subject, r->target_new, &ep, err, errlen)) return -1;
    int L = hp->layers[hp->n_layers - 1];
    z_opts zo = {hp->method == METHOD_ROME ? SITE_MLP_OUT : SITE_BLOCK_OUT, L, PROBE_PASSES, hp->v_lr,
                 hp->v_weight_decay, hp->kl_factor, hp->clamp_norm_factor, 0};
    float *z0 = malloc((size_t)q->m.cfg.d * sizeof(float)), *delta = malloc((size_t)q->m.cfg.d * sizeof(float));
    z_result zr;
    double t0 = progress_now();
    int rc = compute_z(&q->m, &ep, &zo, z0, delta, &zr);
    double dt = progress_now() - t0;
    free(z0), free(delta);
    edit_prompts_free(&ep);
    if (rc) {
        snprintf(err, errlen, "the probe's forward and backward pass failed");
        return -1;
    }
    p->pass_seconds = dt / (zr.passes > 0 ? zr.passes : 1);
    p->passes_per_edit = hp->method == METHOD_FT ? hp->ft.num_steps
                         : hp->method == METHOD_GRACE ? hp->grace.n_iter : hp->v_num_grad_steps;
    p->edit_seconds = p->pass_seconds * p->passes_per_edit;
    return 0;
}

/* memory in use where the run allocates: the process's resident memory (CPU), what the device no longer
 * has free (CUDA) */
static double in_use(const backend *be) {
    return strcmp(be->name, "cpu") == 0 ? (double)proc_rss_now() : -(double)be->mem_available();
}

static int probe_load(probe *q, const run_config *c, const backend *be, char *err, size_t errlen) {
    if (model_load_as(c->model_path, be, c->weights, &q->m, err, errlen)) return -1;
    q->loaded = true;
    const char *tp = c->tokenizer_path ? c->tokenizer_path : c->model_path;
    if (!(q->tok = tokenizer_load(tp, err, errlen)) || tokenizer_check_vocab(q->tok, tp, q->m.cfg.vocab, err, errlen))
        return -1;
    if (dataset_load(c->dataset_path, &c->ds, &q->ds, err, errlen)) return -1;
    if (q->ds.n == 0) {
        snprintf(err, errlen, "%s: no edit requests selected from %s", c->source, c->dataset_path);
        return -1;
    }
    return eval_set_tokenize(&q->es, q->tok, q->ds.req, q->ds.n, c->ds.protocol, err, errlen);
}

int plan_probe(const run_config *c, const backend *be, const edit_hparams *hp, run_plan *p, plan_shapes *s,
               char *err, size_t errlen) {
    probe q = {0};
    double used0 = in_use(be);
    int rc = probe_load(&q, c, be, err, errlen);
    if (!rc) {
        p->cfg = q.m.cfg;
        p->n_edits = q.ds.n;
        p->inputs = in_use(be) - used0;
        if (!strcmp(be->name, "cpu")) p->loading = fmax(0, (double)proc_rss_peak() - used0 - p->inputs);
        p->inputs_measured = true;
        rc = (p->stats_needed && probe_stats(&q, c, hp, p, s, err, errlen)) || probe_templates(c, hp, &q.tmpl, err, errlen);
    }
    if (!rc) {
        shapes_of(&q, c, s);
        rc = probe_time(&q, hp, p, err, errlen);
    }
    templates_free(&q.tmpl);
    eval_set_free(&q.es);
    dataset_free(&q.ds);
    tokenizer_free(q.tok);
    if (q.loaded) model_free(&q.m);
    return rc;
}

void plan_shapes_guess(const run_config *c, const model_config *m, const edit_hparams *hp, plan_shapes *s) {
    int n_tmpl = !hp->templates[0] ? 1 : !strcmp(hp->templates, "rome") ? 21 : 6, len = m->n_ctx / 4, tgt = 4;
    int win = PLAN_COV_BATCH_TOKENS / m->n_ctx > 0 ? PLAN_COV_BATCH_TOKENS / m->n_ctx : 1;
    *s = (plan_shapes){.z_seqs = n_tmpl + 1, .z_len = len, .z_rows = n_tmpl * tgt + 1, .eval_seqs = c->eval_batch,
                       .eval_len = len, .eval_rows = c->eval_batch * tgt, .cov_seqs = win, .cov_len = m->n_ctx,
                       .cov_tokens = win * m->n_ctx};
}
