/* GRACE's codebook (editing-spec §3, §10.7): its life (create, reset, free), what it holds, the
 * nearest-key search (host-side, O(n·d) per query) and the rules by which an edit's query changes it. */
#include "grace_impl.h"

#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRACE_SPLIT_MARGIN 1e-5 /* the older key's radius on a split: d/2 − 1e-5 (EE) */
/* a query matches key j within ε_j + 1e-5·‖k_j‖: the query that expanded ε_j lies exactly on it, and the
 * same query recomputed in float32 in a batch of another shape moves by ~1e-6 of its norm */
#define GRACE_MATCH_TOL 1e-5

grace_state *grace_create(const model *m, const grace_hparams *h, char *err, size_t errlen) {
    const model_config *c = &m->cfg;
    if (h->layer < 0 || h->layer >= c->n_layer) {
        snprintf(err, errlen, "GRACE: layer %d is outside the model's %d layers", h->layer, c->n_layer);
        return NULL;
    }
    if (h->which != 0 && h->which != 1) {
        snprintf(err, errlen, "GRACE: matrix %d is neither W_out (0) nor W_in (1)", h->which);
        return NULL;
    }
    if (h->n_iter < 1 || !(h->edit_lr > 0) || !(h->eps > 0)) {
        snprintf(err, errlen, "GRACE: n_iter %d, edit_lr %g, eps %g (need ≥ 1, > 0, > 0)", h->n_iter, h->edit_lr,
                 h->eps);
        return NULL;
    }
    grace_state *g = calloc(1, sizeof *g);
    g->m = m;
    g->h = *h;
    g->q_site = h->which == 0 ? SITE_MLP_KEY : SITE_MLP_NORM;
    g->v_site = h->which == 0 ? SITE_MLP_OUT : SITE_MLP_PRE;
    g->dk = site_dim(c, g->q_site);
    g->dv = site_dim(c, g->v_site);
    g->rng = h->seed;
    return g;
}

void grace_reset(grace_state *g) {
    for (int i = 0; i < g->n; i++) free(g->label[i]);
    g->n = 0;
    g->rng = g->h.seed;
}

void grace_free(grace_state *g) {
    if (!g) return;
    grace_reset(g);
    free(g->keys);
    free(g->values);
    free(g->eps);
    free(g->knorm);
    free(g->label);
    free(g->n_label);
    free(g);
}

int grace_size(const grace_state *g) { return g->n; }
void grace_dims(const grace_state *g, int *dim_key, int *dim_value) {
    *dim_key = g->dk;
    *dim_value = g->dv;
}
const float *grace_keys(const grace_state *g) { return g->keys; }
const float *grace_values(const grace_state *g) { return g->values; }
const double *grace_eps(const grace_state *g) { return g->eps; }

double grace_values_norm(const grace_state *g) {
    double s = 0;
    for (size_t i = 0; i < (size_t)g->n * g->dv; i++) s += (double)g->values[i] * g->values[i];
    return sqrt(s);
}

/* the nearest key to q (ties to the older key), −1 when empty; *dist its Euclidean distance */
static int nearest_key(const grace_state *g, const float *q, double *dist) {
    int best = -1;
    double bd = INFINITY;
    for (int i = 0; i < g->n; i++) {
        const float *k = g->keys + (size_t)i * g->dk;
        double s = 0;
        for (int j = 0; j < g->dk; j++) {
            double e = (double)k[j] - q[j];
            s += e * e;
        }
        if (s < bd) {
            bd = s;
            best = i;
        }
    }
    *dist = sqrt(bd);
    return best;
}

int grace_matching_key(const grace_state *g, const float *q) {
    double d;
    int j = nearest_key(g, q, &d);
    return j >= 0 && d <= g->eps[j] + GRACE_MATCH_TOL * g->knorm[j] ? j : -1;
}

void grace_add_key(grace_state *g, const float *q, const float *cold, double eps, const int *label, int n_label) {
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->keys = realloc(g->keys, (size_t)g->cap * g->dk * sizeof(float));
        g->values = realloc(g->values, (size_t)g->cap * g->dv * sizeof(float));
        g->eps = realloc(g->eps, (size_t)g->cap * sizeof(double));
        g->knorm = realloc(g->knorm, (size_t)g->cap * sizeof(double));
        g->label = realloc(g->label, (size_t)g->cap * sizeof(int *));
        g->n_label = realloc(g->n_label, (size_t)g->cap * sizeof(int));
    }
    int i = g->n++;
    memcpy(g->keys + (size_t)i * g->dk, q, (size_t)g->dk * sizeof(float));
    double kk = 0;
    for (int j = 0; j < g->dk; j++) kk += (double)q[j] * q[j];
    g->knorm[i] = sqrt(kk);
    float *v = g->values + (size_t)i * g->dv;
    for (int j = 0; j < g->dv; j++) // cold: U[0,1) (24 random bits per value)
        v[j] = cold ? cold[j] : (float)(splitmix64(&g->rng) >> 40) * (1.0f / 16777216.0f);
    g->eps[i] = eps;
    g->label[i] = malloc((size_t)n_label * sizeof(int));
    memcpy(g->label[i], label, (size_t)n_label * sizeof(int));
    g->n_label[i] = n_label;
}

static bool same_label(const grace_state *g, int i, const int *label, int n_label) {
    return g->n_label[i] == n_label && !memcmp(g->label[i], label, (size_t)n_label * sizeof(int));
}

void grace_codebook_update(grace_state *g, const float *q, const int *label, int n_label, const float *cold,
                           grace_result *res) {
    double d;
    int j = nearest_key(g, q, &d);
    res->nearest = j;
    res->distance = j >= 0 ? d : 0;
    if (j < 0 || d > g->h.eps + g->eps[j]) {
        grace_add_key(g, q, cold, g->h.eps, label, n_label);
        res->action = GRACE_ADDED;
    } else if (!same_label(g, j, label, n_label)) {
        grace_add_key(g, q, cold, d / 2, label, n_label); // split: both radii halved
        g->eps[j] = d / 2 - GRACE_SPLIT_MARGIN;
        res->action = GRACE_SPLIT;
    } else if (d > g->eps[j]) {
        g->eps[j] = d; // expand (coverage)
        res->action = GRACE_EXPANDED;
    } else {
        res->action = GRACE_MATCHED;
    }
}
