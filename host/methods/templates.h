/* Context templates (editing-spec §2, §10.11): short texts sampled from the model and put before the edit
 * prompt, so that keys and the target vector are averaged over contexts. Each template holds one "{}"
 * where the prompt goes. Two sets:
 *   "memit" (MEMIT, D4S, PMET): groups {["{}"], [one sample per prefix of 10 tokens]};
 *   "rome": one group {"{}", two samples per prefix of 5 tokens, two of 10 tokens} (21 templates);
 * prefixes "The", "Therefore", "Because", "I", "You"; top-k 5 sampling (temperature 1) with a fixed seed
 * (42 by default, independent of a run's seed); lengths count the prefix but not BOS. A sample is decoded
 * without special tokens, "\n\n" becomes a space, "{" and "}" become spaces, and ". {}" is appended.
 * (The references also NFKD-normalise the text; kedit leaves non-ASCII characters as sampled.)
 * Generated once per model, then frozen: saved to and loaded from a JSON file. */
#ifndef KEDIT_TEMPLATES_H
#define KEDIT_TEMPLATES_H

#include "model.h"
#include "tokenizer.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ctx_templates {
    int n, n_groups;
    char **text;    /* n templates, each with exactly one "{}" */
    int *group;     /* n group indices (0..n_groups−1), ascending */
    char kind[16];  /* "memit" or "rome" */
    char model[24]; /* checksum of the model that generated them ("" if unknown) */
    uint64_t seed;
} ctx_templates;

#define TEMPLATES_SEED 42

/* samples the set `kind` ("memit" or "rome") from the model */
int templates_generate(const model *m, const tokenizer *tok, const char *kind, uint64_t seed, ctx_templates *t,
                       char *err, size_t errlen);

/* JSON: {"kind": …, "seed": …, "model_checksum": …, "groups": [["{}"], ["… . {}", …]]} */
int templates_save(const ctx_templates *t, const char *path, char *err, size_t errlen);
int templates_load(const char *path, ctx_templates *t, char *err, size_t errlen);
void templates_free(ctx_templates *t);

/* the templates of the file at path if it exists (checked to be of this kind and, when it names one, this
 * model), else generated and saved there (path NULL: generated, not saved) */
int templates_get(const model *m, const tokenizer *tok, const char *kind, const char *path, ctx_templates *t,
                  char *err, size_t errlen);

#endif
