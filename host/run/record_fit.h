/* The run's check of each selected edit request (a record_check, dataset.h): it must fit the model, so
 * that a run refuses it before creating its results file (or skips it with on_invalid skip) rather than
 * failing at its edit or evaluation. */
#ifndef KEDIT_RECORD_FIT_H
#define KEDIT_RECORD_FIT_H

#include "methods/templates.h"
#include "run/dataset.h"
#include "tokenizer.h"

typedef struct record_fit {
    const tokenizer *tok;
    int n_ctx;                     /* the model's context */
    const ctx_templates *templates; /* the method's context templates; NULL: the bare prompt (FT, GRACE) */
} record_fit;

/* ctx a record_fit. Every part the evaluation scores is non-empty and encodes to at least one token; each
 * sequence it scores (prompt ‖ target_new, prompt ‖ target_true, rephrase ‖ target_new, locality prompt ‖
 * answer) fits the context, the field at fault being the longer part of one that does not; and so does
 * every sequence of the edit (each context template around the prompt, then the target but its last
 * token), else the prompt is at fault. */
int record_fits(const edit_record *r, void *ctx, record_field *field, int *index, char *msg, size_t msglen);

#endif
