/* The covariance statistics C_l = (1/#tokens)·Σ k kᵀ of the W_out input (the key, SITE_MLP_KEY) over every
 * token of a text corpus's windows (editing-spec §5, §10.5; corpus.h cuts them by its rule): uncentred,
 * accumulated on the backend in float64 (default) or float32 (the references' mom2_dtype), any set of
 * layers in one forward pass that stops after the highest of them. Results are cached, one file per
 * layer, keyed by the model checksum, the layer, the corpus checksum, the token count, the truncation rule
 * and the precision (no suffix for "windows" and float64):
 *   <cache_dir>/<model checksum>/cov_L<layer>_<corpus checksum>_<tokens>[_document][_f32].bin
 * (a header that also holds the window length and the numbers of documents and windows, then C as
 * float32), and a run that is interrupted resumes from its periodic checkpoint of partial sums
 * (…/cov_<corpus>_<tokens>[_document][_f32]_L<l>-<l>….partial). */
#ifndef KEDIT_COVARIANCE_H
#define KEDIT_COVARIANCE_H

#include "corpus.h"
#include "model.h"
#include "tokenizer.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cov_precision { COV_FLOAT64, COV_FLOAT32 } cov_precision;

/* "float64" or "float32" */
const char *cov_precision_name(cov_precision precision);
/* the precision named s; non-zero when s names none */
int cov_precision_parse(const char *s, cov_precision *precision);

typedef struct cov_opts {
    const char *corpus;           /* the text file (corpus.h) */
    corpus_rule truncate;         /* how its documents are cut into windows (default CORPUS_WINDOWS) */
    cov_precision precision;      /* of the running sums Σ k kᵀ (default COV_FLOAT64) */
    int64_t max_tokens;           /* 0: the whole corpus */
    int max_len;                  /* tokens per window; 0: the model's n_ctx */
    int batch_tokens;             /* tokens per forward pass; 0: 4096 (at least one window) */
    const char *cache_dir;        /* NULL: "results/stats" */
    double checkpoint_seconds;    /* partial sums saved this often; 0: 300, < 0: never */
    bool progress;                /* a progress line with rate and ETA on stderr */
    volatile sig_atomic_t *stop;  /* when set (e.g. by SIGINT), save a checkpoint and return non-zero */
} cov_opts;

typedef struct cov_info {
    int layer;
    corpus_rule truncate;
    cov_precision precision;
    int n_docs, n_win; /* documents in the corpus, windows used */
    int64_t n_tokens;
    uint64_t corpus_checksum;
    double eps;       /* ε of the εI added to C to make it positive definite (0: none needed) */
    bool from_cache;  /* loaded rather than computed */
    char path[1024];  /* its cache file */
} cov_info;

/* C for each of the n layers: device float32 (d_ff × d_ff) on m's backend, the caller frees with
 * m->be->free; info (n entries) says where each came from. Every C is checked positive definite and
 * regularised as spec §10.5 says (C + εI, ε = 1e-6·tr(C)/d_ff, reported on stderr and in info); fewer
 * tokens than d_ff are refused. Non-zero with a message in err on failure. */
int cov_get(const model *m, const tokenizer *tok, const int *layers, int n, const cov_opts *o, float **C,
            cov_info *info, char *err, size_t errlen);

/* The statistic of n layers over the windows of a plan, without cache or checkpoints (o: precision,
 * batch_tokens, progress and stop are used): C[j] (host, d_ff × d_ff float64, malloc'd) = Σ k kᵀ/#tokens. */
int cov_compute(const model *m, const corpus_plan *plan, const int *layers, int n, const cov_opts *o, double **C,
                char *err, size_t errlen);

/* The §10.5 check on a device C (d_ff × d_ff float32): if a float64 Cholesky fails, C += εI with
 * ε = 1e-6·tr(C)/d_ff (*eps = ε, else 0); non-zero if C is still not positive definite. */
int cov_regularise(const backend *be, int d_ff, float *C, double *eps, char *err, size_t errlen);

/* the cache file of one layer's statistic over plan (the layout above) into path (n bytes); non-zero when it
 * does not fit */
int cov_cache_path(const char *cache_dir, const char *model_checksum, int layer, const corpus_plan *plan,
                   cov_precision precision, char *path, size_t n);

/* A cache file: its header must match (model checksum, layer, d_ff, window length, precision, and plan's
 * corpus checksum, token count, rule, documents and windows). Returns 0 and a malloc'd host C, 1 when
 * absent or stale, −1 on a read error. */
int cov_cache_read(const char *path, const char *model_checksum, int layer, int d_ff, const corpus_plan *plan,
                   cov_precision precision, int max_len, float **C, char *err, size_t errlen);

#endif
