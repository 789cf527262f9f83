/* model_save_hf: a model written as a Hugging Face folder, then read back.
 *
 * The tiny fixtures (tests/fixtures/{gpt2,gptj,llama}, written by transformers' save_pretrained) are
 * loaded, two weights perturbed, saved and
 *   - compared tensor by tensor with the fixture's own safetensors: the same names, the same shapes and
 *     the same values except exactly the two perturbed elements (this pins names and orientation, GPT-2's
 *     Conv1D transpose and c_attn fusion included, to what transformers writes);
 *   - reloaded with kedit: identical weights and configuration, bit-identical logits;
 *   - when python3 has transformers and torch, loaded by transformers (tests/reference/check_saved_model.py)
 *     whose logits must match kedit's (tolerance stated in that script: 1e-4).
 * stories260K (llama2.c, interleaved rotary; when ../shared/data is present) is saved with the q/k row
 * permutation of model_save.h, reloaded as a Hugging Face Llama (halves rotary) and must give the
 * original model's logits, in kedit and in transformers. The folder handling (tokenizer files, replacing
 * a saved model, refusing other folders, stale dir.tmp, errors) is checked on the GPT-2 fixture. */
#include "model.h"
#include "model_save.h"
#include "safetensors.h"
#include "test.h"
#include "test_files.h"
#include "tokenizer.h"
#include "transformer.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <unistd.h>

static char tmp_root[128];
static char cases[8][300]; /* transformers check cases written by the tests, run at the end */
static int n_cases;

/* ---- files ---- */

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) fputs(text, f);
    if (f) fclose(f);
}

/* ---- model tensors ---- */

typedef struct tensor_ref {
    char name[48];
    const float *p; /* device pointer or NULL */
    size_t n;
} tensor_ref;

static int add_ref(tensor_ref *r, int k, const char *name, int layer, const float *p, size_t n) {
    if (layer >= 0)
        snprintf(r[k].name, sizeof r[k].name, "layer %d %s", layer, name);
    else
        snprintf(r[k].name, sizeof r[k].name, "%s", name);
    r[k].p = p;
    r[k].n = p ? n : 0;
    return k + 1;
}

/* every weight of m, named; r holds 20·n_layer + 8 entries */
static int model_tensors(const model *m, tensor_ref *r) {
    const model_config *c = &m->cfg;
    int k = 0;
    for (int l = 0; l < c->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        k = add_ref(r, k, "ln1_w", l, L->ln1_w, (size_t)c->d);
        k = add_ref(r, k, "ln1_b", l, L->ln1_b, (size_t)c->d);
        k = add_ref(r, k, "ln2_w", l, L->ln2_w, (size_t)c->d);
        k = add_ref(r, k, "ln2_b", l, L->ln2_b, (size_t)c->d);
        const linear *lin[] = {&L->q, &L->k, &L->v, &L->o, &L->mlp_in, &L->mlp_up, &L->mlp_out};
        const char *names[] = {"q", "k", "v", "o", "mlp_in", "mlp_up", "mlp_out"};
        for (int j = 0; j < 7; j++) {
            char name[16];
            snprintf(name, sizeof name, "%s.w", names[j]);
            k = add_ref(r, k, name, l, lin[j]->w, (size_t)lin[j]->out * lin[j]->in);
            snprintf(name, sizeof name, "%s.b", names[j]);
            k = add_ref(r, k, name, l, lin[j]->b, (size_t)lin[j]->out);
        }
    }
    k = add_ref(r, k, "wte", -1, m->wte, (size_t)c->vocab * c->d);
    k = add_ref(r, k, "wpe", -1, m->wpe, (size_t)c->n_ctx * c->d);
    k = add_ref(r, k, "lnf_w", -1, m->lnf_w, (size_t)c->d);
    k = add_ref(r, k, "lnf_b", -1, m->lnf_b, (size_t)c->d);
    k = add_ref(r, k, "head.w", -1, m->head.w, (size_t)c->vocab * c->d);
    k = add_ref(r, k, "head.b", -1, m->head.b, (size_t)c->vocab);
    return k;
}

