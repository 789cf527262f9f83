/* The results file's schema (results/README.md, version RESULTS_SCHEMA_VERSION): the columns of /edits,
 * /norms/<matrix> and /downstream/<task>, the retention matrices of /checkpoints, the objects every file must hold, and the
 * empty layout a new file starts with. */
#include "run/results_impl.h"

#include <stdio.h>

#define EDIT_COL(field, is_int, text) {#field, offsetof(edit_row, field), is_int, text}
const column results_edit_columns[] = {
    EDIT_COL(edit, true, "position of the edit in the run, from 0"),
    EDIT_COL(case_id, true, "the request's case id (zsRE: its record index in the dataset file)"),
    EDIT_COL(efficacy, false, "token accuracy of the target on the edit prompt, right after this edit"),
    EDIT_COL(paraphrase, false, "token accuracy of the target on the rephrased prompts, right after this edit"),
    EDIT_COL(specificity, false, "locality score (protocol attribute) right after this edit"),
    EDIT_COL(target_prob_pre, false, "exp(-mean NLL) of the target tokens on the edit prompt, unedited model"),
    EDIT_COL(target_prob_before, false, "exp(-mean NLL) of the target tokens on the edit prompt, right before this edit"),
    EDIT_COL(target_prob_post, false, "exp(-mean NLL) of the target tokens on the edit prompt, right after this edit"),
    EDIT_COL(t_z, false, "seconds computing the target vector z"),
    EDIT_COL(t_keys, false, "seconds computing the keys"),
    EDIT_COL(t_solve, false, "seconds solving for the update"),
    EDIT_COL(t_apply, false, "seconds writing the update into the weights"),
    EDIT_COL(t_eval, false, "seconds evaluating this edit"),
    EDIT_COL(peak_rss, true, "peak resident memory of the process so far, bytes"),
};
const size_t results_n_edit_columns = sizeof results_edit_columns / sizeof *results_edit_columns;

const column results_norm_columns[] = {
    {"edit", offsetof(norm_record, edit), true, "the edit after which the norms were taken"},
    {"l1_diff", offsetof(norm_record, n.l1_diff), false, "||W - W0||_1 / numel"},
    {"fro_diff", offsetof(norm_record, n.fro_diff), false, "||W - W0||_F"},
    {"fro_step", offsetof(norm_record, n.fro_step), false, "||Delta W of this edit||_F"},
    {"l1", offsetof(norm_record, n.l1), false, "||W||_1 / numel"},
    {"codebook_size", offsetof(norm_record, n.codebook_size), false, "GRACE: keys in the codebook (NaN otherwise)"},
    {"values_norm", offsetof(norm_record, n.values_norm), false, "GRACE: ||values||_F of the codebook (NaN otherwise)"},
};
const size_t results_n_norm_columns = sizeof results_norm_columns / sizeof *results_norm_columns;

#define DS_COL(field, is_int, text) {#field, offsetof(downstream_record, field), is_int, text}
const column results_downstream_columns[] = {
    DS_COL(n_edits, true, "edits made when the task was scored (0: the unedited model)"),
    DS_COL(n_items, true, "test items scored"),
    DS_COL(n_truncated, true, "items whose prompt was cut on the left to fit the model's context"),
    DS_COL(accuracy, false, "fraction of items whose most likely answer option is the label"),
    DS_COL(f1, false, "support-weighted mean of the per-class F1 of the answers"),
    DS_COL(mcc, false, "Matthews correlation coefficient of the answers (multi-class form)"),
};
const size_t results_n_downstream_columns = sizeof results_downstream_columns / sizeof *results_downstream_columns;

const char *const results_retention_names[3] = {"efficacy", "paraphrase", "specificity"};

const char *const results_required[] = {"/edits/edit", "/checkpoints/n_edits", "/checkpoints/efficacy",
                                        "/checkpoints/paraphrase", "/checkpoints/specificity", "/norms"};
const size_t results_n_required = sizeof results_required / sizeof *results_required;

int results_create_columns(hid_t g, const column *cols, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (h5_create_extendible(g, cols[i].name, column_file_type(&cols[i]), 0, cols[i].description)) return -1;
    return 0;
}

int results_create_layout(results *r) {
    hid_t edits = h5_create_group(r->file, "edits", false), ck = h5_create_group(r->file, "checkpoints", false);
    hid_t norms = h5_create_group(r->file, "norms", true);
    int rc = edits < 0 || ck < 0 || norms < 0 ? -1 : 0;
    if (!rc) rc = results_create_columns(edits, results_edit_columns, results_n_edit_columns);
    if (!rc) rc = h5_create_extendible(ck, "n_edits", H5T_STD_I64LE, 0, "edits made when the checkpoint was taken");
    if (!rc) rc = h5_create_extendible(ck, "elapsed", H5T_IEEE_F64LE, 0, "wall seconds since the run started");
    if (!rc)
        rc = h5_create_extendible(ck, "ppl_edited", H5T_IEEE_F64LE, 0, "perplexity of the held-out text, edited model");
    if (!rc) rc = h5_create_extendible(ck, "ppl_unedited", H5T_IEEE_F64LE, 0, "the same, unedited model");
    for (int i = 0; i < 3 && !rc; i++) {
        char text[160];
        snprintf(text, sizeof text, "retention: row = checkpoint, column = edit; %s of every edit so far, NaN where "
                                    "not yet edited", results_retention_names[i]);
        rc = h5_create_extendible(ck, results_retention_names[i], H5T_IEEE_F64LE, (hsize_t)r->n_planned, text);
    }
    if (edits >= 0) H5Gclose(edits);
    if (ck >= 0) H5Gclose(ck);
    if (norms >= 0) H5Gclose(norms);
    return rc;
}
