/* kedit verify MODEL: checks a model folder (or llama2.c .bin) in seconds before a long run, with the
 * loaders' own parsing: config.json, the safetensors shards and their sizes, every tensor the architecture
 * needs with its shape, the dtypes, no NaN or Inf (streamed shard by shard), the tokenizer. One line per
 * check, then a verdict; exit 0 when all pass, 1 at the first that fails. */
#include "commands.h"
#include "hf_config.h"
#include "hf_weights.h"
#include "llama2c.h"
#include "load_checks.h"
#include "path_join.h"
#include "safetensors.h"
#include "tokenizer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void verify_usage(FILE *f) {
    fprintf(f, "usage: kedit verify MODEL [--no-tokenizer]\n"
               "\n"
               "Checks a model before a long run, in seconds: for a Hugging Face folder, that config.json names a\n"
               "supported architecture (gpt2, gptj, llama); that every safetensors shard (model.safetensors, or\n"
               "those model.safetensors.index.json lists) exists with the size its header implies; that every\n"
               "tensor the architecture needs is there with the shape config.json implies; that every tensor is\n"
               "F32, F16 or BF16 and holds no NaN or Inf (read shard by shard); and that the tokenizer loads. For a\n"
               "llama2.c .bin file: the header, the size it implies, no NaN or Inf.\n"
               "Prints one line per check and a verdict; exits 0 when all pass, 1 naming the file, tensor and\n"
               "problem of the first that fails.\n"
               "\n"
               "  --no-tokenizer  skip the tokenizer check (a folder whose runs name their tokenizer elsewhere)\n"
               "  --help          this help\n");
}

static const char *arch_name(model_arch a) {
    return a == ARCH_GPT2 ? "gpt2" : a == ARCH_GPTJ ? "gptj" : "llama";
}

static void ok(const char *check, const char *what) { printf("ok    %-11s %s\n", check, what); }

/* the FAIL line and the verdict; returns 1 */
static int fail(const char *model, const char *check, const char *err) {
    printf("FAIL  %-11s %s\n", check, err);
    printf("verdict: %s is NOT ready: fix the %s check above\n", model, check);
    return 1;
}

/* each file's size equals 8 + its header + the data its tensors index (a safetensors data section is
 * indexed entirely) */
static int check_sizes(const st_set *st, char *err, size_t errlen) {
    for (int f = 0; f < st->n_files; f++) {
        const st_file *file = &st->files[f];
        const unsigned char *base = file->map, *end = NULL;
        for (int i = 0; i < st->n_tensors; i++) {
            const st_tensor *t = &st->tensors[i];
            const unsigned char *t_end = (const unsigned char *)t->data + t->nbytes;
            if (t->file == file->path && (!end || t_end > end)) end = t_end;
        }
        if (end && (size_t)(end - base) != file->size) {
            snprintf(err, errlen, "%s: %zu bytes after the last tensor's data (the header implies %zu bytes)",
                     file->path, file->size - (size_t)(end - base), (size_t)(end - base));
            return 1;
        }
    }
    return 0;
}

static int check_dtypes(const st_set *st, char *err, size_t errlen) {
    for (int i = 0; i < st->n_tensors; i++)
        if (st->tensors[i].dtype == ST_OTHER) {
            snprintf(err, errlen, "%s: tensor %s: dtype %s (kedit reads F32, F16 and BF16)", st->tensors[i].file,
                     st->tensors[i].name, st->tensors[i].dtype_name);
            return 1;
        }
    return 0;
}

/* unmaps the pages holding t's bytes from this process (the page cache keeps them): reading a 27 GB
 * checkpoint then holds one tensor's pages at a time */
static void release_pages(const st_file *file, const st_tensor *t) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), base = (uintptr_t)file->map;
    uintptr_t from = (uintptr_t)t->data / page * page, to = ((uintptr_t)t->data + t->nbytes + page - 1) / page * page;
    if (to > base + file->size) to = base + file->size; /* the mapping's last page is whole: stay inside it */
    if (from < to) madvise((void *)from, to - from, MADV_DONTNEED);
}

/* every tensor of shard f converted to float32 one at a time, checked finite, its pages released */
static int check_finite_shard(const st_set *st, int f, float **buf, size_t *cap, char *err, size_t errlen) {
    const st_file *file = &st->files[f];
    for (int i = 0; i < st->n_tensors; i++) {
        const st_tensor *t = &st->tensors[i];
        if (t->file != file->path) continue;
        size_t n = (size_t)t->numel;
        if (n > *cap) {
            float *grown = realloc(*buf, n * sizeof *grown);
            if (!grown) {
                snprintf(err, errlen, "%s: tensor %s: out of memory converting %zu values", t->file, t->name, n);
                return 1;
            }
            *buf = grown;
            *cap = n;
        }
        if (st_read_f32(t, *buf, err, errlen) || load_check_finite(*buf, n, t->file, t->name, err, errlen)) return 1;
        release_pages(file, t);
    }
    return 0;
}