static float *download(const model *m, const float *dev, size_t n) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (n) m->be->to_host(x, dev, n * sizeof *x);
    return x;
}

/* checks that a and b hold the same tensors bit for bit, except those named in `skip` (NULL: none) */
static void check_same_weights(const model *a, const model *b, const char *const *skip, int n_skip) {
    int n = 20 * a->cfg.n_layer + 8;
    tensor_ref *ra = malloc((size_t)n * sizeof *ra), *rb = malloc((size_t)n * sizeof *rb);
    int na = model_tensors(a, ra), nb = model_tensors(b, rb);
    CHECK(na == nb, "%d vs %d tensors", na, nb);
    for (int i = 0; i < na && i < nb; i++) {
        bool skipped = false;
        for (int s = 0; s < n_skip; s++) skipped |= strstr(ra[i].name, skip[s]) != NULL;
        if (skipped) continue;
        CHECK(!ra[i].p == !rb[i].p && ra[i].n == rb[i].n, "%s: present %d/%d, %zu/%zu values", ra[i].name, !!ra[i].p,
              !!rb[i].p, ra[i].n, rb[i].n);
        if (!ra[i].p || !rb[i].p || ra[i].n != rb[i].n) continue;
        float *x = download(a, ra[i].p, ra[i].n), *y = download(b, rb[i].p, rb[i].n);
        CHECK(!memcmp(x, y, ra[i].n * sizeof *x), "%s differs after save and reload", ra[i].name);
        free(x);
        free(y);
    }
    free(ra);
    free(rb);
}

/* the configuration fields, all equal (rope_interleaved compared only when with_rope) */
static void check_same_config(const model_config *a, const model_config *b, bool with_rope) {
    CHECK(a->arch == b->arch && a->n_layer == b->n_layer && a->d == b->d && a->n_head == b->n_head &&
              a->n_kv_head == b->n_kv_head && a->head_dim == b->head_dim && a->d_ff == b->d_ff &&
              a->vocab == b->vocab && a->n_ctx == b->n_ctx && a->rotary_dim == b->rotary_dim,
          "sizes differ after reload");
    CHECK(a->rope_theta == b->rope_theta && a->norm_eps == b->norm_eps, "theta %g/%g, eps %g/%g", a->rope_theta,
          b->rope_theta, a->norm_eps, b->norm_eps);
    CHECK(a->parallel_block == b->parallel_block && a->tied_head == b->tied_head && a->bos_id == b->bos_id &&
              a->eos_id == b->eos_id,
          "block kind, tied head or bos/eos differ after reload");
    if (with_rope) CHECK(a->rope_interleaved == b->rope_interleaved, "rotary layout differs after reload");
}

/* adds delta to element i of a device tensor */
static void perturb(const model *m, float *dev, size_t i, float delta) {
    float x;
    m->be->to_host(&x, dev + i, sizeof x);
    x += delta;
    m->be->to_device(dev + i, &x, sizeof x);
}

/* ---- logits ---- */

enum { N_SEQ = 2 };
static const int seq_len[N_SEQ] = {9, 5};

/* token ids of the test sequences: a fixed spread over the vocabulary */
static void make_ids(int vocab, int ids[N_SEQ][9]) {
    for (int s = 0; s < N_SEQ; s++)
        for (int t = 0; t < seq_len[s]; t++) ids[s][t] = (int)((37L * (s * 9 + t) + 11) % vocab);
}

/* logits at every position of the test sequences (Σ len × vocab), batch order */
static float *all_logits(const model *m, int ids[N_SEQ][9]) {
    const int *rows[N_SEQ] = {ids[0], ids[1]};
    kbatch b = {N_SEQ, seq_len, rows};
    float *logits = malloc((size_t)(seq_len[0] + seq_len[1]) * m->cfg.vocab * sizeof *logits);
    fwd_opts o = {.n_logit = -1, .logits_host = logits, .bwd_from_layer = -1, .stop_layer = -1};
    fwd_state *s = transformer_forward(m, &b, &o);
    CHECK(s != NULL, "forward failed");
    fwd_state_free(s);
    return logits;
}

