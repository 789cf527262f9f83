/* Llama's SentencePiece-style BPE as tokenizer.json describes it: the normalizer puts "▁" before the
 * text and for every space, the whole text is one BPE word, characters missing from the vocabulary
 * become their <0xXX> byte tokens; decoding turns "▁" back into spaces and drops the first one. */
#include "tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SPACE_MARK[] = "\xe2\x96\x81"; /* "▁", U+2581 */

void tok_spm_setup(tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tok_vocab_find(&t->vocab, name, strlen(name));
    }
}

/* Symbols of the normalised word: a character's id, else its byte tokens, else unk (else nothing). As in
 * the Hugging Face BPE model, a pending unk is emitted only before the next known character or at the end
 * (after any byte tokens in between), and consecutive unks fuse into one when fuse_unk is set. */
static bool word_symbols(const tokenizer *t, const char *w, size_t len, tok_ids *sym) {
    bool pending_unk = false, ok = true;
    for (size_t at = 0; ok && at < len;) {
        size_t n = tok_utf8_char_len(w + at, len - at);
        int id = tok_vocab_find(&t->vocab, w + at, n);
        bool bytes_known = t->byte_fallback;
        for (size_t i = 0; bytes_known && i < n; i++) bytes_known = t->byte_id[(unsigned char)w[at + i]] >= 0;
        if (id >= 0) {
            if (pending_unk) ok = tok_ids_push(sym, t->unk);
            pending_unk = false;
            ok = ok && tok_ids_push(sym, id);
        } else if (bytes_known) {
            for (size_t i = 0; ok && i < n; i++) ok = tok_ids_push(sym, t->byte_id[(unsigned char)w[at + i]]);
        } else if (t->unk >= 0) {
            if (pending_unk && !t->fuse_unk) ok = tok_ids_push(sym, t->unk);
            pending_unk = true;
        }
        at += n;
    }
    if (ok && pending_unk) ok = tok_ids_push(sym, t->unk);
    return ok;
}

bool tok_spm_encode(const tokenizer *t, const char *s, size_t len, tok_ids *out) {
    /* normalise: "▁" + s with each " " replaced by "▁" */
    tok_buf word = {0};
    bool ok = tok_buf_append(&word, SPACE_MARK, 3);
    for (size_t i = 0; ok && i < len; i++)
        ok = s[i] == ' ' ? tok_buf_append(&word, SPACE_MARK, 3) : tok_buf_append(&word, s + i, 1);
    tok_ids sym = {0};
    ok = ok && word_symbols(t, word.v, word.n, &sym);
    int n = ok ? tok_bpe_merge(&t->merges, sym.v, sym.n) : -1;
    for (int i = 0; i < n && ok; i++) ok = tok_ids_push(out, sym.v[i]);
    free(word.v);
    free(sym.v);
    return ok && n >= 0;
}

/* a run of byte tokens: its bytes when they are valid UTF-8, else one U+FFFD per byte */
static bool flush_bytes(tok_buf *run, tok_buf *out) {
    bool ok = true;
    if (tok_utf8_valid(run->v ? run->v : "", run->n))
        ok = tok_buf_append(out, run->v ? run->v : "", run->n);
    else
        for (size_t i = 0; ok && i < run->n; i++) ok = tok_utf8_put(out, 0xFFFD);
    run->n = 0;
    return ok;
}

bool tok_spm_decode(const tokenizer *t, const int *ids, int n, tok_buf *out) {
    tok_buf text = {0}, run = {0};
    bool ok = tok_buf_append(&text, "", 0);
    for (int i = 0; ok && i < n; i++) {
        const char *p = t->vocab.piece[ids[i]];
        int len = t->vocab.piece_len[ids[i]], byte = tok_byte_token(p, len);
        if (byte >= 0) {
            unsigned char b = (unsigned char)byte;
            ok = tok_buf_append(&run, &b, 1);
            continue;
        }
        ok = flush_bytes(&run, &text);
        for (int j = 0; ok && j < len;) {
            bool mark = j + 3 <= len && !memcmp(p + j, SPACE_MARK, 3);
            ok = mark ? tok_buf_append(&text, " ", 1) : tok_buf_append(&text, p + j, 1);
            j += mark ? 3 : 1;
        }
    }
    ok = ok && flush_bytes(&run, &text);
    size_t skip = ok && text.n && text.v[0] == ' '; /* the Strip decoder: one leading space */
    ok = ok && tok_buf_append(out, text.v + skip, text.n - skip);
    free(text.v);
    free(run.v);
    return ok;
}
