#include "run/results_h5.h"

#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAME 200   /* bytes of a matrix or method-state name */
#define GROUP_PATH 256 /* bytes of "/norms/<name>" */

struct results {
    hid_t file;
    char *path;
    char *part;     /* while being created: the temporary name it is written under (NULL once published) */
    long n_planned; /* width of the retention matrices */
    char err[1024];
};

static int fail(results *r, const char *fmt, ...) {
    int k = snprintf(r->err, sizeof r->err, "%s: ", r->path);
    va_list ap;
    va_start(ap, fmt);
    if (k > 0 && (size_t)k < sizeof r->err) vsnprintf(r->err + k, sizeof r->err - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

const char *results_error(const results *r) { return r->err; }

/* ---- attributes ---- */

static hid_t string_type(void) { // variable-length UTF-8 (h5py reads it as str)
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* (re)writes a scalar attribute of obj */
static int attr_put(hid_t obj, const char *name, hid_t type, const void *value) {
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, type, value) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return rc;
}

static int attr_put_str(hid_t obj, const char *name, const char *value) {
    hid_t t = string_type();
    const char *v = value ? value : "";
    int rc = attr_put(obj, name, t, &v);
    H5Tclose(t);
    return rc;
}

static int attr_put_i64(hid_t obj, const char *name, long long value) {
    int64_t v = value;
    return attr_put(obj, name, H5T_STD_I64LE, &v);
}

/* a string attribute (variable or fixed length), malloc'd; NULL when absent or not a string */
static char *attr_get_str(hid_t obj, const char *name) {
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = string_type();
            char *v = NULL;
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = strdup(v);
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(ft);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n + 1);
            out = calloc(n + 2, 1);
            if (H5Aread(a, mt, out) < 0) {
                free(out);
                out = NULL;
            }
            H5Tclose(mt);
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static int attr_get_f64(hid_t obj, const char *name, double *v) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    int rc = H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0 ? -1 : 0;
    H5Aclose(a);
    return rc;
}

/* ---- extendible datasets ---- */

/* true when every component of an absolute path exists */
static bool exists(hid_t file, const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) return false;
            if (!c) return true;
            *p = c;
        }
    }
}

/* an empty dataset of 0 rows (× width when width > 0) that grows along its rows */
static int create_extendible(hid_t loc, const char *name, hid_t type, hsize_t width, const char *description) {
    int rank = width > 0 ? 2 : 1;
    hsize_t dims[2] = {0, width}, maxdims[2] = {H5S_UNLIMITED, width};
    hsize_t row_bytes = (width > 0 ? width : 1) * H5Tget_size(type);
    hsize_t chunk[2] = {row_bytes >= 8192 ? 1 : 8192 / row_bytes, width}; // chunks of about 8 KiB
    hid_t space = H5Screate_simple(rank, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_fletcher32(dcpl); // HDF5's checksum of every chunk, checked on every read
    if (H5Tequal(type, H5T_IEEE_F64LE) > 0) {
        double nan = NAN;
        H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan);
    }
    hid_t d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = d < 0 ? -1 : 0;
    if (d >= 0 && description) rc = attr_put_str(d, "description", description);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

/* rows (and cols; 1 for a 1-D dataset) of an open dataset */
static int shape_of(hid_t d, hsize_t *rows, hsize_t *cols) {
    hid_t space = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank >= 1 && rank <= 2) H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    *rows = dims[0];
    *cols = rank == 2 ? dims[1] : 1;
    return rank >= 1 && rank <= 2 ? 0 : -1;
}

/* appends n rows (each the dataset's width) of memory type mtype */
static int append_rows(results *r, const char *path, hid_t mtype, const void *data, hsize_t n) {
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    if (d < 0) return fail(r, "cannot open dataset %s", path);
    hsize_t rows, cols;
    int rc = shape_of(d, &rows, &cols);
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
    return rc ? fail(r, "cannot append to dataset %s", path) : 0;
}

