/* The editing baselines FT-L, GRACE and PMET against the PyTorch references of
 * tests/fixtures/baselines (tests/reference/make_baselines_ref.py, written from the editing spec; the
 * fixture's README describes every case), on the tiny fixture models; plus behaviour (each method raises
 * its target's probability on its own prompt) and the saved states.
 *
 * Tolerances. The references run in float64, kedit in float32 (activations ~1e-7 relative per op, a few
 * ulp through three blocks: gradients agree to ~1e-6, tests/test_forward.c). Compared quantities:
 *   - FT-L: the update W − W₀ (and b − b₀), ‖·‖ relative ≤ 1e-4. A few Adam steps of size ~lr per entry;
 *     Adam's first steps are sign-like (g/|g|), so float32 gradient noise of ~1e-6 relative moves the
 *     update by ~1e-6 relative except for entries whose gradient is within noise of zero, which the
 *     reference's printed margins show are absent; 1e-4 leaves two orders of room.
 *   - GRACE: keys (activations) and ε ≤ 1e-5 relative; values after a few Adam steps ≤ 1e-4 relative (as
 *     FT); logits of the adapted model max-abs ≤ 1e-4 (as tests/test_forward.c); codebook decisions and
 *     greedy tokens exactly (the reference checks every decision's margin is ≥ 1e-3).
 *   - PMET: a₀, m₀ (activations) ≤ 1e-5 relative; δ_attn, δ_mlp after 8–20 Adam steps ≤ 1e-4 relative
 *     (as FT); Δ per layer and the accumulated W − W₀ ≤ 1e-4 relative (a float64 solve of a
 *     well-conditioned system from those inputs); pass counts and the pass of the nll_factor drop
 *     exactly (the reference checks each decision is ≥ 1e-3 from flipping). */
#include "backend.h"
#include "methods/editor.h"
#include "methods/ft.h"
#include "methods/grace.h"
#include "methods/pmet.h"
#include "model.h"
#include "safetensors.h"
#include "test.h"
#include "test_files.h"
#include "transformer.h"

#include <cjson/cJSON.h>

#define FIXTURE_DIR "tests/fixtures/baselines"

typedef struct ref {
    st_set st;
    cJSON *cases;
} ref;

static int ref_open(ref *r) {
    char err[512];
    memset(r, 0, sizeof *r);
    if (st_open_file(FIXTURE_DIR "/reference.safetensors", &r->st, err, sizeof err)) {
        CHECK(0, "%s", err);
        return -1;
    }
    r->cases = read_json(FIXTURE_DIR "/cases.json");
    CHECK(r->cases != NULL, "cases.json does not parse");
    return r->cases ? 0 : -1;
}

static void ref_close(ref *r) {
    st_close(&r->st);
    cJSON_Delete(r->cases);
}

/* a reference tensor as malloc'd floats (F32) or NULL with a failed check; *n its element count */
static float *ref_f32(const ref *r, const char *name, int64_t *n) {
    const st_tensor *t = st_find(&r->st, name);
    CHECK(t != NULL, "reference tensor %s missing", name);
    if (!t) return NULL;
    float *x = malloc((size_t)t->numel * sizeof(float));
    char err[256];
    CHECK(st_read_f32(t, x, err, sizeof err) == 0, "%s", err);
    if (n) *n = t->numel;
    return x;
}

/* an F64 reference tensor (read as stored) */
static double *ref_f64(const ref *r, const char *name, int64_t *n) {
    const st_tensor *t = st_find(&r->st, name);
    CHECK(t && !strcmp(t->dtype_name, "F64"), "reference tensor %s missing or not F64", name);
    if (!t || strcmp(t->dtype_name, "F64")) return NULL;
    double *x = malloc(t->nbytes);
    memcpy(x, t->data, t->nbytes);
    if (n) *n = t->numel;
    return x;
}

static const cJSON *item(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static double num(const cJSON *o, const char *k) { return cJSON_GetNumberValue(item(o, k)); }

/* a JSON array of ints as a malloc'd array */
static int *int_array(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    int *x = malloc((size_t)(*n > 0 ? *n : 1) * sizeof(int));
    for (int i = 0; i < *n; i++) x[i] = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(a, i));
    return x;
}

/* the fixture model of arch with its linears held as wt */
static int load_model_as(const char *arch, kweight_type wt, model *m) {
    char dir[128], err[1024];
    snprintf(dir, sizeof dir, "tests/fixtures/%s", arch);
    if (model_load_as(dir, backend_cpu(), wt, m, err, sizeof err)) {
        CHECK(0, "loading %s: %s", dir, err);
        return -1;
    }
    return 0;
}

static int load_model(const char *arch, model *m) { return load_model_as(arch, KT_F32, m); }

static float *device_to_host(const backend *be, const float *d, size_t n) {
    float *h = malloc(n * sizeof(float));
    be->to_host(h, d, n * sizeof(float));
    return h;
}

/* ‖(a − a0) − (b − b0)‖ / ‖b − b0‖: the error of an update */
static double update_err(const float *a, const float *a0, const float *b, const float *b0, long n) {
    double num2 = 0, den = 0;
    for (long i = 0; i < n; i++) {
        double ub = (double)b[i] - b0[i], ua = (double)a[i] - a0[i];
        num2 += (ua - ub) * (ua - ub);
        den += ub * ub;
    }
    return sqrt(num2) / (den > 0 ? sqrt(den) : 1e-300);
}

