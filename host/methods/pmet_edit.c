/* The PMET edit behind editor.h (editing-spec §3, §10.8): pmet_edit with the editor's hyper-parameters
 * (the target vectors at W_out's output of the last edited layer L), its covariances and Δ buffers, each
 * layer's Δ added to the current W_out as MEMIT does. */
#include "editor_impl.h"
#include "pmet.h"

#include <stdlib.h>

static void add_delta(void *ctx, int i) { editor_add_delta(ctx, i); }

static int pmet_method_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err,
                            size_t errlen) {
    int L = e->hp.layers[e->E - 1];
    z_opts z = editor_z_opts(e, SITE_MLP_OUT, L);
    pmet_z_opts zo = {.layer = L, .steps = z.steps, .lr = z.lr, .weight_decay = z.weight_decay,
                      .kl_factor = z.kl_factor, .clamp_norm_factor = z.clamp_norm_factor,
                      .nll_factor = e->hp.nll_loss_factor, .stop_loss = z.stop_loss};
    pmet_z_result *zr = calloc((size_t)n, sizeof *zr);
    int rc = pmet_edit(e->m, p, n, &zo, e->E, e->hp.layers, e->C, e->hp.lambda, e->delta, e->fac, add_delta, e,
                       &e->clock, zr, err, errlen);
    for (int j = 0; j < n; j++)
        out[j] = (edit_outcome){.prob_init = zr[j].prob_init, .prob_final = zr[j].prob_final,
                                .loss_init = zr[j].loss_init, .loss_final = zr[j].loss_final,
                                .z_passes = zr[j].passes};
    free(zr);
    return rc;
}

const edit_method_ops pmet_ops = {.edit = pmet_method_edit, .journal_factors = true, .needs_cov = true, .edits_w_out = true};
