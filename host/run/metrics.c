#include "run/metrics.h"

#include "transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One forward over batch b (with the hooks of h for prompts of n_prompt tokens, when h is not NULL); at
 * the R logit rows at[r]: nll[r] = −log p(y[r]) (the backend's NLL through transformer_loss) and, when am
 * is not NULL, am[r] = the first index of the largest logit. */
static int forward_rows(const model *m, const eval_hooks *h, const kbatch *b, const int *n_prompt, const kpos *at,
                        const int *y, int R, float *nll, int *am, char *err, size_t errlen) {
    int V = m->cfg.vocab;
    khook *hooks = NULL;
    int n_hooks = 0;
    if (h && h->make && h->make(h->ctx, b, n_prompt, &hooks, &n_hooks, err, errlen)) return -1;
    float *logits = am ? malloc((size_t)R * V * sizeof(float)) : NULL; // (R, V) host copy for the argmax
    fwd_opts o = {.hooks = hooks, .n_hooks = n_hooks, .n_logit = R, .logit_at = at, .logits_host = logits,
                  .bwd_from_layer = -1, .stop_layer = -1};
    fwd_state *s = transformer_forward(m, b, &o);
    if (h && h->make) h->release(h->ctx, hooks, n_hooks);
    if (!s) {
        free(logits);
        snprintf(err, errlen, "evaluation forward failed (see the message above)");
        return -1;
    }
    float *ones = malloc((size_t)R * sizeof(float));
    for (int r = 0; r < R; r++) ones[r] = 1.0f;
    transformer_loss(m, s, y, ones, NULL, nll);
    fwd_state_free(s);
    free(ones);
    for (int r = 0; am && r < R; r++) {
        const float *x = logits + (size_t)r * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (x[v] > x[best]) best = v;
        am[r] = best;
    }
    free(logits);
    return 0;
}

typedef struct sort_key {
    int len, index;
} sort_key;

static int by_length_desc(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    return x->len != y->len ? y->len - x->len : x->index - y->index;
}

int tf_score_items(const model *m, const tf_item *items, int n, int max_batch, tf_score *out, int **argmax,
                   char *err, size_t errlen) {
    return tf_score_items_hooked(m, NULL, items, n, max_batch, out, argmax, err, errlen);
}

int tf_score_items_hooked(const model *m, const eval_hooks *h, const tf_item *items, int n, int max_batch,
                          tf_score *out, int **argmax, char *err, size_t errlen) {
    if (max_batch < 1) max_batch = 1;
    for (int i = 0; i < n; i++) {
        const tf_item *it = &items[i];
        if (it->n_prompt < 1 || it->n_target < 1) {
            snprintf(err, errlen, "evaluation item %d: %d prompt and %d target tokens (each needs at least one)", i,
                     it->n_prompt, it->n_target);
            return -1;
        }
        if (it->n_prompt + it->n_target > m->cfg.n_ctx) {
            snprintf(err, errlen, "evaluation item %d: prompt and target have %d tokens, more than the model's %d",
                     i, it->n_prompt + it->n_target, m->cfg.n_ctx);
            return -1;
        }
    }
    sort_key *keys = malloc(((size_t)n + 1) * sizeof(sort_key));
    for (int i = 0; i < n; i++) keys[i] = (sort_key){items[i].n_prompt + items[i].n_target, i};
    qsort(keys, (size_t)n, sizeof(sort_key), by_length_desc);
    int *order = malloc(((size_t)n + 1) * sizeof(int)); // items longest first: a batch pads little
    for (int i = 0; i < n; i++) order[i] = keys[i].index;
    free(keys);
    int rc = 0;
    for (int b0 = 0; b0 < n && !rc; b0 += max_batch) {
        int nb = n - b0 < max_batch ? n - b0 : max_batch, R = 0;
        for (int k = 0; k < nb; k++) R += items[order[b0 + k]].n_target;
        int *len = malloc((size_t)nb * sizeof(int)), **seq = malloc((size_t)nb * sizeof(int *));
        int *n_prompt = malloc((size_t)nb * sizeof(int));
        kpos *at = malloc((size_t)R * sizeof(kpos));      // (R) the scored rows
        int *y = malloc((size_t)R * sizeof(int)), *am = malloc((size_t)R * sizeof(int));
        float *nll = malloc((size_t)R * sizeof(float));
        for (int k = 0, r = 0; k < nb; k++) {
            const tf_item *it = &items[order[b0 + k]];
            len[k] = it->n_prompt + it->n_target;
            n_prompt[k] = it->n_prompt;
            seq[k] = malloc((size_t)len[k] * sizeof(int)); // x = prompt ‖ target
            memcpy(seq[k], it->prompt, (size_t)it->n_prompt * sizeof(int));
            memcpy(seq[k] + it->n_prompt, it->target, (size_t)it->n_target * sizeof(int));
            for (int j = 0; j < it->n_target; j++, r++) {
                at[r] = (kpos){k, it->n_prompt - 1 + j}; // row P−1+j predicts target[j]
                y[r] = it->target[j];
            }
        }
        kbatch b = {nb, len, (const int *const *)seq};
        rc = forward_rows(m, h, &b, n_prompt, at, y, R, nll, am, err, errlen);
        for (int k = 0, r = 0; k < nb && !rc; k++) {
            int i = order[b0 + k];
            const tf_item *it = &items[i];
            const int *expect = it->expect ? it->expect : it->target;
            double hits = 0, sum = 0;
            if (h && h->generate) // the argmax tokens become the greedily generated ones
                rc = h->generate(h->ctx, it->prompt, it->n_prompt, it->n_target, am + r, err, errlen);
            for (int j = 0; j < it->n_target; j++, r++) {
                hits += am[r] == expect[j];
                sum += nll[r];
                if (argmax) argmax[i][j] = am[r];
            }
            out[i] = (tf_score){hits / it->n_target, sum / it->n_target};
        }
        for (int k = 0; k < nb; k++) free(seq[k]);
        free(seq);
        free(len);
        free(n_prompt);
        free(at);
        free(y);
        free(am);
        free(nll);
    }
    free(order);
    return rc;
}

int metrics_perplexity(const model *m, const int *ids, long n, int window, int max_batch, double *ppl, char *err,
                       size_t errlen) {
    return metrics_perplexity_hooked(m, NULL, ids, n, window, max_batch, ppl, err, errlen);
}

int metrics_perplexity_hooked(const model *m, const eval_hooks *h, const int *ids, long n, int window, int max_batch,
                              double *ppl, char *err, size_t errlen) {
    if (window < 2 || window > m->cfg.n_ctx) {
        snprintf(err, errlen, "perplexity window %d: must be 2 to the model's context (%d)", window, m->cfg.n_ctx);
        return -1;
    }
    if (max_batch < 1) max_batch = 1;
    double total = 0;
    long count = 0;
    for (long w0 = 0; w0 + 1 < n; w0 += (long)window * max_batch) {
        int nb = 0, R = 0, *len = malloc((size_t)max_batch * sizeof(int));
        int *n_prompt = malloc((size_t)max_batch * sizeof(int)); // every row scored: a one-token "prompt"
        const int **seq = malloc((size_t)max_batch * sizeof(int *));
        for (long s = w0; nb < max_batch && s + 1 < n; s += window, nb++) {
            seq[nb] = ids + s;
            len[nb] = n - s < window ? (int)(n - s) : window;
            n_prompt[nb] = 1;
            R += len[nb] - 1;
        }
        kpos *at = malloc((size_t)R * sizeof(kpos)); // (R) every row but each window's last
        int *y = malloc((size_t)R * sizeof(int));
        float *nll = malloc((size_t)R * sizeof(float));
        for (int k = 0, r = 0; k < nb; k++)
            for (int t = 0; t + 1 < len[k]; t++, r++) {
                at[r] = (kpos){k, t};
                y[r] = seq[k][t + 1];
            }
        kbatch b = {nb, len, seq};
        int rc = forward_rows(m, h, &b, n_prompt, at, y, R, nll, NULL, err, errlen);
        for (int r = 0; r < R; r++) total += nll[r];
        count += R;
        free(len);
        free(n_prompt);
        free(seq);
        free(at);
        free(y);
        free(nll);
        if (rc) return -1;
    }
    if (count == 0) {
        snprintf(err, errlen, "perplexity: the text has %ld tokens, fewer than 2", n);
        return -1;
    }
    *ppl = exp(total / (double)count); // ppl = exp(mean NLL)
    return 0;
}

/* ---- request level ---- */

int eval_tokenize_target(const tokenizer *t, const char *text, id_seq *out) {
    size_t n = strlen(text);
    char *spaced = malloc(n + 2);
    snprintf(spaced, n + 2, "%s%s", text[0] == ' ' ? "" : " ", text); // §10.10: a leading space
    int *ids = NULL, k = tokenizer_encode(t, spaced, true, &ids);
    free(spaced);
    if (k < 0) return -1;
    int drop = k > 0 && tokenizer_adds_bos(t) && ids[0] == tokenizer_bos(t); // and no leading BOS
    if (drop) memmove(ids, ids + 1, (size_t)(k - 1) * sizeof(int));
    *out = (id_seq){ids, k - drop};
    return out->n;
}

/* one field of a request as ids; non-zero with a message naming it when it encodes to nothing */
static int tokenize_field(const tokenizer *t, const char *text, bool is_target, id_seq *out, long case_id,
                          const char *field, char *err, size_t errlen) {
    int k = is_target ? eval_tokenize_target(t, text, out) : tokenizer_encode(t, text, true, &out->ids);
    if (!is_target && k >= 0) out->n = k;
    if (k > 0) return 0;
    snprintf(err, errlen, "request case %ld: field %s: \"%s\" %s", case_id, field, text,
             k < 0 ? "could not be tokenised" : "encodes to no tokens");
    return -1;
}

static void seqs_free(id_seq *s, int n) {
    for (int i = 0; s && i < n; i++) free(s[i].ids);
    free(s);
}

static void request_free(eval_request *q) {
    free(q->prompt.ids);
    free(q->target_new.ids);
    free(q->target_true.ids);
    seqs_free(q->rephrase, q->n_rephrase);
    seqs_free(q->loc, q->n_loc);
    seqs_free(q->loc_ans, q->n_loc);
    for (int i = 0; q->loc_ref && i < q->n_loc; i++) free(q->loc_ref[i]);
    free(q->loc_ref);
}

static int tokenize_request(const tokenizer *t, const edit_record *r, eval_request *q, char *err, size_t errlen) {
    long id = r->case_id;
    q->n_rephrase = r->n_rephrase;
    q->n_loc = r->n_loc;
    q->rephrase = calloc((size_t)r->n_rephrase + 1, sizeof(id_seq));
    q->loc = calloc((size_t)r->n_loc + 1, sizeof(id_seq));
    q->loc_ans = calloc((size_t)r->n_loc + 1, sizeof(id_seq));
    if (tokenize_field(t, r->prompt, false, &q->prompt, id, "prompt", err, errlen) ||
        tokenize_field(t, r->target_new, true, &q->target_new, id, "target_new", err, errlen) ||
        (r->target_true && tokenize_field(t, r->target_true, true, &q->target_true, id, "target_true", err, errlen)))
        return -1;
    for (int i = 0; i < r->n_rephrase; i++)
        if (tokenize_field(t, r->rephrase[i], false, &q->rephrase[i], id, "rephrase", err, errlen)) return -1;
    for (int i = 0; i < r->n_loc; i++)
        if (tokenize_field(t, r->loc_prompt[i], false, &q->loc[i], id, "locality prompt", err, errlen) ||
            tokenize_field(t, r->loc_answer[i], true, &q->loc_ans[i], id, "locality answer", err, errlen))
            return -1;
    return 0;
}

int eval_set_tokenize(eval_set *s, const tokenizer *t, const edit_record *r, int n, eval_protocol p, char *err,
                      size_t errlen) {
    s->protocol = p;
    s->n = n;
    s->req = calloc((size_t)n + 1, sizeof(eval_request));
    for (int i = 0; i < n; i++)
        if (tokenize_request(t, &r[i], &s->req[i], err, errlen)) {
            eval_set_free(s);
            return -1;
        }
    return 0;
}

void eval_set_free(eval_set *s) {
    for (int i = 0; i < s->n; i++) request_free(&s->req[i]);
    free(s->req);
    memset(s, 0, sizeof *s);
}

static tf_item item_of(const id_seq *prompt, const id_seq *target, const int *expect) {
    return (tf_item){prompt->ids, prompt->n, target->ids, target->n, expect};
}

int eval_cache_reference(eval_set *s, const model *m0, int max_batch, char *err, size_t errlen) {
    return eval_cache_reference_hooked(s, m0, NULL, max_batch, err, errlen);
}

int eval_cache_reference_hooked(eval_set *s, const model *m0, const eval_hooks *h, int max_batch, char *err,
                                size_t errlen) {
    int n = 0;
    for (int i = 0; i < s->n; i++) n += s->req[i].n_loc;
    tf_item *items = calloc((size_t)n + 1, sizeof(tf_item));
    int **am = malloc(((size_t)n + 1) * sizeof(int *));
    for (int i = 0, k = 0; i < s->n; i++) {
        eval_request *q = &s->req[i];
        if (!q->loc_ref) q->loc_ref = calloc((size_t)q->n_loc + 1, sizeof(int *));
        for (int j = 0; j < q->n_loc; j++, k++) {
            if (!q->loc_ref[j]) q->loc_ref[j] = malloc((size_t)q->loc_ans[j].n * sizeof(int));
            items[k] = item_of(&q->loc[j], &q->loc_ans[j], NULL);
            am[k] = q->loc_ref[j];
        }
    }
    tf_score *sc = malloc(((size_t)n + 1) * sizeof(tf_score));
    int rc = tf_score_items_hooked(m0, h, items, n, max_batch, sc, am, err, errlen);
    free(items);
    free(am);
    free(sc);
    return rc;
}

int eval_score(const eval_set *s, const model *m, int first, int count, int max_batch, request_scores *out,
               char *err, size_t errlen) {
    return eval_score_hooked(s, m, NULL, first, count, max_batch, out, err, errlen);
}

int eval_score_hooked(const eval_set *s, const model *m, const eval_hooks *h, int first, int count, int max_batch,
                      request_scores *out, char *err, size_t errlen) {
    if (first < 0 || count < 0 || first + count > s->n) {
        snprintf(err, errlen, "evaluation of requests %d to %d: the set has %d", first, first + count - 1, s->n);
        return -1;
    }
    bool agreement = s->protocol == PROTOCOL_EASYEDIT;
    int n = 0;
    for (int i = first; i < first + count; i++) {
        const eval_request *q = &s->req[i];
        if (agreement && !q->loc_ref) {
            snprintf(err, errlen, "request %d: specificity under protocol easyedit needs the unedited model's argmax "
                                  "(eval_cache_reference before the first edit)", i);
            return -1;
        }
        n += 1 + (q->target_true.n > 0) + q->n_rephrase + q->n_loc;
    }
    // per request: [target_new, target_true (where known), rephrase..., loc...] in this order
    tf_item *items = calloc((size_t)n + 1, sizeof(tf_item));
    for (int i = first, k = 0; i < first + count; i++) {
        const eval_request *q = &s->req[i];
        items[k++] = item_of(&q->prompt, &q->target_new, NULL);
        if (q->target_true.n > 0) items[k++] = item_of(&q->prompt, &q->target_true, NULL);
        for (int j = 0; j < q->n_rephrase; j++) items[k++] = item_of(&q->rephrase[j], &q->target_new, NULL);
        for (int j = 0; j < q->n_loc; j++) items[k++] = item_of(&q->loc[j], &q->loc_ans[j], agreement ? q->loc_ref[j] : NULL);
    }
    tf_score *sc = malloc(((size_t)n + 1) * sizeof(tf_score));
    int rc = tf_score_items_hooked(m, h, items, n, max_batch, sc, NULL, err, errlen);
    for (int i = first, k = 0; i < first + count && !rc; i++) {
        const eval_request *q = &s->req[i];
        request_scores *o = &out[i - first];
        const tf_score *new = &sc[k++], *true_ = q->target_true.n > 0 ? &sc[k++] : NULL;
        double par = 0, spe = 0;
        for (int j = 0; j < q->n_rephrase; j++) par += sc[k++].acc;
        for (int j = 0; j < q->n_loc; j++) spe += sc[k++].acc;
        *o = (request_scores){.efficacy = new->acc,
                              .paraphrase = q->n_rephrase ? par / q->n_rephrase : NAN,
                              .specificity = q->n_loc ? spe / q->n_loc : NAN,
                              .target_prob = exp(-new->nll), // geometric-mean token probability
                              .nll_new = new->nll,
                              .nll_true = true_ ? true_->nll : NAN,
                              .success = true_ && new->nll < true_->nll};
    }
    free(items);
    free(sc);
    return rc;
}