/* mean NLL of target after prompt under teacher forcing, with optional hooks (GRACE) */
static double target_nll(const model *m, const int *prompt, int np, const int *target, int nt, const khook *hooks,
                         int n_hooks) {
    int len = np + nt;
    int *x = malloc((size_t)len * sizeof(int));
    memcpy(x, prompt, (size_t)np * sizeof(int));
    memcpy(x + np, target, (size_t)nt * sizeof(int));
    const int *ids = x;
    kbatch b = {1, &len, &ids};
    kpos *at = malloc((size_t)nt * sizeof(kpos));
    float *w = malloc((size_t)nt * sizeof(float));
    for (int t = 0; t < nt; t++) {
        at[t] = (kpos){0, np - 1 + t};
        w[t] = 1.0f / (float)nt;
    }
    fwd_opts o = {.hooks = hooks, .n_hooks = n_hooks, .n_logit = nt, .logit_at = at, .bwd_from_layer = -1,
                  .stop_layer = -1};
    fwd_state *s = transformer_forward(m, &b, &o);
    double nll = s ? transformer_loss(m, s, target, w, NULL, NULL) : NAN;
    fwd_state_free(s);
    free(x);
    free(at);
    free(w);
    return nll;
}

/* ---------------------------------------------------------------- FT-L */

static void ft_case(const char *name) {
    ref r;
    if (ref_open(&r)) return;
    const cJSON *c = item(r.cases, name);
    CHECK(c != NULL, "case %s missing from cases.json", name);
    model m;
    if (!c || load_model(cJSON_GetStringValue(item(c, "arch")), &m)) {
        ref_close(&r);
        return;
    }
    ft_hparams h = {.layer = (int)num(c, "layer"), .which = (int)num(c, "which"), .num_steps = (int)num(c, "num_steps"),
                    .lr = (float)num(c, "lr"), .norm_constraint = (float)num(c, "norm_constraint"),
                    .stop_loss = (float)num(c, "stop_loss")};
    char err[512], tname[96];
    ft_state *s = ft_create(&m, &h, err, sizeof err);
    CHECK(s != NULL, "%s", err);
    const linear *W;
    const float *W0d, *b0d;
    ft_weights(s, &W, &W0d, &b0d);
    size_t nw = (size_t)W->out * W->in;
    float *W0 = device_to_host(m.be, W0d, nw), *b0 = b0d ? device_to_host(m.be, b0d, (size_t)W->out) : NULL;
    snprintf(tname, sizeof tname, "%s_W0", name);
    float *W0ref = ref_f32(&r, tname, NULL);
    CHECK(W0ref && max_abs_diff(W0, W0ref, (long)nw) == 0, "%s: W₀ differs from the reference's", name);
    float *Wprev = device_to_host(m.be, W->w, nw); // the weights at the start of each edit (box centre)
    const cJSON *edits = item(c, "edits");
    for (int k = 0; k < cJSON_GetArraySize(edits); k++) {
        const cJSON *e = cJSON_GetArrayItem(edits, k), *reqs = item(e, "requests");
        int n = cJSON_GetArraySize(reqs);
        ft_request *rq = calloc((size_t)n, sizeof *rq);
        for (int i = 0; i < n; i++) {
            const cJSON *q = cJSON_GetArrayItem(reqs, i);
            rq[i].prompt = int_array(item(q, "prompt"), &rq[i].n_prompt);
            rq[i].target = int_array(item(q, "target"), &rq[i].n_target);
        }
        ft_result res;
        CHECK(ft_edit(s, rq, n, &res, err, sizeof err) == 0, "%s", err);
        CHECK(res.epochs == (int)num(e, "epochs") && res.steps == (int)num(e, "steps"),
              "%s edit %d: %d epochs, %d steps; reference %d, %d", name, k, res.epochs, res.steps,
              (int)num(e, "epochs"), (int)num(e, "steps"));
        float *Wk = device_to_host(m.be, W->w, nw);
        snprintf(tname, sizeof tname, "%s_W_%d", name, k);
        float *Wref = ref_f32(&r, tname, NULL);
        if (Wref) {
            double er = update_err(Wk, W0, Wref, W0ref, (long)nw);
            printf("    %s edit %d: update of W relative error %.2e\n", name, k, er);
            CHECK(er <= 1e-4, "%s edit %d: W − W₀ relative error %.3g > 1e-4", name, k, er);
        }
        if (h.norm_constraint > 0) { // the box binds: the largest move is ε (to float32 rounding of W)
            double mv = max_abs_diff(Wk, Wprev, (long)nw);
            CHECK(fabs(mv - h.norm_constraint) <= 1e-6, "%s edit %d: largest move %.8g, box ε %g", name, k, mv,
                  h.norm_constraint);
        }
        memcpy(Wprev, Wk, nw * sizeof(float));
        if (W->b) {
            float *bk = device_to_host(m.be, W->b, (size_t)W->out);
            snprintf(tname, sizeof tname, "%s_b_%d", name, k);
            float *bref = ref_f32(&r, tname, NULL);
            if (bref) {
                double er = update_err(bk, b0, bref, b0, W->out);
                CHECK(er <= 1e-4, "%s edit %d: b − b₀ relative error %.3g > 1e-4", name, k, er);
            }
            free(bk);
            free(bref);
        }
        free(Wk);
        free(Wref);
        for (int i = 0; i < n; i++) {
            free((void *)rq[i].prompt);
            free((void *)rq[i].target);
        }
        free(rq);
    }
    free(W0);
    free(b0);
    free(W0ref);
    free(Wprev);
    ft_free(s);
    model_free(&m);
    ref_close(&r);
}

