/* A corpus of documents in JSON Lines: one JSON object a line whose string field "text" is the document
 * (the form of the references' Wikipedia dumps); blank lines are skipped, other fields ignored. */
#ifndef KEDIT_CORPUS_JSONL_H
#define KEDIT_CORPUS_JSONL_H

#include <stdbool.h>
#include <stddef.h>

/* whether path names a JSON Lines corpus (it ends in ".jsonl") */
bool corpus_is_jsonl(const char *path);

/* the documents of the NUL-terminated JSON Lines text read from path: *docs is a malloc'd array of
 * malloc'd strings; returns their number, or −1 with a message naming path, the line and the field in err
 * (nothing left allocated) when a line is not a JSON object with a string "text". */
int corpus_jsonl_documents(const char *path, const char *text, char ***docs, char *err, size_t errlen);

#endif
