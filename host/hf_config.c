/* config.json → model_config (see hf_config.h). Sizes that fix the weight shapes are required; the
 * other fields default as in transformers' GPT2Config, GPTJConfig and LlamaConfig. */
#include "hf_config.h"

#include "json_file.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define REQUIRED INT_MIN

typedef struct cfg_json {
    const char *path;
    const cJSON *root;
    char *err;
    size_t errlen;
} cfg_json;

static const cJSON *field(const cfg_json *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->root, key);
    return cJSON_IsNull(v) ? NULL : v;
}

/* a positive integer field, dflt when absent or null (REQUIRED: an error) */
static int get_int(const cfg_json *j, const char *key, int dflt, int *out) {
    const cJSON *v = field(j, key);
    if (!v && dflt == REQUIRED) {
        snprintf(j->err, j->errlen, "%s: field %s missing", j->path, key);
        return 1;
    }
    if (!v) {
        *out = dflt;
        return 0;
    }
    double x = cJSON_IsNumber(v) ? v->valuedouble : 0;
    if (x < 1 || x > INT_MAX || x != floor(x)) {
        snprintf(j->err, j->errlen, "%s: field %s must be a positive integer", j->path, key);
        return 1;
    }
    *out = (int)x;
    return 0;
}

/* a positive number field, dflt when absent or null */
static int get_float(const cfg_json *j, const char *key, double dflt, float *out) {
    const cJSON *v = field(j, key);
    double x = !v ? dflt : cJSON_IsNumber(v) ? v->valuedouble : 0;
    if (!(x > 0) || !isfinite(x)) {
        snprintf(j->err, j->errlen, "%s: field %s must be a positive number", j->path, key);
        return 1;
    }
    *out = (float)x;
    return 0;
}

static int get_bool(const cfg_json *j, const char *key, bool dflt, bool *out) {
    const cJSON *v = field(j, key);
    if (v && !cJSON_IsBool(v)) {
        snprintf(j->err, j->errlen, "%s: field %s must be true or false", j->path, key);
        return 1;
    }
    *out = v ? cJSON_IsTrue(v) : dflt;
    return 0;
}

/* a token id below vocab: a non-negative integer, the first of a list of them, dflt when absent, −1 when
 * null */
static int get_token(const cfg_json *j, const char *key, int dflt, int vocab, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = v ? -1 : dflt;
        return 0;
    }
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (x < 0 || x >= vocab || x != floor(x)) {
        snprintf(j->err, j->errlen, "%s: field %s must be a token id below vocab_size %d (or a list of them)", j->path,
                 key, vocab);
        return 1;
    }
    *out = (int)x;
    return 0;
}

/* a string field that, when present, must be one of the two values the loader implements */
static int check_string(const cfg_json *j, const char *key, const char *a, const char *b) {
    const cJSON *v = field(j, key);
    if (v && (!cJSON_IsString(v) || (strcmp(v->valuestring, a) && strcmp(v->valuestring, b)))) {
        snprintf(j->err, j->errlen, "%s: field %s: unsupported value (%s expected)", j->path, key, a);
        return 1;
    }
    return 0;
}

/* a field whose presence (non-null, not false) selects a variant the loader does not implement */
static int check_absent(const cfg_json *j, const char *key) {
    const cJSON *v = field(j, key);
    if (v && !cJSON_IsFalse(v)) {
        snprintf(j->err, j->errlen, "%s: field %s: this variant is not supported", j->path, key);
        return 1;
    }
    return 0;
}

/* the fields GPT-2 and GPT-J share */
static int read_gpt_common(const cfg_json *j, model_config *c) {
    if (get_int(j, "n_layer", REQUIRED, &c->n_layer) || get_int(j, "n_embd", REQUIRED, &c->d) ||
        get_int(j, "n_head", REQUIRED, &c->n_head) || get_int(j, "vocab_size", REQUIRED, &c->vocab))
        return 1;
    if (c->d % c->n_head) {
        snprintf(j->err, j->errlen, "%s: n_embd %d is not a multiple of n_head %d", j->path, c->d, c->n_head);
        return 1;
    }
    c->n_kv_head = c->n_head;
    c->head_dim = c->d / c->n_head;
    c->rope_theta = 10000;
    return get_int(j, "n_inner", c->d > INT_MAX / 4 ? REQUIRED : 4 * c->d, &c->d_ff) ||
           get_float(j, "layer_norm_epsilon", 1e-5, &c->norm_eps) ||
           check_string(j, "activation_function", "gelu_new", "gelu_pytorch_tanh") ||
           get_token(j, "bos_token_id", 50256, c->vocab, &c->bos_id) ||
           get_token(j, "eos_token_id", 50256, c->vocab, &c->eos_id);
}