static void test_ft_gpt2_wout_box(void) { ft_case("ft_gpt2_out"); }
static void test_ft_gpt2_win(void) { ft_case("ft_gpt2_in"); }
static void test_ft_llama_early_stop(void) { ft_case("ft_llama_out"); }

/* a configs/ file as parsed JSON (NULL with a failed check) */
static cJSON *config_json(const char *path) {
    cJSON *j = read_json(path);
    CHECK(j != NULL, "%s cannot be read or does not parse", path);
    return j;
}

/* FT-L with the tiny models' configurations raises p(y | x) of a one-token target (the box of the GPT-2
 * file, ±5e-4 around W, allows less); saving, resetting and loading the state restores the edited weights
 * exactly; a foreign state and bad requests are refused. With bf16 linears, the trained matrix is
 * widened to float32 and the same holds. */
static void ft_behaviour(const char *arch, kweight_type wt, const char *config, double min_gain) {
    model m;
    if (load_model_as(arch, wt, &m)) return;
    char err[512];
    cJSON *j = config_json(config);
    ft_hparams h;
    CHECK(j && ft_hparams_parse(j, config, &h, err, sizeof err) == 0, "%s", err);
    cJSON_Delete(j);
    ft_state *s = ft_create(&m, &h, err, sizeof err);
    CHECK(s != NULL, "%s", err);
    if (!s) {
        model_free(&m);
        return;
    }
    int prompt[] = {1, 42, 5, 88, 23}, target[] = {61};
    double before = target_nll(&m, prompt, 5, target, 1, NULL, 0);
    ft_request rq = {prompt, 5, target, 1};
    ft_result res;
    CHECK(ft_edit(s, &rq, 1, &res, err, sizeof err) == 0, "%s", err);
    double after = target_nll(&m, prompt, 5, target, 1, NULL, 0);
    printf("    FT-L %s: p(target) %.4f → %.4f (%d steps)\n", config, exp(-before), exp(-after), res.steps);
    CHECK(after < before - min_gain, "FT-L did not raise the target probability enough: NLL %.4f → %.4f", before,
          after);

    const linear *W;
    const float *W0, *b0;
    ft_weights(s, &W, &W0, &b0);
    CHECK(W->w && !W->w_bf16, "the trained matrix is not float32");
    size_t nw = (size_t)W->out * W->in;
    float *edited = device_to_host(m.be, W->w, nw);
    void *buf;
    size_t len;
    CHECK(ft_save(s, &buf, &len, err, sizeof err) == 0, "%s", err);
    ft_reset(s);
    float *reset = device_to_host(m.be, W->w, nw), *w0 = device_to_host(m.be, W0, nw);
    CHECK(max_abs_diff(reset, w0, (long)nw) == 0, "ft_reset did not restore W₀");
    CHECK(ft_load(s, buf, len, err, sizeof err) == 0, "%s", err);
    float *loaded = device_to_host(m.be, W->w, nw);
    CHECK(max_abs_diff(loaded, edited, (long)nw) == 0, "ft_load did not restore the edited weights");
    CHECK(ft_load(s, buf, 5, err, sizeof err) != 0, "a truncated state was accepted");
    ((char *)buf)[0] = 'X';
    CHECK(ft_load(s, buf, len, err, sizeof err) != 0 && strstr(err, "FT state"), "a bad magic was accepted");
    ft_hparams bad = h;
    bad.layer = 7;
    CHECK(ft_create(&m, &bad, err, sizeof err) == NULL && strstr(err, "layer 7"), "layer 7 of 3 accepted");
    ft_request empty = {prompt, 0, target, 1}, foreign = {prompt, 5, (int[]){500}, 1};
    CHECK(ft_edit(s, &empty, 1, &res, err, sizeof err) != 0, "an empty prompt was accepted");
    CHECK(ft_edit(s, &foreign, 1, &res, err, sizeof err) != 0 && strstr(err, "vocabulary"),
          "a target outside the vocabulary was accepted");
    free(buf);
    free(edited);
    free(reset);
    free(w0);
    free(loaded);
    ft_free(s);
    model_free(&m);
}

static void test_ft_behaviour_llama(void) { ft_behaviour("llama", KT_F32, "configs/ft_tiny-llama.json", 0.5); }
static void test_ft_behaviour_llama_bf16(void) { ft_behaviour("llama", KT_BF16, "configs/ft_tiny-llama.json", 0.5); }
static void test_ft_behaviour_gpt2_box(void) { ft_behaviour("gpt2", KT_F32, "configs/ft_tiny-gpt2.json", 0.0); }

