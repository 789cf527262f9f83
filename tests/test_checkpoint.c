/* Checkpoint loading: safetensors (F32/F16/BF16, one file or shards), config.json for GPT-2/GPT-J/Llama,
 * llama2.c .bin files. Small checkpoints are written from C into a temporary folder with values made
 * by a formula, so the loaded values and their orientation can be checked element by element; the
 * F16/BF16 widening and the tiny models under tests/fixtures/ are checked against references written
 * by tests/reference/make_checkpoint_ref.py (PyTorch). Every malformed input must give a non-zero
 * return and a message naming the file, the tensor and the problem, and leave nothing allocated. */
#include "bf16.h"
#include "hf_config.h"
#include "json_file.h"
#include "model.h"
#include "safetensors.h"
#include "test.h"
#include "test_files.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

/* ---- a host-memory backend that counts live allocations (leaks on error paths show up) ---- */

static long live_allocs;

static void *count_alloc(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "test backend: out of memory\n");
        exit(1);
    }
    live_allocs++;
    return p;
}
static void count_free(void *p) {
    live_allocs--;
    free(p);
}
static void host_copy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

/* named "cpu": weights live in host memory, so the loader's memory check applies */
static const backend counting = {
    .name = "cpu", .alloc = count_alloc, .free = count_free, .to_device = host_copy, .to_host = host_copy};

/* ---- files ---- */

static char tmp_root[64]; /* short: folder paths below are built in 128-byte buffers */
static int tmp_serial;

/* a fresh empty folder under the test's temporary root */
static const char *new_dir(char *buf, size_t n) {
    snprintf(buf, n, "%s/m%d", tmp_root, tmp_serial++);
    mkdir(buf, 0700);
    return buf;
}

static void write_file(const char *dir, const char *name, const void *bytes, size_t n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void write_text(const char *dir, const char *name, const char *text) {
    write_file(dir, name, text, strlen(text));
}

/* a safetensors file: the 8-byte little-endian header length hlen (which may lie), the header text,
 * then the data */
static void write_raw_st(const char *dir, const char *name, uint64_t hlen, const char *header, const void *data,
                         size_t n_data) {
    size_t h = strlen(header), total = 8 + h + n_data;
    unsigned char *bytes = malloc(total);
    for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(bytes + 8, header, h);
    memcpy(bytes + 8 + h, data, n_data);
    write_file(dir, name, bytes, total);
    free(bytes);
}

/* ---- tensors made from a formula ---- */

/* value i of tensor `seed`: a multiple of 1/8 in [−3.75, 3.75], exact in F16 and BF16 */
static float value(int seed, long i) { return (float)((seed * 37 + i * 11) % 61 - 30) / 8.0f; }

typedef struct spec {
    char name[96];
    const char *dtype; /* "F32", "F16", "BF16" or another stored type */
    int ndim;
    int64_t shape[2];
    int seed;          /* values value(seed, i) */
} spec;

static long numel(const spec *s) { return s->ndim == 1 ? s->shape[0] : s->shape[0] * s->shape[1]; }

static uint16_t to_bf16(float f) { /* exact for value(): the low 16 bits are zero */
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)(b >> 16);
}

static uint16_t to_f16(float f) { /* exact for value(): normal, at most 6 significant bits, or 0 */
    uint32_t b;
    memcpy(&b, &f, 4);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
    if (f == 0) return sign;
    return (uint16_t)(sign | ((((b >> 23) & 0xff) - 112) << 10) | ((b & 0x7fffff) >> 13));
}

static int elem_size(const char *dtype) { return !strcmp(dtype, "F32") || !strcmp(dtype, "I32") ? 4 : 2; }

