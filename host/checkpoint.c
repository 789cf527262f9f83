/* model_load dispatch (a folder is a Hugging Face checkpoint, a file a llama2.c .bin), model_free, the
 * memory estimate, bf16 storage of linear weights and the helpers the loaders share (checksum, memory
 * check, upload, JSON). */
#include "checkpoint.h"

#include "bf16.h"
#include "file_read.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FNV_PRIME 0x100000001b3ull

uint64_t ckpt_fnv1a64(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * FNV_PRIME;
    }
    for (; i < n; i++) h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

size_t model_weight_bytes(const model_config *c, kweight_type linears) {
    bool gpt2 = c->arch == ARCH_GPT2, gptj = c->arch == ARCH_GPTJ, llama = c->arch == ARCH_LLAMA;
    double d = c->d, d_ff = c->d_ff, V = c->vocab;
    double q_out = (double)c->n_head * c->head_dim, kv_out = (double)c->n_kv_head * c->head_dim;
    double norm = llama ? d : 2 * d;                              /* RMSNorm has no bias */
    double layer_w = d * q_out + 2 * d * kv_out + q_out * d       /* q, k, v, o */
                     + d * d_ff * (llama ? 3 : 2);                /* W_in (+ up), W_out */
    double layer_f32 = norm * (gptj ? 1 : 2)                      /* ln1 (+ ln2) */
                       + (gpt2 ? q_out + 2 * kv_out + d : 0)      /* GPT-2's attention biases */
                       + (llama ? 0 : d_ff + d);                  /* MLP biases */
    double n_w = (double)c->n_layer * layer_w + (c->tied_head ? 0 : V * d); /* linear weights */
    double n_f32 = V * d + (gpt2 ? (double)c->n_ctx * d : 0) + (double)c->n_layer * layer_f32 + norm +
                   (!c->tied_head && gptj ? V : 0);
    double bytes = (linears == KT_BF16 ? 2 : 4) * n_w + 4 * n_f32;
    return bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

int weight_type_parse(const char *name, kweight_type *t) {
    if (strcmp(name, "f32") == 0) *t = KT_F32;
    else if (strcmp(name, "bf16") == 0) *t = KT_BF16;
    else return 1;
    return 0;
}

const char *weight_type_name(kweight_type t) { return t == KT_BF16 ? "bf16" : "f32"; }

/* bytes the system can give without swapping: MemAvailable, else the physical memory; 0 if unknown */
static size_t available_memory(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                fclose(f);
                return (size_t)kb * 1024;
            }
        fclose(f);
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
}

int ckpt_check_memory(const model_config *c, const backend *be, kweight_type linears, const char *path, char *err,
                      size_t errlen) {
    if (strcmp(be->name, "cpu") != 0) return 0;
    size_t need = model_weight_bytes(c, linears), avail = available_memory();
    if (avail && need > avail) {
        snprintf(err, errlen,
                 "%s: the model needs an estimated %.2f GiB of weights (linear layers in %s) but only %.2f GiB "
                 "of memory is available%s",
                 path, need / 1073741824.0, weight_type_name(linears), avail / 1073741824.0,
                 linears == KT_F32 ? " (bf16 weights need about half)" : "");
        return 1;
    }
    return 0;
}

int ckpt_check_finite(const float *x, size_t n, const char *path, const char *tensor, char *err, size_t errlen) {
    size_t bad = n;
#pragma omp parallel for reduction(min : bad) if (n >= (1 << 20))
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && i < bad) bad = i;
    if (bad == n) return 0;
    snprintf(err, errlen, "%s: tensor %s: element %zu is %s (NaN or infinite weights are refused)", path, tensor, bad,
             isnan(x[bad]) ? "NaN" : "infinite");
    return 1;
}

float *ckpt_upload(const backend *be, const float *host, size_t n) {
    float *p = be->alloc(n * sizeof *p);
    be->to_device(p, host, n * sizeof *p);
    return p;
}

/* n floats rounded to bf16 this many at a time on the host before their upload */
#define BF16_UPLOAD_CHUNK (1 << 20)

int ckpt_upload_linear(const backend *be, linear *l, const float *host, kweight_type wt, char *err, size_t errlen) {
    size_t n = (size_t)l->out * l->in;
    if (wt == KT_F32) {
        l->w = ckpt_upload(be, host, n);
        return 0;
    }
    uint16_t *chunk = malloc((n < BF16_UPLOAD_CHUNK ? n : BF16_UPLOAD_CHUNK) * sizeof *chunk);
    if (!chunk) {
        snprintf(err, errlen, "out of memory rounding a (%d, %d) weight to bf16", l->out, l->in);
        return 1;
    }
    l->w_bf16 = be->alloc(n * sizeof *l->w_bf16);
    for (size_t at = 0; at < n; at += BF16_UPLOAD_CHUNK) {
        size_t k = n - at < BF16_UPLOAD_CHUNK ? n - at : BF16_UPLOAD_CHUNK;
#pragma omp parallel for if (k >= (1u << 16))
        for (size_t i = 0; i < k; i++) chunk[i] = f32_to_bf16(host[at + i]);
        be->to_device(l->w_bf16 + at, chunk, k * sizeof *chunk);
    }
    free(chunk);
    return 0;
}

