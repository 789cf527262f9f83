/* model_save_hf (see model_save.h): the list of tensors to store with, for each, where its values come
 * from on the device and how they are laid out for Hugging Face; config.json; the tokenizer files; the
 * folder written beside its destination and renamed into place. */
#include "model_save.h"

#include "hf_config.h"
#include "json_file.h"
#include "path_join.h"
#include "safetensors_write.h"
#include "save_dir.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* how a stored tensor is made from the model's device tensors */
typedef enum {
    FROM_DEVICE,    /* copied as is */
    FROM_ROPE_ROWS, /* (out, in) with each head's rows reordered from interleaved to half rotary pairs */
    FROM_CONV1D_W,  /* Conv1D (in, n·out): the transposes of n (out, in) weights side by side */
    FROM_CONV1D_B,  /* (n·out): the n biases one after another */
} source_kind;

typedef struct source {
    source_kind kind;
    const float *dev;       /* FROM_DEVICE, FROM_ROPE_ROWS: a float32 tensor, or */
    const linear *lin;      /* the weights of this linear (float32 or bf16) */
    const linear *parts[3]; /* FROM_CONV1D_*: the linears fused along the output axis */
    int n_parts;
} source;

typedef struct plan {
    const model *m;
    stw_tensor *t;
    source *src;
    int n, cap;
    const char *prefix;    /* "transformer." or "model."; "" for lm_head, outside that module */
    const char *layer_fmt; /* "h.%d." or "layers.%d." */
    int layer;             /* block of the tensors being added, −1 for the others */
    float *scratch;        /* one (out, in) weight downloaded from the device */
    size_t scratch_cap;
} plan;

static int add(plan *p, const char *stem, int64_t d0, int64_t d1, source s) {
    if (p->n == p->cap) {
        int want = p->cap ? 2 * p->cap : 64;
        stw_tensor *t = realloc(p->t, (size_t)want * sizeof *t);
        if (t) p->t = t;
        source *src = t ? realloc(p->src, (size_t)want * sizeof *src) : NULL;
        if (!src) return 1;
        p->src = src;
        p->cap = want;
    }
    stw_tensor *t = &p->t[p->n];
    int at = snprintf(t->name, sizeof t->name, "%s", p->prefix);
    if (p->layer >= 0) at += snprintf(t->name + at, sizeof t->name - (size_t)at, p->layer_fmt, p->layer);
    snprintf(t->name + at, sizeof t->name - (size_t)at, "%s", stem);
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    p->src[p->n++] = s;
    return 0;
}

static int add_dev(plan *p, const char *stem, const float *dev, int64_t d0, int64_t d1) {
    return add(p, stem, d0, d1, (source){.kind = FROM_DEVICE, .dev = dev});
}

/* a linear layer stored (out, in) as nn.Linear does: "<stem>.weight" (and "<stem>.bias" when it has one) */
static int add_linear(plan *p, const char *stem, const linear *l, source_kind kind) {
    char name[96];
    snprintf(name, sizeof name, "%s.weight", stem);
    if (add(p, name, l->out, l->in, (source){.kind = kind, .lin = l})) return 1;
    snprintf(name, sizeof name, "%s.bias", stem);
    return l->b && add_dev(p, name, l->b, l->out, 0);
}

/* a GPT-2 Conv1D: weight (in, n·out) and bias (n·out) fused from n linears */
static int add_conv1d(plan *p, const char *stem, const linear *const *parts, int n) {
    source s = {.kind = FROM_CONV1D_W, .n_parts = n};
    for (int i = 0; i < n; i++) s.parts[i] = parts[i];
    char name[96];
    snprintf(name, sizeof name, "%s.weight", stem);
    if (add(p, name, parts[0]->in, (int64_t)n * parts[0]->out, s)) return 1;
    s.kind = FROM_CONV1D_B;
    snprintf(name, sizeof name, "%s.bias", stem);
    return add(p, name, (int64_t)n * parts[0]->out, 0, s);
}