/* a safetensors file holding the specs, data in order, offsets consistent */
static void write_st(const char *dir, const char *file, const spec *s, int n) {
    size_t cap = 256 + (size_t)n * 256, at = 0, n_data = 0;
    char *header = malloc(cap);
    for (int t = 0; t < n; t++) n_data += (size_t)numel(&s[t]) * elem_size(s[t].dtype);
    unsigned char *data = malloc(n_data ? n_data : 1);
    size_t off = 0;
    at += (size_t)snprintf(header + at, cap - at, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int t = 0; t < n; t++) {
        int es = elem_size(s[t].dtype);
        size_t bytes = (size_t)numel(&s[t]) * es;
        for (long i = 0; i < numel(&s[t]); i++) {
            float v = value(s[t].seed, i);
            uint16_t h = !strcmp(s[t].dtype, "F16") ? to_f16(v) : to_bf16(v);
            memcpy(data + off + (size_t)i * es, es == 4 ? (const void *)&v : (const void *)&h, (size_t)es);
        }
        at += (size_t)snprintf(header + at, cap - at, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld", s[t].name,
                               s[t].dtype, (long long)s[t].shape[0]);
        if (s[t].ndim == 2) at += (size_t)snprintf(header + at, cap - at, ",%lld", (long long)s[t].shape[1]);
        at += (size_t)snprintf(header + at, cap - at, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    snprintf(header + at, cap - at, "}");
    write_raw_st(dir, file, strlen(header), header, data, n_data);
    free(header);
    free(data);
}

/* ---- a tiny GPT-2: 2 layers, d 8, 2 heads, n_inner null (→ 32), vocab 11, 5 positions ---- */

enum { G_L = 2, G_D = 8, G_FF = 32, G_V = 11, G_CTX = 5 };

static const char *gpt2_config =
    "{\"model_type\":\"gpt2\",\"n_layer\":2,\"n_embd\":8,\"n_head\":2,\"n_inner\":null,\"vocab_size\":11,"
    "\"n_positions\":5,\"layer_norm_epsilon\":1e-4,\"bos_token_id\":3,\"eos_token_id\":[4,5],"
    "\"activation_function\":\"gelu_new\"}";

/* the tensors of the tiny GPT-2 named with prefix, stored as dtype; returns their number */
static int gpt2_specs(spec *s, const char *prefix, const char *dtype) {
    int n = 0;
    struct {
        const char *stem;
        int ndim;
        int64_t d0, d1;
    } per_layer[] = {{"ln_1.weight", 1, G_D, 0},         {"ln_1.bias", 1, G_D, 0},
                     {"attn.c_attn.weight", 2, G_D, 3 * G_D}, {"attn.c_attn.bias", 1, 3 * G_D, 0},
                     {"attn.c_proj.weight", 2, G_D, G_D}, {"attn.c_proj.bias", 1, G_D, 0},
                     {"ln_2.weight", 1, G_D, 0},         {"ln_2.bias", 1, G_D, 0},
                     {"mlp.c_fc.weight", 2, G_D, G_FF},  {"mlp.c_fc.bias", 1, G_FF, 0},
                     {"mlp.c_proj.weight", 2, G_FF, G_D}, {"mlp.c_proj.bias", 1, G_D, 0}};
    for (int l = 0; l < G_L; l++)
        for (size_t j = 0; j < sizeof per_layer / sizeof *per_layer; j++, n++) {
            s[n] = (spec){.dtype = dtype, .ndim = per_layer[j].ndim, .shape = {per_layer[j].d0, per_layer[j].d1},
                          .seed = n};
            snprintf(s[n].name, sizeof s[n].name, "%sh.%d.%s", prefix, l, per_layer[j].stem);
        }
    const struct {
        const char *name;
        int ndim;
        int64_t d0, d1;
    } top[] = {{"wte.weight", 2, G_V, G_D}, {"wpe.weight", 2, G_CTX, G_D}, {"ln_f.weight", 1, G_D, 0},
               {"ln_f.bias", 1, G_D, 0}};
    for (size_t j = 0; j < sizeof top / sizeof *top; j++, n++) {
        s[n] = (spec){.dtype = dtype, .ndim = top[j].ndim, .shape = {top[j].d0, top[j].d1}, .seed = n};
        snprintf(s[n].name, sizeof s[n].name, "%s%s", prefix, top[j].name);
    }
    return n;
}

static const spec *spec_named(const spec *s, int n, const char *suffix) {
    for (int i = 0; i < n; i++) {
        size_t a = strlen(s[i].name), b = strlen(suffix);
        if (a >= b && !strcmp(s[i].name + a - b, suffix)) return &s[i];
    }
    return NULL;
}

/* counts elements of the loaded host array x (n) that differ from value(seed, map(i)) */
static long mismatches_plain(const float *x, long n, int seed) {
    long bad = 0;
    for (long i = 0; i < n; i++) bad += x[i] != value(seed, i);
    return bad;
}

/* counts elements of the (out, in) matrix W that differ from column block [col0, col0 + out) of the
 * stored (in, cols) Conv1D weight made from seed: W[o, i] must be stored[i, col0 + o] */
static long mismatches_conv1d(const float *W, int out, int in, int cols, int col0, int seed) {
    long bad = 0;
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) bad += W[(long)o * in + i] != value(seed, (long)i * cols + col0 + o);
    return bad;
}

static void check_gpt2(const model *m, const spec *s, int n) {
    const model_config *c = &m->cfg;
    CHECK(c->arch == ARCH_GPT2 && c->n_layer == G_L && c->d == G_D && c->n_head == 2 && c->n_kv_head == 2 &&
              c->head_dim == 4 && c->d_ff == 4 * G_D && c->vocab == G_V && c->n_ctx == G_CTX,
          "config %d %d %d %d %d", c->n_layer, c->d, c->n_head, c->d_ff, c->n_ctx);
    CHECK(c->norm_eps == 1e-4f && c->bos_id == 3 && c->eos_id == 4 && c->tied_head && !c->parallel_block &&
              c->rotary_dim == 0,
          "eps %g bos %d eos %d", c->norm_eps, c->bos_id, c->eos_id);
    CHECK(m->head.w == m->wte && m->head.b == NULL && m->head.out == G_V && m->head.in == G_D, "tied head");
    CHECK(mismatches_plain(m->wte, G_V * G_D, spec_named(s, n, "wte.weight")->seed) == 0, "wte values");
    CHECK(mismatches_plain(m->wpe, G_CTX * G_D, spec_named(s, n, "wpe.weight")->seed) == 0, "wpe values");
    CHECK(mismatches_plain(m->lnf_b, G_D, spec_named(s, n, "ln_f.bias")->seed) == 0, "ln_f.bias values");
    for (int l = 0; l < G_L; l++) {
        const layer_weights *L = &m->layers[l];
        char name[64];
        snprintf(name, sizeof name, "h.%d.attn.c_attn.weight", l);
        int attn = spec_named(s, n, name)->seed, attn_b = attn + 1;
        /* c_attn (in 8, out 24): q, k, v are output columns [0, 8), [8, 16), [16, 24), transposed */
        CHECK(mismatches_conv1d(L->q.w, G_D, G_D, 3 * G_D, 0, attn) == 0, "layer %d q", l);
        CHECK(mismatches_conv1d(L->k.w, G_D, G_D, 3 * G_D, G_D, attn) == 0, "layer %d k", l);
        CHECK(mismatches_conv1d(L->v.w, G_D, G_D, 3 * G_D, 2 * G_D, attn) == 0, "layer %d v", l);
        /* a bias is a (1, 24) row: the same column split */
        CHECK(mismatches_conv1d(L->q.b, G_D, 1, 3 * G_D, 0, attn_b) == 0, "layer %d q bias", l);
        CHECK(mismatches_conv1d(L->k.b, G_D, 1, 3 * G_D, G_D, attn_b) == 0, "layer %d k bias", l);
        CHECK(mismatches_conv1d(L->v.b, G_D, 1, 3 * G_D, 2 * G_D, attn_b) == 0, "layer %d v bias", l);
        snprintf(name, sizeof name, "h.%d.mlp.c_fc.weight", l);
        int fc = spec_named(s, n, name)->seed;
        CHECK(L->mlp_in.out == G_FF && L->mlp_in.in == G_D &&
                  mismatches_conv1d(L->mlp_in.w, G_FF, G_D, G_FF, 0, fc) == 0,
              "layer %d c_fc transposed", l);
        snprintf(name, sizeof name, "h.%d.mlp.c_proj.weight", l);
        int proj = spec_named(s, n, name)->seed;
        CHECK(L->mlp_out.out == G_D && L->mlp_out.in == G_FF &&
                  mismatches_conv1d(L->mlp_out.w, G_D, G_FF, G_D, 0, proj) == 0 &&
                  mismatches_plain(L->mlp_out.b, G_D, proj + 1) == 0,
              "layer %d mlp c_proj transposed", l);
        snprintf(name, sizeof name, "h.%d.attn.c_proj.weight", l);
        CHECK(mismatches_conv1d(L->o.w, G_D, G_D, G_D, 0, spec_named(s, n, name)->seed) == 0, "layer %d o", l);
        snprintf(name, sizeof name, "h.%d.ln_2.weight", l);
        CHECK(mismatches_plain(L->ln2_w, G_D, spec_named(s, n, name)->seed) == 0, "layer %d ln_2", l);
        CHECK(L->mlp_up.w == NULL, "GPT-2 has no up projection");
    }
}

/* loads a GPT-2 written with dtype and names under prefix; the values must come back exactly (every
 * value is a multiple of 1/8 of at most 6 significant bits: exact in all three types) */
static void gpt2_roundtrip(const char *prefix, const char *dtype) {
    spec s[64];
    int n = gpt2_specs(s, prefix, dtype);
    char dir[128];
    new_dir(dir, sizeof dir);
    write_text(dir, "config.json", gpt2_config);
    write_st(dir, "model.safetensors", s, n);
    model m;
    char err[512] = "";
    int rc = model_load(dir, &counting, &m, err, sizeof err);
    CHECK(rc == 0, "%s %s: %s", dtype, prefix, err);
    if (rc) return;
    check_gpt2(&m, s, n);
    CHECK(strlen(m.checksum) == 16 && !strcmp(m.source, dir), "checksum '%s' source '%s'", m.checksum, m.source);
    model_free(&m);
    CHECK(live_allocs == 0, "%ld device buffers left after model_free", live_allocs);
}

static void test_gpt2_f32(void) { gpt2_roundtrip("transformer.", "F32"); }
static void test_gpt2_f16_bare_names(void) { gpt2_roundtrip("", "F16"); }
static void test_gpt2_bf16(void) { gpt2_roundtrip("transformer.", "BF16"); }

/* ---- a tiny Llama: 2 layers, d 8, 2 heads of 4, 1 kv head, d_ff 12, vocab 7 ---- */

enum { L_L = 2, L_D = 8, L_KV = 4, L_FF = 12, L_V = 7 };

static int llama_specs(spec *s, bool with_head) {
    int n = 0;
    const struct {
        const char *stem;
        int ndim;
        int64_t d0, d1;
    } per_layer[] = {{"input_layernorm.weight", 1, L_D, 0},  {"self_attn.q_proj.weight", 2, L_D, L_D},
                     {"self_attn.k_proj.weight", 2, L_KV, L_D}, {"self_attn.v_proj.weight", 2, L_KV, L_D},
                     {"self_attn.o_proj.weight", 2, L_D, L_D},  {"post_attention_layernorm.weight", 1, L_D, 0},
                     {"mlp.gate_proj.weight", 2, L_FF, L_D},    {"mlp.up_proj.weight", 2, L_FF, L_D},
                     {"mlp.down_proj.weight", 2, L_D, L_FF}};
    s[n] = (spec){.dtype = "F32", .ndim = 2, .shape = {L_V, L_D}, .seed = n};
    snprintf(s[n++].name, sizeof s->name, "model.embed_tokens.weight");
    for (int l = 0; l < L_L; l++)
        for (size_t j = 0; j < sizeof per_layer / sizeof *per_layer; j++, n++) {
            s[n] = (spec){.dtype = "F32", .ndim = per_layer[j].ndim, .shape = {per_layer[j].d0, per_layer[j].d1},
                          .seed = n};
            snprintf(s[n].name, sizeof s[n].name, "model.layers.%d.%s", l, per_layer[j].stem);
        }
    s[n] = (spec){.dtype = "F32", .ndim = 1, .shape = {L_D}, .seed = n};
    snprintf(s[n++].name, sizeof s->name, "model.norm.weight");
    if (with_head) {
        s[n] = (spec){.dtype = "F32", .ndim = 2, .shape = {L_V, L_D}, .seed = n};
        snprintf(s[n++].name, sizeof s->name, "lm_head.weight");
    }
    return n;
}

static const char *llama_config =
    "{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":8,\"num_attention_heads\":2,"
    "\"num_key_value_heads\":1,\"intermediate_size\":12,\"vocab_size\":7,\"max_position_embeddings\":16,"
    "\"rms_norm_eps\":1e-6,\"rope_theta\":500000.0,\"tie_word_embeddings\":false,\"rope_scaling\":null,"
    "\"hidden_act\":\"silu\",\"attention_bias\":false}";

/* writes config.json, the Llama's specs as two shards (embedding and layer 0; layer 1, norm, head)
 * and the index */
static void write_llama_sharded(const char *dir, const spec *s, int n) {
    write_text(dir, "config.json", llama_config);
    int split = 1 + 9; /* embed_tokens + the 9 tensors of layer 0 */
    write_st(dir, "model-00001-of-00002.safetensors", s, split);
    write_st(dir, "model-00002-of-00002.safetensors", s + split, n - split);
    size_t cap = 8192, at = 0;
    char *index = malloc(cap);
    at += (size_t)snprintf(index, cap, "{\"metadata\":{\"total_size\":0},\"weight_map\":{");
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(index + at, cap - at, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"", i ? "," : "",
                               s[i].name, i < split ? 1 : 2);
    snprintf(index + at, cap - at, "}}");
    write_text(dir, "model.safetensors.index.json", index);
    free(index);
}

static long llama_mismatches(const model *m, const spec *s) {
    long bad = mismatches_plain(m->wte, L_V * L_D, s[0].seed);
    for (int l = 0; l < L_L; l++) {
        const layer_weights *L = &m->layers[l];
        const spec *p = s + 1 + 9 * l;
        const float *got[] = {L->ln1_w, L->q.w, L->k.w, L->v.w, L->o.w, L->ln2_w, L->mlp_in.w, L->mlp_up.w,
                              L->mlp_out.w};
        for (int j = 0; j < 9; j++) bad += mismatches_plain(got[j], numel(&p[j]), p[j].seed);
    }
    return bad + mismatches_plain(m->lnf_w, L_D, s[1 + 9 * L_L].seed);
}

static void test_llama_sharded(void) {
    spec s[32];
    int n = llama_specs(s, true);
    char sharded[128], single[128], changed[128], err[512] = "";
    write_llama_sharded(new_dir(sharded, sizeof sharded), s, n);
    model m;
    int rc = model_load(sharded, &counting, &m, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    const model_config *c = &m.cfg;
    CHECK(c->arch == ARCH_LLAMA && c->n_layer == L_L && c->d == L_D && c->n_head == 2 && c->n_kv_head == 1 &&
              c->head_dim == 4 && c->d_ff == L_FF && c->vocab == L_V && c->n_ctx == 16,
          "config");
    CHECK(c->rotary_dim == 4 && !c->rope_interleaved && c->rope_theta == 500000.0f && c->norm_eps == 1e-6f &&
              !c->tied_head && !c->parallel_block && c->bos_id == 1 && c->eos_id == 2,
          "rotary %d theta %g eps %g", c->rotary_dim, c->rope_theta, c->norm_eps);
    CHECK(m.layers[0].ln1_b == NULL && m.layers[0].ln2_b == NULL && m.lnf_b == NULL && m.layers[1].q.b == NULL,
          "RMSNorm and projections have no bias");
    CHECK(m.layers[1].k.out == L_KV && m.layers[1].k.in == L_D && m.layers[1].o.in == L_D &&
              m.layers[1].mlp_out.in == L_FF,
          "linear sizes");
    CHECK(llama_mismatches(&m, s) == 0, "values");
    CHECK(m.head.w != m.wte && mismatches_plain(m.head.w, L_V * L_D, s[n - 1].seed) == 0, "untied lm_head");

    /* the checksum depends on the tensors, not on how they are split into files */
    write_st(new_dir(single, sizeof single), "model.safetensors", s, n);
    write_text(single, "config.json", llama_config);
    model one;
    CHECK(model_load(single, &counting, &one, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(one.checksum, m.checksum), "single file %s, shards %s", one.checksum, m.checksum);
    model_free(&one);
    s[3].seed = 1000; /* one tensor's values differ */
    write_st(new_dir(changed, sizeof changed), "model.safetensors", s, n);
    write_text(changed, "config.json", llama_config);
    CHECK(model_load(changed, &counting, &one, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(one.checksum, m.checksum) != 0, "a changed tensor must change the checksum");
    model_free(&one);
    model_free(&m);
    CHECK(live_allocs == 0, "%ld device buffers left", live_allocs);
}

/* tie_word_embeddings true and no lm_head stored: the head is the embedding */
static void test_llama_tied(void) {
    spec s[32];
    int n = llama_specs(s, false);
    char dir[128], err[512] = "", config[1024];
    snprintf(config, sizeof config, "%s", llama_config);
    char *tie = strstr(config, "\"tie_word_embeddings\":false");
    memcpy(tie, "\"tie_word_embeddings\":true ", strlen("\"tie_word_embeddings\":true "));
    write_st(new_dir(dir, sizeof dir), "model.safetensors", s, n);
    write_text(dir, "config.json", config);
    model m;
    CHECK(model_load(dir, &counting, &m, err, sizeof err) == 0, "%s", err);
    CHECK(m.cfg.tied_head && m.head.w == m.wte, "tied head");
    model_free(&m);
    CHECK(live_allocs == 0, "%ld device buffers left", live_allocs);
}

/* ---- failures: message content and nothing left allocated ---- */

/* loads dir, which must fail with a message containing every one of the strings given */
static void expect_failure(const char *dir, const char *what, const char *const *needles, int n_needles) {
    model m;
    char err[1024] = "";
    int rc = model_load(dir, &counting, &m, err, sizeof err);
    CHECK(rc != 0, "%s: loaded although it should fail", what);
    for (int i = 0; i < n_needles; i++)
        CHECK(strstr(err, needles[i]) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, needles[i]);
    CHECK(live_allocs == 0 && m.layers == NULL && m.wte == NULL && m.source == NULL,
          "%s: %ld device buffers left after the failure", what, live_allocs);
}
#define EXPECT_FAILURE(dir, what, ...)                                                                          \
    expect_failure(dir, what, (const char *const[]){__VA_ARGS__},                                               \
                   (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

/* a GPT-2 folder whose tensors are s, n */
static const char *gpt2_dir(char *dir, size_t len, const spec *s, int n) {
    new_dir(dir, len);
    write_text(dir, "config.json", gpt2_config);
    write_st(dir, "model.safetensors", s, n);
    return dir;
}

static void test_error_truncated(void) {
    char dir[128];
    new_dir(dir, sizeof dir);
    write_text(dir, "config.json", gpt2_config);
    write_text(dir, "model.safetensors", "\x10\0\0");
    EXPECT_FAILURE(dir, "3-byte file", "model.safetensors", "truncated");

    /* a whole file cut short: the last tensor's data_offsets run past the end */
    spec s[64];
    int n = gpt2_specs(s, "transformer.", "F32");
    gpt2_dir(dir, sizeof dir, s, n);
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat st;
    stat(path, &st);
    CHECK(truncate(path, st.st_size - 10) == 0, "truncate");
    EXPECT_FAILURE(dir, "cut file", "model.safetensors", s[n - 1].name, "out of range", "truncated");
}

static void test_error_header(void) {
    char dir[128];
    float data[4] = {0};
    new_dir(dir, sizeof dir);
    write_text(dir, "config.json", gpt2_config);
    write_raw_st(dir, "model.safetensors", 4096, "{}", data, sizeof data);
    EXPECT_FAILURE(dir, "header length beyond the file", "model.safetensors", "header length 4096", "beyond");

    write_raw_st(dir, "model.safetensors", 9, "{\"a\": [1,", data, sizeof data);
    EXPECT_FAILURE(dir, "bad JSON", "model.safetensors", "bad JSON header");

    const char *inconsistent = "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}";
    write_raw_st(dir, "model.safetensors", strlen(inconsistent), inconsistent, data, sizeof data);
    EXPECT_FAILURE(dir, "offsets vs shape", "model.safetensors", "wte.weight", "data_offsets [0, 12)", "[2, 2]");

    const char *beyond = "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}";
    write_raw_st(dir, "model.safetensors", strlen(beyond), beyond, data, sizeof data);
    EXPECT_FAILURE(dir, "offsets beyond data", "model.safetensors", "wte.weight", "out of range");

    const char *no_dtype = "{\"wte.weight\":{\"shape\":[4],\"data_offsets\":[0,16]}}";
    write_raw_st(dir, "model.safetensors", strlen(no_dtype), no_dtype, data, sizeof data);
    EXPECT_FAILURE(dir, "entry without dtype", "model.safetensors", "wte.weight", "dtype");
}

static void test_error_missing_tensor(void) {
    spec s[64];
    int n = gpt2_specs(s, "transformer.", "F32");
    const spec *gone = spec_named(s, n, "h.1.mlp.c_fc.bias");
    memmove((spec *)gone, gone + 1, (size_t)(s + n - gone - 1) * sizeof *s);
    char dir[128];
    EXPECT_FAILURE(gpt2_dir(dir, sizeof dir, s, n - 1), "missing tensor", dir, "missing tensor",
                   "transformer.h.1.mlp.c_fc.bias");
}

static void test_error_wrong_shape(void) {
    spec s[64];
    int n = gpt2_specs(s, "transformer.", "F32");
    ((spec *)spec_named(s, n, "wte.weight"))->shape[1] = G_D + 1;
    char dir[128];
    EXPECT_FAILURE(gpt2_dir(dir, sizeof dir, s, n), "wrong shape", "model.safetensors", "transformer.wte.weight",
                   "wrong shape [11, 9]", "[11, 8]");
}

static void test_error_dtype(void) {
    spec s[64];
    int n = gpt2_specs(s, "", "F32");
    ((spec *)spec_named(s, n, "h.0.ln_1.bias"))->dtype = "I32";
    char dir[128];
    EXPECT_FAILURE(gpt2_dir(dir, sizeof dir, s, n), "I32 tensor", "model.safetensors", "h.0.ln_1.bias",
                   "unsupported dtype I32");
}

static void test_error_config(void) {
    spec s[64];
    int n = gpt2_specs(s, "", "F32");
    char dir[128];
    gpt2_dir(dir, sizeof dir, s, n);
    write_text(dir, "config.json", "{\"model_type\":\"bert\",\"n_layer\":2}");
    EXPECT_FAILURE(dir, "unknown model_type", "config.json", "unknown model_type", "bert");
    write_text(dir, "config.json", "{\"model_type\":\"gpt2\",\"n_layer\":2,\"n_head\":2,\"vocab_size\":11}");
    EXPECT_FAILURE(dir, "missing field", "config.json", "n_embd", "missing");
    write_text(dir, "config.json", "{\"model_type\":\"gpt2\", oops}");
    EXPECT_FAILURE(dir, "bad config JSON", "config.json", "invalid JSON");
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    EXPECT_FAILURE(dir, "no config.json", "config.json", "cannot open");
    /* no safetensors at all */
    new_dir(dir, sizeof dir);
    write_text(dir, "config.json", gpt2_config);
    EXPECT_FAILURE(dir, "no weights", "no model.safetensors");
    EXPECT_FAILURE("no/such/model", "missing path", "no/such/model");
}

static void test_error_index(void) {
    spec s[32];
    int n = llama_specs(s, true);
    char dir[128], path[256];
    write_llama_sharded(new_dir(dir, sizeof dir), s, n);
    write_text(dir, "model.safetensors.index.json", "{\"metadata\":{}}");
    EXPECT_FAILURE(dir, "index without weight_map", "model.safetensors.index.json", "weight_map");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\":{\"model.norm.weight\":");
    EXPECT_FAILURE(dir, "truncated index", "model.safetensors.index.json", "invalid JSON");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"model.norm.weight\":\"model-00003-of-00002.safetensors\"}}");
    EXPECT_FAILURE(dir, "absent shard", "model-00003-of-00002.safetensors", "cannot open");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"model.norm.weight\":\"model-00001-of-00002.safetensors\","
               "\"model.embed_tokens.weight\":\"model-00002-of-00002.safetensors\"}}");
    EXPECT_FAILURE(dir, "tensor in the wrong shard", "model.safetensors.index.json", "model.norm.weight",
                   "model-00001-of-00002.safetensors");
    /* the same tensor in both shards */
    write_llama_sharded(dir, s, n);
    write_st(dir, "model-00002-of-00002.safetensors", s + 9, n - 9); /* layer 0's down_proj again */
    EXPECT_FAILURE(dir, "duplicate tensor", "model.layers.0.mlp.down_proj.weight", "twice");
    /* a shard missing a tensor the model needs (and the index does not list) */
    write_llama_sharded(dir, s, n - 1);
    EXPECT_FAILURE(dir, "no lm_head", "missing tensor", "lm_head.weight");
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    unlink(path);
    EXPECT_FAILURE(dir, "deleted shard", "model-00002-of-00002.safetensors");
}

static void test_error_memory(void) {
    char dir[128];
    new_dir(dir, sizeof dir);
    /* 2^30 tokens × 2^16 wide: 2^48 float32 embedding values (1 PiB), more than any machine has */
    write_text(dir, "config.json",
               "{\"model_type\":\"gpt2\",\"n_layer\":1,\"n_embd\":65536,\"n_head\":1,\"vocab_size\":1073741824}");
    EXPECT_FAILURE(dir, "model too large", dir, "estimated", "GiB");
}

/* ---- model_weight_bytes and config.json of published model sizes ---- */

/* full config.json files of GPT-2 small, GPT-J 6B, Llama 7B and a GQA Llama with their parameter
 * counts as PyTorch counts them (tests/reference/make_checkpoint_ref.py): the estimate must be exactly
 * 4 bytes per parameter, and 2 bytes less for each weight of a linear layer when those are bf16 */
static void test_weight_bytes(void) {
    const char *names[] = {"gpt2_124M", "gptj_6B", "llama_7B", "llama_gqa"};
    for (int i = 0; i < 4; i++) {
        char path[256], err[512] = "";
        snprintf(path, sizeof path, "tests/fixtures/checkpoint/configs/%s.json", names[i]);
        struct stat st;
        if (stat(path, &st) != 0) SKIP("%s absent (run from the repository root)", path);
        model_config c;
        CHECK(hf_config_read(path, &c, err, sizeof err) == 0, "%s", err);
        cJSON *j = json_file_read(path, err, sizeof err);
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(j, "num_parameters");
        const cJSON *lin = cJSON_GetObjectItemCaseSensitive(j, "num_linear_weights");
        CHECK(cJSON_IsNumber(count) && (double)model_weight_bytes(&c, KT_F32) == 4 * count->valuedouble,
              "%s: estimate %zu bytes, %.0f parameters", names[i], model_weight_bytes(&c, KT_F32),
              count ? count->valuedouble : NAN);
        CHECK(cJSON_IsNumber(count) && cJSON_IsNumber(lin) &&
                  (double)model_weight_bytes(&c, KT_BF16) == 4 * count->valuedouble - 2 * lin->valuedouble,
              "%s: bf16 estimate %zu bytes, %.0f parameters of which %.0f linear weights", names[i],
              model_weight_bytes(&c, KT_BF16), count ? count->valuedouble : NAN, lin ? lin->valuedouble : NAN);
        cJSON_Delete(j);
    }
}

/* ---- llama2.c files ---- */

enum { C_DIM = 8, C_HID = 12, C_L = 2, C_H = 2, C_KV = 1, C_V = 7, C_SEQ = 4 };

/* a llama2.c file with an unshared classifier (vocab written negative): every tensor block k (in file
 * order) holds value(k, i); returns its size in bytes */
static size_t write_llama2c(const char *dir, const char *name, size_t cut) {
    int hs = C_DIM / C_H, kv = C_KV * hs;
    long sizes[] = {C_V * C_DIM,          C_L * C_DIM,        C_L * C_DIM * C_DIM, C_L * kv * C_DIM,
                    C_L * kv * C_DIM,     C_L * C_DIM * C_DIM, C_L * C_DIM,        C_L * C_HID * C_DIM,
                    C_L * C_DIM * C_HID,  C_L * C_HID * C_DIM, C_DIM,              C_SEQ * hs / 2,
                    C_SEQ * hs / 2,       C_V * C_DIM};
    size_t total = 28;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) total += 4 * (size_t)sizes[k];
    unsigned char *bytes = malloc(total);
    int32_t header[7] = {C_DIM, C_HID, C_L, C_H, C_KV, -C_V, C_SEQ};
    memcpy(bytes, header, sizeof header);
    size_t at = 28;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (long i = 0; i < sizes[k]; i++, at += 4) {
            float v = value((int)k, i);
            memcpy(bytes + at, &v, 4);
        }
    write_file(dir, name, bytes, total - cut);
    free(bytes);
    return total;
}

static void test_llama2c_synthetic(void) {
    char dir[128], path[256], err[512] = "";
    write_llama2c(new_dir(dir, sizeof dir), "tiny.bin", 0);
    snprintf(path, sizeof path, "%s/tiny.bin", dir);
    model m;
    int rc = model_load(path, &counting, &m, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    const model_config *c = &m.cfg;
    CHECK(c->arch == ARCH_LLAMA && c->d == C_DIM && c->d_ff == C_HID && c->n_layer == C_L && c->n_head == C_H &&
              c->n_kv_head == C_KV && c->head_dim == 4 && c->vocab == C_V && c->n_ctx == C_SEQ,
          "config");
    CHECK(c->rope_interleaved && c->rotary_dim == 4 && c->rope_theta == 10000.0f && c->norm_eps == 1e-5f &&
              c->bos_id == 1 && c->eos_id == 2 && !c->tied_head,
          "llama2.c conventions");
    long D = C_DIM, KV = 4, H = C_HID, bad = mismatches_plain(m.wte, C_V * D, 0);
    for (int l = 0; l < C_L; l++) { /* block k of the file, layer l's slice */
        const layer_weights *L = &m.layers[l];
        const float *got[] = {L->ln1_w, L->q.w, L->k.w, L->v.w, L->o.w, L->ln2_w, L->mlp_in.w, L->mlp_out.w,
                              L->mlp_up.w};
        long per[] = {D, D * D, KV * D, KV * D, D * D, D, H * D, D * H, H * D};
        for (int k = 0; k < 9; k++)
            for (long i = 0; i < per[k]; i++) bad += got[k][i] != value(k + 1, l * per[k] + i);
    }
    CHECK(bad == 0, "%ld values differ (w1 → mlp_in, w2 → mlp_out, w3 → mlp_up)", bad);
    CHECK(mismatches_plain(m.lnf_w, D, 10) == 0 && m.head.w != m.wte && mismatches_plain(m.head.w, C_V * D, 13) == 0,
          "rms_final and the unshared classifier after the rotary tables");
    model_free(&m);
    CHECK(live_allocs == 0, "%ld device buffers left", live_allocs);

    write_llama2c(dir, "cut.bin", 4);
    snprintf(path, sizeof path, "%s/cut.bin", dir);
    EXPECT_FAILURE(path, "cut llama2.c file", "cut.bin", "truncated", "wcls");
    write_file(dir, "short.bin", "abc", 3);
    snprintf(path, sizeof path, "%s/short.bin", dir);
    EXPECT_FAILURE(path, "3-byte llama2.c file", "short.bin", "truncated");
    int32_t bad_header[7] = {8, 12, 2, 3, 1, 7, 4}; /* dim 8 is not a multiple of 3 heads */
    write_file(dir, "bad.bin", bad_header, sizeof bad_header);
    snprintf(path, sizeof path, "%s/bad.bin", dir);
    EXPECT_FAILURE(path, "inconsistent header", "bad.bin", "n_heads 3");
}

static void test_llama2c_stories(void) {
    char path[512], err[512] = "";
    if (!test_data_path(path, sizeof path, "models/stories260K/stories260K.bin"))
        SKIP("models/stories260K/stories260K.bin not in the shared data folder");
    model m;
    int rc = model_load(path, &counting, &m, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    const model_config *c = &m.cfg;
    /* the shared data README: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512, seq 512,
     * classifier shared with the embedding */
    CHECK(c->d == 64 && c->d_ff == 172 && c->n_layer == 5 && c->n_head == 8 && c->n_kv_head == 4 &&
              c->vocab == 512 && c->n_ctx == 512 && c->head_dim == 8 && c->tied_head && m.head.w == m.wte,
          "config %d %d %d %d %d %d %d", c->d, c->d_ff, c->n_layer, c->n_head, c->n_kv_head, c->vocab, c->n_ctx);
    CHECK(m.layers[4].k.out == 32 && m.layers[4].mlp_up.out == 172 && m.layers[4].mlp_out.in == 172, "sizes");
    /* model_weight_bytes counts exactly the stored floats less the two rotary tables (512·8/2 each) */
    struct stat st;
    stat(path, &st);
    CHECK((long long)model_weight_bytes(c, KT_F32) == st.st_size - 28 - 2 * 4 * (512 * 8 / 2), "estimate %zu, file %lld",
          model_weight_bytes(c, KT_F32), (long long)st.st_size);
    model again;
    CHECK(model_load(path, &counting, &again, err, sizeof err) == 0 && !strcmp(again.checksum, m.checksum),
          "the checksum is deterministic");
    model_free(&again);
    model_free(&m);
    CHECK(live_allocs == 0, "%ld device buffers left", live_allocs);
}

/* ---- references from PyTorch ---- */

/* F16 and BF16 widened to float32 bit for bit as torch does (subnormals, infinities, NaN, −0) */
static void test_dtype_conversion(void) {
    const char *dir = "tests/fixtures/checkpoint/dtypes";
    struct stat st;
    if (stat(dir, &st) != 0) SKIP("%s absent (run from the repository root)", dir);
    st_set s;
    char err[512] = "";
    int rc = st_open_dir(dir, &s, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    const char *pairs[2][2] = {{"x_f16", "ref_f16"}, {"x_bf16", "ref_bf16"}};
    for (int p = 0; p < 2; p++) {
        const st_tensor *x = st_find(&s, pairs[p][0]), *ref = st_find(&s, pairs[p][1]);
        CHECK(x && ref && x->numel == ref->numel && ref->dtype == ST_F32, "%s", pairs[p][0]);
        if (!x || !ref) continue;
        float *got = malloc((size_t)x->numel * 4), *want = malloc((size_t)x->numel * 4);
        CHECK(st_read_f32(x, got, err, sizeof err) == 0 && st_read_f32(ref, want, err, sizeof err) == 0, "%s", err);
        long bad = 0;
        for (long i = 0; i < x->numel; i++)
            bad += isnan(want[i]) ? !isnan(got[i]) : memcmp(&got[i], &want[i], 4) != 0;
        CHECK(bad == 0, "%s: %ld of %lld values differ from torch's widening", pairs[p][0], bad,
              (long long)x->numel);
        free(got);
        free(want);
    }
    /* float32 → bf16 rounds as torch's .to(torch.bfloat16): nearest, ties to even, NaN kept */
    const st_tensor *x = st_find(&s, "x_f32"), *b = st_find(&s, "x_bf16");
    CHECK(x && b && x->dtype == ST_F32 && b->dtype == ST_BF16 && x->numel == b->numel, "x_f32 / x_bf16");
    if (x && b) {
        long bad = 0;
        for (long i = 0; i < x->numel; i++) {
            float f;
            uint16_t want;
            memcpy(&f, (const char *)x->data + 4 * i, 4);
            memcpy(&want, (const char *)b->data + 2 * i, 2);
            uint16_t got = f32_to_bf16(f);
            bad += isnan(f) ? !isnan(bf16_to_f32(got)) : got != want;
        }
        CHECK(bad == 0, "%ld of %lld values round differently from torch", bad, (long long)x->numel);
    }
    st_close(&s);
}

/* Σ c_i·x_i with c_i = ((i·7919) mod 1009) − 504, as make_checkpoint_ref.py; *scale gets Σ |c_i·x_i| */
static double fingerprint(const backend *be, const float *dev, long n, double *scale) {
    float *x = malloc((size_t)n * sizeof *x);
    be->to_host(x, dev, (size_t)n * sizeof *x);
    double sum = 0;
    *scale = 0;
    for (long i = 0; i < n; i++) {
        double ci = (double)((i * 7919) % 1009 - 504);
        sum += ci * x[i];
        *scale += fabs(ci * x[i]);
    }
    free(x);
    return sum;
}

typedef struct named_weight {
    char key[64]; /* as in fingerprints.json: "wte", "layers.1.q.w", ... */
    const float *p;
    long n;
} named_weight;

/* appends the weight when it exists (key printed from "layers.%d.%s" when layer ≥ 0) */
static void add_weight(named_weight *w, int *n, int layer, const char *key, const float *p, long count) {
    if (!p) return;
    if (layer >= 0)
        snprintf(w[*n].key, sizeof w[*n].key, "layers.%d.%s", layer, key);
    else
        snprintf(w[*n].key, sizeof w[*n].key, "%s", key);
    w[*n].p = p;
    w[(*n)++].n = count;
}

/* every weight of m under its fingerprints.json name */
static int list_weights(const model *m, named_weight *w) {
    const model_config *c = &m->cfg;
    int n = 0;
    add_weight(w, &n, -1, "wte", m->wte, (long)c->vocab * c->d);
    add_weight(w, &n, -1, "wpe", m->wpe, (long)c->n_ctx * c->d);
    add_weight(w, &n, -1, "lnf_w", m->lnf_w, c->d);
    add_weight(w, &n, -1, "lnf_b", m->lnf_b, c->d);
    add_weight(w, &n, -1, "head.w", m->head.w, (long)c->vocab * c->d);
    add_weight(w, &n, -1, "head.b", m->head.b, c->vocab);
    for (int l = 0; l < c->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        add_weight(w, &n, l, "ln1_w", L->ln1_w, c->d);
        add_weight(w, &n, l, "ln1_b", L->ln1_b, c->d);
        add_weight(w, &n, l, "ln2_w", L->ln2_w, c->d);
        add_weight(w, &n, l, "ln2_b", L->ln2_b, c->d);
        const struct {
            const char *w, *b;
            const linear *lin;
        } lins[] = {{"q.w", "q.b", &L->q},
                    {"k.w", "k.b", &L->k},
                    {"v.w", "v.b", &L->v},
                    {"o.w", "o.b", &L->o},
                    {"mlp_in.w", "mlp_in.b", &L->mlp_in},
                    {"mlp_up.w", "mlp_up.b", &L->mlp_up},
                    {"mlp_out.w", "mlp_out.b", &L->mlp_out}};
        for (int j = 0; j < 7; j++) {
            add_weight(w, &n, l, lins[j].w, lins[j].lin->w, (long)lins[j].lin->out * lins[j].lin->in);
            add_weight(w, &n, l, lins[j].b, lins[j].lin->b, lins[j].lin->out);
        }
    }
    return n;
}

/* every weight of the tiny fixture models in kedit's orientation, against fingerprints PyTorch took
 * from the modules' behaviour (y(I), y(0)): mapping, orientation, c_attn split and BF16 widening */
static void check_fixture(const char *name, const cJSON *expected) {
    char dir[128], err[512] = "";
    snprintf(dir, sizeof dir, "tests/fixtures/%s", name);
    model m;
    int rc = model_load(dir, &counting, &m, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    named_weight w[128];
    int n = list_weights(&m, w);
    CHECK(n == cJSON_GetArraySize(expected), "%s: %d weights loaded, the reference has %d", name, n,
          cJSON_GetArraySize(expected));
    for (int i = 0; i < n; i++) {
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(expected, w[i].key);
        double scale, got = fingerprint(m.be, w[i].p, w[i].n, &scale);
        /* the float32 values are identical; only the float64 summation order differs (numpy's pairwise
         * vs this loop), ~n·2^−53 of Σ|c·x| ≈ 1e-12 at most here; one misplaced value moves the sum by
         * |c·x|, ~1e-3 of the scale or more */
        CHECK(cJSON_IsNumber(want) && fabs(got - want->valuedouble) <= 1e-10 * scale, "%s %s: %.17g vs %.17g",
              name, w[i].key, got, want ? want->valuedouble : NAN);
    }
    model_free(&m);
    CHECK(live_allocs == 0, "%s: %ld device buffers left", name, live_allocs);
}

static void test_fixture_models(void) {
    char err[256] = "";
    cJSON *ref = json_file_read("tests/fixtures/checkpoint/fingerprints.json", err, sizeof err);
    if (!ref) SKIP("%s (run from the repository root)", err);
    const char *names[] = {"gpt2", "gptj", "llama"};
    for (int i = 0; i < 3; i++) check_fixture(names[i], cJSON_GetObjectItemCaseSensitive(ref, names[i]));
    cJSON_Delete(ref);

    /* the flags each architecture implies (tests/fixtures/README.md describes the three models) */
    model m;
    if (model_load("tests/fixtures/gptj", &counting, &m, err, sizeof err) == 0) {
        CHECK(m.cfg.parallel_block && m.cfg.rope_interleaved && m.cfg.rotary_dim == 4 && !m.cfg.tied_head &&
                  m.layers[0].ln2_w == NULL && m.head.b != NULL,
              "gptj flags");
        model_free(&m);
    }
    if (model_load("tests/fixtures/llama", &counting, &m, err, sizeof err) == 0) {
        CHECK(!m.cfg.rope_interleaved && m.cfg.rotary_dim == 8 && m.cfg.n_kv_head == 2 && !m.cfg.tied_head,
              "llama flags");
        model_free(&m);
    }
    if (model_load("tests/fixtures/gpt2", &counting, &m, err, sizeof err) == 0) {
        CHECK(m.cfg.tied_head && m.head.w == m.wte && m.cfg.bos_id == 100 && m.cfg.d_ff == 128, "gpt2 flags");
        model_free(&m);
    }
}

/* With the linears held in bf16: each linear's weight is the rounding of the float32 load's (nothing
 * else changes), the checksum differs, linear_make_f32 widens exactly, linear_make_bf16 rounds a float32
 * weight as the load does, and nothing leaks. */
static void check_bf16_load(const char *name) {
    char dir[128], err[512] = "";
    snprintf(dir, sizeof dir, "tests/fixtures/%s", name);
    model f, h;
    if (model_load(dir, &counting, &f, err, sizeof err) || model_load_as(dir, &counting, KT_BF16, &h, err, sizeof err)) {
        CHECK(0, "%s: %s", name, err);
        return;
    }
    CHECK(h.weights == KT_BF16 && strcmp(f.checksum, h.checksum) != 0, "%s: weights %d, checksums %s %s", name, h.weights,
          f.checksum, h.checksum);
    named_weight fw[128], hw[128];
    int n = list_weights(&f, fw), nh = list_weights(&h, hw); /* hw lists the float32 tensors only */
    long bad = 0, n_lin = 0;
    for (int i = 0, k = 0; i < n; i++) {
        if (k < nh && !strcmp(fw[i].key, hw[k].key)) { /* a float32 tensor in both: identical */
            bad += memcmp(fw[i].p, hw[k].p, (size_t)fw[i].n * sizeof(float)) != 0;
            k++;
        }
    }
    for (int l = 0; l < f.cfg.n_layer; l++) {
        linear *lf[] = {&f.layers[l].q, &f.layers[l].k, &f.layers[l].v, &f.layers[l].o, &f.layers[l].mlp_in, &f.layers[l].mlp_up,
                        &f.layers[l].mlp_out};
        linear *lh[] = {&h.layers[l].q, &h.layers[l].k, &h.layers[l].v, &h.layers[l].o, &h.layers[l].mlp_in, &h.layers[l].mlp_up,
                        &h.layers[l].mlp_out};
        for (int j = 0; j < 7; j++) {
            if (!lf[j]->w) continue; /* no up_proj outside Llama */
            CHECK(lh[j]->w == NULL && lh[j]->w_bf16 != NULL, "%s: layer %d linear %d not held in bf16", name, l, j);
            if (!lh[j]->w_bf16) continue;
            for (long i = 0; i < (long)lf[j]->out * lf[j]->in; i++) bad += lh[j]->w_bf16[i] != f32_to_bf16(lf[j]->w[i]);
            n_lin++;
        }
    }
    CHECK(bad == 0 && n_lin > 0, "%s: %ld values differ from the float32 load rounded (%ld linears)", name, bad, n_lin);
    CHECK(f.cfg.tied_head ? h.head.w == h.wte : h.head.w == NULL && h.head.w_bf16 != NULL, "%s: the head", name);
    linear *W = &h.layers[1].mlp_out;
    CHECK(linear_make_f32(&counting, W, err, sizeof err) == 0 && W->w && !W->w_bf16, "%s: %s", name, err);
    long off = 0;
    for (long i = 0; W->w && i < (long)W->out * W->in; i++) off += W->w[i] != bf16_to_f32(f32_to_bf16(f.layers[1].mlp_out.w[i]));
    CHECK(off == 0, "%s: %ld values of the widened W_out are not the bf16 values", name, off);
    linear *Q = &f.layers[0].q; /* and back: a float32 weight rounded in place is the bf16 load's */
    CHECK(linear_make_bf16(&counting, Q, err, sizeof err) == 0 && !Q->w && Q->w_bf16 &&
              !memcmp(Q->w_bf16, h.layers[0].q.w_bf16, (size_t)Q->out * Q->in * sizeof *Q->w_bf16),
          "%s: linear_make_bf16 differs from the bf16 load: %s", name, err);
    model_free(&f);
    model_free(&h);
    CHECK(live_allocs == 0, "%s: %ld device buffers left", name, live_allocs);
}

static void test_bf16_load(void) {
    check_bf16_load("gpt2");
    check_bf16_load("gptj");
    check_bf16_load("llama");
}

static void test_bf16_load_llama2c(void) {
    char path[512], err[512] = "";
    if (!test_data_path(path, sizeof path, "models/stories260K/stories260K.bin"))
        SKIP("models/stories260K/stories260K.bin not in the shared data folder");
    model m;
    CHECK(model_load_as(path, &counting, KT_BF16, &m, err, sizeof err) == 0 && m.layers[4].mlp_out.w_bf16 &&
              !m.layers[4].mlp_out.w && m.head.w == m.wte,
          "llama2.c file in bf16: %s", err);
    model_free(&m);
    CHECK(live_allocs == 0, "llama2.c: %ld device buffers left", live_allocs);
}

int main(void) {
    if (!test_make_dir(tmp_root, sizeof tmp_root, "ckpt")) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_gpt2_f32);
    RUN(test_gpt2_f16_bare_names);
    RUN(test_gpt2_bf16);
    RUN(test_llama_sharded);
    RUN(test_llama_tied);
    RUN(test_error_truncated);
    RUN(test_error_header);
    RUN(test_error_missing_tensor);
    RUN(test_error_wrong_shape);
    RUN(test_error_dtype);
    RUN(test_error_config);
    RUN(test_error_index);
    RUN(test_error_memory);
    RUN(test_weight_bytes);
    RUN(test_llama2c_synthetic);
    RUN(test_llama2c_stories);
    RUN(test_dtype_conversion);
    RUN(test_fixture_models);
    RUN(test_bf16_load);
    RUN(test_bf16_load_llama2c);
    test_remove_dir(tmp_root);
    return TEST_SUMMARY();
}