/* keeps the first n rows of a dataset */
static int truncate_rows(results *r, const char *path, hsize_t n) {
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    if (d < 0) return fail(r, "cannot open dataset %s", path);
    hsize_t rows, cols;
    int rc = shape_of(d, &rows, &cols);
    if (!rc && n < rows) {
        hsize_t dims[2] = {n, cols};
        rc = H5Dset_extent(d, dims) < 0 ? -1 : 0;
    }
    H5Dclose(d);
    return rc ? fail(r, "cannot shrink dataset %s", path) : 0;
}

int results_read(results *r, const char *path, double **values, long *rows_out, long *cols_out) {
    *values = NULL;
    if (!exists(r->file, path)) return fail(r, "no dataset %s", path);
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    hsize_t rows, cols;
    if (d < 0 || shape_of(d, &rows, &cols)) {
        if (d >= 0) H5Dclose(d);
        return fail(r, "%s is not a 1-D or 2-D dataset", path);
    }
    double *v = malloc((size_t)(rows * cols + 1) * sizeof(double));
    int rc = rows * cols > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0 ? -1 : 0;
    H5Dclose(d);
    if (rc) {
        free(v);
        return fail(r, "cannot read dataset %s (damaged file?)", path);
    }
    *values = v;
    *rows_out = (long)rows;
    *cols_out = (long)cols;
    return 0;
}

/* ---- the schema ---- */

typedef struct column {
    const char *name;
    size_t offset;
    bool is_int; /* int64, else float64 */
    const char *description;
} column;

#define EDIT_COL(field, is_int, text) {#field, offsetof(edit_row, field), is_int, text}
static const column edit_columns[] = {
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
#define N_EDIT_COLS (sizeof edit_columns / sizeof *edit_columns)

typedef struct norm_record {
    long long edit;
    norm_row n;
} norm_record;

static const column norm_columns[] = {
    {"edit", offsetof(norm_record, edit), true, "the edit after which the norms were taken"},
    {"l1_diff", offsetof(norm_record, n.l1_diff), false, "||W - W0||_1 / numel"},
    {"fro_diff", offsetof(norm_record, n.fro_diff), false, "||W - W0||_F"},
    {"fro_step", offsetof(norm_record, n.fro_step), false, "||Delta W of this edit||_F"},
    {"l1", offsetof(norm_record, n.l1), false, "||W||_1 / numel"},
    {"codebook_size", offsetof(norm_record, n.codebook_size), false, "GRACE: keys in the codebook (NaN otherwise)"},
    {"values_norm", offsetof(norm_record, n.values_norm), false, "GRACE: ||values||_F of the codebook (NaN otherwise)"},
};
#define N_NORM_COLS (sizeof norm_columns / sizeof *norm_columns)

static const char *const retention_names[] = {"efficacy", "paraphrase", "specificity"};

static hid_t col_type(const column *c) { return c->is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE; }
static hid_t col_mtype(const column *c) { return c->is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE; }

static int create_columns(hid_t g, const column *cols, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (create_extendible(g, cols[i].name, col_type(&cols[i]), 0, cols[i].description)) return -1;
    return 0;
}

/* appends one record (a struct laid out as cols says) to the columns under group path g */
static int append_record(results *r, const char *g, const column *cols, size_t n, const void *rec) {
    for (size_t i = 0; i < n; i++) {
        char path[GROUP_PATH + 64];
        snprintf(path, sizeof path, "%s/%s", g, cols[i].name);
        if (append_rows(r, path, col_mtype(&cols[i]), (const char *)rec + cols[i].offset, 1)) return -1;
    }
    return 0;
}

static hid_t create_group(hid_t loc, const char *name, bool track_order) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (track_order) H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

static int create_layout(results *r) {
    hid_t edits = create_group(r->file, "edits", false), ck = create_group(r->file, "checkpoints", false);
    hid_t norms = create_group(r->file, "norms", true);
    int rc = edits < 0 || ck < 0 || norms < 0 ? -1 : 0;
    if (!rc) rc = create_columns(edits, edit_columns, N_EDIT_COLS);
    if (!rc) rc = create_extendible(ck, "n_edits", H5T_STD_I64LE, 0, "edits made when the checkpoint was taken");
    if (!rc) rc = create_extendible(ck, "elapsed", H5T_IEEE_F64LE, 0, "wall seconds since the run started");
    if (!rc) rc = create_extendible(ck, "ppl_edited", H5T_IEEE_F64LE, 0, "perplexity of the held-out text, edited model");
    if (!rc) rc = create_extendible(ck, "ppl_unedited", H5T_IEEE_F64LE, 0, "the same, unedited model");
    for (int i = 0; i < 3 && !rc; i++) {
        char text[160];
        snprintf(text, sizeof text, "retention: row = checkpoint, column = edit; %s of every edit so far, NaN where "
                                    "not yet edited", retention_names[i]);
        rc = create_extendible(ck, retention_names[i], H5T_IEEE_F64LE, (hsize_t)r->n_planned, text);
    }
    if (edits >= 0) H5Gclose(edits);
    if (ck >= 0) H5Gclose(ck);
    if (norms >= 0) H5Gclose(norms);
    return rc;
}

static results *results_new(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); // errors are reported with the file and object named
    results *r = calloc(1, sizeof *r);
    r->file = -1;
    r->path = strdup(path);
    return r;
}

