#include "corpus.h"

#include "corpus_jsonl.h"
#include "file_read.h"
#include "fnv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

/* " = Title = " but not " = = Section = = " */
static bool is_top_heading(const char *s, size_t n) {
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r')) n--;
    while (n && *s == ' ') s++, n--;
    return n >= 5 && s[0] == '=' && s[1] == ' ' && s[2] != '=' && s[n - 1] == '=' && s[n - 2] == ' ';
}

int corpus_documents(const char *text, char ***docs) {
    int n = 0, cap = 0;
    char **out = NULL;
    size_t dlen = 0, dcap = 0;
    char *doc = NULL; // the document being built
    for (const char *p = text;;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool blank = is_blank(p, len), boundary = blank || is_top_heading(p, len) || !*p;
        if (boundary && dlen) { // close the current document
            if (n == cap) out = realloc(out, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *out);
            out[n++] = doc;
            doc = NULL;
            dlen = dcap = 0;
        }
        if (!blank) {
            size_t l = len && p[len - 1] == '\r' ? len - 1 : len;
            if (dlen + l + 2 > dcap) doc = realloc(doc, dcap = 2 * (dlen + l + 2));
            if (dlen) doc[dlen++] = '\n';
            memcpy(doc + dlen, p, l);
            dlen += l;
            doc[dlen] = 0;
        }
        if (!e) break;
        p = e + 1;
    }
    if (dlen) {
        out = realloc(out, (size_t)(n + 1) * sizeof *out);
        out[n++] = doc;
    }
    *docs = out;
    return n;
}

const char *corpus_rule_name(corpus_rule rule) { return rule == CORPUS_DOCUMENT ? "document" : "windows"; }

int corpus_rule_parse(const char *s, corpus_rule *rule) {
    if (!strcmp(s, "windows")) *rule = CORPUS_WINDOWS;
    else if (!strcmp(s, "document")) *rule = CORPUS_DOCUMENT;
    else return -1;
    return 0;
}

int corpus_plan_make(const char *path, const tokenizer *tok, corpus_rule rule, int max_len, int64_t max_tokens,
                     corpus_plan *p, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    p->rule = rule;
    size_t len;
    char *text = file_read_all(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read the corpus", path);
        return -1;
    }
    if (strlen(text) != len) {
        snprintf(err, errlen, "%s: the corpus contains a NUL byte (not a text file)", path);
        free(text);
        return -1;
    }
    bool bos = tokenizer_adds_bos(tok);
    if (max_len < (bos ? 2 : 1)) {
        snprintf(err, errlen, "%s: windows of %d tokens are too short", path, max_len);
        free(text);
        return -1;
    }
    p->checksum = fnv1a64(FNV1A64_OFFSET, text, len);
    char **docs;
    p->n_docs = corpus_is_jsonl(path) ? corpus_jsonl_documents(path, text, &docs, err, errlen)
                                      : corpus_documents(text, &docs);
    free(text);
    if (p->n_docs < 0) {
        p->n_docs = 0;
        return -1;
    }
    int64_t cap = 1 << 16;
    int win_cap = 1024;
    p->ids = malloc((size_t)cap * sizeof(int));
    p->start = malloc((size_t)(win_cap + 1) * sizeof(int64_t));
    p->start[0] = 0;
    int rc = 0;
    for (int d = 0; d < p->n_docs; d++) {
        int *ids = NULL, n = rc || (max_tokens && p->n_tokens >= max_tokens) ? 0 : tokenizer_encode(tok, docs[d], true, &ids);
        free(docs[d]);
        if (n < 0) {
            snprintf(err, errlen, "%s: document %d could not be tokenised", path, d + 1);
            rc = -1;
            continue;
        }
        int body0 = bos && n > 0 && ids[0] == tokenizer_bos(tok) ? 1 : 0, step = max_len - body0;
        if (rule == CORPUS_DOCUMENT && n > max_len) n = max_len; // one window: the document's first max_len tokens
        for (int b = body0; b < n && !(max_tokens && p->n_tokens >= max_tokens); b += step) {
            int wl = body0 + (n - b < step ? n - b : step); // window: [BOS] + up to step body tokens
            if (max_tokens && p->n_tokens + wl > max_tokens) wl = (int)(max_tokens - p->n_tokens);
            if (wl <= body0) break;
            while (p->n_tokens + wl > cap) p->ids = realloc(p->ids, (size_t)(cap *= 2) * sizeof(int));
            if (p->n_win == win_cap) p->start = realloc(p->start, (size_t)((win_cap *= 2) + 1) * sizeof(int64_t));
            int *w = p->ids + p->n_tokens;
            if (body0) w[0] = ids[0];
            memcpy(w + body0, ids + b, (size_t)(wl - body0) * sizeof(int));
            p->n_tokens += wl;
            p->start[++p->n_win] = p->n_tokens;
        }
        free(ids);
    }
    free(docs);
    if (!rc && p->n_tokens == 0) {
        snprintf(err, errlen, "%s: the corpus has no tokens", path);
        rc = -1;
    }
    if (rc) corpus_plan_free(p);
    return rc;
}

void corpus_plan_free(corpus_plan *p) {
    free(p->ids);
    free(p->start);
    memset(p, 0, sizeof *p);
}
