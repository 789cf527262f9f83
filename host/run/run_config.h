/* The configuration of one sequential-editing run (`kedit run --config FILE`): what to edit, with which
 * method, on which requests, how to evaluate, and where to write. JSON; every field but model, hparams,
 * dataset.path and output has a default. Paths are taken relative to the current folder; a path that
 * begins with "$KEDIT_DATA/" reads from $KEDIT_DATA (default ../shared/data), one that begins with
 * "$KEDIT_MODELS/" from $KEDIT_MODELS (default checkpoints). configs/README.md lists the fields. */
#ifndef KEDIT_RUN_CONFIG_H
#define KEDIT_RUN_CONFIG_H

#include "backend.h"
#include "methods/corpus.h"
#include "methods/covariance.h"
#include "run/dataset.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { EVAL_EACH = 0, EVAL_END_ONLY = 1 } eval_schedule;
/* sequential: every edit on the model the earlier ones left (the paper's setting); independent: every edit
 * on the unedited model, scored, then undone (editor_reset): what a method does with one edit */
typedef enum { EDITS_SEQUENTIAL = 0, EDITS_INDEPENDENT = 1 } edit_mode;

typedef struct run_config {
    cJSON *json;            /* the resolved configuration (defaults filled in), owned */
    char *source;           /* where it came from, for messages */
    char *name;             /* label of the run (default: the output file's name) */
    char *model_path, *model_name, *tokenizer_path; /* tokenizer: NULL = the model folder's */
    char *hparams_path;     /* the method's hyper-parameter file (configs/<method>_<model>.json) */
    char *dataset_path;
    dataset_opts ds;        /* format, protocol, selection, invalid-record policy */
    eval_schedule schedule; /* each: evaluate edit i right after edit i; end_only: only at checkpoints */
    edit_mode mode;         /* independent: a checkpoint row holds each edit's scores right after it */
    int batch_size;         /* requests per edit call (AlphaEdit's protocol: 100); checkpoints and state writes
                             * fall at the end of the batch that reaches their multiple (absent: 1, not
                             * written into the resolved configuration) */
    int checkpoint_every;   /* re-evaluate all edits so far every K edits (and always after the last) */
    int state_every;        /* write the resume state every K edits (and after the last); a resumed run
                             * redoes the edits made after the last state written */
    char *stats_corpus;     /* text for the covariance statistics */
    corpus_rule stats_truncate; /* how its documents are cut (absent: windows, not written into the resolved
                                 * configuration, so that older runs' configurations resume) */
    cov_precision stats_precision; /* of the statistics' accumulation (absent: float64, not written either) */
    int64_t stats_tokens;   /* 0: the method's mom2_n_tokens */
    char *stats_cache;      /* folder of the statistics cache */
    char *templates_path;   /* frozen context templates (generated and saved there when absent) */
    char *ppl_text;         /* held-out text for the perplexity at checkpoints (NULL: none) */
    int ppl_tokens, ppl_window;
    int eval_batch;         /* prompts per forward in the evaluation */
    char **downstream_tasks; /* the downstream tasks scored on W₀ and at every checkpoint (run/downstream.h) */
    int n_downstream;       /* 0: none (no "downstream" field) */
    int downstream_n;       /* test items per task */
    char *downstream_path;  /* the folder of <task>.jsonl */
    char *output;           /* the results file */
    char *device;           /* "cpu" or "cuda" */
    kweight_type weights;   /* storage of the model's linear weights: "f32" (default) or "bf16" */
    uint64_t seed;
} run_config;

/* reads and validates a configuration file; errors name the file and the field */
int run_config_load(const char *path, run_config *c, char *err, size_t errlen);
/* the same from a parsed JSON object (taken over: freed with the config); source names it in messages */
int run_config_from_json(cJSON *json, const char *source, run_config *c, char *err, size_t errlen);
void run_config_free(run_config *c);

/* a path with "$KEDIT_DATA/" or "$KEDIT_MODELS/" resolved, malloc'd */
char *run_config_path(const char *p);

#endif
