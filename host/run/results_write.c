/* Writing a results file (results_h5.h): appending a row per edit, the norms of every edited matrix and
 * the checkpoints' retention rows; the templates, extra attributes, flushes and the "complete" status. */
#include "run/results_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* appends n rows (each the dataset's width) of memory type mtype */
static int append_rows(results *r, const char *path, hid_t mtype, const void *data, hsize_t n) {
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    if (d < 0) return results_fail(r, "cannot open dataset %s", path);
    hsize_t rows, cols;
    int rc = h5_shape_of(d, &rows, &cols);
    hid_t space = -1, mspace = -1;
    if (!rc) {
        hsize_t new_dims[2] = {rows + n, cols}, start[2] = {rows, 0}, count[2] = {n, cols};
        int rank = H5Sget_simple_extent_ndims(space = H5Dget_space(d));
        H5Sclose(space);
        rc = H5Dset_extent(d, new_dims) < 0 ? -1 : 0;
        if (!rc) {
            space = H5Dget_space(d);
            mspace = H5Screate_simple(rank, count, NULL);
            rc = H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                         H5Dwrite(d, mtype, mspace, space, H5P_DEFAULT, data) < 0
                     ? -1
                     : 0;
            H5Sclose(mspace);
            H5Sclose(space);
        }
    }
    H5Dclose(d);
    return rc ? results_fail(r, "cannot append to dataset %s", path) : 0;
}

/* appends one record (a struct laid out as cols says) to the columns under group path g */
static int append_record(results *r, const char *g, const column *cols, size_t n, const void *rec) {
    for (size_t i = 0; i < n; i++) {
        char path[GROUP_PATH + 64];
        snprintf(path, sizeof path, "%s/%s", g, cols[i].name);
        if (append_rows(r, path, column_memory_type(&cols[i]), (const char *)rec + cols[i].offset, 1)) return -1;
    }
    return 0;
}

int results_append_edit(results *r, const edit_row *e) {
    return append_record(r, "/edits", results_edit_columns, results_n_edit_columns, e);
}

static int check_name(results *r, const char *what, const char *name) {
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") || strlen(name) > MAX_NAME)
        return results_fail(r, "%s name \"%s\": must be one non-empty path component (no '/', at most %d bytes)",
                            what, name ? name : "", MAX_NAME);
    return 0;
}

/* the group g of columns cols, created with them when absent */
static int ensure_group(results *r, const char *g, const column *cols, size_t n) {
    if (h5_exists(r->file, g)) return 0;
    hid_t grp = h5_create_group(r->file, g, false);
    int rc = grp < 0 || results_create_columns(grp, cols, n);
    if (grp >= 0) H5Gclose(grp);
    return rc ? results_fail(r, "cannot create %s", g) : 0;
}

int results_append_norms(results *r, const char *matrix, long long edit, const norm_row *n) {
    if (check_name(r, "matrix", matrix)) return -1;
    char g[GROUP_PATH];
    snprintf(g, sizeof g, "/norms/%s", matrix);
    if (ensure_group(r, g, results_norm_columns, results_n_norm_columns)) return -1;
    norm_record rec = {edit, *n};
    return append_record(r, g, results_norm_columns, results_n_norm_columns, &rec);
}

int results_append_downstream(results *r, long n_edits, const downstream_row *rows, int n) {
    if (!h5_exists(r->file, "/downstream")) { // its tasks listed in the run's order
        hid_t g = h5_create_group(r->file, "downstream", true);
        if (g < 0) return results_fail(r, "cannot create /downstream");
        H5Gclose(g);
    }
    for (int i = 0; i < n; i++) {
        if (check_name(r, "downstream task", rows[i].task)) return -1;
        char g[GROUP_PATH];
        snprintf(g, sizeof g, "/downstream/%s", rows[i].task);
        downstream_record rec = {n_edits, rows[i].n_items, rows[i].n_truncated, rows[i].accuracy, rows[i].f1,
                                 rows[i].mcc};
        if (ensure_group(r, g, results_downstream_columns, results_n_downstream_columns) ||
            append_record(r, g, results_downstream_columns, results_n_downstream_columns, &rec))
            return -1;
    }
    return 0;
}

int results_append_checkpoint(results *r, const checkpoint_row *c) {
    if (c->n_edits < 0 || c->n_edits > r->n_planned)
        return results_fail(r, "checkpoint after %ld edits: the run plans %ld", c->n_edits, r->n_planned);
    long long n = c->n_edits;
    if (append_rows(r, "/checkpoints/n_edits", H5T_NATIVE_LLONG, &n, 1) ||
        append_rows(r, "/checkpoints/elapsed", H5T_NATIVE_DOUBLE, &c->elapsed, 1) ||
        append_rows(r, "/checkpoints/ppl_edited", H5T_NATIVE_DOUBLE, &c->ppl_edited, 1) ||
        append_rows(r, "/checkpoints/ppl_unedited", H5T_NATIVE_DOUBLE, &c->ppl_unedited, 1))
        return -1;
    const double *scores[3] = {c->efficacy, c->paraphrase, c->specificity};
    double *row = malloc((size_t)r->n_planned * sizeof(double)); // (n_planned) one retention row
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        char path[64];
        snprintf(path, sizeof path, "/checkpoints/%s", results_retention_names[i]);
        for (long j = 0; j < r->n_planned; j++) row[j] = j < c->n_edits && scores[i] ? scores[i][j] : NAN;
        rc = append_rows(r, path, H5T_NATIVE_DOUBLE, row, 1);
    }
    free(row);
    return rc;
}

int results_set_templates(results *r, const char *const *templates, int n) {
    if (h5_exists(r->file, "/context_templates") && H5Ldelete(r->file, "/context_templates", H5P_DEFAULT) < 0)
        return results_fail(r, "cannot replace /context_templates");
    hsize_t dims[1] = {(hsize_t)n};
    hid_t t = h5_string_type(), space = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(r->file, "/context_templates", t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || (n > 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, templates) < 0) ? -1 : 0;
    if (d >= 0) {
        rc |= h5_attr_put_str(d, "description", "the frozen context templates, \"{}\" where the prompt goes");
        H5Dclose(d);
    }
    H5Sclose(space);
    H5Tclose(t);
    return rc ? results_fail(r, "cannot write /context_templates") : 0;
}

int results_set_attr_str(results *r, const char *name, const char *value) {
    return h5_attr_put_str(r->file, name, value) ? results_fail(r, "cannot write attribute %s", name) : 0;
}

int results_set_attr_double(results *r, const char *name, double value) {
    return h5_attr_put(r->file, name, H5T_IEEE_F64LE, &value) ? results_fail(r, "cannot write attribute %s", name) : 0;
}

int results_flush(results *r) {
    long n = results_n_edits(r);
    if (n < 0) return -1;
    if (h5_attr_put_i64(r->file, "edits_flushed", n) || H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0)
        return results_fail(r, "cannot flush");
    return 0;
}

int results_mark_complete(results *r) {
    long n = results_n_edits(r);
    if (n != r->n_planned)
        return results_fail(r, "cannot be complete with %ld edits of the %ld planned", n, r->n_planned);
    if (h5_attr_put_str(r->file, "status", "complete")) return results_fail(r, "cannot set status complete");
    return results_flush(r);
}
