/* The editing reference fixtures of tests/reference/make_edit_ref.py (tests/fixtures/edit/<arch>.safetensors
 * beside the tiny models tests/fixtures/<arch>): the model, its tensors, the reference's hyper-parameters,
 * the requests as edit prompts, its covariances, and the relative error of a Δ against a fixture tensor.
 * Shared by test_edit.c and test_alphaedit.c. */
#ifndef KEDIT_EDIT_FIXTURE_H
#define KEDIT_EDIT_FIXTURE_H

#include "backend.h"
#include "methods/editor.h"
#include "safetensors.h"
#include "test.h"
#include "transformer.h"

#include <stdint.h>

#define PARITY_TOL 1e-4

static const char *const ARCHS[] = {"gpt2", "llama"};

/* ---- fixture access ---- */

typedef struct fixture {
    st_set st;
    model m;
    char arch[16];
} fixture;

static inline int fixture_open(fixture *f, const char *arch) {
    char path[256], err[512];
    snprintf(f->arch, sizeof f->arch, "%s", arch);
    snprintf(path, sizeof path, "tests/fixtures/edit/%s.safetensors", arch);
    if (st_open_file(path, &f->st, err, sizeof err)) {
        fprintf(stderr, "    %s\n", err);
        return -1;
    }
    snprintf(path, sizeof path, "tests/fixtures/%s", arch);
    if (model_load(path, backend_cpu(), &f->m, err, sizeof err)) {
        fprintf(stderr, "    %s\n", err);
        st_close(&f->st);
        return -1;
    }
    return 0;
}

static inline void fixture_close(fixture *f) {
    model_free(&f->m);
    st_close(&f->st);
}

/* a float32 tensor (malloc'd) and its element count */
static inline float *get_f32(const fixture *f, const char *name, int64_t *n) {
    const st_tensor *t = st_find(&f->st, name);
    char err[256];
    if (!t) {
        fprintf(stderr, "    %s: no tensor %s in the fixture\n", f->arch, name);
        exit(1);
    }
    float *x = malloc((size_t)t->numel * sizeof(float));
    if (st_read_f32(t, x, err, sizeof err)) {
        fprintf(stderr, "    %s\n", err);
        exit(1);
    }
    if (n) *n = t->numel;
    return x;
}

static inline int *get_i32(const fixture *f, const char *name, int *n) {
    const st_tensor *t = st_find(&f->st, name);
    if (!t || strcmp(t->dtype_name, "I32")) {
        fprintf(stderr, "    %s: no int32 tensor %s in the fixture\n", f->arch, name);
        exit(1);
    }
    int *x = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof(int));
    memcpy(x, t->data, (size_t)t->numel * sizeof(int));
    *n = (int)t->numel;
    return x;
}

/* hyper-parameters of the reference edits: λ, steps, lr, wd, kl, clamp (MEMIT), clamp (ROME), layer 0,
 * layer 1 (L), ROME layer */
typedef struct ref_hp {
    double lambda;
    int steps, layers[2], rome_layer;
    float lr, wd, kl, clamp_memit, clamp_rome;
} ref_hp;

static inline ref_hp get_hp(const fixture *f) {
    float *h = get_f32(f, "hp", NULL);
    ref_hp r = {h[0], (int)h[1], {(int)h[7], (int)h[8]}, (int)h[9], h[2], h[3], h[4], h[5], h[6]};
    free(h);
    return r;
}

/* the edit prompts of request j with template set "mt" (MEMIT) or "rt" (ROME), as the reference builds
 * them: context prompt = template prefix + prompt, lookup = subject's last token. subject_final cuts the
 * prompt after the subject and the target to its first token. */
static inline void get_prompts_cut(const fixture *f, int j, const char *set, bool subject_final, edit_prompts *p) {
    char name[64];
    int np, ns, ny, nt, nl, ng, nk;
    snprintf(name, sizeof name, "req%d_prompt", j);
    int *prompt = get_i32(f, name, &np);
    snprintf(name, sizeof name, "req%d_subj", j);
    int *subj = get_i32(f, name, &ns);
    snprintf(name, sizeof name, "req%d_target", j);
    int *y = get_i32(f, name, &ny);
    snprintf(name, sizeof name, "%s_ids", set);
    int *tids = get_i32(f, name, &nt);
    snprintf(name, sizeof name, "%s_len", set);
    int *tlen = get_i32(f, name, &nl);
    snprintf(name, sizeof name, "%s_group", set);
    int *group = get_i32(f, name, &ng);
    int *tail = get_i32(f, "kl_tail", &nk);
    if (subject_final) np = subj[1], ny = 1;
    tok_seq *ctx = malloc((size_t)nl * sizeof *ctx);
    for (int i = 0, off = 0; i < nl; off += tlen[i++]) {
        ctx[i].len = tlen[i] + np;
        ctx[i].ids = malloc((size_t)ctx[i].len * sizeof(int));
        memcpy(ctx[i].ids, tids + off, (size_t)tlen[i] * sizeof(int));
        memcpy(ctx[i].ids + tlen[i], prompt, (size_t)np * sizeof(int));
        ctx[i].lookup = tlen[i] + subj[1] - 1;
    }
    int ns_len = subj[1] - subj[0];
    tok_seq kl = {malloc((size_t)(ns_len + nk) * sizeof(int)), ns_len + nk, ns_len - 1};
    memcpy(kl.ids, prompt + subj[0], (size_t)ns_len * sizeof(int));
    memcpy(kl.ids + ns_len, tail, (size_t)nk * sizeof(int));
    edit_prompts_from_ids(nl, ctx, group, &kl, y, ny, p);
    for (int i = 0; i < nl; i++) free(ctx[i].ids);
    free(ctx), free(kl.ids), free(prompt), free(subj), free(y), free(tids), free(tlen), free(group), free(tail);
}

static inline void get_prompts(const fixture *f, int j, const char *set, edit_prompts *p) {
    get_prompts_cut(f, j, set, false, p);
}

/* covariances of the reference (device float32) for the given layers */
static inline float *upload_cov(const fixture *f, int layer) {
    char name[32];
    snprintf(name, sizeof name, "C_l%d", layer);
    int64_t n;
    float *h = get_f32(f, name, &n);
    float *d = f->m.be->alloc((size_t)n * sizeof(float));
    f->m.be->to_device(d, h, (size_t)n * sizeof(float));
    free(h);
    return d;
}

static inline double rel_err_mixed(const double *a, const float *b, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num) / (den > 0 ? sqrt(den) : 1e-300);
}

/* ‖got − want‖/‖want‖ for a device float64 Δ against a fixture tensor */
static inline double delta_err(const fixture *f, const double *dev, const char *name) {
    int64_t n;
    float *want = get_f32(f, name, &n);
    double *got = malloc((size_t)n * sizeof(double));
    f->m.be->to_host(got, dev, (size_t)n * sizeof(double));
    double e = rel_err_mixed(got, want, n);
    free(want), free(got);
    return e;
}

static inline edit_hparams make_hp(edit_method method, const ref_hp *r, int n_layers, const int *layers) {
    edit_hparams h = {.method = method, .n_layers = n_layers, .lambda = r->lambda, .v_num_grad_steps = r->steps,
                      .v_lr = r->lr, .v_weight_decay = r->wd, .kl_factor = r->kl,
                      .clamp_norm_factor = method == METHOD_ROME ? r->clamp_rome : r->clamp_memit,
                      .d4s = {D4S_INCREMENTAL, 2, false}};
    for (int i = 0; i < n_layers; i++) h.layers[i] = layers[i];
    return h;
}

#endif