/* writes a check_saved_model.py case: the folder, the ids and kedit's logits of each sequence */
static void add_case(const char *folder, int ids[N_SEQ][9], const float *logits, int vocab) {
    cJSON *j = cJSON_CreateObject(), *jids = cJSON_AddArrayToObject(j, "ids"),
          *jl = cJSON_AddArrayToObject(j, "logits");
    cJSON_AddStringToObject(j, "model", folder);
    const float *row = logits;
    for (int s = 0; s < N_SEQ; s++) {
        cJSON_AddItemToArray(jids, cJSON_CreateIntArray(ids[s], seq_len[s]));
        cJSON *rows = cJSON_CreateArray();
        for (int t = 0; t < seq_len[s]; t++, row += vocab)
            cJSON_AddItemToArray(rows, cJSON_CreateFloatArray(row, vocab));
        cJSON_AddItemToArray(jl, rows);
    }
    char *text = cJSON_PrintUnformatted(j);
    snprintf(cases[n_cases], sizeof cases[n_cases], "%s/case%d.json", tmp_root, n_cases);
    write_text(cases[n_cases++], text);
    free(text);
    cJSON_Delete(j);
}

/* ---- the fixtures ---- */

/* counts the elements in which the saved folder's tensors differ from the source folder's; every
 * source tensor must be in the saved file under the same name and shape, and no other */
static long count_changed(const char *src, const char *saved) {
    st_set a, b;
    char err[1024];
    long changed = 0;
    if (st_open_dir(src, &a, err, sizeof err)) {
        CHECK(0, "%s", err);
        return -1;
    }
    if (st_open_dir(saved, &b, err, sizeof err)) {
        CHECK(0, "%s", err);
        st_close(&a);
        return -1;
    }
    CHECK(a.n_tensors == b.n_tensors, "%s has %d tensors, %s has %d", src, a.n_tensors, saved, b.n_tensors);
    for (int i = 0; i < a.n_tensors; i++) {
        const st_tensor *x = &a.tensors[i], *y = st_find(&b, x->name);
        CHECK(y != NULL, "tensor %s missing from the saved folder", x->name);
        if (!y) continue;
        bool same_shape = x->ndim == y->ndim && !memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof *x->shape);
        CHECK(same_shape && y->dtype == ST_F32, "tensor %s: saved with another shape or not F32", x->name);
        if (!same_shape) continue;
        float *u = malloc((size_t)x->numel * sizeof *u), *v = malloc((size_t)x->numel * sizeof *v);
        CHECK(st_read_f32(x, u, err, sizeof err) == 0 && st_read_f32(y, v, err, sizeof err) == 0, "%s", err);
        for (int64_t k = 0; k < x->numel; k++) changed += u[k] != v[k];
        free(u);
        free(v);
    }
    st_close(&a);
    st_close(&b);
    return changed;
}

/* the saved config.json equals the source's, but for torch_dtype "float32" */
static void check_config_copied(const char *src, const char *saved) {
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/config.json", src);
    snprintf(b, sizeof b, "%s/config.json", saved);
    size_t na = 0, nb = 0;
    char *ta = file_read_all(a, &na), *tb = file_read_all(b, &nb);
    cJSON *ja = ta ? cJSON_Parse(ta) : NULL, *jb = tb ? cJSON_Parse(tb) : NULL;
    CHECK(ja && jb, "cannot read %s or %s", a, b);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(jb, "torch_dtype");
    CHECK(cJSON_IsString(dtype) && !strcmp(dtype->valuestring, "float32"), "%s: torch_dtype is not float32", b);
    cJSON_DeleteItemFromObjectCaseSensitive(ja, "torch_dtype");
    cJSON_DeleteItemFromObjectCaseSensitive(jb, "torch_dtype");
    CHECK(cJSON_Compare(ja, jb, true), "%s differs from %s beyond torch_dtype", b, a);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(ta);
    free(tb);
}

