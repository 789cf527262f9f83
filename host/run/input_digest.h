/* Digests of a run's inputs (FNV-1a 64, 16 hex digits), recorded in its results file when it starts and
 * compared when it resumes: a resume whose inputs differ is refused, naming the input and both digests. */
#ifndef KEDIT_INPUT_DIGEST_H
#define KEDIT_INPUT_DIGEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* the digest of n bytes, or (continued) of a sequence of buffers: h from digest_start */
unsigned long long digest_start(void);
unsigned long long digest_more(unsigned long long h, const void *p, size_t n);
/* adds name: the digest h as 16 hex digits */
void digest_add(cJSON *digests, const char *name, unsigned long long h);
/* adds name: the digest of the file's bytes, or "unreadable" */
void digest_add_file(cJSON *digests, const char *name, const char *path);
/* Every digest of now against recorded (a JSON object); the first that differs or was not recorded is an
 * error naming results_path, the input (with its path from paths, when it has one) and both digests. */
int digests_check(const cJSON *recorded, const cJSON *now, const cJSON *paths, const char *results_path, char *err,
                  size_t errlen);

#endif
