/* llama2.c's legacy .bin → model (ARCH_LLAMA). The file is 7 int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size — negative when the classifier is not shared with the embedding — seq_len),
 * then float32 tensors, each for all layers at once, in the order token_embedding, rms_att, wq, wk, wv,
 * wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag (skipped: the backend computes
 * rotary angles) and, when not shared, wcls. Matrices are stored (out, in) already. llama2.c's w1 is
 * the gate, w3 the up projection and w2 the down projection; its rotary embedding rotates interleaved
 * pairs (2i, 2i+1) over the whole head with theta 10000. */
#include "llama2c.h"

#include "fnv.h"
#include "load_checks.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_BYTES (7 * 4)

/* a read position in the mapped weights */
typedef struct cursor {
    const unsigned char *at, *end;
    const char *path;
    char *err;
    size_t errlen;
} cursor;

/* the next n floats, the tensor `name` (all layers); NULL with a message when the file ends first */
static const float *take(cursor *c, double n, const char *name) {
    size_t left = (size_t)(c->end - c->at);
    if (4 * n > (double)left) {
        snprintf(c->err, c->errlen, "%s: truncated file: tensor %s needs %.0f bytes, %zu remain", c->path, name,
                 4 * n, left);
        return NULL;
    }
    const float *p = (const float *)(const void *)c->at;
    c->at += 4 * (size_t)n;
    return load_check_finite(p, (size_t)n, c->path, name, c->err, c->errlen) ? NULL : p;
}

/* the header's configuration, validated */
static int read_header(const int32_t h[7], model_config *c, const char *path, char *err, size_t errlen) {
    int dim = h[0], hidden = h[1], n_layers = h[2], n_heads = h[3], n_kv = h[4], vocab = h[5], seq = h[6];
    if (dim <= 0 || hidden <= 0 || n_layers <= 0 || n_heads <= 0 || n_kv <= 0 || vocab == 0 ||
        vocab == INT32_MIN || seq <= 0 || dim % n_heads || n_heads % n_kv || (dim / n_heads) % 2) {
        snprintf(err, errlen,
                 "%s: not a llama2.c model: header dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, "
                 "vocab_size %d, seq_len %d is inconsistent",
                 path, dim, hidden, n_layers, n_heads, n_kv, vocab, seq);
        return 1;
    }
    *c = (model_config){.arch = ARCH_LLAMA,
                        .n_layer = n_layers,
                        .d = dim,
                        .n_head = n_heads,
                        .n_kv_head = n_kv,
                        .head_dim = dim / n_heads,
                        .d_ff = hidden,
                        .vocab = vocab < 0 ? -vocab : vocab,
                        .n_ctx = seq,
                        .rotary_dim = dim / n_heads,
                        .rope_theta = 10000,
                        .rope_interleaved = true,
                        .norm_eps = 1e-5f,
                        .parallel_block = false,
                        .tied_head = vocab > 0,
                        .bos_id = 1,
                        .eos_id = 2};
    return 0;
}

/* the file's tensors, each for all layers at once (wcls is emb when the head is tied) */
typedef struct tensors {
    const float *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
} tensors;

/* takes every tensor c implies, each finite, and checks that nothing follows the last */
static int take_all(cursor *cur, const model_config *c, tensors *t) {
    double L = c->n_layer, d = c->d, kv = (double)c->n_kv_head * c->head_dim, h = c->d_ff, V = c->vocab;
    t->emb = take(cur, V * d, "token_embedding"); /* in file order: one statement each */
    t->rms_att = take(cur, L * d, "rms_att");
    t->wq = take(cur, L * d * d, "wq");
    t->wk = take(cur, L * kv * d, "wk");
    t->wv = take(cur, L * kv * d, "wv");
    t->wo = take(cur, L * d * d, "wo");
    t->rms_ffn = take(cur, L * d, "rms_ffn");
    t->w1 = take(cur, L * h * d, "w1");
    t->w2 = take(cur, L * d * h, "w2");
    t->w3 = take(cur, L * h * d, "w3");
    t->rms_final = take(cur, d, "rms_final");
    const float *freq_re = take(cur, (double)c->n_ctx * c->head_dim / 2, "freq_cis_real");
    const float *freq_im = take(cur, (double)c->n_ctx * c->head_dim / 2, "freq_cis_imag");
    t->wcls = c->tied_head ? t->emb : take(cur, V * d, "wcls");
    if (!t->emb || !t->rms_att || !t->wq || !t->wk || !t->wv || !t->wo || !t->rms_ffn || !t->w1 || !t->w2 ||
        !t->w3 || !t->rms_final || !freq_re || !freq_im || !t->wcls)
        return 1;
    if (cur->at != cur->end) {
        snprintf(cur->err, cur->errlen, "%s: %zu bytes after the last tensor (not a llama2.c legacy file?)",
                 cur->path, (size_t)(cur->end - cur->at));
        return 1;
    }
    return 0;
}

