/* The BPE model shared by the GPT-2 and Llama tokenizers (vocabulary index, merge table, merging by
 * rank), and the small containers and UTF-8 helpers of the tokenizer files. */
#include "tokenizer_impl.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

bool tok_ids_push(tok_ids *l, int id) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        int *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return true;
}

bool tok_buf_append(tok_buf *b, const void *s, size_t len) {
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + len + 1) cap *= 2;
        char *v = realloc(b->v, cap);
        if (!v) return false;
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, s, len);
    b->n += len;
    b->v[b->n] = '\0';
    return true;
}

static uint64_t hash_bytes(const char *s, size_t len) { /* FNV-1a 64 */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_u64(uint64_t x) { /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

bool tok_vocab_set(tok_vocab *v, int id, const char *s, size_t len) {
    if (id < 0 || id == INT_MAX) return false; // the loaders bound ids by their vocabulary's size
    if (id >= v->n) {
        char **piece = realloc(v->piece, (size_t)(id + 1) * sizeof *piece);
        if (!piece) return false;
        v->piece = piece;
        int *piece_len = realloc(v->piece_len, (size_t)(id + 1) * sizeof *piece_len);
        if (!piece_len) return false;
        v->piece_len = piece_len;
        for (int i = v->n; i <= id; i++) {
            v->piece[i] = NULL;
            v->piece_len[i] = 0;
        }
        v->n = id + 1;
    }
    char *copy = malloc(len + 1);
    if (!copy) return false;
    memcpy(copy, s, len);
    copy[len] = '\0';
    free(v->piece[id]);
    v->piece[id] = copy;
    v->piece_len[id] = (int)len;
    return true;
}

int tok_vocab_find(const tok_vocab *v, const char *s, size_t len) {
    if (!v->cap) return -1;
    for (size_t i = hash_bytes(s, len) & (v->cap - 1);; i = (i + 1) & (v->cap - 1)) {
        int id = v->slot[i];
        if (id < 0) return -1;
        if ((size_t)v->piece_len[id] == len && !memcmp(v->piece[id], s, len)) return id;
    }
}

bool tok_vocab_index(tok_vocab *v) {
    size_t cap = 16;
    while (cap < 2 * (size_t)v->n) cap *= 2;
    int *slot = malloc(cap * sizeof *slot);
    if (!slot) return false;
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    free(v->slot);
    v->slot = slot;
    v->cap = cap;
    for (int id = 0; id < v->n; id++) {
        if (!v->piece[id] || tok_vocab_find(v, v->piece[id], (size_t)v->piece_len[id]) >= 0) continue;
        size_t i = hash_bytes(v->piece[id], (size_t)v->piece_len[id]) & (cap - 1);
        while (slot[i] >= 0) i = (i + 1) & (cap - 1);
        slot[i] = id;
    }
    return true;
}

void tok_vocab_free(tok_vocab *v) {
    for (int i = 0; i < v->n; i++) free(v->piece[i]);
    free(v->piece);
    free(v->piece_len);
    free(v->slot);
    memset(v, 0, sizeof *v);
}

static uint64_t merge_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static size_t merge_slot(const tok_merges *m, uint64_t key) {
    size_t i = hash_u64(key) & (m->cap - 1);
    while (m->key[i] && m->key[i] != key) i = (i + 1) & (m->cap - 1);
    return i;
}

static bool merges_grow(tok_merges *m) {
    tok_merges bigger = {.cap = m->cap ? 2 * m->cap : 1024, .n = m->n};
    bigger.key = calloc(bigger.cap, sizeof *bigger.key);
    bigger.rank = malloc(bigger.cap * sizeof *bigger.rank);
    bigger.merged = malloc(bigger.cap * sizeof *bigger.merged);
    if (!bigger.key || !bigger.rank || !bigger.merged) {
        tok_merges_free(&bigger);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->key[i]) continue;
        size_t j = merge_slot(&bigger, m->key[i]);
        bigger.key[j] = m->key[i];
        bigger.rank[j] = m->rank[i];
        bigger.merged[j] = m->merged[i];
    }
    tok_merges_free(m);
    *m = bigger;
    return true;
}

bool tok_merges_add(tok_merges *m, int a, int b, int rank, int merged) {
    if (2 * (m->n + 1) > m->cap && !merges_grow(m)) return false;
    uint64_t key = merge_key(a, b);
    size_t i = merge_slot(m, key);
    if (!m->key[i]) m->n++;
    m->key[i] = key;
    m->rank[i] = rank;
    m->merged[i] = merged;
    return true;
}

int tok_merges_find(const tok_merges *m, int a, int b, int *rank) {
    if (!m->cap) return -1;
    size_t i = merge_slot(m, merge_key(a, b));
    if (!m->key[i]) return -1;
    *rank = m->rank[i];
    return m->merged[i];
}

void tok_merges_free(tok_merges *m) {
    free(m->key);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

/* a merge waiting in the queue: symbol pos with its right neighbour, into merged */
typedef struct merge_cand {
    int rank, pos, merged;
} merge_cand;

static bool cand_before(merge_cand x, merge_cand y) { return x.rank != y.rank ? x.rank < y.rank : x.pos < y.pos; }

static void heap_push(merge_cand *heap, int *n, merge_cand c) {
    int i = (*n)++;
    while (i > 0 && cand_before(c, heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = c;
}

static merge_cand heap_pop(merge_cand *heap, int *n) {
    merge_cand top = heap[0], last = heap[--*n];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= *n) break;
        if (child + 1 < *n && cand_before(heap[child + 1], heap[child])) child++;
        if (!cand_before(heap[child], last)) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = last;
    return top;
}

static void push_pair(const tok_merges *m, const int *sym, int left, int right, merge_cand *heap, int *n) {
    int rank, merged = tok_merges_find(m, sym[left], sym[right], &rank);
    if (merged >= 0) heap_push(heap, n, (merge_cand){rank, left, merged});
}

int tok_bpe_merge(const tok_merges *m, int *sym, int n) {
    if (n < 2) return n;
    /* prev, next: [n] links of the live symbols (prev −2 marks a symbol merged into its left one);
     * heap: [3n] the n − 1 first pairs plus at most two new pairs per merge */
    int *prev = malloc(2 * (size_t)n * sizeof *prev);
    merge_cand *heap = malloc(3 * (size_t)n * sizeof *heap);
    if (!prev || !heap) {
        free(prev);
        free(heap);
        return -1;
    }
    int *next = prev + n, queued = 0;
    for (int i = 0; i < n; i++) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int i = 0; i + 1 < n; i++) push_pair(m, sym, i, i + 1, heap, &queued);
    while (queued) {
        merge_cand c = heap_pop(heap, &queued);
        int right = next[c.pos], rank;
        if (prev[c.pos] == -2 || right < 0) continue;
        /* a queued pair is stale when its symbols have changed since (checked on the merged id, as the
         * Hugging Face implementation does) */
        if (tok_merges_find(m, sym[c.pos], sym[right], &rank) != c.merged) continue;
        sym[c.pos] = c.merged;
        next[c.pos] = next[right];
        prev[right] = -2;
        if (next[c.pos] >= 0) prev[next[c.pos]] = c.pos;
        if (prev[c.pos] >= 0) push_pair(m, sym, prev[c.pos], c.pos, heap, &queued);
        if (next[c.pos] >= 0) push_pair(m, sym, c.pos, next[c.pos], heap, &queued);
    }
    int kept = 0;
    for (int i = 0; i >= 0; i = next[i]) sym[kept++] = sym[i];
    free(prev);
    free(heap);
    return kept;
}

/* Length of the UTF-8 sequence at s when valid (*valid true), else the length of its maximal invalid
 * subpart (at least 1), as Unicode's "best practice for U+FFFD substitution" defines it. */
static size_t utf8_sequence(const unsigned char *s, size_t len, bool *valid) {
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    *valid = false;
    if (c < 0x80) {
        *valid = true;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 1;
    size_t i = 1;
    for (; i < need && i < len; i++) {
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (s[i] < min || s[i] > max) return i;
    }
    *valid = i == need;
    return i;
}

bool tok_utf8_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        bool valid;
        i += utf8_sequence(u + i, len - i, &valid);
        if (!valid) return false;
    }
    return true;
}

size_t tok_utf8_char_len(const char *s, size_t len) {
    bool valid;
    return utf8_sequence((const unsigned char *)s, len, &valid);
}

bool tok_utf8_put(tok_buf *b, uint32_t cp) {
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return tok_buf_append(b, u, n);
}

bool tok_utf8_append_lossy(tok_buf *b, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        bool valid;
        size_t n = utf8_sequence(u + i, len - i, &valid);
        if (!(valid ? tok_buf_append(b, s + i, n) : tok_utf8_put(b, 0xFFFD))) return false;
        i += n;
    }
    return true;
}

int tok_byte_token(const char *p, int len) {
    if (len != 6 || strncmp(p, "<0x", 3) || p[5] != '>' || !isxdigit((unsigned char)p[3]) ||
        !isxdigit((unsigned char)p[4]))
        return -1;
    char hex[3] = {p[3], p[4], '\0'};
    return (int)strtol(hex, NULL, 16);
}
