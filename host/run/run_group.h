/* kedit table's rows of runs: the results files grouped so that runs of one configuration but for the
 * seed (same_runs_but_seed, each seed once) make one row, whose cells are the mean ± standard deviation
 * over its runs. Files of one configuration in which a seed repeats are not samples of different seeds:
 * each keeps a row of its own. */
#ifndef KEDIT_RUN_GROUP_H
#define KEDIT_RUN_GROUP_H

#include "run/run_summary.h"

#include <stdbool.h>

typedef struct run_group {
    const run_summary **run; /* its runs, in the order of the files */
    int n;
    bool seed_repeated; /* a file of this configuration and seed is in another row too */
} run_group;

/* a statistic of one cell over a group's runs that have a finite value there */
typedef struct cell_stat {
    double mean, sd; /* sd: the sample standard deviation (n − 1), NaN for fewer than 2 values */
    int n;           /* runs with a value (0: mean NaN) */
} cell_stat;

/* The rows of s[0..n): grouped by model in the order the models first appear, the groups of one model in
 * the order of their first files. Returns the malloc'd groups, their count in *n_groups. */
run_group *run_groups(const run_summary *s, int n, int *n_groups);
void run_groups_free(run_group *g, int n_groups);

/* metric (0 Eff, 1 Par, 2 Spe, 3 Avg) at the checkpoint after n_edits edits */
cell_stat run_group_score(const run_group *g, long n_edits, int metric);
cell_stat run_group_forgetting(const run_group *g);
bool run_group_complete(const run_group *g); /* every run's status is "complete" */

#endif
