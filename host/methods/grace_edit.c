/* The GRACE edit behind editor.h (editing-spec §3, §10.7): grace_edit_prompts on the persisting codebook
 * (all of it charged to PHASE_Z); the model's weights never change. In scoring the adapter is active
 * through editor_eval_hooks: every scored position of a forward queries the codebook (grace_eval_hooks),
 * and with "scoring": "generation" accuracy is by greedy generation (grace_generate). The saved state is
 * the codebook. */
#include "editor_impl.h"
#include "grace.h"

#include <math.h>
#include <stdlib.h>

/* eval_hooks.make: the REPLACE hook of the codebook's matches at the scored rows of b */
static int make_hooks(void *ctx, const kbatch *b, const int *n_prompt, khook **hooks, int *n_hooks, char *err,
                      size_t errlen) {
    const editor *e = ctx;
    int n;
    kpos *at = grace_scored_positions(b, n_prompt, &n);
    grace_hook *h = malloc(sizeof *h);
    int rc = grace_eval_hooks(e->priv, b, at, n, h, err, errlen);
    free(at);
    if (rc) {
        free(h);
        return -1;
    }
    *hooks = &h->hook; // the hook is h's first member: release gets h back
    *n_hooks = 1;
    return 0;
}

static void release_hooks(void *ctx, khook *hooks, int n_hooks) {
    grace_hook *h = (grace_hook *)hooks;
    grace_hook_free(h);
    free(h);
}

static int generate(void *ctx, const int *prompt, int n_prompt, int steps, int *out, char *err, size_t errlen) {
    const editor *e = ctx;
    return grace_generate(e->priv, prompt, n_prompt, steps, out, err, errlen);
}

static int grace_prepare(editor *e, char *err, size_t errlen) {
    e->priv = grace_create(e->m, &e->hp.grace, err, errlen);
    if (!e->priv) return -1;
    e->eval = (eval_hooks){.make = make_hooks, .release = release_hooks,
                           .generate = e->hp.grace.score_by_generation ? generate : NULL, .ctx = e};
    return 0;
}

static int grace_method_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err,
                             size_t errlen) {
    int rc = grace_edit_prompts(e->priv, p, n, out, err, errlen);
    editor_mark(e, PHASE_Z);
    return rc;
}

static int grace_method_reset(editor *e, char *err, size_t errlen) {
    grace_reset(e->priv);
    return 0;
}

static void grace_method_free(editor *e) { grace_free(e->priv); }

static int grace_method_save(const editor *e, void **buf, size_t *n, char *err, size_t errlen) {
    return grace_save(e->priv, buf, n, err, errlen);
}

static int grace_method_load(editor *e, const void *buf, size_t n, char *err, size_t errlen) {
    return grace_load(e->priv, buf, n, err, errlen);
}

static int grace_norms(const editor *e, int i, layer_norms *out) {
    *out = (layer_norms){.dev_l1_mean = NAN, .dev_fro = NAN, .inc_fro = NAN, .w_l1_mean = NAN,
                         .codebook_size = grace_size(e->priv), .values_norm = grace_values_norm(e->priv)};
    return 0;
}

const edit_method_ops grace_ops = {.prepare = grace_prepare, .edit = grace_method_edit, .reset = grace_method_reset,
                                   .free = grace_method_free, .save = grace_method_save, .load = grace_method_load,
                                   .norms = grace_norms};
