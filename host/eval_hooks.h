/* The meeting point of an editing method's scoring hooks and the evaluation: the editor provides them
 * (methods/editor.h's editor_eval_hooks) and the scoring forwards apply them (run/metrics.h), so the type
 * sits here beside the transformer's forward hooks, below both. */
#ifndef KEDIT_EVAL_HOOKS_H
#define KEDIT_EVAL_HOOKS_H

#include "transformer.h"

#include <stddef.h>

/* A provider of forward hooks for the scoring forwards, so that a method whose edit is an adapter rather
 * than a weight change (GRACE, editor_eval_hooks) is active while it is scored. make() gets each scoring
 * forward's batch and every sequence's prompt length (its scored rows are n_prompt − 1 … len − 2; 1 for
 * perplexity windows) and returns the hooks to pass to that forward (non-zero with a message in err on
 * failure); release() frees them (make NULL: no hooks). generate, when not NULL, replaces teacher-forced
 * accuracy (EasyEdit's GRACE scoring): an item's accuracy is the fraction of its n_target expected tokens
 * that greedy generation of n_target tokens after its prompt reproduces, position by position, and its
 * argmax tokens are the generated ones; the NLL stays teacher-forced. */
typedef struct eval_hooks {
    int (*make)(void *ctx, const kbatch *b, const int *n_prompt, khook **hooks, int *n_hooks, char *err,
                size_t errlen);
    void (*release)(void *ctx, khook *hooks, int n_hooks);
    int (*generate)(void *ctx, const int *prompt, int n_prompt, int steps, int *out, char *err, size_t errlen);
    void *ctx;
} eval_hooks;

#endif
