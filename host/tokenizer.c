/* Tokenizer loading and dispatch: finds which format PATH holds, reads tokenizer.json (model, added
 * tokens, post-processor), splits text on the added tokens and hands the rest to the flavour's encoder. */
#include "tokenizer.h"

#include "tokenizer_impl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void tokenizer_free(tokenizer *t) { tok_free(t); }

static int added_id(const tokenizer *t, const char *text) {
    for (int i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].text, text)) return t->added[i].id;
    return -1;
}

/* the first of the names that is an added token, or −1 */
static int first_added(const tokenizer *t, const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        int id = added_id(t, names[i]);
        if (id >= 0) return id;
    }
    return -1;
}

static const char *json_string(const cJSON *obj, const char *field) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool json_true(const cJSON *obj, const char *field) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, field));
}

static bool json_type_is(const cJSON *obj, const char *type) {
    const char *s = json_string(obj, "type");
    return s && !strcmp(s, type);
}

/* an integer id in [0, limit) held by a JSON number */
static bool json_id(const cJSON *v, int limit, int *id) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < limit) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return false;
    *id = (int)v->valuedouble;
    return true;
}

/* the bound of the ids a tokenizer.json may use: one id per entry of model.vocab and added_tokens (so an
 * id of 10⁹ cannot make the vocabulary 10⁹ long) */
static int id_limit(const cJSON *root) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(model, "vocab")) +
           cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "added_tokens"));
}

static cJSON *parse_json_file(const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = tok_read_file(path, &len, err, errlen);
    if (!text) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) tok_error(err, errlen, "%s: not valid JSON (error at byte %zu)", path, end ? (size_t)(end - text) : 0);
    free(text);
    return root;
}

/* the Llama normalizer: Sequence [Prepend "▁", Replace " " → "▁"] */
static bool is_spm_normalizer(const cJSON *norm) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(norm, "normalizers");
    if (!json_type_is(norm, "Sequence") || cJSON_GetArraySize(list) != 2) return false;
    const cJSON *prepend = cJSON_GetArrayItem(list, 0), *replace = cJSON_GetArrayItem(list, 1);
    const char *p = json_string(prepend, "prepend"), *content = json_string(replace, "content");
    const char *pattern = json_string(cJSON_GetObjectItemCaseSensitive(replace, "pattern"), "String");
    return json_type_is(prepend, "Prepend") && p && !strcmp(p, "\xe2\x96\x81") && json_type_is(replace, "Replace") &&
           pattern && !strcmp(pattern, " ") && content && !strcmp(content, "\xe2\x96\x81");
}

static bool detect_flavour(tokenizer *t, const cJSON *root, const char *path, char *err, size_t errlen) {
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    bool no_pre = !pre || cJSON_IsNull(pre), no_norm = !norm || cJSON_IsNull(norm);
    if (json_type_is(pre, "ByteLevel") && no_norm) {
        const cJSON *use_regex = cJSON_GetObjectItemCaseSensitive(pre, "use_regex");
        if (use_regex && !cJSON_IsTrue(use_regex)) {
            tok_error(err, errlen, "%s: pre_tokenizer.use_regex false is not supported", path);
            return false;
        }
        t->flavour = TOK_BYTE_LEVEL;
        t->add_prefix_space = json_true(pre, "add_prefix_space");
        return true;
    }
    if (no_pre && is_spm_normalizer(norm)) {
        t->flavour = TOK_SPM;
        return true;
    }
    tok_error(
        err, errlen,
        "%s: unsupported normalizer/pre_tokenizer (supported: a ByteLevel pre_tokenizer without normalizer, or "
        "the normalizer Sequence [Prepend \"\xe2\x96\x81\", Replace \" \" -> \"\xe2\x96\x81\"] without pre_tokenizer)",
        path);
    return false;
}

static bool read_model_vocab(tokenizer *t, const cJSON *root, const cJSON *model, const char *path, char *err,
                             size_t errlen) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) {
        tok_error(err, errlen, "%s: model.vocab is missing or not an object", path);
        return false;
    }
    int limit = id_limit(root);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int id;
        if (!json_id(e, limit, &id)) {
            tok_error(err, errlen, "%s: model.vocab entry \"%s\" has no valid id (an integer from 0 to %d, the "
                      "vocabulary's size with the added tokens, less 1)", path, e->string, limit - 1);
            return false;
        }
        if (!tok_vocab_set(&t->vocab, id, e->string, strlen(e->string))) {
            tok_error(err, errlen, "%s: out of memory", path);
            return false;
        }
    }
    return true;
}

