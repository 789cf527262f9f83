#include "run/target_stats.h"

#include "run/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int target_stats_compute(const model *m, const tokenizer *t, const edit_dataset *d, long n, int max_batch,
                         target_stats *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (n <= 0 || n > d->n) n = d->n;
    eval_set s = {0};
    if (eval_set_tokenize(&s, t, d->req, (int)n, PROTOCOL_EASYEDIT, err, errlen)) return -1;
    tf_item *items = calloc((size_t)n + 1, sizeof *items);
    tf_score *score = calloc((size_t)n + 1, sizeof *score);
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        const id_seq *p = &s.req[i].prompt, *tg = &s.req[i].target_new;
        int keep = p->n + tg->n > m->cfg.n_ctx ? m->cfg.n_ctx - tg->n : p->n; // the prompt's last tokens
        if (keep < 1) {
            snprintf(err, errlen, "request %ld: its target alone has %d tokens, the model's context %d", i, tg->n,
                     m->cfg.n_ctx);
            rc = -1;
        }
        out->n_truncated += keep < p->n;
        items[i] = (tf_item){.prompt = p->ids + (p->n - keep), .n_prompt = keep, .target = tg->ids, .n_target = tg->n};
    }
    long n_truncated = out->n_truncated;
    if (!rc) rc = tf_score_items(m, items, (int)n, max_batch, score, NULL, err, errlen);
    if (!rc && n > 0) {
        double nll = 0, target_tokens = 0, input_tokens = 0;
        for (long i = 0; i < n; i++) {
            nll += score[i].nll * items[i].n_target;
            target_tokens += items[i].n_target;
            input_tokens += items[i].n_prompt + items[i].n_target;
        }
        *out = (target_stats){.n = n, .mean_target_tokens = target_tokens / (double)n,
                              .mean_input_tokens = input_tokens / (double)n, .ppl = exp(nll / target_tokens), .n_truncated = n_truncated};
    }
    free(items);
    free(score);
    eval_set_free(&s);
    return rc;
}
