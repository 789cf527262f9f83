/* llama2.c's tokenizer.bin: int32 max_token_length, then per token a float score, an int32 byte length
 * and the bytes (spaces are plain " "). Ids 0, 1, 2 are <unk>, BOS and EOS; ids 3..258 the bytes
 * <0x00>..<0xFF>. Encoding follows llama2.c's run.c: BOS, a dummy " " prefix, one token per UTF-8
 * character (else its bytes), then repeatedly the adjacent pair whose concatenation is the best-scoring
 * token merges (leftmost among equal scores). */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

enum { LLAMA2C_UNK = 0, LLAMA2C_BOS = 1, LLAMA2C_EOS = 2, LLAMA2C_BYTE0 = 3 };

/* run.c never merges into a token scored at or below this */
static const float LLAMA2C_NO_MERGE = -1e10f;

static int descending(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* rank of a score among the distinct scores sorted best first: equal scores share a rank */
static int score_rank(const float *distinct, int n, float score) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (distinct[mid] > score)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Every split of a token into two tokens a + b becomes the merge (a, b) → token, ranked by the token's
 * score, so that the BPE merging picks what run.c's best-score search picks. */
static bool build_merges(tokenizer *t, const float *score) {
    int n = t->vocab.n, n_distinct = 0;
    float *distinct = malloc((size_t)n * sizeof *distinct); /* [n] scores, best first, deduplicated */
    if (!distinct) return false;
    memcpy(distinct, score, (size_t)n * sizeof *distinct);
    qsort(distinct, (size_t)n, sizeof *distinct, descending);
    for (int i = 0; i < n; i++)
        if (!n_distinct || distinct[i] != distinct[n_distinct - 1]) distinct[n_distinct++] = distinct[i];
    bool ok = true;
    for (int id = 0; ok && id < n; id++) {
        if (score[id] <= LLAMA2C_NO_MERGE) continue;
        const char *p = t->vocab.piece[id];
        int len = t->vocab.piece_len[id];
        for (int k = 1; ok && k < len; k++) {
            int a = tok_vocab_find(&t->vocab, p, (size_t)k), b = tok_vocab_find(&t->vocab, p + k, (size_t)(len - k));
            if (a >= 0 && b >= 0)
                ok = tok_merges_add(&t->merges, a, b, score_rank(distinct, n_distinct, score[id]), id);
        }
    }
    free(distinct);
    return ok;
}

static bool read_tokens(tokenizer *t, const char *path, const char *data, size_t len, float **score, char *err,
                        size_t errlen) {
    int32_t max_len;
    if (len < sizeof max_len) {
        tok_error(err, errlen, "%s: too short for a llama2.c tokenizer.bin (no int32 max_token_length)", path);
        return false;
    }
    memcpy(&max_len, data, sizeof max_len);
    if (max_len <= 0) {
        tok_error(err, errlen, "%s: max_token_length %d is not positive (not a llama2.c tokenizer.bin?)", path,
                  (int)max_len);
        return false;
    }
    size_t at = sizeof max_len;
    for (int id = 0; at < len; id++) {
        float s;
        int32_t n;
        if (len - at < sizeof s + sizeof n) {
            tok_error(
                err, errlen,
                "%s: token %d is truncated (needs a float score and an int32 length; not a llama2.c tokenizer.bin?)",
                path, id);
            return false;
        }
        memcpy(&s, data + at, sizeof s);
        memcpy(&n, data + at + sizeof s, sizeof n);
        at += sizeof s + sizeof n;
        if (n < 0 || n > max_len || (size_t)n > len - at) {
            tok_error(err, errlen,
                      "%s: token %d has length %d (max_token_length %d, %zu bytes left; not a llama2.c tokenizer.bin?)",
                      path, id, (int)n, (int)max_len, len - at);
            return false;
        }
        float *grown = realloc(*score, (size_t)(id + 1) * sizeof *grown);
        if (!grown || !tok_vocab_set(&t->vocab, id, data + at, (size_t)n)) {
            if (grown) *score = grown;
            tok_error(err, errlen, "%s: out of memory", path);
            return false;
        }
        *score = grown;
        (*score)[id] = s;
        at += (size_t)n;
    }
    if (t->vocab.n <= LLAMA2C_EOS) {
        tok_error(err, errlen, "%s: has %d tokens, fewer than <unk>, BOS and EOS", path, t->vocab.n);
        return false;
    }
    return true;
}

tokenizer *tok_llama2c_load(const char *path, char *err, size_t errlen) {
    size_t len;
    char *data = tok_read_file(path, &len, err, errlen);
    if (!data) return NULL;
    tokenizer *t = tok_new(TOK_LLAMA2C);
    float *score = NULL; /* [vocab.n] */
    bool ok = t && read_tokens(t, path, data, len, &score, err, errlen);
    if (ok && !(tok_finish(t) && build_merges(t, score))) {
        tok_error(err, errlen, "%s: out of memory", path);
        ok = false;
    }
    free(score);
    free(data);
    if (!ok) {
        if (!t) tok_error(err, errlen, "%s: out of memory", path);
        tok_free(t);
        return NULL;
    }
    t->unk = LLAMA2C_UNK;
    t->bos = LLAMA2C_BOS;
    t->eos = LLAMA2C_EOS;
    for (int id = LLAMA2C_UNK; id <= LLAMA2C_EOS; id++) t->special[id] = 1;
    for (int b = 0; b < 256; b++) t->byte_id[b] = LLAMA2C_BYTE0 + b < t->vocab.n ? LLAMA2C_BYTE0 + b : LLAMA2C_UNK;
    return t;
}

bool tok_llama2c_encode(const tokenizer *t, const char *s, size_t len, bool bos, tok_ids *out) {
    tok_ids sym = {0};
    bool ok = !bos || tok_ids_push(&sym, t->bos);
    if (ok && len) {
        int space = tok_vocab_find(&t->vocab, " ", 1); /* the dummy prefix */
        ok = tok_ids_push(&sym, space >= 0 ? space : t->byte_id[' ']);
    }
    /* a group is a byte and up to three continuation bytes after it, as run.c reads UTF-8 */
    for (size_t i = 0, n; ok && i < len; i += n) {
        n = 1;
        while (i + n < len && n < 4 && ((unsigned char)s[i + n] & 0xC0) == 0x80) n++;
        int id = tok_vocab_find(&t->vocab, s + i, n);
        if (id >= 0)
            ok = tok_ids_push(&sym, id);
        else
            for (size_t k = 0; ok && k < n; k++) ok = tok_ids_push(&sym, t->byte_id[(unsigned char)s[i + k]]);
    }
    int n = ok ? tok_bpe_merge(&t->merges, sym.v, sym.n) : -1;
    for (int i = 0; ok && i < n; i++) ok = tok_ids_push(out, sym.v[i]);
    free(sym.v);
    return ok && n >= 0;
}

/* run.c's decoding: a token right after BOS loses its leading space; <0xXX> tokens are their byte */
bool tok_llama2c_decode(const tokenizer *t, const int *ids, int n, bool skip_special, tok_buf *out) {
    tok_buf bytes = {0};
    bool ok = true;
    int prev = -1;
    for (int i = 0; ok && i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->vocab.n) continue;
        const char *p = t->vocab.piece[id];
        int len = t->vocab.piece_len[id];
        if (prev == t->bos && len > 0 && p[0] == ' ') {
            p++;
            len--;
        }
        int byte = tok_byte_token(p, len);
        unsigned char b = (unsigned char)byte;
        if (!(skip_special && t->special[id]))
            ok = byte >= 0 ? tok_buf_append(&bytes, &b, 1) : tok_buf_append(&bytes, p, (size_t)len);
        prev = id;
    }
    ok = ok && tok_utf8_append_lossy(out, bytes.v ? bytes.v : "", bytes.n);
    free(bytes.v);
    return ok;
}
