#include "run/run_group.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cell_stat stat_of(const double *x, int n) {
    cell_stat s = {NAN, NAN, 0};
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) sum += x[i], s.n++;
    if (!s.n) return s;
    s.mean = sum / s.n;
    if (s.n < 2) return s;
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) ss += (x[i] - s.mean) * (x[i] - s.mean);
    s.sd = sqrt(ss / (s.n - 1));
    return s;
}

cell_stat run_group_score(const run_group *g, long n_edits, int metric) {
    double *x = malloc((size_t)g->n * sizeof(double));
    for (int i = 0; i < g->n; i++) {
        const double *v = run_summary_at(g->run[i], n_edits);
        x[i] = v ? v[metric] : NAN;
    }
    cell_stat s = stat_of(x, g->n);
    free(x);
    return s;
}

cell_stat run_group_forgetting(const run_group *g) {
    double *x = malloc((size_t)g->n * sizeof(double));
    for (int i = 0; i < g->n; i++) x[i] = g->run[i]->forgetting;
    cell_stat s = stat_of(x, g->n);
    free(x);
    return s;
}

bool run_group_complete(const run_group *g) {
    for (int i = 0; i < g->n; i++)
        if (!run_summary_complete(g->run[i])) return false;
    return true;
}

/* the groups in the order of their first files: the runs of one configuration but for the seed together
 * when no seed repeats among them, else each apart */
static run_group *groups_in_file_order(const run_summary *s, int n, int *n_groups) {
    int *set = malloc(((size_t)n + 1) * sizeof(int)), *group_of = malloc(((size_t)n + 1) * sizeof(int));
    bool *repeated = calloc((size_t)n + 1, sizeof(bool));
    for (int i = 0; i < n; i++) set[i] = group_of[i] = -1;
    for (int i = 0; i < n; i++) { // set[j]: the first file of j's configuration but for the seed
        if (set[i] >= 0) continue;
        set[i] = i;
        for (int j = i + 1; j < n; j++)
            if (set[j] < 0 && same_runs_but_seed(&s[i], &s[j])) {
                for (int q = i; q < j; q++) repeated[i] |= set[q] == i && s[q].seed == s[j].seed;
                set[j] = i;
            }
    }
    run_group *g = calloc((size_t)n + 1, sizeof *g);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int first = set[i];
        run_group *x = !repeated[first] && group_of[first] >= 0 ? &g[group_of[first]] : NULL;
        if (!x) {
            x = &g[k];
            x->run = malloc((size_t)n * sizeof *x->run);
            x->seed_repeated = repeated[first];
            group_of[first] = k++;
        }
        x->run[x->n++] = &s[i];
    }
    free(set);
    free(group_of);
    free(repeated);
    *n_groups = k;
    return g;
}

run_group *run_groups(const run_summary *s, int n, int *n_groups) {
    int k = 0;
    run_group *in_file_order = groups_in_file_order(s, n, &k);
    run_group *g = calloc((size_t)k + 1, sizeof *g);
    bool *used = calloc((size_t)k + 1, sizeof(bool));
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (used[i]) continue;
        for (int j = i; j < k; j++)
            if (!used[j] && !strcmp(in_file_order[j].run[0]->model, in_file_order[i].run[0]->model)) {
                used[j] = true;
                g[m++] = in_file_order[j];
            }
    }
    free(used);
    free(in_file_order);
    *n_groups = m;
    return g;
}

void run_groups_free(run_group *g, int n_groups) {
    for (int i = 0; i < n_groups; i++) free(g[i].run);
    free(g);
}
