#include "prompts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *concat3(const char *a, size_t na, const char *b, const char *c) {
    size_t nb = strlen(b), nc = c ? strlen(c) : 0;
    char *s = malloc(na + nb + nc + 1);
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    if (nc) memcpy(s + na + nb, c, nc);
    s[na + nb + nc] = 0;
    return s;
}

/* the ids of text with "{}" filled by subject, and the lookup index of the subject's last token */
static int fill_and_encode(const tokenizer *tok, const char *text, const char *subject, tok_seq *out, char *err,
                           size_t errlen) {
    const char *slot = strstr(text, "{}");
    size_t pre = (size_t)(slot - text);
    char *head = concat3(text, pre, subject, NULL), *full = concat3(text, pre, subject, slot + 2);
    int *head_ids = NULL, n_head = tokenizer_encode(tok, head, true, &head_ids);
    out->ids = NULL;
    out->len = tokenizer_encode(tok, full, true, &out->ids);
    out->lookup = n_head - 1; // len(encode(prefix + subject)) − 1
    free(head_ids);
    int bad = n_head < 1 || out->len < 1 || out->lookup >= out->len;
    if (bad) snprintf(err, errlen, "prompt \"%s\": cannot locate the subject \"%s\" in its tokens", full, subject);
    free(head);
    free(full);
    return bad ? -1 : 0;
}

int edit_prompts_build(const tokenizer *tok, const ctx_templates *t, const char *prompt, const char *subject,
                       const char *target, edit_prompts *p, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    if (t->n < 1 || strcmp(t->text[0], "{}")) {
        snprintf(err, errlen, "templates: the first template must be \"{}\" (the bare prompt)");
        return -1;
    }
    if (!*subject || !target || !*target) {
        snprintf(err, errlen, "request \"%s\": empty subject or target", prompt);
        return -1;
    }
    char *slotted; // the prompt with "{}" for the subject
    const char *at = strstr(prompt, "{}");
    if (at) {
        slotted = strdup(prompt);
    } else if ((at = strstr(prompt, subject))) {
        slotted = concat3(prompt, (size_t)(at - prompt), "{}", at + strlen(subject));
    } else {
        snprintf(err, errlen, "request \"%s\": the subject \"%s\" does not occur in the prompt", prompt, subject);
        return -1;
    }
    if (strstr(strstr(slotted, "{}") + 2, "{}")) {
        snprintf(err, errlen, "request \"%s\": more than one \"{}\" in the prompt", prompt);
        free(slotted);
        return -1;
    }
    p->n = t->n;
    p->n_groups = t->n_groups;
    p->ctx = calloc((size_t)t->n, sizeof *p->ctx);
    p->group = malloc((size_t)t->n * sizeof *p->group);
    int rc = 0;
    for (int i = 0; i < t->n && !rc; i++) {
        const char *slot = strstr(t->text[i], "{}");
        char *ctx = concat3(t->text[i], (size_t)(slot - t->text[i]), slotted, slot + 2); // template ∘ prompt
        rc = fill_and_encode(tok, ctx, subject, &p->ctx[i], err, errlen);
        p->group[i] = t->group[i];
        free(ctx);
    }
    if (!rc) rc = fill_and_encode(tok, "{} is a", subject, &p->kl, err, errlen);
    free(slotted);
    if (!rc) {
        char *spaced = target[0] == ' ' ? strdup(target) : concat3(" ", 1, target, NULL);
        int *y = NULL, ny = tokenizer_encode(tok, spaced, false, &y);
        free(spaced);
        int skip = ny > 0 && y[0] == tokenizer_bos(tok) ? 1 : 0; // a leading BOS is dropped
        if (ny - skip < 1) {
            snprintf(err, errlen, "request \"%s\": the target \"%s\" has no tokens", prompt, target);
            rc = -1;
        } else {
            p->ny = ny - skip;
            p->y = malloc((size_t)p->ny * sizeof(int));
            memcpy(p->y, y + skip, (size_t)p->ny * sizeof(int));
        }
        free(y);
    }
    if (rc) edit_prompts_free(p);
    return rc;
}

static tok_seq seq_copy(const tok_seq *s) {
    tok_seq c = *s;
    c.ids = malloc((size_t)s->len * sizeof(int));
    memcpy(c.ids, s->ids, (size_t)s->len * sizeof(int));
    return c;
}

void edit_prompts_from_ids(int n, const tok_seq *ctx, const int *group, const tok_seq *kl, const int *y, int ny,
                           edit_prompts *p) {
    memset(p, 0, sizeof *p);
    p->n = n;
    p->ctx = malloc((size_t)n * sizeof *p->ctx);
    p->group = malloc((size_t)n * sizeof *p->group);
    for (int i = 0; i < n; i++) {
        p->ctx[i] = seq_copy(&ctx[i]);
        p->group[i] = group[i];
        if (group[i] + 1 > p->n_groups) p->n_groups = group[i] + 1;
    }
    p->kl = seq_copy(kl);
    p->ny = ny;
    p->y = malloc((size_t)ny * sizeof(int));
    memcpy(p->y, y, (size_t)ny * sizeof(int));
}

void edit_prompts_free(edit_prompts *p) {
    for (int i = 0; p->ctx && i < p->n; i++) free(p->ctx[i].ids);
    free(p->ctx);
    free(p->group);
    free(p->kl.ids);
    free(p->y);
    memset(p, 0, sizeof *p);
}
