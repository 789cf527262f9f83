#include "run/record_fit.h"

#include "methods/prompts.h"
#include "run/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the token count of a part (a target with its leading space), −1 when it does not encode */
static int part_tokens(const tokenizer *t, const char *text, bool is_target) {
    id_seq s = {0};
    int k = is_target ? eval_tokenize_target(t, text, &s) : tokenizer_encode(t, text, true, &s.ids);
    free(s.ids);
    return k;
}

/* one sequence (prompt part a ‖ target part b) against the context; non-zero with the field at fault */
static int fits(const record_fit *f, const char *a, record_field fa, const char *b, record_field fb, int index,
                record_field *field, int *at, char *msg, size_t msglen) {
    *at = index;
    if (!*a || !*b) { // an empty target would be edited and scored as the lone leading space
        *field = !*a ? fa : fb;
        snprintf(msg, msglen, "empty");
        return 1;
    }
    int na = part_tokens(f->tok, a, false), nb = part_tokens(f->tok, b, true);
    if (na < 1 || nb < 1) {
        *field = na < 1 ? fa : fb;
        snprintf(msg, msglen, "\"%s\" %s", na < 1 ? a : b, (na < 1 ? na : nb) < 0 ? "could not be tokenised"
                                                                              : "encodes to no tokens");
        return 1;
    }
    if (na + nb <= f->n_ctx) return 0;
    *field = na >= nb ? fa : fb;
    snprintf(msg, msglen, "%d tokens (%d with the %s it is scored with), more than the model's context of %d",
             na >= nb ? na : nb, na + nb, na >= nb ? "target" : "prompt", f->n_ctx);
    return 1;
}

/* the edit's sequences: template ∘ prompt, then the target but its last token (what compute_z runs) */
static int edit_fits(const record_fit *f, const edit_record *r, record_field *field, char *msg, size_t msglen) {
    edit_prompts p;
    char err[512];
    *field = FIELD_PROMPT;
    if (edit_prompts_build(f->tok, f->templates, r->prompt_template, r->subject, r->target_new, &p, err, sizeof err)) {
        snprintf(msg, msglen, "%s", err);
        return 1;
    }
    int longest = 0;
    for (int i = 0; i < p.n; i++)
        if (p.ctx[i].len > longest) longest = p.ctx[i].len;
    int n = longest + p.ny - 1;
    edit_prompts_free(&p);
    if (n <= f->n_ctx) return 0;
    snprintf(msg, msglen, "its edit runs %d tokens (the longest context template around the prompt, then the "
             "target), more than the model's context of %d", n, f->n_ctx);
    return 1;
}

int record_fits(const edit_record *r, void *ctx, record_field *field, int *index, char *msg, size_t msglen) {
    const record_fit *f = ctx;
    if (fits(f, r->prompt, FIELD_PROMPT, r->target_new, FIELD_TARGET_NEW, 0, field, index, msg, msglen) ||
        (r->target_true &&
         fits(f, r->prompt, FIELD_PROMPT, r->target_true, FIELD_TARGET_TRUE, 0, field, index, msg, msglen)))
        return 1;
    for (int i = 0; i < r->n_rephrase; i++)
        if (fits(f, r->rephrase[i], FIELD_REPHRASE, r->target_new, FIELD_TARGET_NEW, i, field, index, msg, msglen))
            return 1;
    for (int i = 0; i < r->n_loc; i++)
        if (fits(f, r->loc_prompt[i], FIELD_LOC_PROMPT, r->loc_answer[i], FIELD_LOC_ANSWER, i, field, index, msg,
                 msglen))
            return 1;
    *index = 0;
    return f->templates ? edit_fits(f, r, field, msg, msglen) : 0;
}