static void results_free(results *r) {
    if (r->file >= 0) H5Fclose(r->file);
    free(r->path);
    free(r->part);
    free(r);
}

/* the message of a failed create/open into err, then frees r */
static results *give_up(results *r, char *err, size_t errlen) {
    snprintf(err, errlen, "%s", r->err);
    results_free(r);
    return NULL;
}

/* the last component of a path ("models/gpt-j-6B/" → "gpt-j-6B") into buf */
static void last_component(const char *path, char *buf, size_t n) {
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/') start--;
    snprintf(buf, n, "%.*s", (int)(end - start), path + start);
}

char *results_part_path(const char *path) {
    size_t n = strlen(path) + 6;
    char *p = malloc(n);
    snprintf(p, n, "%s.part", path);
    return p;
}

/* removes a temporary left by a run that stopped before publishing it, unless a live run holds it */
static int replace_part(results *r) {
    int fd = open(r->part, O_RDWR);
    if (fd < 0) return errno == ENOENT ? 0 : fail(r, "%s cannot be replaced (%s)", r->part, strerror(errno));
    bool busy = flock(fd, LOCK_EX | LOCK_NB) != 0; // HDF5 holds a lock on a file it writes
    close(fd);
    if (busy) return fail(r, "is being created by another run (%s is locked)", r->part);
    printf("%s: replacing %s, left by a run that stopped before its first edit\n", r->path, r->part);
    return unlink(r->part) ? fail(r, "cannot remove %s (%s)", r->part, strerror(errno)) : 0;
}

results *results_create(const char *path, const results_meta *meta, char *err, size_t errlen) {
    results *r = results_new(path);
    if (meta->n_edits < 1) {
        fail(r, "a run needs at least one planned edit (n_edits %ld)", meta->n_edits);
        return give_up(r, err, errlen);
    }
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        fail(r, "exists already: resume it or choose another name");
        return give_up(r, err, errlen);
    }
    r->part = results_part_path(path);
    if (replace_part(r)) return give_up(r, err, errlen);
    r->file = H5Fcreate(r->part, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (r->file < 0) {
        fail(r, "cannot create %s (%s)", r->part, strerror(errno));
        return give_up(r, err, errlen);
    }
    r->n_planned = meta->n_edits;
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    char model_name[256];
    last_component(meta->model_path ? meta->model_path : "", model_name, sizeof model_name);
    hid_t f = r->file;
    int rc = attr_put_i64(f, "schema_version", RESULTS_SCHEMA_VERSION) | attr_put_str(f, "kedit_version", KEDIT_VERSION) |
             attr_put_str(f, "status", "running") | attr_put_str(f, "created", created) |
             attr_put_str(f, "config", meta->config_json ? meta->config_json : "{}") |
             attr_put_str(f, "method", meta->method) | attr_put_str(f, "model_path", meta->model_path) |
             attr_put_str(f, "model_name", meta->model_name ? meta->model_name : model_name) |
             attr_put_str(f, "model_checksum", meta->model_checksum) | attr_put_str(f, "dataset", meta->dataset) |
             attr_put_str(f, "protocol", meta->protocol) |
             attr_put_str(f, "git_revision", meta->git_revision ? meta->git_revision : "unknown") |
             attr_put_str(f, "device", meta->device) | attr_put_str(f, "weights", meta->weights ? meta->weights : "f32") |
             attr_put_str(f, "run_id", meta->run_id ? meta->run_id : "") | attr_put_i64(f, "seed", meta->seed) |
             attr_put_i64(f, "n_edits_planned", meta->n_edits) | attr_put_i64(f, "edits_flushed", 0);
    if (rc || create_layout(r) || results_flush(r)) {
        fail(r, "cannot write the file's layout");
        snprintf(err, errlen, "%s", r->err);
        results_discard(r);
        return NULL;
    }
    return r;
}

