/* A results file's life (results_h5.h): created under PATH.part with its metadata and empty layout,
 * published at its name, opened (and checked) to read or resume, closed or discarded. */
#include "run/results_impl.h"

#include "blas_info.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    if (fd < 0) return errno == ENOENT ? 0 : results_fail(r, "%s cannot be replaced (%s)", r->part, strerror(errno));
    bool busy = flock(fd, LOCK_EX | LOCK_NB) != 0; // HDF5 holds a lock on a file it writes
    close(fd);
    if (busy) return results_fail(r, "is being created by another run (%s is locked)", r->part);
    printf("%s: replacing %s, left by a run that stopped before its first edit\n", r->path, r->part);
    return unlink(r->part) ? results_fail(r, "cannot remove %s (%s)", r->part, strerror(errno)) : 0;
}

results *results_create(const char *path, const results_meta *meta, char *err, size_t errlen) {
    results *r = results_new(path);
    if (meta->n_edits < 1) {
        results_fail(r, "a run needs at least one planned edit (n_edits %ld)", meta->n_edits);
        return give_up(r, err, errlen);
    }
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        results_fail(r, "exists already: resume it or choose another name");
        return give_up(r, err, errlen);
    }
    r->part = results_part_path(path);
    if (replace_part(r)) return give_up(r, err, errlen);
    r->file = H5Fcreate(r->part, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (r->file < 0) {
        results_fail(r, "cannot create %s (%s)", r->part, strerror(errno));
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
    int rc = h5_attr_put_i64(f, "schema_version", RESULTS_SCHEMA_VERSION) |
             h5_attr_put_str(f, "kedit_version", KEDIT_VERSION) | h5_attr_put_str(f, "blas", blas_description()) |
             h5_attr_put_str(f, "status", "running") |
             h5_attr_put_str(f, "created", created) |
             h5_attr_put_str(f, "config", meta->config_json ? meta->config_json : "{}") |
             h5_attr_put_str(f, "method", meta->method) | h5_attr_put_str(f, "model_path", meta->model_path) |
             h5_attr_put_str(f, "model_name", meta->model_name ? meta->model_name : model_name) |
             h5_attr_put_str(f, "model_checksum", meta->model_checksum) | h5_attr_put_str(f, "dataset", meta->dataset) |
             h5_attr_put_str(f, "protocol", meta->protocol) |
             h5_attr_put_str(f, "git_revision", meta->git_revision ? meta->git_revision : "unknown") |
             h5_attr_put_str(f, "device", meta->device) |
             h5_attr_put_str(f, "weights", meta->weights ? meta->weights : "f32") |
             h5_attr_put_str(f, "statistics", meta->statistics ? meta->statistics : "{}") |
             h5_attr_put_str(f, "run_id", meta->run_id ? meta->run_id : "") | h5_attr_put_i64(f, "seed", meta->seed) |
             h5_attr_put_i64(f, "n_edits_planned", meta->n_edits) | h5_attr_put_i64(f, "edits_flushed", 0);
    if (rc || results_create_layout(r) || results_flush(r)) {
        results_fail(r, "cannot write the file's layout");
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
    if (rc) return results_fail(r, "cannot sync %s (%s)", r->part, strerror(errno));
    if (link(r->part, r->path) == 0) rc = unlink(r->part); // unlike rename, never replaces a file created meanwhile
    else if (errno == EEXIST || access(r->path, F_OK) == 0)
        return results_fail(r, "exists already (created while this run started)");
    else if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) rc = rename(r->part, r->path); // no hard links
    else return results_fail(r, "cannot create (%s)", strerror(errno));
    if (rc || sync_parent(r->path)) return results_fail(r, "cannot publish %s (%s)", r->part, strerror(errno));
    free(r->part);
    r->part = NULL;
    r->file = H5Fopen(r->path, H5F_ACC_RDWR, H5P_DEFAULT);
    return r->file < 0 ? results_fail(r, "cannot reopen after publishing it") : 0;
}

bool results_published(const results *r) { return !r->part; }

void results_discard(results *r) {
    if (!r) return;
    if (r->file >= 0) H5Fclose(r->file);
    r->file = -1;
    if (r->part) unlink(r->part);
    results_free(r);
}

results *results_open(const char *path, bool writable, char *err, size_t errlen) {
    results *r = results_new(path);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        int e = errno;
        char *part = results_part_path(path);
        bool started = e == ENOENT && access(part, F_OK) == 0;
        if (started) results_fail(r, "does not exist: its run stopped before its first edit (only %s was written, "
                                     "which the next `kedit run --config` replaces): run it again with --config", part);
        else results_fail(r, "cannot open (%s)", strerror(e));
        free(part);
        return give_up(r, err, errlen);
    }
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0) {
        results_fail(r, "not an HDF5 file");
        return give_up(r, err, errlen);
    }
    r->file = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) {
        results_fail(r, "an HDF5 file that cannot be opened: truncated or corrupt (was its run killed before a "
                        "flush?)");
        return give_up(r, err, errlen);
    }
    double version, planned;
    if (h5_attr_get_f64(r->file, "schema_version", &version)) {
        results_fail(r, "not a kedit results file (no schema_version attribute)");
        return give_up(r, err, errlen);
    }
    if (version < 1 || version > RESULTS_SCHEMA_VERSION) {
        results_fail(r, "schema version %g: this kedit reads versions 1 to %d", version, RESULTS_SCHEMA_VERSION);
        return give_up(r, err, errlen);
    }
    for (size_t i = 0; i < results_n_required; i++)
        if (!h5_exists(r->file, results_required[i])) {
            results_fail(r, "has no %s: not a complete kedit results file (damaged?)", results_required[i]);
            return give_up(r, err, errlen);
        }
    if (h5_attr_get_f64(r->file, "n_edits_planned", &planned) || planned < 1) {
        results_fail(r, "attribute n_edits_planned missing or invalid");
        return give_up(r, err, errlen);
    }
    r->n_planned = (long)planned;
    long n = results_n_edits(r);
    char *status = h5_attr_get_str(r->file, "status");
    bool done_early = status && !strcmp(status, "complete") && n != r->n_planned;
    free(status);
    if (done_early) {
        results_fail(r, "inconsistent: status \"complete\" with %ld edits of the %ld planned (n_edits_planned)", n,
                     r->n_planned);
        return give_up(r, err, errlen);
    }
    for (size_t i = 0; i < results_n_edit_columns && n >= 0; i++) {
        char p[128];
        double *v;
        long rows, cols;
        snprintf(p, sizeof p, "/edits/%s", results_edit_columns[i].name);
        if (results_read(r, p, &v, &rows, &cols)) return give_up(r, err, errlen);
        free(v);
        if (rows != n) {
            results_fail(r, "inconsistent: %s has %ld rows, /edits/edit %ld", p, rows, n);
            return give_up(r, err, errlen);
        }
    }
    if (writable) { // a publish cut short between its link and its unlink leaves the same file twice
        char *part = results_part_path(path);
        struct stat a, b;
        if (stat(part, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) unlink(part);
        free(part);
    }
    if (n < 0 || (writable && h5_attr_put_str(r->file, "status", "running"))) {
        if (n >= 0) results_fail(r, "cannot update the status attribute");
        return give_up(r, err, errlen);
    }
    return r;
}

void results_close(results *r) {
    if (!r) return;
    if (r->file >= 0) H5Fflush(r->file, H5F_SCOPE_GLOBAL);
    results_free(r);
}
