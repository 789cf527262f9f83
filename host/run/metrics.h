/* Evaluation of edits (editing-spec §6, §10.1, §10.10, §10.13): teacher-forced token accuracy, the
 * target probability, specificity under both protocols, CounterFact's P(new) > P(true), and perplexity.
 * One implementation at the level of token ids (tf_score_items), batched: many sequences of different
 * lengths per forward. The request level tokenises requests once (eval_set) and scores them by it. */
#ifndef KEDIT_METRICS_H
#define KEDIT_METRICS_H

#include "eval_hooks.h"
#include "model.h"
#include "run/dataset.h"
#include "tokenizer.h"
#include "transformer.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- token level ---- */

/* One teacher-forced sequence x = prompt ‖ target (P = n_prompt ≥ 1, n_target ≥ 1). Scored rows are
 * P−1 … |x|−2: the argmax there is compared with `expect` (n_target tokens; NULL: the target itself) and
 * the target's NLL is taken there (row P−1+j predicts target[j]). */
typedef struct tf_item {
    const int *prompt;
    int n_prompt;
    const int *target;
    int n_target;
    const int *expect;
} tf_item;

typedef struct tf_score {
    double acc; /* mean over the target positions of [argmax = expect] */
    double nll; /* mean over the target tokens of −log p(target[j] | x_<P+j), in nats */
} tf_score;

/* Scores n items on m, at most max_batch sequences per forward (sorted by length so that a batch pads
 * little). When argmax is not NULL, argmax[i] (n_target ints, caller's memory) receives item i's argmax
 * tokens. A forward holds the logits of its R = Σ n_target scored rows and their gradient on the device
 * and one host copy (R × vocab floats each). Returns 0, or −1 with a message naming the item in err. */
int tf_score_items(const model *m, const tf_item *items, int n, int max_batch, tf_score *out, int **argmax,
                   char *err, size_t errlen);
/* the same with the hooks of h in every forward (h NULL: tf_score_items) */
int tf_score_items_hooked(const model *m, const eval_hooks *h, const tf_item *items, int n, int max_batch,
                          tf_score *out, int **argmax, char *err, size_t errlen);

/* Perplexity of ids[0..n): the stream is cut into consecutive windows of `window` tokens (the last one
 * shorter; a last window of one token is dropped); each window predicts its tokens 1 … len−1 from the
 * earlier ones of the same window; ppl = exp(Σ NLL / count). max_batch windows per forward (device
 * memory: about 2 × max_batch × window × vocab floats for the logits and their gradient). */
int metrics_perplexity(const model *m, const int *ids, long n, int window, int max_batch, double *ppl, char *err,
                       size_t errlen);
int metrics_perplexity_hooked(const model *m, const eval_hooks *h, const int *ids, long n, int window, int max_batch,
                              double *ppl, char *err, size_t errlen);

/* ---- request level ---- */

typedef struct id_seq {
    int *ids;
    int n;
} id_seq;

/* A request as token ids (editing-spec §10.10): prompts as the tokenizer encodes them (BOS included
 * where it adds one); targets and answers with a leading space and without a leading BOS. */
typedef struct eval_request {
    id_seq prompt, target_new, target_true;
    int n_rephrase;
    id_seq *rephrase;
    int n_loc;
    id_seq *loc, *loc_ans;
    int **loc_ref; /* n_loc arrays of loc_ans[i].n: the W₀ argmax at the answer rows; NULL until cached */
} eval_request;

typedef struct eval_set {
    eval_protocol protocol;
    int n;
    eval_request *req;
} eval_set;

/* target text → ids: a leading space unless it has one, the tokenizer's leading BOS dropped. Returns
 * the count (≥ 0) or −1. */
int eval_tokenize_target(const tokenizer *t, const char *text, id_seq *out);

/* Tokenises n requests (target_true only where the record has one). Returns non-zero with a message naming
 * the request (case id) and field in err (a prompt or target that encodes to nothing). */
int eval_set_tokenize(eval_set *s, const tokenizer *t, const edit_record *r, int n, eval_protocol p, char *err,
                      size_t errlen);
void eval_set_free(eval_set *s);

/* Records the argmax of the unedited model m0 on every loc ‖ loc_ans (the reference of specificity under
 * protocol easyedit); call it once, before edit 1. */
int eval_cache_reference(eval_set *s, const model *m0, int max_batch, char *err, size_t errlen);
/* the same through hooks h: with generation scoring the reference is the unedited model's greedy
 * generation (h of an editor before its first edit), so that specificity compares generations */
int eval_cache_reference_hooked(eval_set *s, const model *m0, const eval_hooks *h, int max_batch, char *err,
                                size_t errlen);

typedef struct request_scores {
    double efficacy;    /* token accuracy of target_new after the edit prompt */
    double paraphrase;  /* the same after each rephrase prompt, averaged */
    double specificity; /* easyedit: agreement with the cached W₀ argmax on loc ‖ loc_ans; memit: token
                           accuracy of loc_ans; averaged over the locality prompts */
    double target_prob; /* exp(−nll_new): the geometric-mean probability of target_new's tokens (§2.9) */
    double nll_new, nll_true; /* mean token NLL of target_new, target_true after the edit prompt (NaN: none) */
    bool success;       /* ROME's P(new) > P(true): nll_new < nll_true (false without a target_true) */
} request_scores;

/* Scores requests [first, first + count) of s on m into out[0..count). */
int eval_score(const eval_set *s, const model *m, int first, int count, int max_batch, request_scores *out,
               char *err, size_t errlen);
/* the same with the hooks of h in every forward (h NULL: eval_score) */
int eval_score_hooked(const eval_set *s, const model *m, const eval_hooks *h, int first, int count, int max_batch,
                      request_scores *out, char *err, size_t errlen);

#endif