static int add_norm(plan *p, const char *stem, const float *w, const float *b, int d) {
    char name[96];
    snprintf(name, sizeof name, "%s.weight", stem);
    if (add_dev(p, name, w, d, 0)) return 1;
    snprintf(name, sizeof name, "%s.bias", stem);
    return b && add_dev(p, name, b, d, 0);
}

static int plan_gpt2(plan *p) {
    const model *m = p->m;
    int d = m->cfg.d;
    for (p->layer = 0; p->layer < m->cfg.n_layer; p->layer++) {
        const layer_weights *L = &m->layers[p->layer];
        if (add_norm(p, "ln_1", L->ln1_w, L->ln1_b, d) ||
            add_conv1d(p, "attn.c_attn", (const linear *const[]){&L->q, &L->k, &L->v}, 3) ||
            add_conv1d(p, "attn.c_proj", (const linear *const[]){&L->o}, 1) ||
            add_norm(p, "ln_2", L->ln2_w, L->ln2_b, d) ||
            add_conv1d(p, "mlp.c_fc", (const linear *const[]){&L->mlp_in}, 1) ||
            add_conv1d(p, "mlp.c_proj", (const linear *const[]){&L->mlp_out}, 1))
            return 1;
    }
    p->layer = -1;
    return add_dev(p, "wte.weight", m->wte, m->cfg.vocab, d) || add_dev(p, "wpe.weight", m->wpe, m->cfg.n_ctx, d) ||
           add_norm(p, "ln_f", m->lnf_w, m->lnf_b, d);
}

static int plan_gptj(plan *p) {
    const model *m = p->m;
    for (p->layer = 0; p->layer < m->cfg.n_layer; p->layer++) {
        const layer_weights *L = &m->layers[p->layer];
        if (add_norm(p, "ln_1", L->ln1_w, L->ln1_b, m->cfg.d) || add_linear(p, "attn.q_proj", &L->q, FROM_DEVICE) ||
            add_linear(p, "attn.k_proj", &L->k, FROM_DEVICE) || add_linear(p, "attn.v_proj", &L->v, FROM_DEVICE) ||
            add_linear(p, "attn.out_proj", &L->o, FROM_DEVICE) || add_linear(p, "mlp.fc_in", &L->mlp_in, FROM_DEVICE) ||
            add_linear(p, "mlp.fc_out", &L->mlp_out, FROM_DEVICE))
            return 1;
    }
    p->layer = -1;
    if (add_dev(p, "wte.weight", m->wte, m->cfg.vocab, m->cfg.d) || add_norm(p, "ln_f", m->lnf_w, m->lnf_b, m->cfg.d))
        return 1;
    p->prefix = "";
    return !m->cfg.tied_head && add_linear(p, "lm_head", &m->head, FROM_DEVICE);
}

static int plan_llama(plan *p) {
    const model *m = p->m;
    source_kind qk = m->cfg.rope_interleaved ? FROM_ROPE_ROWS : FROM_DEVICE; /* see model_save.h */
    for (p->layer = 0; p->layer < m->cfg.n_layer; p->layer++) {
        const layer_weights *L = &m->layers[p->layer];
        if (add_norm(p, "input_layernorm", L->ln1_w, NULL, m->cfg.d) || add_linear(p, "self_attn.q_proj", &L->q, qk) ||
            add_linear(p, "self_attn.k_proj", &L->k, qk) || add_linear(p, "self_attn.v_proj", &L->v, FROM_DEVICE) ||
            add_linear(p, "self_attn.o_proj", &L->o, FROM_DEVICE) ||
            add_norm(p, "post_attention_layernorm", L->ln2_w, NULL, m->cfg.d) ||
            add_linear(p, "mlp.gate_proj", &L->mlp_in, FROM_DEVICE) ||
            add_linear(p, "mlp.up_proj", &L->mlp_up, FROM_DEVICE) ||
            add_linear(p, "mlp.down_proj", &L->mlp_out, FROM_DEVICE))
            return 1;
    }
    p->layer = -1;
    if (add_dev(p, "embed_tokens.weight", m->wte, m->cfg.vocab, m->cfg.d) ||
        add_norm(p, "norm", m->lnf_w, NULL, m->cfg.d))
        return 1;
    p->prefix = "";
    return !m->cfg.tied_head && add_linear(p, "lm_head", &m->head, FROM_DEVICE);
}