/* every FT and GRACE file of configs/ parses; the parsers name the file and field of a bad value */
static void test_baseline_configs(void) {
    const char *models[] = {"gpt2-xl", "gpt-j-6B", "llama-2-7b", "tiny-gpt2", "tiny-llama"};
    char path[128], err[512];
    for (int i = 0; i < 5; i++) {
        ft_hparams fh;
        grace_hparams gh;
        snprintf(path, sizeof path, "configs/ft_%s.json", models[i]);
        cJSON *j = config_json(path);
        CHECK(j && ft_hparams_parse(j, path, &fh, err, sizeof err) == 0, "%s", err);
        cJSON_Delete(j);
        snprintf(path, sizeof path, "configs/grace_%s.json", models[i]);
        j = config_json(path);
        CHECK(j && grace_hparams_parse(j, path, &gh, err, sizeof err) == 0, "%s", err);
        cJSON_Delete(j);
    }
    static const struct { const char *json, *field; } bad[] = {
        {"{\"layers\": [0], \"rewrite_module_tmp\": \"transformer.h.{}.attn.c_proj\", \"num_steps\": 5, \"lr\": 1e-3}",
         "rewrite_module_tmp"},
        {"{\"layers\": [0, 1], \"rewrite_module_tmp\": \"transformer.h.{}.mlp.c_proj\", \"num_steps\": 5, \"lr\": 1e-3}",
         "layers"},
        {"{\"layers\": [0], \"rewrite_module_tmp\": \"transformer.h.{}.mlp.c_proj\", \"num_steps\": 5, \"lr\": -1}", "lr"},
        {"{\"layers\": [0], \"rewrite_module_tmp\": \"transformer.h.{}.mlp.c_proj\", \"num_steps\": 5, \"lr\": 1e-3, "
         "\"objective_optimization\": \"target_new\"}", "objective_optimization"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *j = cJSON_Parse(bad[i].json);
        ft_hparams fh;
        err[0] = 0;
        CHECK(ft_hparams_parse(j, "x.json", &fh, err, sizeof err) != 0 && strstr(err, "x.json") &&
                  strstr(err, bad[i].field), "bad FT file %zu: \"%s\"", i, err);
        cJSON_Delete(j);
    }
    cJSON *j = cJSON_Parse("{\"layers\": [3], \"inner_params\": \"model.layers[27].mlp.down_proj.weight\", "
                           "\"edit_lr\": 1, \"n_iter\": 5, \"eps\": 1}");
    grace_hparams gh;
    CHECK(grace_hparams_parse(j, "g.json", &gh, err, sizeof err) != 0 && strstr(err, "inner_params"),
          "a GRACE file whose module and layers disagree was accepted: \"%s\"", err);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"layers\": [3], \"inner_params\": \"model.layers[3].mlp.down_proj.weight\", \"edit_lr\": 1, "
                    "\"n_iter\": 5, \"eps\": 1, \"dist_fn\": \"cos\"}");
    CHECK(grace_hparams_parse(j, "g.json", &gh, err, sizeof err) != 0 && strstr(err, "dist_fn"),
          "an unimplemented GRACE distance was accepted: \"%s\"", err);
    cJSON_Delete(j);
}

/* ---------------------------------------------------------------- GRACE */

static const char *const grace_actions[] = {"added", "split", "expanded", "matched"};

/* the logits of one sequence with the adapter queried at its scored positions */
static float *grace_logits(const grace_state *g, const model *m, const int *x, int len, int np) {
    const int *ids = x;
    kbatch b = {1, &len, &ids};
    int n;
    kpos *at = grace_scored_positions(&b, &np, &n);
    grace_hook h;
    char err[256];
    CHECK(grace_eval_hooks(g, &b, at, n, &h, err, sizeof err) == 0, "%s", err);
    float *logits = malloc((size_t)len * m->cfg.vocab * sizeof(float));
    fwd_opts o = {.hooks = &h.hook, .n_hooks = 1, .n_logit = -1, .logits_host = logits, .bwd_from_layer = -1,
                  .stop_layer = -1};
    fwd_state_free(transformer_forward(m, &b, &o));
    grace_hook_free(&h);
    free(at);
    return logits;
}

