/* Building a tokenizer, shared by every format's loader (tokenizer.c's tokenizer.json, tokenizer_bpe.c's
 * vocab.json + merges.txt, tokenizer_llama2c.c's tokenizer.bin): the empty tokenizer and its release, adding
 * tokens and merges, finishing the vocabulary index, and the error and file-reading helpers they report
 * through. */
#include "tokenizer_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tok_error(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

char *tok_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tok_error(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    tok_buf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (!tok_buf_append(&b, chunk, got)) {
            tok_error(err, errlen, "%s: out of memory while reading", path);
            free(b.v);
            fclose(f);
            return NULL;
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed || !tok_buf_append(&b, "", 0)) {
        tok_error(err, errlen, "%s: read error", path);
        free(b.v);
        return NULL;
    }
    *len = b.n;
    return b.v;
}

tokenizer *tok_new(tok_flavour flavour) {
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->flavour = flavour;
    t->bos = t->eos = t->unk = -1;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    return t;
}

void tok_free(tokenizer *t) {
    if (!t) return;
    tok_vocab_free(&t->vocab);
    tok_merges_free(&t->merges);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].text);
    free(t->added);
    free(t->special);
    free(t->prefix);
    free(t->suffix);
    if (t->pretok) pcre2_code_free(t->pretok);
    free(t);
}

bool tok_add_token(tokenizer *t, const char *text, size_t len, int id, bool special) {
    tok_added *added = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *added);
    if (!added) return false;
    t->added = added;
    char *copy = malloc(len + 1);
    if (!copy) return false;
    memcpy(copy, text, len);
    copy[len] = '\0';
    t->added[t->n_added++] = (tok_added){copy, (int)len, id, special};
    /* an added token that the model's vocabulary lacks gets its own id */
    return id < t->vocab.n && t->vocab.piece[id] ? true : tok_vocab_set(&t->vocab, id, text, len);
}

bool tok_finish(tokenizer *t) {
    if (!tok_vocab_index(&t->vocab)) return false;
    t->special = calloc((size_t)t->vocab.n + 1, 1);
    if (!t->special) return false;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].special) t->special[t->added[i].id] = 1;
    return true;
}

int tok_add_merge(tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int rank) {
    int ia = tok_vocab_find(&t->vocab, a, alen), ib = tok_vocab_find(&t->vocab, b, blen);
    if (ia < 0) return 1;
    if (ib < 0) return 2;
    char *ab = malloc(alen + blen);
    if (!ab) return -1;
    memcpy(ab, a, alen);
    memcpy(ab + alen, b, blen);
    int merged = tok_vocab_find(&t->vocab, ab, alen + blen);
    free(ab);
    if (merged < 0) return 3;
    return tok_merges_add(&t->merges, ia, ib, rank, merged) ? 0 : -1;
}

const char *tok_merge_problem(int rc) {
    return rc == 1 ? "the left token" : rc == 2 ? "the right token" : "the merged token";
}
