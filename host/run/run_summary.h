/* What `kedit table` needs from one results file: its model, method and status, Table 2's scores at
 * each checkpoint (the mean over the first N edits of efficacy, paraphrase and specificity re-evaluated
 * after N edits, and their average, ×100), its mean forgetting, and what tells runs of the same
 * configuration apart from one another: the seed, and everything else (same_runs_but_seed). */
#ifndef KEDIT_RUN_SUMMARY_H
#define KEDIT_RUN_SUMMARY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct run_summary {
    const char *file;
    char *model, *method, *status, *checksum; /* root attributes model_name, method, status, model_checksum */
    double seed;
    cJSON *config_but_seed; /* the attribute config without seed, output and name */
    long n_ck;
    long *ck;           /* n_ck: edits at each checkpoint */
    double (*score)[4]; /* n_ck × {Eff, Par, Spe, Avg}, ×100 */
    double forgetting;  /* ×100; NaN without a checkpoint */
} run_summary;

/* Reads file into s; returns 0, or −1 with a message naming the file (and the attribute) in err. */
int run_summary_read(const char *file, run_summary *s, char *err, size_t errlen);
void run_summary_free(run_summary *s);
/* every file of files[0..n) read, malloc'd; NULL with the first error in err */
run_summary *run_summaries_read(const char *const *files, int n, char *err, size_t errlen);
void run_summaries_free(run_summary *s, int n);
/* every checkpoint (edits made) of the runs, ascending, without repeats; malloc'd, their count in *n_ck */
long *run_summaries_checkpoints(const run_summary *s, int n, int *n_ck);

/* the scores at checkpoint N, or NULL */
const double *run_summary_at(const run_summary *s, long n_edits);
bool run_summary_complete(const run_summary *s);

/* Runs of one configuration but for the seed: the same method, model name and checksum, and the same
 * resolved configuration once seed, output (where the file went) and name (its label) are set aside. */
bool same_runs_but_seed(const run_summary *a, const run_summary *b);

#endif