/* merges are "a b" strings or [a, b] pairs; rank = position in the list */
static bool read_model_merges(tokenizer *t, const cJSON *model, const char *path, char *err, size_t errlen) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) {
        tok_error(err, errlen, "%s: model.merges is missing or not a list", path);
        return false;
    }
    int rank = 0;
    for (const cJSON *e = merges->child; e; e = e->next, rank++) {
        const char *a = NULL, *b = NULL, *space;
        size_t alen = 0, blen = 0;
        if (cJSON_IsString(e) && (space = strchr(e->valuestring, ' ')) && !strchr(space + 1, ' ')) {
            a = e->valuestring;
            alen = (size_t)(space - a);
            b = space + 1;
        } else if (cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next)) {
            a = e->child->valuestring;
            alen = strlen(a);
            b = e->child->next->valuestring;
        }
        if (!a) {
            tok_error(err, errlen, "%s: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", path, rank);
            return false;
        }
        blen = strlen(b);
        int rc = tok_add_merge(t, a, alen, b, blen, rank);
        if (rc < 0) {
            tok_error(err, errlen, "%s: out of memory", path);
            return false;
        }
        if (rc) {
            tok_error(err, errlen, "%s: model.merges[%d] (\"%.*s\" \"%s\"): %s is not in model.vocab", path, rank,
                      (int)alen, a, b, tok_merge_problem(rc));
            return false;
        }
    }
    return true;
}

static bool read_model_options(tokenizer *t, const cJSON *model, const char *path, char *err, size_t errlen) {
    const char *prefix = json_string(model, "continuing_subword_prefix");
    const char *suffix = json_string(model, "end_of_word_suffix");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    const char *unsupported = (prefix && *prefix)                                     ? "continuing_subword_prefix"
                              : (suffix && *suffix)                                   ? "end_of_word_suffix"
                              : (cJSON_IsNumber(dropout) && dropout->valuedouble > 0) ? "dropout"
                              : json_true(model, "ignore_merges")                     ? "ignore_merges"
                                                                                      : NULL;
    if (unsupported) {
        tok_error(err, errlen, "%s: model.%s is not supported", path, unsupported);
        return false;
    }
    t->byte_fallback = json_true(model, "byte_fallback");
    t->fuse_unk = json_true(model, "fuse_unk");
    const char *unk = json_string(model, "unk_token");
    if (unk && (t->unk = tok_vocab_find(&t->vocab, unk, strlen(unk))) < 0) {
        tok_error(err, errlen, "%s: model.unk_token \"%s\" is not in model.vocab", path, unk);
        return false;
    }
    return true;
}

static bool read_added_tokens(tokenizer *t, const cJSON *root, const char *path, char *err, size_t errlen) {
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int i = 0;
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next, i++) {
        const char *content = json_string(e, "content");
        int id;
        if (!content || !*content || !json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), id_limit(root), &id)) {
            tok_error(err, errlen, "%s: added_tokens[%d] needs a non-empty \"content\" and an integer \"id\" below %d "
                      "(the vocabulary's size with the added tokens)", path, i, id_limit(root));
            return false;
        }
        if (!tok_add_token(t, content, strlen(content), id, json_true(e, "special"))) {
            tok_error(err, errlen, "%s: out of memory", path);
            return false;
        }
    }
    return true;
}

static bool append_ids(int **ids, int *n, const int *add, int n_add) {
    int *v = realloc(*ids, (size_t)(*n + n_add) * sizeof *v);
    if (!v) return false;
    memcpy(v + *n, add, (size_t)n_add * sizeof *v);
    *ids = v;
    *n += n_add;
    return true;
}

/* TemplateProcessing's "single" template: special tokens before and after the sequence $A */
static bool read_template(tokenizer *t, const cJSON *proc, const char *path, char *err, size_t errlen) {
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(proc, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(proc, "special_tokens");
    bool after = false;
    for (const cJSON *item = single ? single->child : NULL; item; item = item->next) {
        if (cJSON_GetObjectItemCaseSensitive(item, "Sequence")) {
            after = true;
            continue;
        }
        const char *name = json_string(cJSON_GetObjectItemCaseSensitive(item, "SpecialToken"), "id");
        const cJSON *ids =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(specials, name ? name : ""), "ids");
        if (!name || !cJSON_IsArray(ids)) {
            tok_error(err, errlen,
                      "%s: post_processor.single has an item that is neither a Sequence nor a SpecialToken listed in "
                      "special_tokens",
                      path);
            return false;
        }
        for (const cJSON *v = ids->child; v; v = v->next) {
            int id;
            if (!json_id(v, t->vocab.n, &id) || !(after ? append_ids(&t->suffix, &t->n_suffix, &id, 1)
                                            : append_ids(&t->prefix, &t->n_prefix, &id, 1))) {
                tok_error(err, errlen, "%s: post_processor.special_tokens[\"%s\"].ids must be ids of the vocabulary "
                          "(0 to %d)", path, name, t->vocab.n - 1);
                return false;
            }
        }
    }
    return true;
}

