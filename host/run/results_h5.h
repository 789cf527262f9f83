/* One self-describing HDF5 results file per run (schema: results/README.md, version RESULTS_SCHEMA_VERSION):
 * the run's metadata as root attributes, one row per edit, the norms of every edited matrix after every
 * edit, the checkpoints' retention matrices and perplexities, the downstream tasks' scores (on the unedited
 * model and at every checkpoint, when the run evaluates them) and the frozen context templates; every
 * dataset chunked with HDF5's Fletcher-32 checksum. The resume state lives apart (run/run_state.h). A file
 * is created under a temporary name (PATH.part) and appears at its name only once published; the status
 * attribute reads "complete" only after results_mark_complete, with every planned edit, so a file cut
 * short never looks finished. Errors name the file and the object; HDF5's own error printing is silenced. */
#ifndef KEDIT_RESULTS_H5_H
#define KEDIT_RESULTS_H5_H

#include <stdbool.h>
#include <stddef.h>

#define RESULTS_SCHEMA_VERSION 2

typedef struct results results;

typedef struct results_meta {
    const char *config_json;    /* the resolved configuration, JSON text */
    const char *method;         /* "rome", "memit", "d4s", ... */
    const char *model_path;
    const char *model_name;     /* the label of tables and plots (default: the path's last component) */
    const char *model_checksum; /* model.checksum */
    const char *dataset;        /* path of the edit requests */
    const char *protocol;       /* "easyedit" or "memit" */
    const char *git_revision;   /* of the kedit that ran, given by the caller ("unknown" if NULL) */
    const char *device;         /* "cpu", "cuda: NVIDIA H100 ...", ... */
    const char *weights;        /* storage of the linear weights: "f32" or "bf16" (NULL: "f32") */
    const char *statistics;     /* JSON of the covariance statistics' making (NULL: "{}", none used) */
    const char *run_id;         /* names the run's state files (run/run_state.h) */
    long long seed;
    long n_edits;               /* edits planned: the width of the retention matrices */
} results_meta;

/* One edit, right after it was made (editing-spec §6 schedule, §10.13). */
typedef struct edit_row {
    long long edit;             /* position in the run, from 0 */
    long long case_id;
    double efficacy, paraphrase, specificity; /* this request's scores right after its edit, in [0, 1] */
    double target_prob_pre;     /* probability of the target on the edit prompt on W₀ */
    double target_prob_before;  /* the same on the live model right before the edit (NaN: not measured) */
    double target_prob_post;    /* the same right after the edit */
    double t_z, t_keys, t_solve, t_apply, t_eval; /* wall seconds of each phase of this edit */
    long long peak_rss;         /* the process's peak resident memory so far, bytes */
} edit_row;

/* The norms of one edited matrix W after one edit (editing-spec §10.13). */
typedef struct norm_row {
    double l1_diff;  /* ‖W − W₀‖₁ / numel */
    double fro_diff; /* ‖W − W₀‖_F */
    double fro_step; /* ‖ΔW of this edit‖_F */
    double l1;       /* ‖W‖₁ / numel (the poster's L1 curve) */
    double codebook_size, values_norm; /* GRACE's adapter (its matrix norms are NaN); NaN for the others */
} norm_row;

/* The re-evaluation of all edits so far at a checkpoint: one row of each retention matrix. */
typedef struct checkpoint_row {
    long n_edits;                /* edits made (the columns filled; the rest are written as NaN) */
    const double *efficacy;      /* n_edits scores of requests 0 … n_edits−1 on the current model */
    const double *paraphrase;
    const double *specificity;
    double ppl_edited, ppl_unedited; /* perplexity of the held-out text (NaN when not measured) */
    double elapsed;              /* wall seconds since the run started */
} checkpoint_row;

/* One downstream task's scores (run/downstream.h) on the unedited model (n_edits 0) or at a checkpoint. */
typedef struct downstream_row {
    const char *task;            /* "sst2", "mmlu", ...: the group /downstream/<task> */
    long long n_items;           /* test items scored */
    long long n_truncated;       /* of them, prompts cut on the left to fit the model's context */
    double accuracy, f1, mcc;    /* confusion_scores (run/confusion.h) of the option-likelihood answers */
} downstream_row;

/* Creates the file with status "running" under the temporary name PATH.part (results_part_path), refusing
 * an existing path; a PATH.part left by a run that stopped before publishing is replaced (one held by a
 * live run is refused). Nothing is at path until results_publish. */
results *results_create(const char *path, const results_meta *meta, char *err, size_t errlen);
/* Flushes, syncs and links the temporary file to its name (refusing to replace a file that appeared
 * meanwhile), then syncs the folder; no-op for an opened file. */
int results_publish(results *r);
bool results_published(const results *r); /* false between results_create and results_publish */
/* Closes a file not yet published and removes its temporary name (NULL accepted). */
void results_discard(results *r);
char *results_part_path(const char *path); /* "PATH.part", malloc'd */
/* Opens an existing results file, checking that it is one (schema version, required objects, a "complete"
 * status only with every planned edit) and reporting a truncated or corrupt file clearly, and a missing one
 * whose PATH.part exists as a run that stopped before its first edit. writable (to resume) sets status
 * back to "running". */
results *results_open(const char *path, bool writable, char *err, size_t errlen);
/* Flushes and closes (NULL is accepted). */
void results_close(results *r);
/* The last error message of r. */
const char *results_error(const results *r);

/* ---- writing (each returns 0, or −1 with the message in results_error) ---- */
int results_append_edit(results *r, const edit_row *e);
int results_append_norms(results *r, const char *matrix, long long edit, const norm_row *n);
int results_append_checkpoint(results *r, const checkpoint_row *c);
/* a row of /downstream/<task> for each of the n tasks, with the edits made (0: the unedited model) */
int results_append_downstream(results *r, long n_edits, const downstream_row *rows, int n);
int results_set_templates(results *r, const char *const *templates, int n);
int results_set_attr_str(results *r, const char *name, const char *value);   /* an extra root attribute */
int results_set_attr_double(results *r, const char *name, double value);
/* H5Fflush, recording in the attribute edits_flushed how many edit rows the flushed file holds. */
int results_flush(results *r);
/* Sets status "complete" and flushes: call once, after the last checkpoint; fails unless every planned
 * edit has its row. */
int results_mark_complete(results *r);

/* ---- reading ---- */
long results_n_edits(results *r);            /* rows of /edits (−1 on error) */
long results_n_checkpoints(results *r);      /* rows of /checkpoints (−1 on error) */
/* a root string attribute (malloc'd), or NULL when absent */
char *results_attr_str(results *r, const char *name);
int results_attr_double(results *r, const char *name, double *value);
/* any numeric dataset (1-D or 2-D, e.g. "/edits/efficacy", "/checkpoints/efficacy") as float64 rows ×
 * cols (cols 1 for 1-D), malloc'd */
int results_read(results *r, const char *dataset, double **values, long *rows, long *cols);
int results_read_templates(results *r, char ***templates, int *n); /* free each and the array */
/* the edited matrices' names (those with a /norms group), malloc'd array of malloc'd strings */
int results_norm_matrices(results *r, char ***names, int *n);
/* the downstream tasks recorded (groups of /downstream, in the run's order; none when the run has none) */
int results_downstream_tasks(results *r, char ***names, int *n);
/* ---- resuming ---- */
/* Drops every edit row with edit ≥ n_edits (in /edits and /norms) and every checkpoint (in /checkpoints
 * and /downstream) with more edits,
 * so that a resumed run continues after edit n_edits − 1. */
int results_truncate_edits(results *r, long n_edits);

#endif
