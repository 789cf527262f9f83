/* GPT-2 byte-level BPE: the pre-tokenisation regex splits text into words, each byte of a word becomes
 * one printable stand-in character (GPT-2's bytes_to_unicode), and the BPE model merges those. Also
 * loads the vocab.json + merges.txt pair. */
#include "tokenizer_impl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2's word pattern: contractions, letters, digits, other symbols, each with an optional leading space,
 * then white space (a run keeps its last space for the following word) */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* the stand-in code point of byte b: itself for printable Latin-1, else 256 + its index among the rest */
static uint32_t byte_char(int b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) return (uint32_t)b;
    uint32_t n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
    return 256 + n;
}

bool tok_bytelevel_setup(tokenizer *t, const char *path, char *err, size_t errlen) {
    for (int b = 0; b < 256; b++) {
        tok_buf ch = {0};
        if (!tok_utf8_put(&ch, byte_char(b))) {
            tok_error(err, errlen, "%s: out of memory", path);
            return false;
        }
        t->byte_id[b] = tok_vocab_find(&t->vocab, ch.v, ch.n);
        free(ch.v);
        if (t->byte_id[b] < 0) {
            tok_error(err, errlen, "%s: the vocabulary lacks the byte-level token of byte 0x%02X (U+%04X)", path, b,
                      (unsigned)byte_char(b));
            return false;
        }
    }
    int code;
    PCRE2_SIZE offset;
    t->pretok =
        pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
    if (!t->pretok) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        tok_error(err, errlen, "%s: cannot compile the GPT-2 pre-tokenisation regex: %s", path, (const char *)msg);
        return false;
    }
    pcre2_jit_compile(t->pretok, PCRE2_JIT_COMPLETE); /* optional speed-up; matching works without it */
    return true;
}

/* BPE on one pre-tokenised word: one symbol per byte, then merges */
static bool encode_word(const tokenizer *t, const char *w, size_t len, tok_ids *out) {
    int small[256];
    int *sym = len <= 256 ? small : malloc(len * sizeof *sym);
    if (!sym) return false;
    for (size_t i = 0; i < len; i++) sym[i] = t->byte_id[(unsigned char)w[i]];
    int n = tok_bpe_merge(&t->merges, sym, (int)len);
    bool ok = n >= 0;
    for (int i = 0; ok && i < n; i++) ok = tok_ids_push(out, sym[i]);
    if (sym != small) free(sym);
    return ok;
}

bool tok_bytelevel_encode(const tokenizer *t, const char *s, size_t len, tok_ids *out) {
    tok_buf spaced = {0};
    if (t->add_prefix_space && s[0] != ' ') {
        if (!tok_buf_append(&spaced, " ", 1) || !tok_buf_append(&spaced, s, len)) {
            free(spaced.v);
            return false;
        }
        s = spaced.v;
        len = spaced.n;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->pretok, NULL);
    bool ok = md != NULL;
    size_t at = 0;
    while (ok && at < len) {
        int rc = pcre2_match(t->pretok, (PCRE2_SPTR)s, len, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            ok = false;
            break;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        /* text the pattern skipped (none for valid UTF-8, as every character matches some branch) is a word too */
        if (ov[0] > at) ok = encode_word(t, s + at, ov[0] - at, out);
        ok = ok && encode_word(t, s + ov[0], ov[1] - ov[0], out);
        at = ov[1];
    }
    if (ok && at < len) ok = encode_word(t, s + at, len - at, out);
    pcre2_match_data_free(md);
    free(spaced.v);
    return ok;
}

/* decodes the code point at s and returns its byte length; *cp is UINT32_MAX for a malformed sequence */
static size_t next_codepoint(const char *s, size_t len, uint32_t *cp) {
    size_t n = tok_utf8_char_len(s, len);
    const unsigned char *u = (const unsigned char *)s;
    if (!tok_utf8_valid(s, n))
        *cp = UINT32_MAX;
    else if (n == 1)
        *cp = u[0];
    else if (n == 2)
        *cp = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    else if (n == 3)
        *cp = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    else
        *cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 | (uint32_t)(u[2] & 0x3F) << 6 |
              (u[3] & 0x3F);
    return n;
}

/* Maps each token's stand-in characters back to bytes (a token with a character outside the map gives
 * its own bytes, as the Hugging Face ByteLevel decoder does), then reads the bytes as UTF-8 with
 * U+FFFD for invalid sequences. */
bool tok_bytelevel_decode(const tokenizer *t, const int *ids, int n, tok_buf *out) {
    int byte_of[324]; /* stand-in code point → byte; the stand-ins lie below 256 + 68 */
    for (int c = 0; c < 324; c++) byte_of[c] = -1;
    for (int b = 0; b < 256; b++) byte_of[byte_char(b)] = b;
    tok_buf bytes = {0};
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        const char *p = t->vocab.piece[ids[i]];
        size_t len = (size_t)t->vocab.piece_len[ids[i]], at = 0, start = bytes.n;
        while (ok && at < len) {
            uint32_t cp;
            at += next_codepoint(p + at, len - at, &cp);
            if (cp >= 324 || byte_of[cp] < 0) {
                bytes.n = start;
                ok = tok_buf_append(&bytes, p, len);
                break;
            }
            unsigned char b = (unsigned char)byte_of[cp];
            ok = tok_buf_append(&bytes, &b, 1);
        }
    }
    ok = ok && tok_utf8_append_lossy(out, bytes.v ? bytes.v : "", bytes.n);
    free(bytes.v);
    return ok;
}

