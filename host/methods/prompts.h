/* The token sequences of one edit request (editing-spec §1, §2, §10.10): one context prompt per template
 * (template ∘ prompt with the subject, no target), the KL prompt "{subject} is a", and the target ids.
 * Everything is built from token ids: a rewriting prompt is the context prompt's ids followed by the
 * target ids but the last, never decoded and re-encoded text. The lookup index of a prompt is its
 * subject's last token, len(encode(prefix + subject)) − 1 with the tokenizer's special tokens (so it
 * counts BOS on Llama). */
#ifndef KEDIT_PROMPTS_H
#define KEDIT_PROMPTS_H

#include "templates.h"
#include "tokenizer.h"

#include <stddef.h>

typedef struct tok_seq {
    int *ids;
    int len;
    int lookup; /* position of the subject's last token */
} tok_seq;

typedef struct edit_prompts {
    int n, n_groups; /* context prompts, template groups */
    tok_seq *ctx;    /* n context prompts; ctx[0] is the bare prompt (template "{}") */
    int *group;      /* n group indices of the templates */
    tok_seq kl;      /* "{subject} is a" */
    int *y;          /* target ids (leading space added before encoding, BOS dropped) */
    int ny;
} edit_prompts;

/* prompt: the request text with "{}" for the subject, or with the subject itself (its first occurrence
 * becomes "{}"); templates: t->text[0] must be "{}". Non-zero with a message in err on failure. */
int edit_prompts_build(const tokenizer *tok, const ctx_templates *t, const char *prompt, const char *subject,
                       const char *target, edit_prompts *p, char *err, size_t errlen);

/* from ids directly (tests, token-level callers): n context prompts with their lookups and groups, the
 * KL prompt and the target; copies everything */
void edit_prompts_from_ids(int n, const tok_seq *ctx, const int *group, const tok_seq *kl, const int *y, int ny,
                           edit_prompts *p);

void edit_prompts_free(edit_prompts *p);

#endif
