/* GRACE's hyper-parameter file (grace.h's grace_hparams_parse): EasyEdit's fields read into grace_hparams. */
#include "grace.h"

#include "hp_fields.h"

#include <stdio.h>
#include <string.h>

int grace_hparams_parse(const cJSON *root, const char *path, grace_hparams *h, char *err, size_t errlen) {
    static const char *const euc[] = {"euc"}, *const cold[] = {"cold"}, *const coverage[] = {"coverage"},
                             *const last[] = {"replace_last"}, *const scoring[] = {"teacher_forced", "generation"},
                             *const sgd[] = {"sgd"};
    hp_reader r = {root, path, err, errlen, false};
    memset(h, 0, sizeof *h);
    h->layer = hp_first_layer(&r);
    int bracket;
    h->which = hp_matrix(&r, "inner_params", &bracket);
    h->edit_lr = (float)hp_number(&r, "edit_lr", 0, true, false, 0);
    h->n_iter = hp_int(&r, "n_iter", 1, 1 << 20);
    h->eps = hp_number(&r, "eps", 0, true, false, 0);
    hp_choice(&r, "dist_fn", euc, 1, "euc");
    hp_choice(&r, "val_init", cold, 1, "cold");
    hp_choice(&r, "eps_expand", coverage, 1, "coverage");
    hp_choice(&r, "replacement", last, 1, "replace_last");
    hp_choice(&r, "val_train", sgd, 1, "sgd");
    h->seed = (uint64_t)hp_number(&r, "seed", 0, false, true, 0);
    h->score_by_generation = hp_choice(&r, "scoring", scoring, 2, "teacher_forced") == 1;
    if (!r.failed && bracket >= 0 && bracket != h->layer) {
        snprintf(err, errlen, "%s: field \"inner_params\" names layer %d but \"layers\" holds %d", path, bracket,
                 h->layer);
        r.failed = true;
    }
    return r.failed ? -1 : 0;
}
