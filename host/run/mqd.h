/* The Multi-Question Dataset (MQD) of the paper (editing-spec §6, §7; README "MQD"): every usable
 * ATOMIC-2020 tuple asked three ways, each written as edit requests in the zsRE (MEND) schema that
 * `kedit run` reads:
 *   DG  (directly generated): head + connective                      → the tail
 *   MQ  (multiple choice):    DG prompt + "? Below are four options: (a) …; (b) …; (c) …; (d) …. The
 *                             correct option is"                      → "a" … "d"
 *   T/F (true/false):         DG prompt + " " + tail + ". Is this sentence logical? Please answer yes
 *                             or no. A:"                              → "yes" / "no"
 * A tuple is usable when it has a tail that is not "none" and its relation has at least three other
 * distinct tails (the MQ distractors). The answer is the tuple's first usable tail. From the seed:
 * the three distractors (drawn from the other tails of the same relation), the correct letter (each
 * letter the answer of a quarter of the questions, ±1), the yes/no of each T/F question (half yes, ±1;
 * a "no" statement shows a tail of another tuple of the same relation) and the locality partner (each
 * record's loc/loc_ans is another tuple's question and answer of the same type). */
#ifndef KEDIT_MQD_H
#define KEDIT_MQD_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MQD_DG = 0, MQD_MQ, MQD_TF, MQD_N_TYPES } mqd_type;

/* An optional length limit: a tuple is kept only when each of its three questions, as src and as
 * rephrase, has n_tokens(ctx, prompt, target) ≤ max_tokens (e.g. a model's tokens, for a small context). */
typedef struct mqd_fit {
    long (*n_tokens)(void *ctx, const char *prompt, const char *target);
    void *ctx;
    long max_tokens;
} mqd_fit;

typedef struct mqd_summary {
    long n_tuples;        /* lines of the ATOMIC file */
    long n_no_tail;       /* tuples skipped: no usable tail */
    long n_few_tails;     /* tuples skipped: fewer than three other distinct tails in their relation */
    long n_too_long;      /* tuples skipped: a question longer than the mqd_fit limit */
    long n_records;       /* records of each type (= usable tuples) */
    long n_yes;           /* T/F records whose answer is "yes" */
} mqd_summary;

/* "dg", "mq", "tf": the type's file is OUT_DIR/<name>.json */
const char *mqd_type_name(mqd_type t);

/* Reads the ATOMIC-2020 file, builds the three types (of the tuples that fit, when fit is not NULL) and
 * writes OUT_DIR/dg.json, mq.json, tf.json (OUT_DIR is created when absent). The same file, seed and fit
 * give the same bytes. On any error (message naming the file, line and field in err) returns −1 and
 * leaves no file behind. */
int mqd_build(const char *atomic_path, uint64_t seed, const mqd_fit *fit, const char *out_dir, mqd_summary *sum,
              char *err, size_t errlen);

#endif