static int sync_parent(const char *path) {
    char *dir = strdup(path), *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int results_publish(results *r) {
    if (!r->part) return 0;
    if (results_flush(r)) return -1;
    H5Fclose(r->file); // closed, synced and linked: the name only ever shows a whole file
    r->file = -1;
    int fd = open(r->part, O_RDWR);
    int rc = fd < 0 || fsync(fd);
    if (fd >= 0) close(fd);
    if (rc) return fail(r, "cannot sync %s (%s)", r->part, strerror(errno));
    if (link(r->part, r->path) == 0) rc = unlink(r->part); // unlike rename, never replaces a file created meanwhile
    else if (errno == EEXIST || access(r->path, F_OK) == 0) return fail(r, "exists already (created while this run started)");
    else if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) rc = rename(r->part, r->path); // no hard links
    else return fail(r, "cannot create (%s)", strerror(errno));
    if (rc || sync_parent(r->path)) return fail(r, "cannot publish %s (%s)", r->part, strerror(errno));
    free(r->part);
    r->part = NULL;
    r->file = H5Fopen(r->path, H5F_ACC_RDWR, H5P_DEFAULT);
    return r->file < 0 ? fail(r, "cannot reopen after publishing it") : 0;
}

bool results_published(const results *r) { return !r->part; }

void results_discard(results *r) {
    if (!r) return;
    if (r->file >= 0) H5Fclose(r->file);
    r->file = -1;
    if (r->part) unlink(r->part);
    results_free(r);
}

static const char *const required[] = {"/edits/edit", "/checkpoints/n_edits", "/checkpoints/efficacy",
                                       "/checkpoints/paraphrase", "/checkpoints/specificity", "/norms"};

results *results_open(const char *path, bool writable, char *err, size_t errlen) {
    results *r = results_new(path);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        int e = errno;
        char *part = results_part_path(path);
        bool started = e == ENOENT && access(part, F_OK) == 0;
        if (started) fail(r, "does not exist: its run stopped before its first edit (only %s was written, which "
                             "the next `kedit run --config` replaces): run it again with --config", part);
        else fail(r, "cannot open (%s)", strerror(e));
        free(part);
        return give_up(r, err, errlen);
    }
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0) {
        fail(r, "not an HDF5 file");
        return give_up(r, err, errlen);
    }
    r->file = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) {
        fail(r, "an HDF5 file that cannot be opened: truncated or corrupt (was its run killed before a flush?)");
        return give_up(r, err, errlen);
    }
    double version, planned;
    if (attr_get_f64(r->file, "schema_version", &version)) {
        fail(r, "not a kedit results file (no schema_version attribute)");
        return give_up(r, err, errlen);
    }
    if (version < 1 || version > RESULTS_SCHEMA_VERSION) {
        fail(r, "schema version %g: this kedit reads versions 1 to %d", version, RESULTS_SCHEMA_VERSION);
        return give_up(r, err, errlen);
    }
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!exists(r->file, required[i])) {
            fail(r, "has no %s: not a complete kedit results file (damaged?)", required[i]);
            return give_up(r, err, errlen);
        }
    if (attr_get_f64(r->file, "n_edits_planned", &planned) || planned < 1) {
        fail(r, "attribute n_edits_planned missing or invalid");
        return give_up(r, err, errlen);
    }
    r->n_planned = (long)planned;
    long n = results_n_edits(r);
    char *status = attr_get_str(r->file, "status");
    bool done_early = status && !strcmp(status, "complete") && n != r->n_planned;
    free(status);
    if (done_early) {
        fail(r, "inconsistent: status \"complete\" with %ld edits of the %ld planned (n_edits_planned)", n, r->n_planned);
        return give_up(r, err, errlen);
    }
    for (size_t i = 0; i < N_EDIT_COLS && n >= 0; i++) {
        char p[128];
        double *v;
        long rows, cols;
        snprintf(p, sizeof p, "/edits/%s", edit_columns[i].name);
        if (results_read(r, p, &v, &rows, &cols)) return give_up(r, err, errlen);
        free(v);
        if (rows != n) {
            fail(r, "inconsistent: %s has %ld rows, /edits/edit %ld", p, rows, n);
            return give_up(r, err, errlen);
        }
    }
    if (writable) { // a publish cut short between its link and its unlink leaves the same file twice
        char *part = results_part_path(path);
        struct stat a, b;
        if (stat(part, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) unlink(part);
        free(part);
    }
    if (n < 0 || (writable && attr_put_str(r->file, "status", "running"))) {
        if (n >= 0) fail(r, "cannot update the status attribute");
        return give_up(r, err, errlen);
    }
    return r;
}

