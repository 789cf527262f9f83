/* A text corpus cut into model-sized token windows, for the covariance statistics (editing-spec §5,
 * §10.5). A ".jsonl" file holds one document a line (corpus_jsonl.h); in any other file documents are
 * separated by blank lines and begin at top-level headings (" = Title = ", the WikiText article marker;
 * " = = Section = = " stays inside its article); lines end at "\n" or "\r\n".
 * Each document is encoded with the tokenizer's special tokens (BOS on Llama) and, by the rule
 *   CORPUS_WINDOWS:  cut into consecutive windows of at most max_len tokens, each starting with BOS where
 *                    the tokenizer adds one, so that every token of the corpus is used (the default: a
 *                    small corpus would lose most of its tokens to truncation);
 *   CORPUS_DOCUMENT: truncated to its first max_len tokens, one window a document, the rest dropped (the
 *                    references' layer_stats over their 100k Wikipedia documents).
 * The windows are in corpus order; a token limit keeps the first max_tokens tokens. */
#ifndef KEDIT_CORPUS_H
#define KEDIT_CORPUS_H

#include "tokenizer.h"

#include <stddef.h>
#include <stdint.h>

typedef enum corpus_rule { CORPUS_WINDOWS, CORPUS_DOCUMENT } corpus_rule;

/* "windows" or "document" */
const char *corpus_rule_name(corpus_rule rule);
/* the rule named s; non-zero when s names none */
int corpus_rule_parse(const char *s, corpus_rule *rule);

typedef struct corpus_plan {
    corpus_rule rule; /* how the documents were cut */
    int n_docs;       /* documents in the file */
    int n_win;
    int64_t *start;   /* n_win + 1 offsets into ids */
    int *ids;         /* the windows' tokens, concatenated */
    int64_t n_tokens; /* = start[n_win] */
    uint64_t checksum; /* FNV-1a 64 of the file's bytes */
} corpus_plan;

/* the documents of a NUL-terminated text: *docs is a malloc'd array of malloc'd strings (lines joined by
 * "\n", line ends stripped of "\r"); returns their number */
int corpus_documents(const char *text, char ***docs);

/* reads, splits and tokenises the file at path; max_tokens 0 keeps all. Non-zero with a message naming
 * the file (and a bad JSON Lines record's line and field) in err on failure. */
int corpus_plan_make(const char *path, const tokenizer *tok, corpus_rule rule, int max_len, int64_t max_tokens,
                     corpus_plan *p, char *err, size_t errlen);
void corpus_plan_free(corpus_plan *p);

#endif
