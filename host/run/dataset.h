/* Editing datasets: zsRE in the MEND/ROME/EasyEdit schema, CounterFact in EasyEdit's flat schema and in
 * ROME's original schema, read into one request type; validation with a stop-or-skip policy; and the
 * run's selection (shuffle the whole list with the seed, then take n after an offset, so a shorter run is
 * a prefix of a longer one; editing-spec §10.2). */
#ifndef KEDIT_DATASET_H
#define KEDIT_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The evaluation protocol (editing-spec §6, §10.1). It decides the zsRE edit target and the specificity. */
typedef enum {
    PROTOCOL_EASYEDIT = 0, /* zsRE target `alt`; specificity = agreement with the W₀ argmax on loc + loc_ans */
    PROTOCOL_MEMIT = 1,    /* zsRE target `answers[0]`; specificity = token accuracy on loc_ans itself */
} eval_protocol;

typedef enum {
    DS_AUTO = 0,        /* decided from the first record's fields */
    DS_ZSRE,            /* subject, src, rephrase, alt, answers[], loc, loc_ans (pred, cond unused) */
    DS_COUNTERFACT,     /* flat: case_id, prompt, subject, target_new, ground_truth, rephrase_prompt,
                           locality_prompt, locality_ground_truth */
    DS_COUNTERFACT_ROME /* case_id, requested_rewrite{prompt with {}, subject, target_new{str},
                           target_true{str}}, paraphrase_prompts[], neighborhood_prompts[] */
} dataset_format;

/* One edit with the prompts that score it. All strings are owned by the request. */
typedef struct edit_record {
    long case_id;          /* CounterFact's case_id; zsRE: the record's index in its file */
    long record;           /* the record's index in its file */
    char *subject;
    char *prompt;          /* the edit prompt, subject substituted */
    char *prompt_template; /* the same with the subject's first occurrence replaced by "{}" */
    char *target_new;      /* the edit target (as written in the file; the leading space is added at
                              tokenisation, editing-spec §10.10) */
    char *target_true;     /* the fact before the edit: zsRE answers[0], CounterFact's true object; NULL
                              for a zsRE record without answers (EasyEdit's schema, protocol easyedit) */
    int n_rephrase;
    char **rephrase;       /* paraphrases of the edit prompt (the generalisation score) */
    int n_loc;
    char **loc_prompt;     /* unrelated prompts (the specificity score) ... */
    char **loc_answer;     /* ... and their answers */
} edit_record;

/* the parts of a request, for a check that names the file's own field (record_check) */
typedef enum record_field {
    FIELD_PROMPT, FIELD_TARGET_NEW, FIELD_TARGET_TRUE, FIELD_REPHRASE, FIELD_LOC_PROMPT, FIELD_LOC_ANSWER
} record_field;

/* A further check of each selected record (the run's: every evaluated sequence encodes and fits the
 * model's context). Returns 0 when the record is good, else non-zero with the part at fault in *field
 * (*index into its list) and the problem in msg: the load stops, or with skip_invalid the record is
 * dropped from the selection (which then holds fewer than n_edits). Only selected records are checked, so
 * that a file's selections stay what they are without the check. */
typedef int (*record_check)(const edit_record *r, void *ctx, record_field *field, int *index, char *msg,
                            size_t msglen);

typedef struct dataset_opts {
    dataset_format format;
    eval_protocol protocol;
    bool skip_invalid;     /* skip (warn, count) invalid records; false: the first one is an error */
    bool shuffle;          /* shuffle the valid records with seed before taking the selection */
    uint64_t seed;
    long offset;           /* selection: records [offset, offset + n_edits) of the (shuffled) list */
    long n_edits;          /* −1: all from offset */
    record_check check;    /* NULL: none */
    void *check_ctx;
} dataset_opts;

typedef struct edit_dataset {
    dataset_format format;
    int n;                 /* selected requests */
    edit_record *req;
    long n_records;        /* records in the file */
    long n_skipped;        /* invalid records skipped */
} edit_dataset;

dataset_opts dataset_opts_default(void); /* auto format, easyedit, stop on invalid, no shuffle, all */

/* Reads, validates and selects. An invalid record (missing, ill-typed or empty field, except zsRE's alt,
 * subject absent from its prompt; a selected one refused by o->check) is reported as "FILE: record I: field F: problem": an error (returns non-zero, message in err)
 * unless skip_invalid, which prints it as a warning on stderr and counts it. */
int dataset_load(const char *path, const dataset_opts *o, edit_dataset *out, char *err, size_t errlen);
void dataset_free(edit_dataset *d);

/* Fisher–Yates shuffle of idx[0..n) driven by splitmix64 from seed: for i = n−1 … 1, j = next % (i + 1),
 * swap idx[i], idx[j]. Portable and reproducible (tests/reference/make_dataset_ref.py re-implements it). */
void dataset_shuffle(long *idx, long n, uint64_t seed);

const char *protocol_name(eval_protocol p);
const char *dataset_format_name(dataset_format f);
/* "easyedit" / "memit"; returns −1 for another name */
int protocol_parse(const char *name, eval_protocol *p);
/* "auto" / "zsre" / "counterfact" / "counterfact-rome"; returns −1 for another name */
int dataset_format_parse(const char *name, dataset_format *f);

#endif