static bool read_post_processor(tokenizer *t, const cJSON *proc, const char *path, char *err, size_t errlen) {
    if (!proc || cJSON_IsNull(proc) || json_type_is(proc, "ByteLevel")) return true; /* adds no ids */
    if (json_type_is(proc, "TemplateProcessing")) return read_template(t, proc, path, err, errlen);
    if (json_type_is(proc, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(proc, "processors");
        for (const cJSON *p = list ? list->child : NULL; p; p = p->next)
            if (!read_post_processor(t, p, path, err, errlen)) return false;
        return true;
    }
    const char *type = json_string(proc, "type");
    tok_error(err, errlen, "%s: post_processor type \"%s\" is not supported (ByteLevel, TemplateProcessing, Sequence)",
              path, type ? type : "?");
    return false;
}

static void pick_bos_eos(tokenizer *t) {
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<|endoftext|>"};
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>"};
    t->bos = t->n_prefix ? t->prefix[0] : first_added(t, bos_names, 3);
    t->eos = first_added(t, eos_names, 3);
}

static tokenizer *load_tokenizer_json(const char *path, char *err, size_t errlen) {
    cJSON *root = parse_json_file(path, err, errlen);
    if (!root) return NULL;
    tokenizer *t = tok_new(TOK_BYTE_LEVEL);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = json_string(model, "type");
    bool ok = t != NULL;
    if (!t)
        tok_error(err, errlen, "%s: out of memory", path);
    else if (!cJSON_IsObject(model)) {
        tok_error(err, errlen, "%s: field \"model\" is missing or not an object (a vocab.json? pass its folder)", path);
        ok = false;
    } else if (type && strcmp(type, "BPE")) {
        tok_error(err, errlen, "%s: model.type \"%s\" is not supported (only BPE)", path, type);
        ok = false;
    }
    ok = ok && detect_flavour(t, root, path, err, errlen) && read_model_vocab(t, root, model, path, err, errlen) &&
         read_added_tokens(t, root, path, err, errlen);
    if (ok && !tok_finish(t)) {
        tok_error(err, errlen, "%s: out of memory", path);
        ok = false;
    }
    ok = ok && read_model_merges(t, model, path, err, errlen) && read_model_options(t, model, path, err, errlen) &&
         read_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err, errlen) &&
         (t->flavour == TOK_SPM || tok_bytelevel_setup(t, path, err, errlen));
    cJSON_Delete(root);
    if (!ok) {
        tokenizer_free(t);
        return NULL;
    }
    if (t->flavour == TOK_SPM) tok_spm_setup(t);
    pick_bos_eos(t);
    return t;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static tokenizer *load_folder(const char *dir, char *err, size_t errlen) {
    char json[4096], vocab[4096], merges[4096], bin[4096];
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    snprintf(bin, sizeof bin, "%s/tokenizer.bin", dir);
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    if (is_file(json)) return load_tokenizer_json(json, err, errlen);
    if (!is_file(vocab) && !is_file(merges) && is_file(bin)) return tok_llama2c_load(bin, err, errlen);
    if (!is_file(vocab) && !is_file(merges)) {
        tok_error(err, errlen, "%s: folder has neither tokenizer.json, vocab.json + merges.txt nor a llama2.c "
                  "tokenizer.bin", dir);
        return NULL;
    }
    if (!is_file(vocab) || !is_file(merges)) {
        tok_error(err, errlen, "%s: %s is missing (vocab.json and merges.txt go together)", dir,
                  is_file(vocab) ? "merges.txt" : "vocab.json");
        return NULL;
    }
    tokenizer *t = tok_new(TOK_BYTE_LEVEL);
    if (!t) {
        tok_error(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    if (!tok_bytelevel_load_files(t, vocab, merges, err, errlen)) {
        tokenizer_free(t);
        return NULL;
    }
    return t;
}

/* a .json name, or '{' or '[' first after white space, means JSON; anything else is a llama2.c tokenizer.bin */
static bool looks_like_json(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".json")) return true;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    int c;
    do c = fgetc(f);
    while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
    fclose(f);
    return c == '{' || c == '[';
}

tokenizer *tokenizer_load(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        tok_error(err, errlen, "%s: cannot open: %s", path ? path : "(null)", path ? strerror(errno) : "no path");
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) return load_folder(path, err, errlen);
    return looks_like_json(path) ? load_tokenizer_json(path, err, errlen) : tok_llama2c_load(path, err, errlen);
}