/* the scratch buffer grown to n floats */
static float *scratch(plan *p, size_t n) {
    if (n > p->scratch_cap) {
        float *grown = realloc(p->scratch, n * sizeof *grown);
        if (!grown) return NULL;
        p->scratch = grown;
        p->scratch_cap = n;
    }
    return p->scratch;
}

enum { TILE = 16 }; /* the loader's transpose tile (host/hf_weights.c) */

/* columns [col0, col0 + out) of C (in, cols) ← Wᵀ for W (out, in), tile by tile */
static void transpose_into_cols(const float *W, int out, int in, float *C, int64_t cols, int64_t col0) {
#pragma omp parallel for if ((size_t)out * in >= (1u << 20))
    for (int i0 = 0; i0 < in; i0 += TILE)
        for (int o0 = 0; o0 < out; o0 += TILE)
            for (int i = i0; i < i0 + TILE && i < in; i++)
                for (int o = o0; o < o0 + TILE && o < out; o++) C[i * cols + col0 + o] = W[(size_t)o * in + i];
}

/* dst (out, in) ← W with the rows of each head of hd rows reordered: row i < hd/2 from row 2i, row
 * hd/2 + i from row 2i + 1 (interleaved rotary pairs → halves) */
static void rope_rows(const float *W, int out, int in, int hd, float *dst) {
    for (int r = 0; r < out; r++) {
        int head = r / hd, i = r % hd, from = i < hd / 2 ? 2 * i : 2 * (i - hd / 2) + 1;
        memcpy(dst + (size_t)r * in, W + ((size_t)head * hd + from) * in, (size_t)in * sizeof *dst);
    }
}

/* the n values of a FROM_DEVICE / FROM_ROPE_ROWS source on the host */
static void download(const backend *be, const source *s, float *dst, int64_t n) {
    if (s->lin) linear_weight_to_host(be, s->lin, dst);
    else be->to_host(dst, s->dev, (size_t)n * sizeof *dst);
}

static int fill(void *ctx, int i, float *dst, char *err, size_t errlen) {
    plan *p = ctx;
    const backend *be = p->m->be;
    const source *s = &p->src[i];
    const stw_tensor *t = &p->t[i];
    int64_t n = t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
    float *W = NULL;
    switch (s->kind) {
    case FROM_DEVICE:
        download(be, s, dst, n);
        return 0;
    case FROM_ROPE_ROWS:
        if (!(W = scratch(p, (size_t)n))) break;
        download(be, s, W, n);
        rope_rows(W, (int)t->shape[0], (int)t->shape[1], p->m->cfg.head_dim, dst);
        return 0;
    case FROM_CONV1D_W:
        for (int k = 0; k < s->n_parts; k++) {
            const linear *l = s->parts[k];
            if (!(W = scratch(p, (size_t)l->out * l->in))) break; /* (out, in) */
            linear_weight_to_host(be, l, W);
            transpose_into_cols(W, l->out, l->in, dst, t->shape[1], (int64_t)k * l->out);
        }
        if (!W) break;
        return 0;
    case FROM_CONV1D_B:
        for (int k = 0; k < s->n_parts; k++) {
            const linear *l = s->parts[k];
            float *part = dst + (size_t)k * l->out;
            if (l->b)
                be->to_host(part, l->b, (size_t)l->out * sizeof *part);
            else
                memset(part, 0, (size_t)l->out * sizeof *part); /* no bias: y = x·Wᵀ + 0 */
        }
        return 0;
    }
    snprintf(err, errlen, "tensor %s: out of memory", t->name);
    return 1;
}