void results_close(results *r) {
    if (!r) return;
    if (r->file >= 0) H5Fflush(r->file, H5F_SCOPE_GLOBAL);
    results_free(r);
}

/* ---- writing ---- */

int results_append_edit(results *r, const edit_row *e) {
    return append_record(r, "/edits", edit_columns, N_EDIT_COLS, e);
}

static int check_name(results *r, const char *what, const char *name) {
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") || strlen(name) > MAX_NAME)
        return fail(r, "%s name \"%s\": must be one non-empty path component (no '/', at most %d bytes)", what,
                    name ? name : "", MAX_NAME);
    return 0;
}

int results_append_norms(results *r, const char *matrix, long long edit, const norm_row *n) {
    if (check_name(r, "matrix", matrix)) return -1;
    char g[GROUP_PATH];
    snprintf(g, sizeof g, "/norms/%s", matrix);
    if (!exists(r->file, g)) {
        hid_t grp = create_group(r->file, g, false);
        int rc = grp < 0 || create_columns(grp, norm_columns, N_NORM_COLS);
        if (grp >= 0) H5Gclose(grp);
        if (rc) return fail(r, "cannot create %s", g);
    }
    norm_record rec = {edit, *n};
    return append_record(r, g, norm_columns, N_NORM_COLS, &rec);
}

int results_append_checkpoint(results *r, const checkpoint_row *c) {
    if (c->n_edits < 0 || c->n_edits > r->n_planned)
        return fail(r, "checkpoint after %ld edits: the run plans %ld", c->n_edits, r->n_planned);
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
        snprintf(path, sizeof path, "/checkpoints/%s", retention_names[i]);
        for (long j = 0; j < r->n_planned; j++) row[j] = j < c->n_edits && scores[i] ? scores[i][j] : NAN;
        rc = append_rows(r, path, H5T_NATIVE_DOUBLE, row, 1);
    }
    free(row);
    return rc;
}

int results_set_templates(results *r, const char *const *templates, int n) {
    if (exists(r->file, "/context_templates") && H5Ldelete(r->file, "/context_templates", H5P_DEFAULT) < 0)
        return fail(r, "cannot replace /context_templates");
    hsize_t dims[1] = {(hsize_t)n};
    hid_t t = string_type(), space = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(r->file, "/context_templates", t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || (n > 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, templates) < 0) ? -1 : 0;
    if (d >= 0) {
        rc |= attr_put_str(d, "description", "the frozen context templates, \"{}\" where the prompt goes");
        H5Dclose(d);
    }
    H5Sclose(space);
    H5Tclose(t);
    return rc ? fail(r, "cannot write /context_templates") : 0;
}

