/* The downstream battery: how much of a model's general abilities survives the edits, measured as
 * AlphaEdit's glue_eval does on SST-2, MRPC, CoLA, RTE, MMLU and NLI (the data and its protocol:
 * $KEDIT_DATA/downstream/README.md). Zero-shot: the test items of a task are records 10 … 10 + n − 1 of
 * <task>.jsonl (records 0–9 are AlphaEdit's few-shot pool, unused). Each item is the task's prompt and
 * its answer options, one per class (" negative"/" positive", " No"/" Yes", " True"/" False", " A"…" D");
 * its answer is the option with the highest teacher-forced log-probability after the prompt, summed over
 * the option's tokens and divided by their count (AlphaEdit's length normalisation; every option is one
 * token for GPT-2 and Llama-2, so it compares next-token probabilities). An exact tie goes to class 0 in
 * a binary task, to no answer (wrong) in MMLU. Scores: accuracy, weighted F1 and MCC (run/confusion.h).
 *
 * An option's tokens are those the tokenizer gives prompt ‖ " " ‖ option beyond the prompt's own
 * (where the prompt's tokens are a prefix of them), otherwise the option with a leading space encoded
 * alone (eval_tokenize_target): for GPT-2 the same ids as AlphaEdit's, for Llama-2 the word's own piece
 * rather than the lone "▁" piece that encoding " Yes" alone adds. RTE follows GLUE's labels (0 =
 * entailment = " True"); AlphaEdit's code maps " True" to label 1, which reverses its RTE scores. A
 * prompt too long for the model's context loses its first tokens (after a BOS), and is counted. */
#ifndef KEDIT_DOWNSTREAM_H
#define KEDIT_DOWNSTREAM_H

#include "model.h"
#include "run/metrics.h"
#include "run/results_h5.h"
#include "tokenizer.h"

#include <stdbool.h>
#include <stddef.h>

#define DOWNSTREAM_FIRST 10 /* the first test record; 0 … 9 are the few-shot pool */
#define DOWNSTREAM_TASKS "sst2, mrpc, cola, rte, mmlu, nli" /* the tasks known, for messages */

typedef struct task_def task_def; /* a task's file, prompt, labels and options (downstream.c) */

/* one task's test items as token ids */
typedef struct downstream_task {
    const task_def *def;
    const char *name;
    int n_items, n_options;
    long n_truncated; /* items whose prompt lost its first tokens to fit the context */
    id_seq *prompt;   /* n_items */
    id_seq *option;   /* n_items × n_options: option k of item i at [i * n_options + k] */
    int *label;       /* n_items classes in 0 … n_options − 1 */
} downstream_task;

typedef struct downstream {
    int n;
    downstream_task *task;
} downstream;

/* true for a task of DOWNSTREAM_TASKS */
bool downstream_task_known(const char *name);
/* the option words of a known task (n_options of them, without the leading space), or NULL */
const char *const *downstream_task_options(const char *name, int *n_options);

/* folder/<task>.jsonl, malloc'd */
char *downstream_task_path(const char *folder, const char *task);

/* Reads and tokenises n test items of each of the n_tasks tasks from folder/<task>.jsonl for a model of
 * n_ctx positions. Returns non-zero with a message naming the file, record and field in err (a file
 * too short, a record that is not JSON or lacks a field, a label out of range). */
int downstream_load(downstream *d, const char *folder, const char *const *tasks, int n_tasks, int n, const tokenizer *t,
                    int n_ctx, char *err, size_t errlen);
void downstream_free(downstream *d);

/* the answer among k options of mean NLL nll[0..k): the lowest; a tie for it gives 0 when k = 2, −1 (no
 * answer) otherwise */
int downstream_answer(const double *nll, int k);

/* Answers every item of task t on m (h: a method's adapter, NULL: none), max_batch sequences per
 * forward: answer[i] ∈ {−1, 0, …}; nll (NULL: not wanted) receives the mean NLL of each option, laid
 * out as t->option. */
int downstream_predict(const downstream_task *t, const model *m, const eval_hooks *h, int max_batch, int *answer,
                       double *nll, char *err, size_t errlen);
/* Scores every task of d on m into out[0..d->n) (the task names point into d). */
int downstream_score(const downstream *d, const model *m, const eval_hooks *h, int max_batch, downstream_row *out,
                     char *err, size_t errlen);

#endif
