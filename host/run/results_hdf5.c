/* The HDF5 objects a results file is made of (results_impl.h): scalar attributes, variable-length UTF-8
 * strings, groups, and extendible datasets chunked with a Fletcher-32 checksum. */
#include "run/results_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

hid_t h5_string_type(void) { // variable-length UTF-8 (h5py reads it as str)
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* (re)writes a scalar attribute of obj */
int h5_attr_put(hid_t obj, const char *name, hid_t type, const void *value) {
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, type, value) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return rc;
}

int h5_attr_put_str(hid_t obj, const char *name, const char *value) {
    hid_t t = h5_string_type();
    const char *v = value ? value : "";
    int rc = h5_attr_put(obj, name, t, &v);
    H5Tclose(t);
    return rc;
}

int h5_attr_put_i64(hid_t obj, const char *name, long long value) {
    int64_t v = value;
    return h5_attr_put(obj, name, H5T_STD_I64LE, &v);
}

/* a string attribute (variable or fixed length), malloc'd; NULL when absent or not a string */
char *h5_attr_get_str(hid_t obj, const char *name) {
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = h5_string_type();
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

int h5_attr_get_f64(hid_t obj, const char *name, double *v) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    int rc = H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0 ? -1 : 0;
    H5Aclose(a);
    return rc;
}

/* ---- extendible datasets ---- */

/* true when every component of an absolute path exists */
bool h5_exists(hid_t file, const char *path) {
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
int h5_create_extendible(hid_t loc, const char *name, hid_t type, hsize_t width, const char *description) {
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
    if (d >= 0 && description) rc = h5_attr_put_str(d, "description", description);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

/* rows (and cols; 1 for a 1-D dataset) of an open dataset */
int h5_shape_of(hid_t d, hsize_t *rows, hsize_t *cols) {
    hid_t space = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank >= 1 && rank <= 2) H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    *rows = dims[0];
    *cols = rank == 2 ? dims[1] : 1;
    return rank >= 1 && rank <= 2 ? 0 : -1;
}

hid_t h5_create_group(hid_t loc, const char *name, bool track_order) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (track_order) H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}
