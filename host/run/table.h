/* The paper's Table 2 from results files: one row per run (model × method), for each checkpoint N the
 * mean over the first N edits of efficacy, paraphrase and specificity re-evaluated after N edits, and
 * their average, ×100 with two decimals, and a last column Fgt, the run's mean forgetting (efficacy right
 * after each edit minus at the run's last checkpoint, results/README.md); as aligned text, Markdown or
 * CSV. Runs of one configuration but for the seed make one row (run/run_group.h): each cell the mean ±
 * the standard deviation over them, and a column n. */
#ifndef KEDIT_TABLE_H
#define KEDIT_TABLE_H

#include "run/table_format.h"

#include <stdio.h>

/* Prints the table of n_files results files to out. checkpoints (n_ck values) chooses the columns; NULL:
 * every checkpoint found in the files. A run with no checkpoint at some N shows "-" there; a run not
 * complete is marked "*". Returns 0, or −1 with a message naming the file in err. */
int table_print(FILE *out, const char *const *files, int n_files, table_format fmt, const long *checkpoints, int n_ck,
                char *err, size_t errlen);

/* The paper's Table 2 (run/paper_table2.h) as the paper prints it (n_files 0), or beside the rows of the
 * files whose model and method it has: for each, the paper's row, kedit's row and their difference per
 * cell (kedit − paper), at the paper's checkpoints 100, 500, 1000 (checkpoints: others, which the paper
 * lacks); the files without a counterpart in the paper, and the checkpoints of the files it lacks, are
 * named below the table. Returns 0, or −1 with a message naming the file in err. */
int table_print_paper(FILE *out, const char *const *files, int n_files, table_format fmt, const long *checkpoints,
                      int n_ck, char *err, size_t errlen);

/* The downstream tasks' scores of the files (kedit run's "downstream" field): a row per file, task and
 * score (accuracy, weighted F1, MCC, ×100), a column for the unedited model, then one per checkpoint
 * (checkpoints: those; NULL: every one in the files); "-" where a file has no score. A file without
 * downstream scores is named below the table; none with any is an error. Returns 0, or −1 with a message
 * naming the file in err. */
int table_print_downstream(FILE *out, const char *const *files, int n_files, table_format fmt, const long *checkpoints,
                           int n_ck, char *err, size_t errlen);

/* "text", "md" (or "markdown"), "csv"; −1 for another name */
int table_format_parse(const char *name, table_format *f);

#endif