static void grace_case(const char *name) {
    ref r;
    if (ref_open(&r)) return;
    const cJSON *c = item(r.cases, name);
    CHECK(c != NULL, "case %s missing from cases.json", name);
    model m;
    if (!c || load_model(cJSON_GetStringValue(item(c, "arch")), &m)) {
        ref_close(&r);
        return;
    }
    grace_hparams h = {.layer = (int)num(c, "layer"), .which = (int)num(c, "which"), .n_iter = (int)num(c, "n_iter"),
                       .edit_lr = (float)num(c, "edit_lr"), .eps = num(c, "eps"), .seed = 1};
    char err[512], tname[96];
    grace_state *g = grace_create(&m, &h, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    int dk, dv;
    grace_dims(g, &dk, &dv);
    snprintf(tname, sizeof tname, "%s_cold", name);
    int64_t ncold;
    float *cold = ref_f32(&r, tname, &ncold);
    CHECK(cold && ncold == 3 * (int64_t)dv, "%s: cold values have %ld entries, expected 3 × %d", name, (long)ncold, dv);
    const cJSON *edits = item(c, "edits");
    for (int k = 0; cold && k < cJSON_GetArraySize(edits); k++) {
        const cJSON *e = cJSON_GetArrayItem(edits, k);
        int np, nt;
        int *p = int_array(item(e, "prompt"), &np), *y = int_array(item(e, "target"), &nt);
        grace_result res;
        CHECK(grace_edit(g, p, np, y, nt, cold + (size_t)k * dv, &res, err, sizeof err) == 0, "%s", err);
        const char *want = cJSON_GetStringValue(item(e, "action"));
        CHECK(!strcmp(grace_actions[res.action], want) && res.nearest == (int)num(e, "nearest") &&
                  res.trained == (int)num(e, "trained"),
              "%s edit %d: %s (nearest %d, trained %d); reference %s (%d, %d)", name, k, grace_actions[res.action],
              res.nearest, res.trained, want, (int)num(e, "nearest"), (int)num(e, "trained"));
        free(p);
        free(y);
    }
    int n = grace_size(g);
    int64_t nk = 0, nv = 0, ne = 0;
    snprintf(tname, sizeof tname, "%s_keys", name);
    float *keys = ref_f32(&r, tname, &nk);
    snprintf(tname, sizeof tname, "%s_values", name);
    float *values = ref_f32(&r, tname, &nv);
    snprintf(tname, sizeof tname, "%s_eps", name);
    double *eps = ref_f64(&r, tname, &ne);
    CHECK(keys && values && eps && nk == (int64_t)n * dk && nv == (int64_t)n * dv && ne == n,
          "%s: codebook of %d keys, reference %ld", name, n, (long)ne);
    if (keys && values && eps && nk == (int64_t)n * dk && nv == (int64_t)n * dv && ne == n) { // lengths first
        double ek = rel_err(grace_keys(g), keys, nk), ev = rel_err(grace_values(g), values, nv), ee = 0;
        for (int i = 0; i < n; i++) ee = fmax(ee, fabs(grace_eps(g)[i] - eps[i]) / eps[i]);
        printf("    %s: %d keys; keys %.2e, values %.2e, ε %.2e relative error\n", name, n, ek, ev, ee);
        CHECK(ek <= 1e-5, "%s: keys relative error %.3g > 1e-5", name, ek);
        CHECK(ev <= 1e-4, "%s: values relative error %.3g > 1e-4", name, ev);
        CHECK(ee <= 1e-5, "%s: ε relative error %.3g > 1e-5", name, ee);
    }
    const cJSON *evals = item(c, "eval");
    for (int k = 0; k < cJSON_GetArraySize(evals); k++) {
        const cJSON *e = cJSON_GetArrayItem(evals, k);
        int np, nt, ng;
        int *p = int_array(item(e, "prompt"), &np), *y = int_array(item(e, "target"), &nt);
        int *gen_ref = int_array(item(e, "generated"), &ng);
        int len = np + nt, *x = malloc((size_t)len * sizeof(int));
        memcpy(x, p, (size_t)np * sizeof(int));
        memcpy(x + np, y, (size_t)nt * sizeof(int));
        float *logits = grace_logits(g, &m, x, len, np);
        snprintf(tname, sizeof tname, "%s_eval_logits_%d", name, k);
        int64_t nl;
        float *lref = ref_f32(&r, tname, &nl);
        CHECK(lref && nl == (int64_t)len * m.cfg.vocab, "%s eval %d: reference logits of %ld values, want %ld", name, k,
              (long)nl, (long)len * m.cfg.vocab);
        if (lref && nl == (int64_t)len * m.cfg.vocab) {
            double er = max_abs_diff(logits, lref, nl);
            CHECK(er <= 1e-4, "%s eval %d: logits max-abs error %.3g > 1e-4", name, k, er);
        }
        int *gen = malloc((size_t)ng * sizeof(int));
        CHECK(grace_generate(g, p, np, ng, gen, err, sizeof err) == 0, "%s", err);
        CHECK(!memcmp(gen, gen_ref, (size_t)ng * sizeof(int)), "%s eval %d: greedy tokens differ", name, k);
        free(gen);
        free(lref);
        free(logits);
        free(x);
        free(p);
        free(y);
        free(gen_ref);
    }
    free(keys);
    free(values);
    free(eps);
    free(cold);
    grace_free(g);
    model_free(&m);
    ref_close(&r);
}

static void test_grace_gpt2_win(void) { grace_case("grace_gpt2_in"); }
static void test_grace_llama_wout(void) { grace_case("grace_llama_out"); }

/* GRACE with the tiny Llama's configuration (EE's lr 1, ε₀ 1) raises the target probability on its
 * prompt, leaves an unrelated prompt untouched, keeps its codebook across edits, and saves/loads it */
static void test_grace_behaviour_and_state(void) {
    model m;
    if (load_model("llama", &m)) return;
    char err[512];
    cJSON *j = config_json("configs/grace_tiny-llama.json");
    grace_hparams h;
    CHECK(j && grace_hparams_parse(j, "configs/grace_tiny-llama.json", &h, err, sizeof err) == 0, "%s", err);
    cJSON_Delete(j);
    grace_state *g = grace_create(&m, &h, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    int p1[] = {1, 40, 12, 77, 9, 31}, y1[] = {55, 18}, p2[] = {1, 93, 4, 60, 27}, y2[] = {70};
    double before = target_nll(&m, p1, 6, y1, 2, NULL, 0), other_before = target_nll(&m, p2, 5, y2, 1, NULL, 0);
    grace_result res;
    CHECK(grace_edit(g, p1, 6, y1, 2, NULL, &res, err, sizeof err) == 0, "%s", err);
    CHECK(res.action == GRACE_ADDED && grace_size(g) == 1, "first edit: action %d, %d keys", res.action, grace_size(g));
    int x1[8], x2[6];
    memcpy(x1, p1, sizeof p1);
    memcpy(x1 + 6, y1, sizeof y1);
    memcpy(x2, p2, sizeof p2);
    memcpy(x2 + 5, y2, sizeof y2);
    int len1 = 8, len2 = 6, np1 = 6, np2 = 5;
    const int *ids1 = x1, *ids2 = x2;
    kbatch b1 = {1, &len1, &ids1}, b2 = {1, &len2, &ids2};
    int n1, n2;
    kpos *at1 = grace_scored_positions(&b1, &np1, &n1), *at2 = grace_scored_positions(&b2, &np2, &n2);
    grace_hook h1, h2;
    CHECK(grace_eval_hooks(g, &b1, at1, n1, &h1, err, sizeof err) == 0, "%s", err);
    CHECK(grace_eval_hooks(g, &b2, at2, n2, &h2, err, sizeof err) == 0, "%s", err);
    CHECK(h1.hook.n >= 1 && h1.hook.at[0].pos == 5, "the edit prompt's last token did not match its key");
    CHECK(h2.hook.n == 0, "an unrelated prompt matched the codebook");
    double after = target_nll(&m, p1, 6, y1, 2, &h1.hook, 1), other_after = target_nll(&m, p2, 5, y2, 1, &h2.hook, 1);
    printf("    GRACE: p(target) %.4f → %.4f; unrelated prompt NLL %.6f → %.6f\n", exp(-before), exp(-after),
           other_before, other_after);
    CHECK(after < before - 1.0, "GRACE did not raise the target probability: NLL %.4f → %.4f", before, after);
    CHECK(other_after == other_before, "an unrelated prompt changed");
    grace_hook_free(&h1);
    grace_hook_free(&h2);
    CHECK(grace_edit(g, p2, 5, y2, 1, NULL, &res, err, sizeof err) == 0, "%s", err);
    CHECK(grace_size(g) == 2, "the codebook did not persist: %d keys", grace_size(g));
    CHECK(grace_values_norm(g) > 0, "values norm %g", grace_values_norm(g));

    void *buf;
    size_t len;
    CHECK(grace_save(g, &buf, &len, err, sizeof err) == 0, "%s", err);
    grace_state *g2 = grace_create(&m, &h, err, sizeof err);
    CHECK(grace_load(g2, buf, len, err, sizeof err) == 0, "%s", err);
    int dk, dv;
    grace_dims(g, &dk, &dv);
    CHECK(grace_size(g2) == 2 && !memcmp(grace_keys(g2), grace_keys(g), 2 * (size_t)dk * sizeof(float)) &&
              !memcmp(grace_values(g2), grace_values(g), 2 * (size_t)dv * sizeof(float)) &&
              !memcmp(grace_eps(g2), grace_eps(g), 2 * sizeof(double)),
          "the loaded codebook differs");
    CHECK(grace_load(g2, buf, len - 1, err, sizeof err) != 0 && grace_size(g2) == 0, "a truncated codebook was accepted");
    grace_hparams other = h;
    other.which = 1;
    grace_state *g3 = grace_create(&m, &other, err, sizeof err);
    CHECK(grace_load(g3, buf, len, err, sizeof err) != 0 && strstr(err, "GRACE state"), "a W_out codebook loaded on W_in");
    grace_free(g3);
    grace_free(g2);
    free(buf);
    free(at1);
    free(at2);
    grace_reset(g);
    CHECK(grace_size(g) == 0, "grace_reset left %d keys", grace_size(g));
    grace_free(g);
    model_free(&m);
}

/* ---------------------------------------------------------------- PMET */

static tok_seq json_seq(const cJSON *o) {
    tok_seq t;
    t.ids = int_array(item(o, "ids"), &t.len);
    t.lookup = (int)num(o, "lookup");
    return t;
}

/* the request of one edit as edit_prompts (fixed templates given as ids) */
static void json_prompts(const cJSON *e, edit_prompts *p) {
    const cJSON *ctx = item(e, "ctx");
    int n = cJSON_GetArraySize(ctx), ng, ny;
    tok_seq *c = malloc((size_t)n * sizeof *c);
    for (int i = 0; i < n; i++) c[i] = json_seq(cJSON_GetArrayItem(ctx, i));
    int *groups = int_array(item(e, "groups"), &ng), *y = int_array(item(e, "target"), &ny);
    tok_seq kl = json_seq(item(e, "kl"));
    edit_prompts_from_ids(n, c, groups, &kl, y, ny, p);
    for (int i = 0; i < n; i++) free(c[i].ids);
    free(c), free(groups), free(y), free(kl.ids);
}

/* the relative error of x against the reference tensor, checked ≤ tol; *worst keeps the largest */
static void check_vec(const ref *r, const char *name, const float *x, int64_t n, double tol, double *worst) {
    int64_t rn;
    float *v = ref_f32(r, name, &rn);
    if (!v) return;
    double e = rel_err(x, v, n);
    CHECK(rn == n && e <= tol, "%s: relative error %.3g > %.0e", name, e, tol);
    if (e > *worst) *worst = e;
    free(v);
}

/* the test's apply step of pmet_edit: Δ_i against the reference, then W_out of layer i += f32(Δ_i) */
typedef struct pmet_apply_ctx {
    model *m;
    const ref *r;
    const char *name;
    int k;
    const int *layers;
    double *const *delta;
    double worst; /* largest relative error of a Δ */
} pmet_apply_ctx;

static void pmet_apply(void *ctx, int i) {
    pmet_apply_ctx *a = ctx;
    const backend *be = a->m->be;
    size_t nw = (size_t)a->m->cfg.d * a->m->cfg.d_ff;
    float *d32 = be->alloc(nw * sizeof(float)), *dh = malloc(nw * sizeof(float)); // (d, d_ff) f32(Δ_i)
    be->f64_to_f32(a->delta[i], d32, (int64_t)nw);
    be->to_host(dh, d32, nw * sizeof(float));
    char tname[96];
    snprintf(tname, sizeof tname, "%s_delta_%d_%d", a->name, a->k, i);
    check_vec(a->r, tname, dh, (int64_t)nw, 1e-4, &a->worst);
    be->axpy((int64_t)nw, 1.0f, d32, a->m->layers[a->layers[i]].mlp_out.w); // W_l ← W_l + Δ_l
    be->free(d32);
    free(dh);
}

static void pmet_case(const char *name) {
    ref r;
    if (ref_open(&r)) return;
    const cJSON *c = item(r.cases, name);
    CHECK(c != NULL, "case %s missing from cases.json", name);
    model m;
    if (!c || load_model(cJSON_GetStringValue(item(c, "arch")), &m)) {
        ref_close(&r);
        return;
    }
    const backend *be = m.be;
    int E, d = m.cfg.d, f = m.cfg.d_ff;
    int *layers = int_array(item(c, "layers"), &E), L = layers[E - 1];
    pmet_z_opts zo = {.layer = L, .steps = (int)num(c, "steps"), .lr = (float)num(c, "lr"),
                      .weight_decay = (float)num(c, "weight_decay"), .kl_factor = (float)num(c, "kl_factor"),
                      .clamp_norm_factor = (float)num(c, "clamp_norm_factor"),
                      .nll_factor = (float)num(c, "nll_factor"), .stop_loss = (float)num(c, "stop_loss")};
    double lambda = num(c, "mom2_update_weight");
    char tname[96], err[512];
    size_t nw = (size_t)d * f;
    float **C = calloc((size_t)E, sizeof *C), **W0 = calloc((size_t)E, sizeof *W0);
    double **delta = calloc((size_t)E, sizeof *delta);
    for (int i = 0; i < E; i++) {
        snprintf(tname, sizeof tname, "%s_C_%d", name, i);
        float *Ch = ref_f32(&r, tname, NULL);
        C[i] = be->alloc((size_t)f * f * sizeof(float)); // (d_ff, d_ff)
        if (Ch) be->to_device(C[i], Ch, (size_t)f * f * sizeof(float));
        free(Ch);
        delta[i] = be->alloc(nw * sizeof(double)); // (d, d_ff) Δ_i
        W0[i] = device_to_host(be, m.layers[layers[i]].mlp_out.w, nw);
    }
    float *a0 = malloc((size_t)d * sizeof(float)), *m0 = malloc((size_t)d * sizeof(float));
    float *da = malloc((size_t)d * sizeof(float)), *dm = malloc((size_t)d * sizeof(float));
    double worst[4] = {0}; // largest relative errors: a₀/m₀, δs, Δ, W − W₀
    const cJSON *edits = item(c, "edits");
    for (int k = 0; k < cJSON_GetArraySize(edits); k++) {
        const cJSON *e = cJSON_GetArrayItem(edits, k);
        edit_prompts p;
        json_prompts(e, &p);
        double before = target_nll(&m, p.ctx[0].ids, p.ctx[0].len, p.y, p.ny, NULL, 0);
        pmet_z_result zr;
        CHECK(pmet_compute_zs(&m, &p, &zo, a0, m0, da, dm, &zr) == 0, "%s edit %d: compute_zs failed", name, k);
        CHECK(zr.passes == (int)num(e, "passes") && zr.nll_drop_pass == (int)num(e, "nll_drop_pass"),
              "%s edit %d: %d passes, nll drop at %d; reference %d, %d", name, k, zr.passes, zr.nll_drop_pass,
              (int)num(e, "passes"), (int)num(e, "nll_drop_pass"));
        const char *vn[] = {"a0", "m0", "delta_attn", "delta_mlp"};
        const float *vv[] = {a0, m0, da, dm};
        for (int j = 0; j < 4; j++) {
            snprintf(tname, sizeof tname, "%s_%s_%d", name, vn[j], k);
            check_vec(&r, tname, vv[j], d, j < 2 ? 1e-5 : 1e-4, &worst[j / 2]);
        }
        pmet_apply_ctx ac = {&m, &r, name, k, layers, delta, 0};
        pmet_z_result zr2;
        CHECK(pmet_edit(&m, &p, 1, &zo, E, layers, C, lambda, delta, NULL, pmet_apply, &ac, NULL, &zr2, err, sizeof err) == 0,
              "%s", err);
        CHECK(zr2.passes == zr.passes && zr2.prob_final == zr.prob_final, "pmet_edit's target vectors differ");
        worst[2] = fmax(worst[2], ac.worst);
        double after = target_nll(&m, p.ctx[0].ids, p.ctx[0].len, p.y, p.ny, NULL, 0);
        printf("    %s edit %d: %d passes, p (compute_zs) %.4f → %.4f; p(target | bare prompt) %.4f → %.4f\n", name,
               k, zr.passes, zr.prob_init, zr.prob_final, exp(-before), exp(-after));
        CHECK(after < before, "%s edit %d: the target's NLL rose %.4f → %.4f", name, k, before, after);
        edit_prompts_free(&p);
    }
    for (int i = 0; i < E; i++) { // the accumulated update
        float *W = device_to_host(be, m.layers[layers[i]].mlp_out.w, nw);
        for (size_t j = 0; j < nw; j++) W[j] -= W0[i][j];
        snprintf(tname, sizeof tname, "%s_W_%d", name, i);
        check_vec(&r, tname, W, (int64_t)nw, 1e-4, &worst[3]);
        free(W);
        free(W0[i]);
        be->free(C[i]);
        be->free(delta[i]);
    }
    printf("    %s: largest relative errors: a₀, m₀ %.2e; δ_attn, δ_mlp %.2e; Δ %.2e; W − W₀ %.2e\n", name, worst[0],
           worst[1], worst[2], worst[3]);
    free(C), free(W0), free(delta), free(layers), free(a0), free(m0), free(da), free(dm);
    model_free(&m);
    ref_close(&r);
}

static void test_pmet_gpt2(void) { pmet_case("pmet_gpt2"); }
static void test_pmet_llama_nll_drop(void) { pmet_case("pmet_llama"); }

/* the editor's form of an edit (from edit_prompts: bare prompt and target) gives exactly the direct call's
 * result, with its losses and probabilities in the outcome */
static void test_editor_forms(void) {
    model m1, m2;
    if (load_model("llama", &m1) || load_model("llama", &m2)) return;
    int prompt[] = {1, 40, 12, 77, 9, 31}, target[] = {55, 18};
    tok_seq bare = {prompt, 6, 4}, kl = {prompt, 5, 4};
    int group = 0;
    edit_prompts p;
    edit_prompts_from_ids(1, &bare, &group, &kl, target, 2, &p);
    char err[512];
    ft_hparams fh = {.layer = 2, .which = 0, .num_steps = 5, .lr = 5e-3f, .stop_loss = 1e-2f};
    ft_state *f1 = ft_create(&m1, &fh, err, sizeof err), *f2 = ft_create(&m2, &fh, err, sizeof err);
    ft_request rq = {prompt, 6, target, 2};
    ft_result res;
    edit_outcome out;
    CHECK(ft_edit(f1, &rq, 1, &res, err, sizeof err) == 0, "%s", err);
    CHECK(ft_edit_prompts(f2, &p, 1, &out, err, sizeof err) == 0, "%s", err);
    size_t nw = (size_t)m1.cfg.d * m1.cfg.d_ff;
    float *w1 = device_to_host(m1.be, m1.layers[2].mlp_out.w, nw), *w2 = device_to_host(m2.be, m2.layers[2].mlp_out.w, nw);
    CHECK(!memcmp(w1, w2, nw * sizeof(float)), "ft_edit_prompts and ft_edit disagree");
    CHECK(out.loss_init == res.loss_first && out.loss_final == res.loss_last && out.z_passes == res.steps &&
              fabs(out.prob_final - exp(-res.loss_last)) < 1e-12 && out.prob_final > out.prob_init,
          "FT outcome: loss %g → %g, prob %g → %g, %d steps", out.loss_init, out.loss_final, out.prob_init,
          out.prob_final, out.z_passes);
    ft_free(f1);
    ft_free(f2);
    grace_hparams gh = {.layer = 1, .which = 0, .n_iter = 5, .edit_lr = 0.5f, .eps = 1.0, .seed = 3};
    grace_state *g1 = grace_create(&m1, &gh, err, sizeof err), *g2 = grace_create(&m2, &gh, err, sizeof err);
    grace_result gr;
    CHECK(grace_edit(g1, prompt, 6, target, 2, NULL, &gr, err, sizeof err) == 0, "%s", err);
    CHECK(grace_edit_prompts(g2, &p, 1, &out, err, sizeof err) == 0, "%s", err);
    int dk, dv;
    grace_dims(g1, &dk, &dv);
    CHECK(grace_size(g1) == 1 && grace_size(g2) == 1 &&
              !memcmp(grace_keys(g1), grace_keys(g2), (size_t)dk * sizeof(float)) &&
              !memcmp(grace_values(g1), grace_values(g2), (size_t)dv * sizeof(float)),
          "grace_edit_prompts and grace_edit disagree");
    CHECK(out.loss_init == gr.loss_first && out.loss_final == gr.loss_last && out.z_passes == 5 &&
              out.prob_final > out.prob_init, "GRACE outcome: loss %g → %g, %d steps", out.loss_init, out.loss_final,
          out.z_passes);
    grace_free(g1);
    grace_free(g2);
    edit_prompts_free(&p);
    free(w1);
    free(w2);
    model_free(&m1);
    model_free(&m2);
}

int main(void) {
    RUN(test_ft_gpt2_wout_box);
    RUN(test_ft_gpt2_win);
    RUN(test_ft_llama_early_stop);
    RUN(test_ft_behaviour_llama);
    RUN(test_ft_behaviour_llama_bf16);
    RUN(test_ft_behaviour_gpt2_box);
    RUN(test_baseline_configs);
    RUN(test_grace_gpt2_win);
    RUN(test_grace_llama_wout);
    RUN(test_grace_behaviour_and_state);
    RUN(test_pmet_gpt2);
    RUN(test_pmet_llama_nll_drop);
    RUN(test_editor_forms);
    return TEST_SUMMARY();
}