/* encodes text between added tokens with the flavour's pipeline */
static bool encode_piece(const tokenizer *t, const char *s, size_t len, tok_ids *out) {
    if (!len) return true;
    return t->flavour == TOK_BYTE_LEVEL ? tok_bytelevel_encode(t, s, len, out) : tok_spm_encode(t, s, len, out);
}

/* Splits text on the added tokens (leftmost match, the longest at a position wins) and encodes the
 * pieces between them. */
static bool encode_text(const tokenizer *t, const char *text, size_t len, tok_ids *out) {
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        int best = -1;
        for (int a = 0; a < t->n_added; a++) {
            const tok_added *ad = &t->added[a];
            if ((size_t)ad->len <= len - i && (best < 0 || ad->len > t->added[best].len) &&
                !memcmp(text + i, ad->text, (size_t)ad->len))
                best = a;
        }
        if (best < 0) {
            i++;
            continue;
        }
        if (!encode_piece(t, text + start, i - start, out) || !tok_ids_push(out, t->added[best].id)) return false;
        i += (size_t)t->added[best].len;
        start = i;
    }
    return encode_piece(t, text + start, len - start, out);
}

int tokenizer_encode(const tokenizer *t, const char *text, bool add_special, int **ids) {
    if (!t || !text || !ids) return -1;
    size_t len = strlen(text);
    tok_ids out = {0};
    bool ok = tok_ids_push(&out, 0); /* allocates; the placeholder is dropped below */
    out.n = 0;
    if (t->flavour == TOK_LLAMA2C)
        ok = ok && tok_llama2c_encode(t, text, len, add_special, &out);
    else {
        ok = ok && tok_utf8_valid(text, len);
        for (int i = 0; ok && add_special && i < t->n_prefix; i++) ok = tok_ids_push(&out, t->prefix[i]);
        ok = ok && encode_text(t, text, len, &out);
        for (int i = 0; ok && add_special && i < t->n_suffix; i++) ok = tok_ids_push(&out, t->suffix[i]);
    }
    if (!ok) {
        free(out.v);
        return -1;
    }
    *ids = out.v;
    return out.n;
}

char *tokenizer_decode(const tokenizer *t, const int *ids, int n, bool skip_special) {
    if (!t || (n > 0 && !ids)) return NULL;
    tok_buf out = {0};
    bool ok = tok_buf_append(&out, "", 0);
    if (t->flavour == TOK_LLAMA2C)
        ok = ok && tok_llama2c_decode(t, ids, n, skip_special, &out);
    else {
        /* ids with a token, less the special ones when skipping them (as the Hugging Face decoder) */
        tok_ids kept = {0};
        for (int i = 0; ok && i < n; i++)
            if (ids[i] >= 0 && ids[i] < t->vocab.n && t->vocab.piece[ids[i]] && !(skip_special && t->special[ids[i]]))
                ok = tok_ids_push(&kept, ids[i]);
        if (ok)
            ok = t->flavour == TOK_BYTE_LEVEL ? tok_bytelevel_decode(t, kept.v, kept.n, &out)
                                              : tok_spm_decode(t, kept.v, kept.n, &out);
        free(kept.v);
    }
    if (!ok) {
        free(out.v);
        return NULL;
    }
    return out.v;
}

int tokenizer_vocab_size(const tokenizer *t) { return t ? t->vocab.n : 0; }

int tokenizer_check_vocab(const tokenizer *t, const char *path, int model_vocab, char *err, size_t errlen) {
    bool exact = t->flavour == TOK_LLAMA2C; // a tokenizer.bin has no size of its own: the model's is its size
    if (exact ? t->vocab.n == model_vocab : t->vocab.n <= model_vocab) return 0;
    tok_error(err, errlen, "%s: the tokenizer has %d tokens but the model's vocabulary %d%s", path, t->vocab.n,
              model_vocab, exact ? " (a llama2.c tokenizer.bin holds exactly the model's tokens: is it cut short or "
                                   "another model's?)" : "");
    return -1;
}
int tokenizer_bos(const tokenizer *t) { return t ? t->bos : -1; }
int tokenizer_eos(const tokenizer *t) { return t ? t->eos : -1; }

bool tokenizer_adds_bos(const tokenizer *t) {
    if (!t) return false;
    return t->flavour == TOK_LLAMA2C || (t->n_prefix > 0 && t->bos >= 0 && t->prefix[0] == t->bos);
}