static int read_gpt2(const cfg_json *j, model_config *c) {
    c->arch = ARCH_GPT2;
    c->tied_head = true;
    return read_gpt_common(j, c) || get_int(j, "n_positions", 1024, &c->n_ctx) ||
           check_absent(j, "scale_attn_by_inverse_layer_idx") || check_absent(j, "reorder_and_upcast_attn");
}

static int read_gptj(const cfg_json *j, model_config *c) {
    c->arch = ARCH_GPTJ;
    c->parallel_block = true;
    c->rope_interleaved = true;
    if (read_gpt_common(j, c) || get_int(j, "n_positions", 2048, &c->n_ctx) ||
        get_int(j, "rotary_dim", c->head_dim, &c->rotary_dim))
        return 1;
    if (c->rotary_dim > c->head_dim || c->rotary_dim % 2) {
        snprintf(j->err, j->errlen, "%s: rotary_dim %d must be even and at most the head size %d", j->path,
                 c->rotary_dim, c->head_dim);
        return 1;
    }
    return 0;
}

static int read_llama(const cfg_json *j, model_config *c) {
    c->arch = ARCH_LLAMA;
    if (get_int(j, "num_hidden_layers", REQUIRED, &c->n_layer) || get_int(j, "hidden_size", REQUIRED, &c->d) ||
        get_int(j, "num_attention_heads", REQUIRED, &c->n_head) ||
        get_int(j, "intermediate_size", REQUIRED, &c->d_ff) || get_int(j, "vocab_size", REQUIRED, &c->vocab) ||
        get_int(j, "num_key_value_heads", c->n_head, &c->n_kv_head) ||
        get_int(j, "head_dim", c->d % c->n_head ? REQUIRED : c->d / c->n_head, &c->head_dim) ||
        get_int(j, "max_position_embeddings", 2048, &c->n_ctx) ||
        get_float(j, "rms_norm_eps", 1e-6, &c->norm_eps) || get_float(j, "rope_theta", 10000, &c->rope_theta) ||
        get_bool(j, "tie_word_embeddings", false, &c->tied_head) || get_token(j, "bos_token_id", 1, c->vocab, &c->bos_id) ||
        get_token(j, "eos_token_id", 2, c->vocab, &c->eos_id) || check_string(j, "hidden_act", "silu", "silu") ||
        check_absent(j, "rope_scaling") || check_absent(j, "attention_bias") || check_absent(j, "mlp_bias"))
        return 1;
    if (c->n_head % c->n_kv_head || c->head_dim % 2) {
        snprintf(j->err, j->errlen,
                 "%s: num_attention_heads %d must be a multiple of num_key_value_heads %d and head_dim %d even",
                 j->path, c->n_head, c->n_kv_head, c->head_dim);
        return 1;
    }
    c->rotary_dim = c->head_dim;
    return 0;
}

int hf_config_read(const char *path, model_config *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    cJSON *root = json_file_read(path, err, errlen);
    if (!root) return 1;
    cfg_json j = {.path = path, .root = root, .err = err, .errlen = errlen};
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    int rc = 1;
    if (!cJSON_IsString(type))
        snprintf(err, errlen, "%s: field model_type missing (gpt2, gptj or llama expected)", path);
    else if (!strcmp(type->valuestring, "gpt2"))
        rc = read_gpt2(&j, c);
    else if (!strcmp(type->valuestring, "gptj"))
        rc = read_gptj(&j, c);
    else if (!strcmp(type->valuestring, "llama"))
        rc = read_llama(&j, c);
    else
        snprintf(err, errlen, "%s: unknown model_type \"%s\" (gpt2, gptj or llama supported)", path,
                 type->valuestring);
    cJSON_Delete(root);
    return rc;
}
