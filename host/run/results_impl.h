/* Private to the results file's sources (results_*.c): the handle behind results_h5.h's opaque results,
 * the schema's tables (results_schema.c) and the HDF5 objects the file is made of (results_hdf5.c). */
#ifndef KEDIT_RESULTS_IMPL_H
#define KEDIT_RESULTS_IMPL_H

#include "run/results_h5.h"

#include <hdf5.h>
#include <stddef.h>

#define MAX_NAME 200   /* bytes of a matrix or method-state name */
#define GROUP_PATH 256 /* bytes of "/norms/<name>" */

struct results {
    hid_t file;
    char *path;
    char *part;     /* while being created: the temporary name it is written under (NULL once published) */
    long n_planned; /* width of the retention matrices */
    char err[1024];
};

/* "PATH: message" into r's error; returns −1 (results_error.c) */
int results_fail(results *r, const char *fmt, ...);

/* ---- the schema (results_schema.c) ---- */

/* one column of a group of 1-D datasets: a field of the record struct written per row */
typedef struct column {
    const char *name;
    size_t offset;
    bool is_int; /* int64, else float64 */
    const char *description;
} column;

static inline hid_t column_file_type(const column *c) { return c->is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE; }
static inline hid_t column_memory_type(const column *c) { return c->is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE; }

/* a row of /norms/<matrix> */
typedef struct norm_record {
    long long edit;
    norm_row n;
} norm_record;

/* a row of /downstream/<task> */
typedef struct downstream_record {
    long long n_edits, n_items, n_truncated;
    double accuracy, f1, mcc;
} downstream_record;

extern const column results_edit_columns[];   /* of /edits, laid out as edit_row */
extern const size_t results_n_edit_columns;
extern const column results_norm_columns[];   /* of /norms/<matrix>, laid out as norm_record */
extern const size_t results_n_norm_columns;
extern const column results_downstream_columns[]; /* of /downstream/<task>, laid out as downstream_record */
extern const size_t results_n_downstream_columns;
extern const char *const results_retention_names[3]; /* the retention matrices of /checkpoints */
extern const char *const results_required[];  /* the objects every results file holds */
extern const size_t results_n_required;

/* the columns' empty datasets in group g */
int results_create_columns(hid_t g, const column *cols, size_t n);
/* the groups and empty datasets of a new file */
int results_create_layout(results *r);

/* ---- HDF5 objects (results_hdf5.c) ---- */

hid_t h5_string_type(void); /* variable-length UTF-8 (h5py reads it as str); H5Tclose it */
/* (re)writes a scalar attribute of obj */
int h5_attr_put(hid_t obj, const char *name, hid_t type, const void *value);
int h5_attr_put_str(hid_t obj, const char *name, const char *value);
int h5_attr_put_i64(hid_t obj, const char *name, long long value);
/* a string attribute (variable or fixed length), malloc'd; NULL when absent or not a string */
char *h5_attr_get_str(hid_t obj, const char *name);
int h5_attr_get_f64(hid_t obj, const char *name, double *v);
/* true when every component of an absolute path exists */
bool h5_exists(hid_t file, const char *path);
/* an empty dataset of 0 rows (× width when width > 0) that grows along its rows */
int h5_create_extendible(hid_t loc, const char *name, hid_t type, hsize_t width, const char *description);
/* rows (and cols; 1 for a 1-D dataset) of an open dataset */
int h5_shape_of(hid_t d, hsize_t *rows, hsize_t *cols);
/* a group, its links indexed in creation order when track_order */
hid_t h5_create_group(hid_t loc, const char *name, bool track_order);

#endif
