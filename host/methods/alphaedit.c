/* AlphaEdit behind editor.h (editing-spec §11.1–§11.3): MEMIT's edit loop (z and the keys on the current
 * model, R re-measured per layer, split 1/(E−i), Δ added in place) with the λC term replaced by the fixed
 * null-space projector P = U·Uᵀ of C on W₀ and a ridge α = L2, and with the cache C_p of past edits' keys:
 *   Δ = R′ K₁ᵀ P (C_p P + K₁K₁ᵀ P + αI)⁻¹ = R′ K̃ᵀ (C̃_p + K̃K̃ᵀ + αI)⁻¹ Uᵀ,   K̃ = UᵀK₁, C̃_p = Uᵀ C_p U,
 * solved in float64 by Cholesky in the m × m reduced coordinates (never forming P or a d_ff² cache).
 * After a layer's solve C̃_p += K̃K̃ᵀ: the keys at l depend only on the weights below l, so they are the keys
 * AlphaEdit re-measures after the batch. The call's record holds the factors of each Δ (R and the rows of
 * K̃ᵀA⁻¹Uᵀ) and each layer's K̃ᵀ; replayed, the cache is rebuilt bitwise. */
#include "editor_impl.h"
#include "normal_eq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct alphaedit_layer {
    nullspace ns;
    double *B;   /* device (m, m): αI + C̃_p */
    double *Kt;  /* host (m, n): K̃ᵀ of the last call (its journal), NULL before the first */
    int n;       /* edits of the last call */
} alphaedit_layer;

static alphaedit_layer *state(const editor *e) { return e->priv; }

/* B ← αI (C̃_p = 0) */
static void reset_cache(const editor *e, alphaedit_layer *l) {
    nullspace_diag(e->m->be, &l->ns, 0.0, e->hp.l2, l->B);
    free(l->Kt);
    l->Kt = NULL;
    l->n = 0;
}

static int alphaedit_prepare(editor *e, char *err, size_t errlen) {
    alphaedit_layer *ly = calloc((size_t)e->E, sizeof *ly);
    e->priv = ly;
    for (int i = 0; i < e->E; i++) {
        if (editor_nullspace(e, i, &ly[i].ns, err, errlen)) return -1;
        ly[i].B = e->m->be->alloc((size_t)ly[i].ns.m * ly[i].ns.m * sizeof(double));
        reset_cache(e, &ly[i]);
    }
    return 0;
}

/* B (m × m) += K̃K̃ᵀ from K̃ᵀ (m × n, device) */
static void add_keys(const backend *be, int m, int n, const double *KtT, double *B) {
    be->dsyrk_acc(m, n, 1.0, KtT, n, B, m); // B += K̃K̃ᵀ
}

static int alphaedit_solve(editor *e, int i, int n, const double *K, const double *R, char *err, size_t errlen) {
    const backend *be = e->m->be;
    alphaedit_layer *l = &state(e)[i];
    int d = e->m->cfg.d, f = e->m->cfg.d_ff, m = l->ns.m;
    double *Kd = be->alloc((size_t)n * f * sizeof(double));   // (n, d_ff) keys as rows
    double *KtT = be->alloc((size_t)m * n * sizeof(double));  // (m, n) the reduced keys as columns
    double *X = be->alloc((size_t)n * m * sizeof(double));    // (n, m) K̃ as rows, then K̃ᵀA⁻¹
    double *A = be->alloc((size_t)m * m * sizeof(double));    // (m, m) αI + C̃_p + K̃K̃ᵀ, then its factor
    double *V = be->alloc((size_t)n * f * sizeof(double));    // (n, d_ff) rows of K̃ᵀA⁻¹Uᵀ
    be->to_device(Kd, K, (size_t)n * f * sizeof(double));
    be->dgemm(false, true, m, n, f, 1.0, l->ns.Ut, f, Kd, f, 0.0, KtT, n); // K̃ = UᵀK
    free(l->Kt);
    l->Kt = malloc((size_t)m * n * sizeof(double));
    l->n = n;
    be->to_host(l->Kt, KtT, (size_t)m * n * sizeof(double));
    double *Xh = malloc((size_t)n * m * sizeof(double));
    neq_transpose(l->Kt, m, n, Xh);
    be->to_device(X, Xh, (size_t)n * m * sizeof(double));
    free(Xh);
    be->copy(A, l->B, (size_t)m * m * sizeof(double));
    add_keys(be, m, n, KtT, A); // A = αI + C̃_p + K̃K̃ᵀ
    char what[64];
    snprintf(what, sizeof what, "AlphaEdit layer %d", e->hp.layers[i]);
    int rc = nullspace_factor(be, m, A, what, err, errlen);
    if (!rc) {
        nullspace_solve(be, &l->ns, f, n, A, X, 1.0, V); // V = K̃ᵀA⁻¹Uᵀ
        delta_factors x = {.n = n, .alpha = 1.0 / (e->E - i), .U = malloc((size_t)n * d * sizeof(double)),
                           .V = malloc((size_t)n * f * sizeof(double))};
        memcpy(x.U, R, (size_t)n * d * sizeof(double));
        be->to_host(x.V, V, (size_t)n * f * sizeof(double));
        delta_from_factors(be, d, f, &x, e->delta[i]); // Δ = (R/(E−i))·K̃ᵀ(C̃_p + K̃K̃ᵀ + αI)⁻¹Uᵀ
        e->fac[i] = x;
        add_keys(be, m, n, KtT, l->B); // C̃_p += K̃K̃ᵀ
    }
    void *dev[] = {Kd, KtT, X, A, V};
    for (size_t j = 0; j < sizeof dev / sizeof *dev; j++) be->free(dev[j]);
    return rc ? -1 : 0;
}

