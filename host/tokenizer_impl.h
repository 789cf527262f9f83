/* Private to the tokenizer files: the tokenizer struct, the BPE model shared by the GPT-2 and Llama
 * flavours (vocabulary index, merge table, merging), small UTF-8 and buffer helpers, the building steps
 * every loader shares (tokenizer_build.c) and the flavours tokenizer.c dispatches to. */
#ifndef KEDIT_TOKENIZER_IMPL_H
#define KEDIT_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer; /* as tokenizer.h has it; the loaders below tokenizer.c do not include it */

typedef enum tok_flavour {
    TOK_BYTE_LEVEL, /* GPT-2: regex pre-tokenisation, bytes mapped to printable characters, BPE */
    TOK_SPM,        /* Llama: "▁" for spaces and a leading "▁", BPE over the whole text, byte fallback */
    TOK_LLAMA2C,    /* llama2.c tokenizer.bin: dummy " " prefix, merges by best score, byte fallback */
} tok_flavour;

/* a growable list of ids */
typedef struct tok_ids {
    int *v;
    int n, cap;
} tok_ids;

/* a growable byte string, kept NUL-terminated */
typedef struct tok_buf {
    char *v;
    size_t n, cap;
} tok_buf;

bool tok_ids_push(tok_ids *l, int id);
bool tok_buf_append(tok_buf *b, const void *s, size_t len);

/* token strings by id, with a string → id hash index (open addressing, linear probing) */
typedef struct tok_vocab {
    char **piece;   /* [n] NUL-terminated token strings; NULL for an id that has none */
    int *piece_len; /* [n] byte lengths */
    int n;
    int *slot; /* [cap] an id, or −1 for an empty slot */
    size_t cap;
} tok_vocab;

/* sets the string of id (growing n); a later tok_vocab_index makes it findable */
bool tok_vocab_set(tok_vocab *v, int id, const char *s, size_t len);
/* builds the string → id index; an id whose string repeats an earlier id's is not indexed */
bool tok_vocab_index(tok_vocab *v);
int tok_vocab_find(const tok_vocab *v, const char *s, size_t len); /* −1 when absent */
void tok_vocab_free(tok_vocab *v);

/* BPE merges: a pair of adjacent ids (a, b) → its rank (lower merges first) and the merged id */
typedef struct tok_merges {
    uint64_t *key; /* [cap] (a << 32 | b) + 1, 0 for an empty slot */
    int *rank;     /* [cap] */
    int *merged;   /* [cap] */
    size_t cap, n;
} tok_merges;

/* adds or replaces the merge of (a, b) */
bool tok_merges_add(tok_merges *m, int a, int b, int rank, int merged);
/* the merge of (a, b): its merged id, or −1 when there is none (its rank in *rank) */
int tok_merges_find(const tok_merges *m, int a, int b, int *rank);
void tok_merges_free(tok_merges *m);

/* Applies merges to the symbols sym[0..n) in place, lowest rank first and leftmost among equal ranks,
 * until none applies (as the Hugging Face BPE model does). Returns the new count, or −1 out of memory. */
int tok_bpe_merge(const tok_merges *m, int *sym, int n);

/* the byte a "<0xXX>" token stands for, or −1 for any other token */
int tok_byte_token(const char *p, int len);

/* UTF-8 helpers */
bool tok_utf8_valid(const char *s, size_t len);
/* byte length of the UTF-8 character starting at s (1 for a byte that starts none) */
size_t tok_utf8_char_len(const char *s, size_t len);
bool tok_utf8_put(tok_buf *b, uint32_t codepoint);
/* appends s, replacing each maximal invalid UTF-8 subpart with U+FFFD (as Rust's from_utf8_lossy) */
bool tok_utf8_append_lossy(tok_buf *b, const char *s, size_t len);

/* an added token: matched in the raw text before any other processing */
typedef struct tok_added {
    char *text;
    int len, id;
    bool special;
} tok_added;

struct tokenizer {
    tok_flavour flavour;
    tok_vocab vocab;
    tok_merges merges;
    tok_added *added; /* [n_added] */
    int n_added;
    unsigned char *special; /* [vocab.n] 1 for ids that decoding with skip_special drops */
    int *prefix, n_prefix;  /* ids the post-processor puts before a single sequence */
    int *suffix, n_suffix;  /* ... and after it */
    int bos, eos, unk;
    bool byte_fallback, fuse_unk;
    bool add_prefix_space; /* byte-level: a space before each piece that has none */
    int byte_id[256];      /* byte-level: id of each byte's character; SPM and llama2.c: id of <0xXX> */
    pcre2_code *pretok;    /* byte-level: the GPT-2 pre-tokenisation regex */
};

/* tokenizer_build.c */
void tok_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* the whole file, NUL-terminated, in a malloc'd buffer; NULL with a message in err */
char *tok_read_file(const char *path, size_t *len, char *err, size_t errlen);
tokenizer *tok_new(tok_flavour flavour);
void tok_free(tokenizer *t); /* tokenizer_free: the tokenizer and all it holds (NULL: nothing) */
bool tok_add_token(tokenizer *t, const char *text, size_t len, int id, bool special);
/* Adds the merge of the tokens a and b at rank: 0, or 1, 2, 3 when a, b or a + b is not in the
 * vocabulary, or −1 out of memory */
int tok_add_merge(tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int rank);
const char *tok_merge_problem(int rc); /* "the left token", ... for a tok_add_merge code 1 to 3 */
/* indexes the vocabulary and marks the special tokens once every token is in */
bool tok_finish(tokenizer *t);

/* tokenizer_bpe.c: GPT-2 byte-level BPE */
bool tok_bytelevel_setup(tokenizer *t, const char *path, char *err, size_t errlen);
bool tok_bytelevel_encode(const tokenizer *t, const char *s, size_t len, tok_ids *out);
bool tok_bytelevel_decode(const tokenizer *t, const int *ids, int n, tok_buf *out);
bool tok_bytelevel_load_files(tokenizer *t, const char *vocab_path, const char *merges_path, char *err, size_t errlen);

/* tokenizer_spm.c: Llama SentencePiece-style BPE */
void tok_spm_setup(tokenizer *t); /* finds the <0xXX> byte tokens */
bool tok_spm_encode(const tokenizer *t, const char *s, size_t len, tok_ids *out);
bool tok_spm_decode(const tokenizer *t, const int *ids, int n, tok_buf *out);

/* tokenizer_llama2c.c */
tokenizer *tok_llama2c_load(const char *path, char *err, size_t errlen);
bool tok_llama2c_encode(const tokenizer *t, const char *s, size_t len, bool bos, tok_ids *out);
bool tok_llama2c_decode(const tokenizer *t, const int *ids, int n, bool skip_special, tok_buf *out);

#endif
