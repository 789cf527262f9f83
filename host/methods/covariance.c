#include "covariance.h"

#include "corpus.h"
#include "progress.h"
#include "transformer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COV_MAGIC "KEDITCOV"
#define PART_MAGIC "KEDITCVP"
#define COV_VERSION 3u

/* the cache file's header (native layout), followed by C as d_ff × d_ff float32 */
typedef struct cov_header {
    char magic[8];
    uint32_t version;
    int32_t d_ff, layer, max_len;
    char model[24]; /* model checksum, hex */
    uint64_t corpus;
    int64_t n_tokens;
    int32_t rule, n_docs, n_win; /* corpus_plan's */
    int32_t precision;           /* cov_precision */
} cov_header;

/* the checkpoint's header, followed by n_layers int32 layer ids and n_layers partial sums Σ k kᵀ
 * (d_ff × d_ff each, in the accumulation's precision) */
typedef struct part_header {
    char magic[8];
    uint32_t version;
    int32_t d_ff, n_layers, max_len;
    char model[24];
    uint64_t corpus;
    int64_t n_tokens, windows_done, tokens_done;
    int32_t rule, precision;
} part_header;

static int mkdir_p(const char *dir) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

/* writes bytes to path through path.tmp and a rename, so a reader never sees half a file */
static int write_atomic(const char *path, const void *head, size_t head_len, const void *const *parts,
                        const size_t *part_len, int n_parts) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    int bad = fwrite(head, 1, head_len, f) != head_len;
    for (int i = 0; i < n_parts && !bad; i++) bad = fwrite(parts[i], 1, part_len[i], f) != part_len[i];
    if (fclose(f)) bad = 1;
    if (bad || rename(tmp, path)) {
        remove(tmp);
        return -1;
    }
    return 0;
}