static void roundtrip(const char *arch) {
    char src[64], dir[256], err[1024];
    snprintf(src, sizeof src, "tests/fixtures/%s", arch);
    snprintf(dir, sizeof dir, "%s/%s", tmp_root, arch);
    model m, back;
    if (model_load(src, backend_cpu(), &m, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    /* an edit of W_out in block 1 and one element of k in block 0 (inside GPT-2's fused c_attn) */
    perturb(&m, m.layers[1].mlp_out.w, 3, 0.25f);
    perturb(&m, m.layers[0].k.w, 5 * (size_t)m.cfg.d + 7, -0.125f);
    CHECK(model_save_hf(&m, NULL, NULL, dir, err, sizeof err) == 0, "save: %s", err);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    CHECK(!exists(tmp), "%s left behind", tmp);
    CHECK(count_changed(src, dir) == 2, "saved tensors differ from %s in other than the 2 perturbed elements", src);
    check_config_copied(src, dir);
    if (model_load(dir, backend_cpu(), &back, err, sizeof err)) {
        CHECK(0, "reload: %s", err);
        model_free(&m);
        return;
    }
    check_same_config(&m.cfg, &back.cfg, true);
    check_same_weights(&m, &back, NULL, 0);
    int ids[N_SEQ][9];
    make_ids(m.cfg.vocab, ids);
    float *x = all_logits(&m, ids), *y = all_logits(&back, ids);
    long n = (long)(seq_len[0] + seq_len[1]) * m.cfg.vocab;
    CHECK(!memcmp(x, y, (size_t)n * sizeof *x), "reloaded logits differ (max |diff| %.3g)", max_abs_diff(x, y, n));
    add_case(dir, ids, x, m.cfg.vocab);
    free(x);
    free(y);
    model_free(&back);
    model_free(&m);
}

/* A model held in bf16 whose W_out of block 1 was widened to float32 and edited (as a run with "weights":
 * "bf16" leaves it) saves every linear weight as its exact float32 value: a float32 reload holds the bf16
 * values widened, and the edited matrix as edited. */
static void roundtrip_bf16(const char *arch) {
    char src[64], dir[256], err[1024];
    snprintf(src, sizeof src, "tests/fixtures/%s", arch);
    snprintf(dir, sizeof dir, "%s/%s_bf16", tmp_root, arch);
    model m, back;
    if (model_load_as(src, backend_cpu(), KT_BF16, &m, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    CHECK(linear_make_f32(m.be, &m.layers[1].mlp_out, err, sizeof err) == 0, "%s", err);
    perturb(&m, m.layers[1].mlp_out.w, 3, 0.25f);
    CHECK(model_save_hf(&m, NULL, NULL, dir, err, sizeof err) == 0, "save: %s", err);
    if (model_load(dir, backend_cpu(), &back, err, sizeof err)) {
        CHECK(0, "reload: %s", err);
        model_free(&m);
        return;
    }
    check_same_weights(&m, &back, (const char *const[]){".w"}, 1); /* norms, biases, embeddings */
    long bad = 0, n_lin = 0;
    for (int l = 0; l < m.cfg.n_layer; l++) {
        const layer_weights *A = &m.layers[l], *B = &back.layers[l];
        const linear *la[] = {&A->q, &A->k, &A->v, &A->o, &A->mlp_in, &A->mlp_up, &A->mlp_out, &m.head};
        const linear *lb[] = {&B->q, &B->k, &B->v, &B->o, &B->mlp_in, &B->mlp_up, &B->mlp_out, &back.head};
        for (int j = 0; j < 8; j++) {
            if ((!la[j]->w && !la[j]->w_bf16) || (j == 7 && l > 0)) continue; /* absent, or the head once */
            size_t n = (size_t)la[j]->out * la[j]->in;
            float *want = malloc(n * sizeof *want), *got = download(&back, lb[j]->w, n);
            linear_weight_to_host(m.be, la[j], want);
            bad += memcmp(want, got, n * sizeof *want) != 0;
            n_lin++;
            free(want);
            free(got);
        }
    }
    CHECK(bad == 0 && n_lin > 0, "%ld of %ld linear weights differ after save and float32 reload", bad, n_lin);
    model_free(&back);
    model_free(&m);
}

static void test_roundtrip_gpt2(void) { roundtrip("gpt2"); }
static void test_roundtrip_bf16(void) {
    roundtrip_bf16("gpt2");
    roundtrip_bf16("gptj");
    roundtrip_bf16("llama");
}
static void test_roundtrip_gptj(void) { roundtrip("gptj"); }
static void test_roundtrip_llama(void) { roundtrip("llama"); }

/* ---- llama2.c: stories260K with the rotary permutation ---- */

static void test_stories260K_rotary(void) {
    char bin[512], tok[512], dir[256], err[1024];
    if (!test_data_path(bin, sizeof bin, "models/stories260K/stories260K.bin") ||
        !test_data_path(tok, sizeof tok, "models/stories260K/tok512.bin"))
        SKIP("models/stories260K/ not in the shared data folder");
    model m, back;
    if (model_load(bin, backend_cpu(), &m, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    snprintf(dir, sizeof dir, "%s/stories260K", tmp_root);
    CHECK(model_save_hf(&m, NULL, tok, dir, err, sizeof err) == 0, "save: %s", err);
    char copied[300];
    snprintf(copied, sizeof copied, "%s/tokenizer.bin", dir);
    CHECK(test_same_bytes(tok, copied), "tokenizer not copied to %s", copied);
    tokenizer *t = tokenizer_load(dir, err, sizeof err); // the folder's own tokenizer, as kedit generate finds it
    CHECK(t != NULL, "the saved folder's tokenizer: %s", err);
    if (t) tokenizer_free(t);
    if (model_load(dir, backend_cpu(), &back, err, sizeof err)) {
        CHECK(0, "reload: %s", err);
        model_free(&m);
        return;
    }
    CHECK(m.cfg.rope_interleaved && !back.cfg.rope_interleaved, "rotary layouts: source interleaved, saved halves");
    check_same_config(&m.cfg, &back.cfg, false);
    check_same_weights(&m, &back, (const char *const[]){"q.w", "k.w"}, 2);
    /* the documented permutation: saved row i of a head from row 2i, row hd/2 + i from row 2i + 1 */
    int hd = m.cfg.head_dim, kv_rows = m.cfg.n_kv_head * hd, d = m.cfg.d;
    float *k0 = download(&m, m.layers[2].k.w, (size_t)kv_rows * d); /* (kv_rows, d) */
    float *k1 = download(&back, back.layers[2].k.w, (size_t)kv_rows * d);
    long bad = 0;
    for (int r = 0; r < kv_rows; r++) {
        int i = r % hd, from = r - i + (i < hd / 2 ? 2 * i : 2 * (i - hd / 2) + 1);
        bad += memcmp(k1 + (size_t)r * d, k0 + (size_t)from * d, (size_t)d * sizeof *k0) != 0;
    }
    CHECK(bad == 0, "%ld rows of k_proj (layer 2) not at their permuted place", bad);
    free(k0);
    free(k1);
    /* Same function: the saved model rotates halves of permuted rows, the source interleaved pairs of the
     * original rows; each q·k is the same products summed in another order, so logits agree to float32
     * rounding (~1e-6 relative of values ≤ ~20): 1e-4 absolute. */
    int ids[N_SEQ][9];
    make_ids(m.cfg.vocab, ids);
    float *x = all_logits(&m, ids), *y = all_logits(&back, ids);
    long n = (long)(seq_len[0] + seq_len[1]) * m.cfg.vocab;
    double e = max_abs_diff(y, x, n);
    CHECK(e <= 1e-4, "saved model's logits differ from the llama2.c model's by %.3g", e);
    printf("    stories260K saved as HF Llama: max |logits diff| %.3g\n", e);
    /* the check has power: the permuted weights under the interleaved rotary compute something else */
    back.cfg.rope_interleaved = true;
    float *z = all_logits(&back, ids);
    CHECK(max_abs_diff(z, x, n) > 1e-2, "permuted q/k rows made no difference (%.3g)", max_abs_diff(z, x, n));
    add_case(dir, ids, x, m.cfg.vocab);
    free(x);
    free(y);
    free(z);
    model_free(&back);
    model_free(&m);
}

/* ---- folders ---- */

/* a source folder: the GPT-2 fixture's config and weights (linked) plus three tokenizer files */
static void make_source(const char *src) {
    char path[300], target[PATH_MAX];
    mkdir(src, 0700);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "tests/fixtures/gpt2/%s", files[i]);
        CHECK(realpath(path, target) != NULL, "%s", path);
        snprintf(path, sizeof path, "%s/%s", src, files[i]);
        CHECK(symlink(target, path) == 0, "symlink %s", path);
    }
    snprintf(path, sizeof path, "%s/vocab.json", src);
    write_text(path, "{\"a\": 0, \"b\": 1}\n");
    snprintf(path, sizeof path, "%s/merges.txt", src);
    write_text(path, "#version: 0.2\na b\n");
    snprintf(path, sizeof path, "%s/tokenizer_config.json", src);
    write_text(path, "{\"model_max_length\": 64}\n");
}

static void test_tokenizer_files(void) {
    char src[256], dir[256], a[300], b[300], err[1024];
    snprintf(src, sizeof src, "%s/src_tok", tmp_root);
    make_source(src);
    model m;
    if (model_load(src, backend_cpu(), &m, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    snprintf(dir, sizeof dir, "%s/with_tok", tmp_root);
    CHECK(model_save_hf(&m, NULL, NULL, dir, err, sizeof err) == 0, "%s", err);
    const char *names[] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/%s", src, names[i]);
        snprintf(b, sizeof b, "%s/%s", dir, names[i]);
        CHECK(test_same_bytes(a, b), "%s not copied", b);
    }
    snprintf(b, sizeof b, "%s/tokenizer.json", dir);
    CHECK(!exists(b), "%s created though the source has none", b);
    /* an explicit tokenizer file of a Hugging Face name keeps it; the source's files are then not copied */
    snprintf(dir, sizeof dir, "%s/explicit_tok", tmp_root);
    snprintf(a, sizeof a, "%s/merges.txt", src);
    CHECK(model_save_hf(&m, NULL, a, dir, err, sizeof err) == 0, "%s", err);
    snprintf(b, sizeof b, "%s/merges.txt", dir);
    CHECK(test_same_bytes(a, b), "%s not copied", b);
    snprintf(b, sizeof b, "%s/vocab.json", dir);
    CHECK(!exists(b), "%s copied though a tokenizer file was given", b);
    model_free(&m);
}

static void test_replace_and_refuse(void) {
    char dir[256], path[300], err[1024];
    model m, back;
    if (model_load("tests/fixtures/gpt2", backend_cpu(), &m, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    snprintf(dir, sizeof dir, "%s/replace/", tmp_root); /* trailing slash: the folder itself */
    CHECK(model_save_hf(&m, NULL, NULL, dir, err, sizeof err) == 0, "%s", err);
    /* a stale dir.tmp (a crash mid-save) is cleared; a saved model is replaced by the new one */
    snprintf(path, sizeof path, "%s/replace.tmp", tmp_root);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/replace.tmp/model.safetensors", tmp_root);
    write_text(path, "partial");
    perturb(&m, m.layers[2].mlp_out.w, 0, 1.0f);
    CHECK(model_save_hf(&m, NULL, NULL, dir, err, sizeof err) == 0, "replacing: %s", err);
    snprintf(path, sizeof path, "%s/replace", tmp_root);
    if (model_load(path, backend_cpu(), &back, err, sizeof err) == 0) {
        check_same_weights(&m, &back, NULL, 0);
        model_free(&back);
    } else
        CHECK(0, "reload: %s", err);
    snprintf(path, sizeof path, "%s/replace.tmp", tmp_root);
    CHECK(!exists(path), "%s left behind", path);
    snprintf(path, sizeof path, "%s/replace.old", tmp_root);
    CHECK(!exists(path), "%s left behind", path);
    /* a folder that is not a saved model is never replaced */
    snprintf(dir, sizeof dir, "%s/notes", tmp_root);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/notes/keep.txt", tmp_root);
    write_text(path, "mine");
    err[0] = 0;
    CHECK(model_save_hf(&m, NULL, NULL, dir, err, sizeof err) != 0, "saved over a folder without config.json");
    CHECK(strstr(err, dir) && strstr(err, "not replaced"), "message: %s", err);
    CHECK(exists(path), "%s removed", path);
    /* the folder the model came from is never overwritten */
    err[0] = 0;
    CHECK(model_save_hf(&m, NULL, NULL, "tests/fixtures/gpt2/", err, sizeof err) != 0, "saved over the source");
    CHECK(strstr(err, "loaded from"), "message: %s", err);
    CHECK(!exists("tests/fixtures/gpt2.tmp"), "tests/fixtures/gpt2.tmp created");
    /* a folder that cannot be created */
    snprintf(dir, sizeof dir, "%s/no/such/parent", tmp_root);
    err[0] = 0;
    CHECK(model_save_hf(&m, NULL, NULL, dir, err, sizeof err) != 0, "saved under a missing parent");
    CHECK(strstr(err, "parent.tmp") != NULL, "message: %s", err);
    /* a source config.json describing another model */
    snprintf(dir, sizeof dir, "%s/mismatch", tmp_root);
    err[0] = 0;
    CHECK(model_save_hf(&m, "tests/fixtures/gptj", NULL, dir, err, sizeof err) != 0, "saved with GPT-J's config");
    CHECK(strstr(err, "tests/fixtures/gptj/config.json") && strstr(err, "describes another model"), "message: %s", err);
    CHECK(!exists(dir), "%s created by a failed save", dir);
    snprintf(path, sizeof path, "%s.tmp", dir);
    CHECK(!exists(path), "%s left by a failed save", path);
    model_free(&m);
}

/* ---- transformers ---- */

static void test_transformers_loads_saved(void) {
    if (n_cases == 0) SKIP("no saved folders to check (earlier tests failed)");
    if (system("python3 -c 'import transformers, torch' >/dev/null 2>&1") != 0)
        SKIP("python3 cannot import transformers and torch");
    char cmd[4096];
    int at = snprintf(cmd, sizeof cmd,
                      "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python3 "
                      "tests/reference/check_saved_model.py");
    for (int i = 0; i < n_cases; i++) at += snprintf(cmd + at, sizeof cmd - (size_t)at, " '%s'", cases[i]);
    fflush(stdout);
    CHECK(system(cmd) == 0, "transformers' logits of a saved folder differ from kedit's (see above)");
}

int main(void) {
    if (!test_make_dir(tmp_root, sizeof tmp_root, "save")) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_roundtrip_gpt2);
    RUN(test_roundtrip_gptj);
    RUN(test_roundtrip_llama);
    RUN(test_roundtrip_bf16);
    RUN(test_stories260K_rotary);
    RUN(test_tokenizer_files);
    RUN(test_replace_and_refuse);
    RUN(test_transformers_loads_saved);
    test_remove_dir(tmp_root);
    return TEST_SUMMARY();
}