/* ---- config.json ---- */

/* the shortest decimal that reads back as f, so 1e-5f is written 1e-05 rather than 9.99999974737875e-06 */
static double shortest_decimal(float f) {
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static cJSON *token_json(int id) { return id >= 0 ? cJSON_CreateNumber(id) : cJSON_CreateNull(); }

/* the LlamaForCausalLM config of a model read from a llama2.c file */
static cJSON *llama_config(const model_config *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray((const char *const[]){"LlamaForCausalLM"}, 1));
    cJSON_AddStringToObject(j, "model_type", "llama");
    cJSON_AddNumberToObject(j, "hidden_size", c->d);
    cJSON_AddNumberToObject(j, "intermediate_size", c->d_ff);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layer);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_head);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_head);
    cJSON_AddNumberToObject(j, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->n_ctx);
    cJSON_AddNumberToObject(j, "rms_norm_eps", shortest_decimal(c->norm_eps));
    cJSON_AddNumberToObject(j, "rope_theta", shortest_decimal(c->rope_theta));
    cJSON_AddNullToObject(j, "rope_scaling");
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied_head);
    cJSON_AddItemToObject(j, "bos_token_id", token_json(c->bos_id));
    cJSON_AddItemToObject(j, "eos_token_id", token_json(c->eos_id));
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddBoolToObject(j, "attention_bias", false);
    cJSON_AddBoolToObject(j, "mlp_bias", false);
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    return j;
}

/* the first size field in which the two configurations differ, or NULL */
static const char *shape_mismatch(const model_config *a, const model_config *b) {
    if (a->arch != b->arch) return "model_type";
    if (a->n_layer != b->n_layer) return "number of layers";
    if (a->d != b->d) return "hidden size";
    if (a->n_head != b->n_head || a->n_kv_head != b->n_kv_head || a->head_dim != b->head_dim) return "heads";
    if (a->d_ff != b->d_ff) return "MLP size";
    if (a->vocab != b->vocab) return "vocab_size";
    if (a->n_ctx != b->n_ctx) return "positions";
    if (a->tied_head != b->tied_head) return "tied head";
    return NULL;
}

/* the source folder's config.json, checked to describe m, with torch_dtype "float32" */
static cJSON *copied_config(const model *m, const char *src_dir, char *err, size_t errlen) {
    char *path = path_join(src_dir, "config.json");
    if (!path) {
        snprintf(err, errlen, "%s: out of memory", src_dir);
        return NULL;
    }
    model_config c;
    cJSON *j = NULL;
    const char *diff = NULL;
    if (hf_config_read(path, &c, err, errlen) == 0 && !(diff = shape_mismatch(&c, &m->cfg)) &&
        (j = json_file_read(path, err, errlen))) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "torch_dtype");
        cJSON_AddStringToObject(j, "torch_dtype", "float32");
    }
    if (diff) snprintf(err, errlen, "%s: describes another model than the one being saved (%s differs)", path, diff);
    free(path);
    return j;
}

static int write_config(const model *m, const char *src, bool src_is_dir, const char *dir, char *err, size_t errlen) {
    if (!src_is_dir && m->cfg.arch != ARCH_LLAMA) {
        snprintf(err, errlen, "%s: not a Hugging Face folder: its config.json is needed to save this model", src);
        return 1;
    }
    cJSON *j = src_is_dir ? copied_config(m, src, err, errlen) : llama_config(&m->cfg);
    if (!j) return 1;
    char *json = cJSON_Print(j), *text = json ? realloc(json, strlen(json) + 2) : NULL;
    cJSON_Delete(j);
    if (text)
        strcat(text, "\n");
    else
        free(json);
    int rc = text ? save_dir_write_text(dir, "config.json", text, err, errlen) : 1;
    if (!text) snprintf(err, errlen, "%s: out of memory writing config.json", dir);
    free(text);
    return rc;
}

/* ---- tokenizer ---- */