int cov_cache_read(const char *path, const char *model_checksum, int layer, int d_ff, const corpus_plan *plan,
                   cov_precision precision, int max_len, float **C, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    cov_header h;
    int rc = 1;
    if (fread(&h, sizeof h, 1, f) == 1 && !memcmp(h.magic, COV_MAGIC, 8) && h.version == COV_VERSION &&
        h.d_ff == d_ff && h.layer == layer && h.max_len == max_len && !strncmp(h.model, model_checksum, 24) &&
        h.corpus == plan->checksum && h.n_tokens == plan->n_tokens && h.rule == (int32_t)plan->rule &&
        h.n_docs == plan->n_docs && h.n_win == plan->n_win && h.precision == (int32_t)precision) {
        size_t n = (size_t)d_ff * d_ff;
        *C = malloc(n * sizeof(float));
        if (*C && fread(*C, sizeof(float), n, f) == n) {
            rc = 0;
        } else {
            free(*C);
            *C = NULL;
            snprintf(err, errlen, "%s: the covariance cache is truncated (delete it to recompute)", path);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

int cov_regularise(const backend *be, int d_ff, float *C, double *eps, char *err, size_t errlen) {
    size_t n = (size_t)d_ff * d_ff;
    double *L = be->alloc(n * sizeof(double)); // (d_ff, d_ff) float64 trial factor
    be->f32_to_f64(C, L, (int64_t)n);
    int info = be->potrf(d_ff, L);
    *eps = 0;
    if (info) {
        float *h = malloc(n * sizeof(float));
        be->to_host(h, C, n * sizeof(float));
        double tr = 0;
        for (int i = 0; i < d_ff; i++) tr += h[(size_t)i * d_ff + i];
        *eps = 1e-6 * tr / d_ff; // ε = 1e-6·tr(C)/d_ff
        for (int i = 0; i < d_ff; i++) h[(size_t)i * d_ff + i] += (float)*eps;
        be->to_device(C, h, n * sizeof(float));
        free(h);
        be->f32_to_f64(C, L, (int64_t)n);
        info = be->potrf(d_ff, L);
    }
    be->free(L);
    if (info) {
        snprintf(err, errlen, "covariance: C + εI (ε = %.3g) is still not positive definite (leading minor %d of %d)",
                 *eps, info, d_ff);
        return -1;
    }
    return 0;
}

/* the state of one pass over the corpus */
typedef struct pass {
    const model *m;
    const corpus_plan *plan;
    const cov_opts *o;
    int n, max_len, d_ff;
    const int *layers;
    size_t es;   /* bytes of an element of S: 8 (float64) or 4 (float32) */
    void **S;    /* n device (d_ff, d_ff) partial sums Σ k kᵀ in the accumulation's precision */
    int64_t windows_done, tokens_done;
    char part_path[1100];
} pass;

static part_header part_head(const pass *p) {
    part_header h = {.version = COV_VERSION, .d_ff = p->d_ff, .n_layers = p->n, .max_len = p->max_len,
                     .corpus = p->plan->checksum, .n_tokens = p->plan->n_tokens, .windows_done = p->windows_done,
                     .tokens_done = p->tokens_done, .rule = (int32_t)p->plan->rule,
                     .precision = (int32_t)p->o->precision};
    memcpy(h.magic, PART_MAGIC, 8);
    snprintf(h.model, sizeof h.model, "%s", p->m->checksum);
    return h;
}

static int save_partial(const pass *p) {
    part_header h = part_head(p);
    size_t nn = (size_t)p->d_ff * p->d_ff;
    int n = p->n;
    const void **parts = malloc((size_t)(n + 1) * sizeof *parts);
    size_t *lens = malloc((size_t)(n + 1) * sizeof *lens);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    void **host = malloc((size_t)n * sizeof *host);
    for (int j = 0; j < n; j++) {
        ids[j] = p->layers[j];
        host[j] = malloc(nn * p->es);
        p->m->be->to_host(host[j], p->S[j], nn * p->es);
        parts[j + 1] = host[j];
        lens[j + 1] = nn * p->es;
    }
    parts[0] = ids;
    lens[0] = (size_t)n * sizeof *ids;
    int rc = write_atomic(p->part_path, &h, sizeof h, parts, lens, n + 1);
    for (int j = 0; j < n; j++) free(host[j]);
    free(host), free(ids), free(parts), free(lens);
    return rc;
}

/* resumes from a checkpoint of this very pass (same model, corpus, tokens, window length and layers) */
static void load_partial(pass *p) {
    FILE *f = fopen(p->part_path, "rb");
    if (!f) return;
    part_header h, want = part_head(p);
    size_t nn = (size_t)p->d_ff * p->d_ff;
    int ok = fread(&h, sizeof h, 1, f) == 1 && !memcmp(h.magic, want.magic, 8) && h.version == want.version &&
             h.d_ff == want.d_ff && h.n_layers == want.n_layers && h.max_len == want.max_len &&
             !strncmp(h.model, want.model, 24) && h.corpus == want.corpus && h.n_tokens == want.n_tokens &&
             h.rule == want.rule && h.precision == want.precision && h.windows_done >= 0 &&
             h.windows_done <= p->plan->n_win;
    for (int j = 0; ok && j < p->n; j++) {
        int32_t id;
        ok = fread(&id, sizeof id, 1, f) == 1 && id == p->layers[j];
    }
    void *buf = malloc(nn * p->es);
    for (int j = 0; ok && j < p->n; j++) {
        ok = fread(buf, p->es, nn, f) == nn;
        if (ok) p->m->be->to_device(p->S[j], buf, nn * p->es);
    }
    free(buf);
    fclose(f);
    if (ok) {
        p->windows_done = h.windows_done;
        p->tokens_done = h.tokens_done;
        fprintf(stderr, "kedit: statistics: resuming from %s (%" PRId64 " of %" PRId64 " tokens done)\n", p->part_path,
                h.tokens_done, h.n_tokens);
    } else {
        for (int j = 0; j < p->n; j++) p->m->be->zero(p->S[j], nn * p->es);
    }
}

static void fmt_duration(double s, char *buf, size_t n) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static void print_progress(const pass *p, int64_t tokens_this_run, double elapsed, bool final) {
    double rate = elapsed > 0 ? (double)tokens_this_run / elapsed : 0;
    int64_t left = p->plan->n_tokens - p->tokens_done;
    char eta[32];
    fmt_duration(rate > 0 ? (double)left / rate : 0, eta, sizeof eta);
    bool tty = isatty(fileno(stderr)); // a terminal redraws one line; a log gets plain lines
    fprintf(stderr, "%skedit: statistics: %" PRId64 "/%" PRId64 " tokens (%.1f%%), %.0f tok/s, ETA %s%s",
            tty ? "\r" : "", p->tokens_done, p->plan->n_tokens,
            100.0 * (double)p->tokens_done / (double)p->plan->n_tokens, rate, eta, tty ? "   " : "\n");
    if (final && tty) fprintf(stderr, "\n");
}

/* S += Σ k kᵀ over the captured keys of ntok tokens, in float64 (the keys widened first) */
static void accumulate_float64(const pass *p, const khook *hooks, int ntok) {
    const backend *be = p->m->be;
    int f = p->d_ff;
    double *Xh = malloc((size_t)ntok * f * sizeof(double)); // (d_ff, ntok) keys as columns
    double *X = be->alloc((size_t)ntok * f * sizeof(double));
    for (int j = 0; j < p->n; j++) {
        const float *k = hooks[j].data; // (ntok, d_ff)
        for (int r = 0; r < ntok; r++)
            for (int c = 0; c < f; c++) Xh[(size_t)c * ntok + r] = k[(size_t)r * f + c];
        be->to_device(X, Xh, (size_t)ntok * f * sizeof(double));
        be->dsyrk_acc(f, ntok, 1.0, X, ntok, p->S[j], f); // S += X·Xᵀ = Σ k kᵀ
    }
    be->free(X);
    free(Xh);
}

/* S += Kᵀ·K in float32, the references' mom2_dtype (runningstats' mom2 += aᵀa) */
static void accumulate_float32(const pass *p, const khook *hooks, int ntok) {
    const backend *be = p->m->be;
    int f = p->d_ff;
    float *K = be->alloc((size_t)ntok * f * sizeof(float));
    for (int j = 0; j < p->n; j++) {
        be->to_device(K, hooks[j].data, (size_t)ntok * f * sizeof(float)); // (ntok, d_ff)
        be->gemm(true, false, f, f, ntok, 1.0f, K, f, K, KT_F32, f, 1.0f, p->S[j], f);
    }
    be->free(K);
}

/* accumulates Σ k kᵀ of every token of windows [w0, w1) into the partial sums */
static int accumulate_batch(pass *p, int w0, int w1) {
    const corpus_plan *pl = p->plan;
    int nseq = w1 - w0, ntok = (int)(pl->start[w1] - pl->start[w0]), f = p->d_ff;
    int *len = malloc((size_t)nseq * sizeof(int));
    const int **ids = malloc((size_t)nseq * sizeof *ids);
    kpos *at = malloc((size_t)ntok * sizeof *at); // every real token
    for (int s = 0, r = 0; s < nseq; s++) {
        len[s] = (int)(pl->start[w0 + s + 1] - pl->start[w0 + s]);
        ids[s] = pl->ids + pl->start[w0 + s];
        for (int t = 0; t < len[s]; t++) at[r++] = (kpos){s, t};
    }
    khook *hooks = calloc((size_t)p->n, sizeof *hooks);
    int top = 0;
    for (int j = 0; j < p->n; j++) {
        hooks[j] = (khook){HOOK_CAPTURE, SITE_MLP_KEY, p->layers[j], ntok, at, malloc((size_t)ntok * f * sizeof(float)), false};
        top = p->layers[j] > top ? p->layers[j] : top;
    }
    kbatch b = {nseq, len, (const int *const *)ids};
    fwd_opts o = {.hooks = hooks, .n_hooks = p->n, .n_logit = 0, .bwd_from_layer = -1, .stop_layer = top};
    fwd_state *st = transformer_forward(p->m, &b, &o);
    bool ok = st != NULL;
    fwd_state_free(st);
    if (ok && p->o->precision == COV_FLOAT32) accumulate_float32(p, hooks, ntok);
    else if (ok) accumulate_float64(p, hooks, ntok);
    for (int j = 0; j < p->n; j++) free(hooks[j].data);
    free(hooks), free(at), free(ids), free(len);
    if (!ok) return -1;
    p->windows_done = w1;
    p->tokens_done += ntok;
    return 0;
}

/* one pass over the corpus for the n layers: C[j] (host, d_ff² float64) = Σ k kᵀ/#tokens. Checkpoints
 * go to p->part_path unless it is empty. */
static int compute_pass(pass *p, double **C, char *err, size_t errlen) {
    const backend *be = p->m->be;
    const cov_opts *o = p->o;
    size_t nn = (size_t)p->d_ff * p->d_ff;
    bool ckpt = p->part_path[0] != 0;
    p->es = o->precision == COV_FLOAT32 ? sizeof(float) : sizeof(double);
    p->S = malloc((size_t)p->n * sizeof *p->S);
    for (int j = 0; j < p->n; j++) p->S[j] = be->alloc(nn * p->es);
    if (ckpt) load_partial(p);
    int batch_tokens = o->batch_tokens > 0 ? o->batch_tokens : 4096;
    double period = o->checkpoint_seconds == 0 ? 300 : o->checkpoint_seconds;
    double t0 = progress_now(), last_ckpt = t0, last_print = 0;
    int64_t tokens0 = p->tokens_done;
    int rc = 0;
    const corpus_plan *pl = p->plan;
    for (int w = (int)p->windows_done; w < pl->n_win && !rc;) {
        int w1 = w + 1;
        while (w1 < pl->n_win && pl->start[w1 + 1] - pl->start[w] <= batch_tokens) w1++;
        if (accumulate_batch(p, w, w1)) {
            snprintf(err, errlen, "covariance: the forward pass failed on corpus windows %d..%d", w, w1 - 1);
            rc = -1;
            break;
        }
        w = w1;
        double t = progress_now();
        double print_every = isatty(fileno(stderr)) ? 0.5 : 5.0; // seconds between progress lines
        if (o->progress && (t - last_print > print_every || w == pl->n_win)) {
            print_progress(p, p->tokens_done - tokens0, t - t0, w == pl->n_win);
            last_print = t;
        }
        bool stop = o->stop && *o->stop;
        if (ckpt && ((period > 0 && t - last_ckpt >= period && w < pl->n_win) || stop)) {
            if (save_partial(p)) fprintf(stderr, "\nkedit: statistics: cannot write the checkpoint %s\n", p->part_path);
            last_ckpt = t;
        }
        if (stop) {
            snprintf(err, errlen, "interrupted after %" PRId64 " of %" PRId64 " tokens%s%s", p->tokens_done,
                     pl->n_tokens, ckpt ? "; run again to resume from " : "", p->part_path);
            rc = -1;
        }
    }
    for (int j = 0; j < p->n && !rc; j++) {
        C[j] = malloc(nn * sizeof(double));
        if (p->es == sizeof(double)) {
            be->to_host(C[j], p->S[j], nn * sizeof(double));
        } else {
            float *S32 = malloc(nn * sizeof(float));
            be->to_host(S32, p->S[j], nn * sizeof(float));
            for (size_t e = 0; e < nn; e++) C[j][e] = S32[e];
            free(S32);
        }
        for (size_t e = 0; e < nn; e++) C[j][e] /= (double)pl->n_tokens; // C = Σkkᵀ/#tokens
    }
    if (!rc && ckpt) remove(p->part_path);
    for (int j = 0; j < p->n; j++) be->free(p->S[j]);
    free(p->S);
    return rc;
}

int cov_compute(const model *m, const corpus_plan *plan, const int *layers, int n, const cov_opts *o, double **C,
                char *err, size_t errlen) {
    pass p = {.m = m, .plan = plan, .o = o, .n = n, .layers = layers, .d_ff = m->cfg.d_ff,
              .max_len = o->max_len > 0 ? o->max_len : m->cfg.n_ctx};
    return compute_pass(&p, C, err, errlen);
}

/* writes one layer's cache file (C as float32); a failure only warns: the statistic is still used */
static void cache_write(const model *m, const corpus_plan *plan, cov_precision precision, int layer, int max_len,
                        const float *C, const char *path) {
    size_t nn = (size_t)m->cfg.d_ff * m->cfg.d_ff;
    cov_header h = {.version = COV_VERSION, .d_ff = m->cfg.d_ff, .layer = layer, .max_len = max_len,
                    .corpus = plan->checksum, .n_tokens = plan->n_tokens, .rule = (int32_t)plan->rule,
                    .n_docs = plan->n_docs, .n_win = plan->n_win, .precision = (int32_t)precision};
    memcpy(h.magic, COV_MAGIC, 8);
    snprintf(h.model, sizeof h.model, "%s", m->checksum);
    const void *part[1] = {C};
    size_t plen[1] = {nn * sizeof(float)};
    if (write_atomic(path, &h, sizeof h, part, plen, 1))
        fprintf(stderr, "kedit: statistics: cannot write the cache %s (the statistic is used uncached)\n", path);
}

/* "" for the defaults (the file names of before the options existed), else "_document" and/or "_f32" */
static const char *key_suffix(corpus_rule rule, cov_precision precision) {
    static const char *const suffix[2][2] = {{"", "_f32"}, {"_document", "_document_f32"}};
    return suffix[rule == CORPUS_DOCUMENT][precision == COV_FLOAT32];
}

int cov_cache_path(const char *cache_dir, const char *model_checksum, int layer, const corpus_plan *plan,
                   cov_precision precision, char *path, size_t n) {
    int k = snprintf(path, n, "%s/%s/cov_L%d_%016" PRIx64 "_%" PRId64 "%s.bin", cache_dir, model_checksum, layer,
                     plan->checksum, plan->n_tokens, key_suffix(plan->rule, precision));
    return k < 0 || (size_t)k >= n;
}

const char *cov_precision_name(cov_precision precision) { return precision == COV_FLOAT32 ? "float32" : "float64"; }

int cov_precision_parse(const char *s, cov_precision *precision) {
    if (!strcmp(s, "float64")) *precision = COV_FLOAT64;
    else if (!strcmp(s, "float32")) *precision = COV_FLOAT32;
    else return -1;
    return 0;
}

int cov_get(const model *m, const tokenizer *tok, const int *layers, int n, const cov_opts *o, float **C,
            cov_info *info, char *err, size_t errlen) {
    const backend *be = m->be;
    int d_ff = m->cfg.d_ff, max_len = o->max_len > 0 ? o->max_len : m->cfg.n_ctx;
    const char *cache = o->cache_dir ? o->cache_dir : "results/stats";
    for (int j = 0; j < n; j++) {
        C[j] = NULL;
        if (layers[j] < 0 || layers[j] >= m->cfg.n_layer) {
            snprintf(err, errlen, "covariance: layer %d is outside the model's 0..%d", layers[j], m->cfg.n_layer - 1);
            return -1;
        }
    }
    corpus_plan plan;
    if (corpus_plan_make(o->corpus, tok, o->truncate, max_len, o->max_tokens, &plan, err, errlen)) return -1;
    if (plan.n_tokens < d_ff) {
        snprintf(err, errlen, "%s: %" PRId64 " tokens are fewer than d_ff = %d: C would be singular (use more text)",
                 o->corpus, plan.n_tokens, d_ff);
        corpus_plan_free(&plan);
        return -1;
    }
    char dir[900];
    if (snprintf(dir, sizeof dir, "%s/%s", cache, m->checksum) >= (int)sizeof dir || mkdir_p(dir)) {
        snprintf(err, errlen, "%s: cannot create the statistics cache folder", dir);
        corpus_plan_free(&plan);
        return -1;
    }
    size_t nn = (size_t)d_ff * d_ff;
    float **host = calloc((size_t)n, sizeof *host);
    int *todo = malloc((size_t)n * sizeof *todo), n_todo = 0, rc = 0;
    char(*todo_paths)[1024] = malloc((size_t)n * sizeof *todo_paths);
    for (int j = 0; j < n && !rc; j++) {
        info[j] = (cov_info){.layer = layers[j], .truncate = plan.rule, .precision = o->precision,
                             .n_docs = plan.n_docs, .n_win = plan.n_win, .n_tokens = plan.n_tokens,
                             .corpus_checksum = plan.checksum};
        cov_cache_path(cache, m->checksum, layers[j], &plan, o->precision, info[j].path, sizeof info[j].path);
        int r = cov_cache_read(info[j].path, m->checksum, layers[j], d_ff, &plan, o->precision, max_len, &host[j], err,
                               errlen);
        if (r < 0) rc = -1;
        else if (r == 0) info[j].from_cache = true;
        else {
            memcpy(todo_paths[n_todo], info[j].path, sizeof info[j].path);
            todo[n_todo++] = j;
        }
    }
    if (!rc && n_todo) {
        pass p = {.m = m, .plan = &plan, .o = o, .n = n_todo, .max_len = max_len, .d_ff = d_ff};
        int *ids = malloc((size_t)n_todo * sizeof *ids);
        double **out = calloc((size_t)n_todo, sizeof *out);
        int len = snprintf(p.part_path, sizeof p.part_path, "%s/cov_%016" PRIx64 "_%" PRId64 "%s_L", dir,
                           plan.checksum, plan.n_tokens, key_suffix(plan.rule, o->precision));
        for (int t = 0; t < n_todo; t++) {
            ids[t] = layers[todo[t]];
            len += snprintf(p.part_path + len, sizeof p.part_path - (size_t)len, "%s%d", t ? "-" : "", ids[t]);
        }
        snprintf(p.part_path + len, sizeof p.part_path - (size_t)len, ".partial");
        p.layers = ids;
        rc = compute_pass(&p, out, err, errlen);
        for (int t = 0; t < n_todo && !rc; t++) {
            float *h = malloc(nn * sizeof(float));
            for (size_t e = 0; e < nn; e++) h[e] = (float)out[t][e];
            cache_write(m, &plan, o->precision, ids[t], max_len, h, todo_paths[t]);
            host[todo[t]] = h;
        }
        for (int t = 0; t < n_todo; t++) free(out[t]);
        free(out);
        free(ids);
    }
    for (int j = 0; j < n && !rc; j++) {
        C[j] = be->alloc(nn * sizeof(float));
        be->to_device(C[j], host[j], nn * sizeof(float));
        char msg[256];
        if (cov_regularise(be, d_ff, C[j], &info[j].eps, msg, sizeof msg)) {
            snprintf(err, errlen, "layer %d (%s): %s", layers[j], info[j].path, msg);
            rc = -1;
        } else if (info[j].eps > 0) {
            fprintf(stderr, "kedit: layer %d: C is not positive definite (%" PRId64 " tokens): added εI, ε = %.3g\n",
                    layers[j], plan.n_tokens, info[j].eps);
        }
    }
    if (rc)
        for (int j = 0; j < n; j++)
            if (C[j]) be->free(C[j]), C[j] = NULL;
    for (int j = 0; j < n; j++) free(host[j]);
    free(host), free(todo), free(todo_paths);
    corpus_plan_free(&plan);
    return rc;
}
