/* model_load dispatch (a folder is a Hugging Face checkpoint, a file a llama2.c .bin), model_free, the
 * float32 memory estimate and the helpers the loaders share (checksum, memory check, upload, JSON). */
#include "checkpoint.h"

#include <errno.h>
#include <stdint.h>
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

size_t model_weight_bytes(const model_config *c) {
    bool gpt2 = c->arch == ARCH_GPT2, gptj = c->arch == ARCH_GPTJ, llama = c->arch == ARCH_LLAMA;
    double d = c->d, d_ff = c->d_ff, V = c->vocab;
    double q_out = (double)c->n_head * c->head_dim, kv_out = (double)c->n_kv_head * c->head_dim;
    double norm = llama ? d : 2 * d;                          /* RMSNorm has no bias */
    double layer = norm * (gptj ? 1 : 2)                      /* ln1 (+ ln2) */
                   + d * q_out + 2 * d * kv_out + q_out * d   /* q, k, v, o */
                   + (gpt2 ? q_out + 2 * kv_out + d : 0)      /* GPT-2's attention biases */
                   + d * d_ff * (llama ? 3 : 2)               /* W_in (+ up), W_out */
                   + (llama ? 0 : d_ff + d);                  /* MLP biases */
    double n = V * d + (gpt2 ? (double)c->n_ctx * d : 0) + (double)c->n_layer * layer + norm +
               (c->tied_head ? 0 : V * d + (gptj ? V : 0));
    double bytes = 4 * n;
    return bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

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

int ckpt_check_memory(const model_config *c, const backend *be, const char *path, char *err, size_t errlen) {
    if (strcmp(be->name, "cpu") != 0) return 0;
    size_t need = model_weight_bytes(c), avail = available_memory();
    if (avail && need > avail) {
        snprintf(err, errlen,
                 "%s: the model needs an estimated %.2f GiB of float32 weights but only %.2f GiB of memory "
                 "is available",
                 path, need / 1073741824.0, avail / 1073741824.0);
        return 1;
    }
    return 0;
}

float *ckpt_upload(const backend *be, const float *host, size_t n) {
    float *p = be->alloc(n * sizeof *p);
    be->to_device(p, host, n * sizeof *p);
    return p;
}

char *ckpt_join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

cJSON *ckpt_json_read(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap) {
            char *grown = realloc(text, cap = cap ? 2 * cap : 65536);
            if (!grown) {
                free(text);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory reading it", path);
                return NULL;
            }
            text = grown;
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    int read_failed = ferror(f);
    fclose(f);
    if (read_failed) {
        free(text);
        snprintf(err, errlen, "%s: read error", path);
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
    memset(m, 0, sizeof *m);
    m->be = be;
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