static int check_finite(const char *model, const st_set *st, char *err, size_t errlen) {
    float *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int f = 0; f < st->n_files && !rc; f++) {
        rc = check_finite_shard(st, f, &buf, &cap, err, errlen);
        if (!rc) {
            char what[1200];
            snprintf(what, sizeof what, "%s: no NaN or Inf", st->files[f].path);
            ok("finite", what);
        }
    }
    free(buf);
    return rc ? fail(model, "finite", err) : 0;
}

static int check_tokenizer(const char *dir, const model_config *c, char *err, size_t errlen) {
    tokenizer *t = tokenizer_load(dir, err, errlen);
    int rc = !t || tokenizer_check_vocab(t, dir, c->vocab, err, errlen);
    if (!rc) {
        char what[128];
        snprintf(what, sizeof what, "%d tokens (the model has %d ids)", tokenizer_vocab_size(t), c->vocab);
        ok("tokenizer", what);
    }
    tokenizer_free(t);
    return rc;
}

static int verify_folder(const char *dir, bool tokenizer, char *err, size_t errlen) {
    char what[1200];
    model_config c;
    char *config = path_join(dir, "config.json");
    if (!config) return fail(dir, "config", "out of memory");
    int rc = hf_config_read(config, &c, err, errlen);
    free(config);
    if (rc) return fail(dir, "config", err);
    snprintf(what, sizeof what, "config.json: %s, %d layers, d %d, d_ff %d, %d heads, vocab %d", arch_name(c.arch),
             c.n_layer, c.d, c.d_ff, c.n_head, c.vocab);
    ok("config", what);

    st_set st;
    if (st_open_dir(dir, &st, err, errlen)) return fail(dir, "shards", err);
    if (check_sizes(&st, err, errlen)) {
        st_close(&st);
        return fail(dir, "shards", err);
    }
    snprintf(what, sizeof what, "%d safetensors file%s, %d tensors, each file the size its header implies",
             st.n_files, st.n_files == 1 ? "" : "s", st.n_tensors);
    ok("shards", what);

    if (hf_weights_check(dir, &c, &st, err, errlen)) rc = fail(dir, "tensors", err);
    else {
        snprintf(what, sizeof what, "every tensor %s needs, with the shape config.json implies", arch_name(c.arch));
        ok("tensors", what);
        if (check_dtypes(&st, err, errlen)) rc = fail(dir, "dtypes", err);
        else {
            ok("dtypes", "every tensor F32, F16 or BF16");
            rc = check_finite(dir, &st, err, errlen);
        }
    }
    st_close(&st);
    if (rc) return rc;

    if (!tokenizer) printf("skip  %-11s (--no-tokenizer)\n", "tokenizer");
    else if (check_tokenizer(dir, &c, err, errlen)) return fail(dir, "tokenizer", err);
    printf("verdict: %s is ready\n", dir);
    return 0;
}

static int verify_llama2c(const char *path, char *err, size_t errlen) {
    model_config c;
    if (llama2c_check(path, &c, err, errlen)) return fail(path, "llama2.c", err);
    char what[256];
    snprintf(what, sizeof what,
             "header: dim %d, %d layers, d_ff %d, %d heads, vocab %d; the size it implies; no NaN or Inf", c.d,
             c.n_layer, c.d_ff, c.n_head, c.vocab);
    ok("llama2.c", what);
    printf("verdict: %s is ready\n", path);
    return 0;
}

int cmd_verify(int argc, char **argv) {
    const char *model = NULL;
    bool tokenizer = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            verify_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--no-tokenizer"))
            tokenizer = false;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "kedit verify: unknown option '%s' (see kedit verify --help)\n", argv[i]);
            return 2;
        } else if (model) {
            fprintf(stderr, "kedit verify: one MODEL only\n");
            return 2;
        } else
            model = argv[i];
    }
    if (!model) {
        fprintf(stderr, "kedit verify: MODEL is missing\n\n");
        verify_usage(stderr);
        return 2;
    }
    char err[2048];
    struct stat st;
    if (stat(model, &st) != 0) {
        snprintf(err, sizeof err, "%s: cannot open (%s)", model, strerror(errno));
        return fail(model, "model", err);
    }
    return S_ISDIR(st.st_mode) ? verify_folder(model, tokenizer, err, sizeof err)
                               : verify_llama2c(model, err, sizeof err);
}