static int load_weights(cursor *cur, const backend *be, model *m) {
    const model_config *c = &m->cfg;
    tensors t;
    if (take_all(cur, c, &t)) return 1;
    size_t D = (size_t)c->d, KV = (size_t)c->n_kv_head * (size_t)c->head_dim, H = (size_t)c->d_ff;
    int rc = 0;
    for (int l = 0; l < c->n_layer && !rc; l++) { /* layer l's part of each all-layer tensor */
        layer_weights *lw = &m->layers[l];
        lw->ln1_w = weights_upload(be, t.rms_att + l * D, D);
        lw->ln2_w = weights_upload(be, t.rms_ffn + l * D, D);
        struct {
            linear *dst;
            const float *src;
            int out, in;
        } lin[] = {{&lw->q, t.wq + l * D * D, c->d, c->d},          {&lw->k, t.wk + l * KV * D, (int)KV, c->d},
                   {&lw->v, t.wv + l * KV * D, (int)KV, c->d},      {&lw->o, t.wo + l * D * D, c->d, c->d},
                   {&lw->mlp_in, t.w1 + l * H * D, c->d_ff, c->d},  {&lw->mlp_up, t.w3 + l * H * D, c->d_ff, c->d},
                   {&lw->mlp_out, t.w2 + l * D * H, c->d, c->d_ff}};
        for (size_t i = 0; i < sizeof lin / sizeof *lin && !rc; i++) {
            *lin[i].dst = (linear){.out = lin[i].out, .in = lin[i].in};
            rc = linear_upload(be, lin[i].dst, lin[i].src, m->weights, cur->err, cur->errlen);
        }
    }
    if (rc) return 1;
    m->wte = weights_upload(be, t.emb, (size_t)c->vocab * D);
    m->lnf_w = weights_upload(be, t.rms_final, D);
    m->head = (linear){.w = c->tied_head ? m->wte : NULL, .out = c->vocab, .in = c->d};
    return c->tied_head ? 0 : linear_upload(be, &m->head, t.wcls, m->weights, cur->err, cur->errlen);
}

/* maps the file at path and reads its header into c; non-zero with the message in err (nothing mapped) */
static int map_model(const char *path, model_config *c, void **map, size_t *size, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < HEADER_BYTES) {
        snprintf(err, errlen, "%s: truncated file: fewer than the %d header bytes of a llama2.c model", path,
                 HEADER_BYTES);
        close(fd);
        return 1;
    }
    *size = (size_t)st.st_size;
    *map = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (*map == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map (%s)", path, strerror(errno));
        return 1;
    }
    int32_t header[7];
    memcpy(header, *map, sizeof header);
    if (read_header(header, c, path, err, errlen)) {
        munmap(*map, *size);
        return 1;
    }
    return 0;
}

static cursor cursor_at_weights(const void *map, size_t size, const char *path, char *err, size_t errlen) {
    return (cursor){.at = (const unsigned char *)map + HEADER_BYTES,
                    .end = (const unsigned char *)map + size,
                    .path = path,
                    .err = err,
                    .errlen = errlen};
}

int llama2c_check(const char *path, model_config *c, char *err, size_t errlen) {
    void *map;
    size_t size;
    if (map_model(path, c, &map, &size, err, errlen)) return 1;
    cursor cur = cursor_at_weights(map, size, path, err, errlen);
    tensors t;
    int rc = take_all(&cur, c, &t);
    munmap(map, size);
    return rc;
}

int llama2c_model_load(const char *path, const backend *be, model *m, char *err, size_t errlen) {
    void *map;
    size_t size;
    if (map_model(path, &m->cfg, &map, &size, err, errlen)) return 1;
    int rc = load_check_memory(&m->cfg, be, m->weights, path, err, errlen);
    if (!rc && !(m->layers = calloc((size_t)m->cfg.n_layer, sizeof *m->layers))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = 1;
    }
    cursor cur = cursor_at_weights(map, size, path, err, errlen);
    if (!rc) rc = load_weights(&cur, be, m);
    if (!rc) snprintf(m->checksum, sizeof m->checksum, "%016" PRIx64, fnv1a64(FNV1A64_OFFSET, map, size));
    munmap(map, size);
    return rc;
}
