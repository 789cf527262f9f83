/* Reading a results file (results_h5.h): row counts, root attributes, any numeric dataset as float64,
 * the context templates and the names of the edited matrices. */
#include "run/results_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int results_read(results *r, const char *path, double **values, long *rows_out, long *cols_out) {
    *values = NULL;
    if (!h5_exists(r->file, path)) return results_fail(r, "no dataset %s", path);
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    hsize_t rows, cols;
    if (d < 0 || h5_shape_of(d, &rows, &cols)) {
        if (d >= 0) H5Dclose(d);
        return results_fail(r, "%s is not a 1-D or 2-D dataset", path);
    }
    double *v = malloc((size_t)(rows * cols + 1) * sizeof(double));
    int rc = rows * cols > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0 ? -1 : 0;
    H5Dclose(d);
    if (rc) {
        free(v);
        return results_fail(r, "cannot read dataset %s (damaged file?)", path);
    }
    *values = v;
    *rows_out = (long)rows;
    *cols_out = (long)cols;
    return 0;
}

static long rows_of(results *r, const char *path) {
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    hsize_t rows, cols;
    int rc = d < 0 || h5_shape_of(d, &rows, &cols);
    if (d >= 0) H5Dclose(d);
    if (rc) {
        results_fail(r, "cannot read the shape of %s", path);
        return -1;
    }
    return (long)rows;
}

long results_n_edits(results *r) { return rows_of(r, "/edits/edit"); }
long results_n_checkpoints(results *r) { return rows_of(r, "/checkpoints/n_edits"); }

char *results_attr_str(results *r, const char *name) { return h5_attr_get_str(r->file, name); }

int results_attr_double(results *r, const char *name, double *value) {
    return h5_attr_get_f64(r->file, name, value) ? results_fail(r, "no numeric attribute %s", name) : 0;
}

int results_read_templates(results *r, char ***templates, int *n) {
    *templates = NULL;
    *n = 0;
    if (!h5_exists(r->file, "/context_templates")) return results_fail(r, "no /context_templates");
    hid_t d = H5Dopen2(r->file, "/context_templates", H5P_DEFAULT), t = h5_string_type();
    hsize_t rows, cols;
    h5_shape_of(d, &rows, &cols);
    char **v = calloc((size_t)rows + 1, sizeof(char *));
    int rc = rows > 0 && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0 ? -1 : 0;
    char **out = calloc((size_t)rows + 1, sizeof(char *));
    for (hsize_t i = 0; i < rows && !rc; i++) {
        out[i] = strdup(v[i] ? v[i] : "");
        H5free_memory(v[i]);
    }
    free(v);
    H5Tclose(t);
    H5Dclose(d);
    if (rc) {
        free(out);
        return results_fail(r, "cannot read /context_templates");
    }
    *templates = out;
    *n = (int)rows;
    return 0;
}

typedef struct name_list {
    char **names;
    int n;
} name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    name_list *l = data;
    l->names = realloc(l->names, (size_t)(l->n + 1) * sizeof(char *));
    l->names[l->n++] = strdup(name);
    return 0;
}

/* the members of group path in the order they were created (none when optional and absent) */
static int list_group(results *r, const char *path, bool optional, char ***names, int *n) {
    name_list l = {NULL, 0};
    *names = NULL;
    *n = 0;
    if (optional && !h5_exists(r->file, path)) return 0;
    hid_t g = H5Gopen2(r->file, path, H5P_DEFAULT);
    hsize_t idx = 0;
    int rc = g < 0 || H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_name, &l) < 0;
    if (g >= 0) H5Gclose(g);
    *names = l.names;
    *n = l.n;
    return rc ? results_fail(r, "cannot list %s", path) : 0;
}

// in the order the matrices were first recorded (layer order), not alphabetical
int results_norm_matrices(results *r, char ***names, int *n) { return list_group(r, "/norms", false, names, n); }

int results_downstream_tasks(results *r, char ***names, int *n) { return list_group(r, "/downstream", true, names, n); }