static int alphaedit_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    return memit_edit_layers(e, p, n, out, alphaedit_solve, err, errlen);
}

static int alphaedit_reset(editor *e, char *err, size_t errlen) {
    for (int i = 0; i < e->E; i++) reset_cache(e, &state(e)[i]);
    return 0;
}

static void alphaedit_free(editor *e) {
    for (int i = 0; i < e->E; i++) {
        alphaedit_layer *l = &state(e)[i];
        if (l->B) e->m->be->free(l->B);
        free(l->Kt);
        nullspace_free(e->m->be, &l->ns);
    }
    free(e->priv);
}

/* per layer: n, then K̃ᵀ (m × n) */
static int alphaedit_journal(const editor *e, blob *b, char *err, size_t errlen) {
    for (int i = 0; i < e->E; i++) {
        const alphaedit_layer *l = &state(e)[i];
        int32_t n = l->n;
        blob_put(b, &n, sizeof n);
        blob_put(b, l->Kt, (size_t)l->ns.m * l->n * sizeof(double));
    }
    return 0;
}

/* the cache rebuilt call by call with the edits' own operation (the weights came from the factors) */
static int alphaedit_replay(editor *e, int n, blob_reader *parts, char *err, size_t errlen) {
    const backend *be = e->m->be;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < e->E; i++) {
            alphaedit_layer *l = &state(e)[i];
            int32_t c;
            size_t bytes = 0;
            bool ok = blob_get(&parts[k], &c, sizeof c) && c > 0;
            if (ok) bytes = (size_t)l->ns.m * c * sizeof(double);
            if (!ok || parts[k].len - parts[k].at < bytes) {
                snprintf(err, errlen, "AlphaEdit: record %d: the keys of layer %d are malformed", k, e->hp.layers[i]);
                return -1;
            }
            free(l->Kt);
            l->Kt = malloc(bytes);
            l->n = c;
            blob_get(&parts[k], l->Kt, bytes);
            double *KtT = be->alloc(bytes);
            be->to_device(KtT, l->Kt, bytes);
            add_keys(be, l->ns.m, c, KtT, l->B);
            be->free(KtT);
        }
    for (int k = 0; k < n; k++)
        if (parts[k].at != parts[k].len) {
            snprintf(err, errlen, "AlphaEdit: record %d has %zu bytes after its keys", k, parts[k].len - parts[k].at);
            return -1;
        }
    return 0;
}

static int alphaedit_dim(const editor *e, int i) { return state(e)[i].ns.m; }

const edit_method_ops alphaedit_ops = {.prepare = alphaedit_prepare, .edit = alphaedit_edit,
                                       .reset = alphaedit_reset, .free = alphaedit_free,
                                       .journal = alphaedit_journal, .replay = alphaedit_replay,
                                       .nullspace_dim = alphaedit_dim, .journal_factors = true, .needs_cov = true,
                                       .edits_w_out = true};
