/* Readers of the fields of a method's JSON hyper-parameter file (configs/<method>_<model>.json) that keep
 * the first problem as "<file>: field \"<name>\" <problem>", so that a parser reads every field and
 * reports once. */
#ifndef KEDIT_HP_FIELDS_H
#define KEDIT_HP_FIELDS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct hp_reader {
    const cJSON *root;
    const char *path;
    char *err;
    size_t errlen;
    bool failed;
} hp_reader;

/* a number ≥ lo (> lo when open); absent: def when optional, else a problem */
double hp_number(hp_reader *r, const char *field, double lo, bool open, bool optional, double def);

/* an integer in [lo, hi]; absent: a problem */
int hp_int(hp_reader *r, const char *field, int lo, int hi);

/* a string that must be one of `allowed` (n of them); absent: def (NULL: a problem). Returns its index. */
int hp_choice(hp_reader *r, const char *field, const char *const *allowed, int n, const char *def);

/* the MLP matrix a module name ends with: mlp.c_proj, mlp.fc_out, mlp.down_proj (W_out: 0); mlp.c_fc,
 * mlp.fc_in, mlp.gate_proj (W_in: 1); an optional ".weight" is ignored. The layer in brackets ("h[35]", "layers[27]") goes to
 * *layer, −1 when there is none. */
int hp_matrix(hp_reader *r, const char *field, int *layer);

/* the first entry of "layers" (a non-empty array of non-negative integers) */
int hp_first_layer(hp_reader *r);

#endif
