#include "run/table.h"

#include "run/run_group.h"
#include "run/run_summary.h"
#include "run/table_grid.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* several rows of the same model and method: a column names each row's runs */
static bool rows_need_runs(const run_group *g, int n) {
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (!strcmp(g[i].run[0]->model, g[j].run[0]->model) && !strcmp(g[i].run[0]->method, g[j].run[0]->method))
                return true;
    return false;
}

int table_print(FILE *out, const char *const *files, int n_files, table_format fmt, const long *checkpoints, int n_ck,
                char *err, size_t errlen) {
    run_summary *s = run_summaries_read(files, n_files, err, errlen);
    if (!s) return -1;
    int n_groups = 0;
    run_group *g = run_groups(s, n_files, &n_groups);
    long *ck = checkpoints ? NULL : run_summaries_checkpoints(s, n_files, &n_ck);
    bool with_run = fmt == TABLE_CSV || rows_need_runs(g, n_groups), with_n = false, incomplete = false, repeated = false;
    for (int i = 0; i < n_groups; i++) {
        with_n |= g[i].n > 1;
        incomplete |= !run_group_complete(&g[i]);
        repeated |= g[i].seed_repeated;
    }
    const char *labels[5];
    int n_labels = 0;
    labels[n_labels++] = "model";
    labels[n_labels++] = "method";
    if (with_run) labels[n_labels++] = fmt == TABLE_CSV ? "file" : "run";
    if (fmt == TABLE_CSV) labels[n_labels++] = "status";
    if (with_n) labels[n_labels++] = "n";
    table_grid grid;
    table_grid_init(&grid, labels, n_labels, checkpoints ? checkpoints : ck, n_ck, fmt, with_n, true);
    for (int i = 0; i < n_groups; i++) {
        int r = table_grid_add_row(&grid), c = 0;
        table_grid_put(&grid, r, c++, g[i].run[0]->model);
        char text[512];
        bool done = run_group_complete(&g[i]);
        snprintf(text, sizeof text, "%s%s", g[i].run[0]->method, done || fmt == TABLE_CSV ? "" : "*");
        table_grid_put(&grid, r, c++, text);
        if (with_run) {
            char *runs = table_runs_label(&g[i], fmt);
            table_grid_put(&grid, r, c++, runs);
            free(runs);
        }
        if (fmt == TABLE_CSV) table_grid_put(&grid, r, c++, done ? "complete" : "running");
        if (with_n) {
            snprintf(text, sizeof text, "%d", g[i].n);
            table_grid_put(&grid, r, c++, text);
        }
        table_grid_put_runs(&grid, r, &g[i]);
    }
    table_grid_print(out, &grid);
    if (fmt != TABLE_CSV) {
        fprintf(out, "\nFgt: mean forgetting, efficacy right after each edit minus at the last checkpoint\n");
        if (with_n)
            fprintf(out, "n: runs of one configuration but for the seed; mean ± sample standard deviation over them "
                         "([k]: only k of them have a value there)\n");
        if (repeated) fprintf(out, "runs of the same configuration and seed are shown one per row\n");
        if (incomplete) fprintf(out, "\n* run not complete (status \"running\"): partial numbers\n");
    }
    table_grid_free(&grid);
    free(ck);
    run_groups_free(g, n_groups);
    run_summaries_free(s, n_files);
    return 0;
}

int table_format_parse(const char *name, table_format *f) {
    if (!strcmp(name, "text")) *f = TABLE_TEXT;
    else if (!strcmp(name, "md") || !strcmp(name, "markdown")) *f = TABLE_MARKDOWN;
    else if (!strcmp(name, "csv")) *f = TABLE_CSV;
    else return -1;
    return 0;
}