static const char *const tokenizer_files[] = {"tokenizer.json",    "tokenizer.model",       "vocab.json",
                                              "merges.txt",        "tokenizer_config.json", "special_tokens_map.json",
                                              "added_tokens.json", "generation_config.json"};

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* copies a tokenizer file, or those of tokenizer_files present in a folder, into dir; a file keeps its name
 * when it is one of tokenizer_files, else it becomes the name a folder's tokenizer is found by:
 * tokenizer.json for JSON, tokenizer.bin for a llama2.c tokenizer */
static int copy_tokenizer(const char *from, const char *dir, char *err, size_t errlen) {
    if (!is_dir(from)) {
        const char *slash = strrchr(from, '/'), *base = slash ? slash + 1 : from;
        for (size_t i = 0; i < sizeof tokenizer_files / sizeof *tokenizer_files; i++)
            if (!strcmp(base, tokenizer_files[i])) return save_dir_copy(from, dir, base, err, errlen);
        size_t n = strlen(base);
        bool json = n >= 5 && !strcmp(base + n - 5, ".json");
        return save_dir_copy(from, dir, json ? "tokenizer.json" : "tokenizer.bin", err, errlen);
    }
    for (size_t i = 0; i < sizeof tokenizer_files / sizeof *tokenizer_files; i++) {
        char *path = path_join(from, tokenizer_files[i]);
        struct stat st;
        int rc = !path || (stat(path, &st) == 0 && save_dir_copy(path, dir, tokenizer_files[i], err, errlen));
        if (!path) snprintf(err, errlen, "%s: out of memory", from);
        free(path);
        if (rc) return 1;
    }
    return 0;
}

/* ---- the whole folder ---- */

static int write_contents(const model *m, const char *src, const char *tokenizer_path, const char *dir, char *err,
                          size_t errlen) {
    bool src_is_dir = is_dir(src);
    if (write_config(m, src, src_is_dir, dir, err, errlen)) return 1;
    plan p = {.m = m, .layer = -1};
    int rc;
    if (m->cfg.arch == ARCH_LLAMA) {
        p.prefix = "model.";
        p.layer_fmt = "layers.%d.";
        rc = plan_llama(&p);
    } else {
        p.prefix = "transformer.";
        p.layer_fmt = "h.%d.";
        rc = m->cfg.arch == ARCH_GPT2 ? plan_gpt2(&p) : plan_gptj(&p);
    }
    char *path = path_join(dir, "model.safetensors");
    if (rc || !path)
        snprintf(err, errlen, "%s: out of memory listing the tensors", dir);
    else
        rc = stw_write_f32(path, p.t, p.n, fill, &p, err, errlen);
    free(path);
    free(p.t);
    free(p.src);
    free(p.scratch);
    if (rc) return 1;
    const char *tok = tokenizer_path ? tokenizer_path : src_is_dir ? src : NULL;
    return tok ? copy_tokenizer(tok, dir, err, errlen) : 0;
}

int model_save_hf(const model *m, const char *src_path, const char *tokenizer_path, const char *dir, char *err,
                  size_t errlen) {
    const char *src = src_path ? src_path : m->source;
    if (!src) {
        snprintf(err, errlen, "%s: the model's source path is unknown: give src_path", dir);
        return 1;
    }
    char *src_real = realpath(src, NULL), *dir_real = realpath(dir, NULL);
    bool same = src_real && dir_real && !strcmp(src_real, dir_real);
    free(src_real);
    free(dir_real);
    if (same) {
        snprintf(err, errlen, "%s: is the folder the model was loaded from: save the edited model elsewhere", dir);
        return 1;
    }
    save_dir sd;
    if (save_dir_begin(&sd, dir, "config.json", err, errlen)) return 1;
    if (write_contents(m, src, tokenizer_path, sd.tmp, err, errlen)) {
        save_dir_abort(&sd);
        return 1;
    }
    return save_dir_commit(&sd, err, errlen);
}
