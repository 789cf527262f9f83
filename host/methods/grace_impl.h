/* Private to GRACE's files (grace_*.c): the codebook's state behind grace.h's opaque grace_state, and the
 * codebook operations the edit, the evaluation hooks and the saved state share. */
#ifndef KEDIT_GRACE_IMPL_H
#define KEDIT_GRACE_IMPL_H

#include "grace.h"

struct grace_state {
    const model *m;
    grace_hparams h;
    site_kind q_site, v_site;
    int dk, dv;       /* query and value widths */
    int n, cap;       /* keys held, capacity */
    float *keys;      /* (cap, dk) */
    float *values;    /* (cap, dv) */
    double *eps;      /* (cap) radii */
    double *knorm;    /* (cap) ‖k_i‖ */
    int **label;      /* (cap) target token ids */
    int *n_label;
    uint64_t rng;     /* splitmix64 state of the cold initialisation */
};

/* the key matching q (nearest, within its radius) or −1 */
int grace_matching_key(const grace_state *g, const float *q);

/* appends key q with value cold (NULL: drawn U[0,1) from the state's generator), radius eps and label */
void grace_add_key(grace_state *g, const float *q, const float *cold, double eps, const int *label, int n_label);

/* the codebook rules of one edit's query q with target label: add, split, expand or leave (res->action,
 * res->nearest, res->distance) */
void grace_codebook_update(grace_state *g, const float *q, const int *label, int n_label, const float *cold,
                           grace_result *res);

#endif