static bool load_vocab_json(tokenizer *t, const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = tok_read_file(path, &len, err, errlen);
    if (!text) return false;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    bool ok = root != NULL;
    if (!ok)
        tok_error(err, errlen, "%s: not valid JSON (error at byte %zu)", path, end ? (size_t)(end - text) : 0);
    else if (!cJSON_IsObject(root)) {
        tok_error(err, errlen, "%s: expected an object of token → id", path);
        ok = false;
    }
    int limit = ok ? cJSON_GetArraySize(root) : 0; // one id per entry
    for (const cJSON *e = ok ? root->child : NULL; e && ok; e = e->next) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < limit) ||
            e->valuedouble != (double)(int)e->valuedouble) {
            tok_error(err, errlen, "%s: entry \"%s\" has no valid id (an integer from 0 to %d, the number of entries "
                      "less 1)", path, e->string, limit - 1);
            ok = false;
        } else if (!tok_vocab_set(&t->vocab, (int)e->valuedouble, e->string, strlen(e->string))) {
            tok_error(err, errlen, "%s: out of memory", path);
            ok = false;
        }
    }
    cJSON_Delete(root);
    free(text);
    if (ok && !t->vocab.n) {
        tok_error(err, errlen, "%s: the vocabulary is empty", path);
        ok = false;
    }
    return ok;
}

/* merges.txt: one "a b" pair a line, rank = order; "#version" lines and empty lines are skipped */
static bool load_merges_txt(tokenizer *t, const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = tok_read_file(path, &len, err, errlen);
    if (!text) return false;
    int rank = 0, line_no = 0;
    bool ok = true;
    for (char *line = text; ok && line < text + len; line_no++) {
        char *eol = memchr(line, '\n', (size_t)(text + len - line));
        size_t n = eol ? (size_t)(eol - line) : (size_t)(text + len - line);
        if (n && line[n - 1] == '\r') n--;
        char *space = memchr(line, ' ', n);
        if (n && strncmp(line, "#version", 8)) {
            if (!space || memchr(space + 1, ' ', (size_t)(line + n - space - 1)) || space == line ||
                space + 1 == line + n) {
                tok_error(err, errlen, "%s: line %d is not two tokens separated by one space", path, line_no + 1);
                ok = false;
            } else {
                int rc =
                    tok_add_merge(t, line, (size_t)(space - line), space + 1, (size_t)(line + n - space - 1), rank++);
                if (rc < 0)
                    tok_error(err, errlen, "%s: out of memory", path);
                else if (rc)
                    tok_error(err, errlen, "%s: line %d (\"%.*s\"): %s is not in the vocabulary", path, line_no + 1,
                              (int)n, line, tok_merge_problem(rc));
                ok = rc == 0;
            }
        }
        line = eol ? eol + 1 : text + len;
    }
    free(text);
    if (ok && !rank) {
        tok_error(err, errlen, "%s: no merges", path);
        ok = false;
    }
    return ok;
}

/* vocab.json + merges.txt as GPT-2 uses them: no prefix space, <|endoftext|> the special BOS/EOS */
bool tok_bytelevel_load_files(tokenizer *t, const char *vocab_path, const char *merges_path, char *err, size_t errlen) {
    static const char EOT[] = "<|endoftext|>";
    if (!load_vocab_json(t, vocab_path, err, errlen)) return false;
    if (!tok_vocab_index(&t->vocab)) {
        tok_error(err, errlen, "%s: out of memory", vocab_path);
        return false;
    }
    int eot = tok_vocab_find(&t->vocab, EOT, sizeof EOT - 1);
    if ((eot >= 0 && !tok_add_token(t, EOT, sizeof EOT - 1, eot, true)) || !tok_finish(t)) {
        tok_error(err, errlen, "%s: out of memory", vocab_path);
        return false;
    }
    t->bos = t->eos = eot;
    return load_merges_txt(t, merges_path, err, errlen) && tok_bytelevel_setup(t, vocab_path, err, errlen);
}
