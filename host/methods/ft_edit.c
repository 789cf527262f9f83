/* The FT-L edit behind editor.h (editing-spec §3, §10.9): the ft_state trains its matrix and bias in
 * place (all of it charged to PHASE_Z); the editor keeps the matrix as it was before the call for the
 * increment norm. The saved state is ft_save's matrix and bias. */
#include "editor_impl.h"
#include "ft.h"

#include <math.h>
#include <stdlib.h>

typedef struct ft_method {
    ft_state *s;
    float *before; /* device (out, in): the matrix before the edit call */
} ft_method;

static void matrix_of(const editor *e, const linear **W, const float **W0) {
    const ft_method *f = e->priv;
    const float *b0;
    ft_weights(f->s, W, W0, &b0);
}

static int ft_prepare(editor *e, char *err, size_t errlen) {
    ft_state *s = ft_create(e->m, &e->hp.ft, err, errlen);
    if (!s) return -1;
    ft_method *f = calloc(1, sizeof *f);
    f->s = s;
    e->priv = f;
    const linear *W;
    const float *W0;
    matrix_of(e, &W, &W0);
    f->before = e->m->be->alloc((size_t)W->out * W->in * sizeof(float));
    return 0;
}

static int ft_method_edit(editor *e, const edit_prompts *p, int n, edit_outcome *out, char *err, size_t errlen) {
    ft_method *f = e->priv;
    const backend *be = e->m->be;
    const linear *W;
    const float *W0;
    matrix_of(e, &W, &W0);
    int64_t nw = (int64_t)W->out * W->in;
    be->copy(f->before, W->w, (size_t)nw * sizeof(float));
    int rc = ft_edit_prompts(f->s, p, n, out, err, errlen);
    editor_mark(e, PHASE_Z);
    e->inc_fro[0] = sqrt(be->sum_sq_diff(W->w, f->before, nw)); // ‖ΔW of this call‖_F
    return rc;
}

static int ft_method_reset(editor *e, char *err, size_t errlen) {
    ft_reset(((ft_method *)e->priv)->s);
    return 0;
}

static void ft_method_free(editor *e) {
    ft_method *f = e->priv;
    e->m->be->free(f->before);
    ft_free(f->s);
    free(f);
}

static int ft_method_save(const editor *e, void **buf, size_t *n, char *err, size_t errlen) {
    return ft_save(((const ft_method *)e->priv)->s, buf, n, err, errlen);
}

static int ft_method_load(editor *e, const void *buf, size_t n, char *err, size_t errlen) {
    return ft_load(((ft_method *)e->priv)->s, buf, n, err, errlen);
}

static int ft_norms(const editor *e, int i, layer_norms *out) {
    const linear *W;
    const float *W0;
    matrix_of(e, &W, &W0);
    editor_weight_norms(e->m->be, W->w, W0, (int64_t)W->out * W->in, e->inc_fro[0], out);
    return 0;
}

const edit_method_ops ft_ops = {.prepare = ft_prepare, .edit = ft_method_edit, .reset = ft_method_reset,
                                .free = ft_method_free, .save = ft_method_save, .load = ft_method_load,
                                .norms = ft_norms};
