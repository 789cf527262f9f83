/* kedit table --downstream (run/table.h): the downstream tasks' scores of results files, a row per file,
 * task and score (accuracy, weighted F1, MCC, ×100), a column for the unedited model and one per
 * checkpoint. */
#include "run/results_h5.h"
#include "run/table.h"
#include "run/table_grid.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const score_names[3] = {"acc", "F1", "MCC"};
static const char *const score_columns[3] = {"accuracy", "f1", "mcc"};

/* one task of one file: its rows (n_edits) and the three scores of each */
typedef struct task_scores {
    char *task;
    long rows;
    double *n_edits, *score[3];
} task_scores;

typedef struct file_scores {
    const char *file;
    char *model, *method;
    bool complete;
    int n_tasks;
    task_scores *t;
} file_scores;

static void file_scores_free(file_scores *f) {
    for (int i = 0; i < f->n_tasks; i++) {
        free(f->t[i].task);
        free(f->t[i].n_edits);
        for (int k = 0; k < 3; k++) free(f->t[i].score[k]);
    }
    free(f->t);
    free(f->model);
    free(f->method);
}

static int read_task(results *r, task_scores *t) {
    char path[300];
    long cols;
    snprintf(path, sizeof path, "/downstream/%s/n_edits", t->task);
    if (results_read(r, path, &t->n_edits, &t->rows, &cols)) return -1;
    for (int k = 0; k < 3; k++) {
        long rows;
        snprintf(path, sizeof path, "/downstream/%s/%s", t->task, score_columns[k]);
        if (results_read(r, path, &t->score[k], &rows, &cols)) return -1;
        if (rows != t->rows) return -1;
    }
    return 0;
}

static int read_file(const char *file, file_scores *f, char *err, size_t errlen) {
    *f = (file_scores){.file = file};
    results *r = results_open(file, false, err, errlen);
    if (!r) return -1;
    char **names = NULL, *status = results_attr_str(r, "status");
    f->model = results_attr_str(r, "model_name");
    f->method = results_attr_str(r, "method");
    f->complete = status && !strcmp(status, "complete");
    free(status);
    int rc = !f->model || !f->method ? -1 : results_downstream_tasks(r, &names, &f->n_tasks);
    if (!rc) f->t = calloc((size_t)f->n_tasks + 1, sizeof *f->t);
    for (int i = 0; i < f->n_tasks; i++) {
        f->t[i].task = names[i];
        if (!rc && read_task(r, &f->t[i])) rc = -1;
    }
    free(names);
    if (rc) snprintf(err, errlen, "%s: %s", file, !f->model || !f->method ? "attribute model_name or method missing"
                                                                             : "its /downstream datasets cannot be read");
    results_close(r);
    return rc;
}

/* the edits of every row of the files (0: unedited), ascending, without repeats */
static long *all_checkpoints(const file_scores *f, int n, int *n_ck) {
    long *ck = NULL;
    *n_ck = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < f[i].n_tasks; j++)
            for (long r = 0; r < f[i].t[j].rows; r++) {
                long v = (long)f[i].t[j].n_edits[r];
                int at = 0;
                while (at < *n_ck && ck[at] < v) at++;
                if (at < *n_ck && ck[at] == v) continue;
                ck = realloc(ck, (size_t)(*n_ck + 1) * sizeof(long));
                memmove(ck + at + 1, ck + at, (size_t)(*n_ck - at) * sizeof(long));
                ck[at] = v;
                (*n_ck)++;
            }
    return ck;
}

static double value_at(const task_scores *t, int k, long n_edits) {
    for (long r = 0; r < t->rows; r++)
        if ((long)t->n_edits[r] == n_edits) return 100 * t->score[k][r];
    return NAN;
}

int table_print_downstream(FILE *out, const char *const *files, int n_files, table_format fmt, const long *checkpoints,
                           int n_ck, char *err, size_t errlen) {
    file_scores *f = calloc((size_t)n_files, sizeof *f);
    int rc = 0, with_scores = 0;
    for (int i = 0; i < n_files && !rc; i++) rc = read_file(files[i], &f[i], err, errlen);
    long *ck = NULL;
    if (!rc) {
        // the unedited model's column first, then the checkpoints asked for (default: every one found)
        int n_found;
        long *found = all_checkpoints(f, n_files, &n_found);
        ck = malloc((size_t)((checkpoints ? n_ck : n_found) + 1) * sizeof(long));
        ck[0] = 0;
        if (checkpoints) memcpy(ck + 1, checkpoints, (size_t)n_ck * sizeof(long));
        else for (int j = 0; j < n_found; j++) if (found[j]) ck[++n_ck] = found[j];
        free(found);
        n_ck++;
        const char **heads = malloc((size_t)(5 + n_ck) * sizeof(char *));
        char (*numbers)[32] = malloc((size_t)n_ck * sizeof *numbers);
        int n_labels = 0;
        heads[n_labels++] = "model";
        heads[n_labels++] = "method";
        heads[n_labels++] = fmt == TABLE_CSV ? "file" : "run";
        heads[n_labels++] = "task";
        heads[n_labels++] = "score";
        for (int j = 0; j < n_ck; j++) {
            if (j) snprintf(numbers[j], sizeof numbers[j], "%ld", ck[j]);
            heads[n_labels + j] = j ? numbers[j] : "unedited";
        }
        table_grid g;
        table_grid_init(&g, heads, n_labels + n_ck, NULL, 0, fmt, false, false);
        g.n_labels = n_labels; // the columns after the labels hold numbers
        for (int i = 0; i < n_files; i++) {
            const char *base = strrchr(f[i].file, '/');
            char method[256];
            snprintf(method, sizeof method, "%s%s", f[i].method, f[i].complete || fmt == TABLE_CSV ? "" : "*");
            with_scores += f[i].n_tasks > 0;
            for (int t = 0; t < f[i].n_tasks; t++)
                for (int k = 0; k < 3; k++) {
                    int r = table_grid_add_row(&g);
                    const char *labels[5] = {f[i].model, method, fmt == TABLE_CSV || !base ? f[i].file : base + 1,
                                             f[i].t[t].task, score_names[k]};
                    for (int c = 0; c < 5; c++) table_grid_put(&g, r, c, labels[c]);
                    for (int j = 0; j < n_ck; j++) {
                        char cell[32];
                        table_number(cell, sizeof cell, value_at(&f[i].t[t], k, ck[j]), false);
                        table_grid_put(&g, r, n_labels + j, cell);
                    }
                }
        }
        if (with_scores) table_grid_print(out, &g);
        else rc = -1, snprintf(err, errlen, "none of the files has downstream scores (a run's \"downstream\" field)");
        if (with_scores && fmt != TABLE_CSV) {
            fprintf(out, "\nacc: accuracy, F1: support-weighted F1, MCC: Matthews correlation, ×100; columns: the "
                         "unedited model, then after N edits\n");
            for (int i = 0; i < n_files; i++)
                if (!f[i].n_tasks) fprintf(out, "%s: no downstream scores\n", f[i].file);
            for (int i = 0; i < n_files; i++)
                if (!f[i].complete) {
                    fprintf(out, "* run not complete (status \"running\"): partial numbers\n");
                    break;
                }
        }
        table_grid_free(&g);
        free(heads);
        free(numbers);
    }
    for (int i = 0; i < n_files; i++) file_scores_free(&f[i]);
    free(f);
    free(ck);
    return rc;
}