int results_set_attr_str(results *r, const char *name, const char *value) {
    return attr_put_str(r->file, name, value) ? fail(r, "cannot write attribute %s", name) : 0;
}

int results_set_attr_double(results *r, const char *name, double value) {
    return attr_put(r->file, name, H5T_IEEE_F64LE, &value) ? fail(r, "cannot write attribute %s", name) : 0;
}

int results_flush(results *r) {
    long n = results_n_edits(r);
    if (n < 0) return -1;
    if (attr_put_i64(r->file, "edits_flushed", n) || H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0)
        return fail(r, "cannot flush");
    return 0;
}

int results_mark_complete(results *r) {
    long n = results_n_edits(r);
    if (n != r->n_planned) return fail(r, "cannot be complete with %ld edits of the %ld planned", n, r->n_planned);
    if (attr_put_str(r->file, "status", "complete")) return fail(r, "cannot set status complete");
    return results_flush(r);
}

/* ---- reading ---- */

static long rows_of(results *r, const char *path) {
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    hsize_t rows, cols;
    int rc = d < 0 || shape_of(d, &rows, &cols);
    if (d >= 0) H5Dclose(d);
    if (rc) {
        fail(r, "cannot read the shape of %s", path);
        return -1;
    }
    return (long)rows;
}

long results_n_edits(results *r) { return rows_of(r, "/edits/edit"); }
long results_n_checkpoints(results *r) { return rows_of(r, "/checkpoints/n_edits"); }

char *results_attr_str(results *r, const char *name) { return attr_get_str(r->file, name); }

int results_attr_double(results *r, const char *name, double *value) {
    return attr_get_f64(r->file, name, value) ? fail(r, "no numeric attribute %s", name) : 0;
}

int results_read_templates(results *r, char ***templates, int *n) {
    *templates = NULL;
    *n = 0;
    if (!exists(r->file, "/context_templates")) return fail(r, "no /context_templates");
    hid_t d = H5Dopen2(r->file, "/context_templates", H5P_DEFAULT), t = string_type();
    hsize_t rows, cols;
    shape_of(d, &rows, &cols);
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
        return fail(r, "cannot read /context_templates");
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

int results_norm_matrices(results *r, char ***names, int *n) {
    name_list l = {NULL, 0};
    hid_t g = H5Gopen2(r->file, "/norms", H5P_DEFAULT);
    hsize_t idx = 0;
    // in the order the matrices were first recorded (layer order), not alphabetical
    int rc = g < 0 || H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_name, &l) < 0;
    if (g >= 0) H5Gclose(g);
    *names = l.names;
    *n = l.n;
    return rc ? fail(r, "cannot list /norms") : 0;
}

/* ---- resuming ---- */

/* the number of leading rows of a 1-D dataset whose value is ≤ limit (the rows are in increasing order) */
static long rows_up_to(results *r, const char *path, double limit) {
    double *v;
    long rows, cols, k = 0;
    if (results_read(r, path, &v, &rows, &cols)) return -1;
    while (k < rows && v[k] <= limit) k++;
    free(v);
    return k;
}

static int truncate_group(results *r, const char *g, const column *cols, size_t n_cols, long n_edits) {
    char path[GROUP_PATH + 64];
    snprintf(path, sizeof path, "%s/edit", g);
    long keep = rows_up_to(r, path, (double)n_edits - 1);
    if (keep < 0) return -1;
    for (size_t i = 0; i < n_cols; i++) {
        snprintf(path, sizeof path, "%s/%s", g, cols[i].name);
        if (truncate_rows(r, path, (hsize_t)keep)) return -1;
    }
    return 0;
}

int results_truncate_edits(results *r, long n_edits) {
    if (truncate_group(r, "/edits", edit_columns, N_EDIT_COLS, n_edits)) return -1;
    char **names;
    int n, rc = results_norm_matrices(r, &names, &n);
    for (int i = 0; i < n; i++) {
        char g[GROUP_PATH];
        snprintf(g, sizeof g, "/norms/%.*s", MAX_NAME, names[i]);
        if (!rc) rc = truncate_group(r, g, norm_columns, N_NORM_COLS, n_edits);
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