void linear_weight_to_host(const backend *be, const linear *l, float *dst) {
    size_t n = (size_t)l->out * l->in;
    if (l->w) {
        be->to_host(dst, l->w, n * sizeof *dst);
        return;
    }
    uint16_t *h = (uint16_t *)dst + n; /* the bf16 values fill the upper half of dst, then widen downwards */
    be->to_host(h, l->w_bf16, n * sizeof *h);
    for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(h[i]);
}

int linear_make_f32(const backend *be, linear *l, char *err, size_t errlen) {
    if (l->w) return 0;
    size_t n = (size_t)l->out * l->in;
    float *host = malloc(n * sizeof *host);
    if (!host) {
        snprintf(err, errlen, "out of memory widening a (%d, %d) bf16 weight to float32", l->out, l->in);
        return 1;
    }
    linear_weight_to_host(be, l, host);
    l->w = ckpt_upload(be, host, n);
    free(host);
    be->free(l->w_bf16);
    l->w_bf16 = NULL;
    return 0;
}

int linear_make_bf16(const backend *be, linear *l, char *err, size_t errlen) {
    if (!l->w) return 0;
    size_t n = (size_t)l->out * l->in;
    float *host = malloc(n * sizeof *host), *w = l->w;
    if (!host) {
        snprintf(err, errlen, "out of memory rounding a (%d, %d) weight to bf16", l->out, l->in);
        return 1;
    }
    be->to_host(host, w, n * sizeof *host);
    int rc = ckpt_upload_linear(be, l, host, KT_BF16, err, errlen);
    free(host);
    if (rc) return 1;
    be->free(w);
    l->w = NULL;
    return 0;
}

char *ckpt_join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

cJSON *ckpt_json_read(const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = file_read_all(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        snprintf(err, errlen, "%s: invalid JSON (near byte %ld)", path, off);
    }
    free(text);
    return root;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int model_load(const char *path, const backend *be, model *m, char *err, size_t errlen) {
    return model_load_as(path, be, KT_F32, m, err, errlen);
}

int model_load_as(const char *path, const backend *be, kweight_type linears, model *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->be = be;
    m->weights = linears;
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: cannot open model (%s)", path, strerror(errno));
        return 1;
    }
    int rc;
    if (S_ISDIR(st.st_mode))
        rc = hf_model_load(path, be, m, err, errlen);
    else if (ends_with(path, ".safetensors") || ends_with(path, ".json")) {
        snprintf(err, errlen, "%s: give the model's folder (config.json and safetensors), not one of its files",
                 path);
        rc = 1;
    } else
        rc = llama2c_model_load(path, be, m, err, errlen);
    if (rc == 0 && linears == KT_BF16) { /* a different model: the statistics and templates caches keep apart */
        uint64_t h = ckpt_fnv1a64(strtoull(m->checksum, NULL, 16), "bf16", 4);
        snprintf(m->checksum, sizeof m->checksum, "%016" PRIx64, h);
    }
    if (rc == 0 && !(m->source = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = 1;
    }
    if (rc) model_free(m);
    return rc;
}

static void free_device(const backend *be, void *p) {
    if (p) be->free(p);
}

static void free_linear(const backend *be, linear *l) {
    free_device(be, l->w);
    free_device(be, l->w_bf16);
    free_device(be, l->b);
}

void model_free(model *m) {
    if (!m) return;
    const backend *be = m->be;
    if (be) {
        for (int i = 0; m->layers && i < m->cfg.n_layer; i++) {
            layer_weights *L = &m->layers[i];
            free_device(be, L->ln1_w);
            free_device(be, L->ln1_b);
            free_device(be, L->ln2_w);
            free_device(be, L->ln2_b);
            linear *lin[] = {&L->q, &L->k, &L->v, &L->o, &L->mlp_in, &L->mlp_up, &L->mlp_out};
            for (size_t j = 0; j < sizeof lin / sizeof *lin; j++) free_linear(be, lin[j]);
        }
        if (m->head.w == m->wte) m->head.w = NULL;
        free_linear(be, &m->head);
        free_device(be, m->wte);
        free_device(be, m->wpe);
        free_device(be, m->lnf_w);
        free_device(be, m->lnf_b);
    }
    free(m->layers);
    free(m->source);
    memset(m, 0, sizeof *m);
}
