/* Truncating a results file for a resume (results_h5.h's results_truncate_edits): every row after the
 * resumed edit is dropped from /edits, /norms, /checkpoints and /downstream. */
#include "run/results_impl.h"

#include <stdio.h>
#include <stdlib.h>

/* keeps the first n rows of a dataset */
static int truncate_rows(results *r, const char *path, hsize_t n) {
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    if (d < 0) return results_fail(r, "cannot open dataset %s", path);
    hsize_t rows, cols;
    int rc = h5_shape_of(d, &rows, &cols);
    if (!rc && n < rows) {
        hsize_t dims[2] = {n, cols};
        rc = H5Dset_extent(d, dims) < 0 ? -1 : 0;
    }
    H5Dclose(d);
    return rc ? results_fail(r, "cannot shrink dataset %s", path) : 0;
}

/* the number of leading rows of a 1-D dataset whose value is ≤ limit (the rows are in increasing order) */
static long rows_up_to(results *r, const char *path, double limit) {
    double *v;
    long rows, cols, k = 0;
    if (results_read(r, path, &v, &rows, &cols)) return -1;
    while (k < rows && v[k] <= limit) k++;
    free(v);
    return k;
}

/* keeps the leading rows of group g whose column key is ≤ limit */
static int truncate_group(results *r, const char *g, const column *cols, size_t n_cols, const char *key, double limit) {
    char path[GROUP_PATH + 64];
    snprintf(path, sizeof path, "%s/%s", g, key);
    long keep = rows_up_to(r, path, limit);
    if (keep < 0) return -1;
    for (size_t i = 0; i < n_cols; i++) {
        snprintf(path, sizeof path, "%s/%s", g, cols[i].name);
        if (truncate_rows(r, path, (hsize_t)keep)) return -1;
    }
    return 0;
}

int results_truncate_edits(results *r, long n_edits) {
    double last = (double)n_edits - 1;
    if (truncate_group(r, "/edits", results_edit_columns, results_n_edit_columns, "edit", last)) return -1;
    char **names;
    int n, rc = results_norm_matrices(r, &names, &n);
    for (int i = 0; i < n; i++) {
        char g[GROUP_PATH];
        snprintf(g, sizeof g, "/norms/%.*s", MAX_NAME, names[i]);
        if (!rc) rc = truncate_group(r, g, results_norm_columns, results_n_norm_columns, "edit", last);
        free(names[i]);
    }
    free(names);
    if (rc || results_downstream_tasks(r, &names, &n)) return -1;
    for (int i = 0; i < n; i++) { // the unedited model's row (n_edits 0) stays
        char g[GROUP_PATH];
        snprintf(g, sizeof g, "/downstream/%.*s", MAX_NAME, names[i]);
        if (!rc) rc = truncate_group(r, g, results_downstream_columns, results_n_downstream_columns, "n_edits", n_edits);
        free(names[i]);
    }
    free(names);
    if (rc) return -1;
    long keep = rows_up_to(r, "/checkpoints/n_edits", (double)n_edits);
    static const char *const ck[] = {"n_edits", "elapsed", "ppl_edited", "ppl_unedited", "efficacy", "paraphrase",
                                     "specificity"};
    for (size_t i = 0; i < sizeof ck / sizeof *ck && keep >= 0; i++) {
        char path[64];
        snprintf(path, sizeof path, "/checkpoints/%s", ck[i]);
        if (truncate_rows(r, path, (hsize_t)keep)) return -1;
    }
    return keep < 0 ? -1 : 0;
}
