#include "run/run_summary.h"

#include "run/results_h5.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void run_summary_free(run_summary *s) {
    free(s->model);
    free(s->method);
    free(s->status);
    free(s->checksum);
    cJSON_Delete(s->config_but_seed);
    free(s->ck);
    free(s->score);
}

/* mean of the finite values of x[0..n) (NaN when there is none) */
static double finite_mean(const double *x, long n) {
    double sum = 0;
    long k = 0;
    for (long i = 0; i < n; i++)
        if (isfinite(x[i])) {
            sum += x[i];
            k++;
        }
    return k ? sum / (double)k : NAN;
}

/* Mean forgetting (results/README.md): over the edits j scored at the last checkpoint, the efficacy of edit
 * j right after it (/edits/efficacy[j]) minus its efficacy at the last checkpoint, ×100; pairs with a NaN
 * are left out. */
static double forgetting(const double *after_edit, long n_edit_rows, const double *last_row, long n) {
    double sum = 0;
    long k = 0;
    for (long j = 0; j < n && j < n_edit_rows; j++)
        if (isfinite(after_edit[j]) && isfinite(last_row[j])) {
            sum += after_edit[j] - last_row[j];
            k++;
        }
    return k ? 100 * sum / (double)k : NAN;
}

/* the root attributes that name and tell apart the run; 0, or −1 with the missing one named in err */
static int read_identity(results *r, const char *file, run_summary *s, char *err, size_t errlen) {
    static const char *const names[4] = {"model_name", "method", "status", "model_checksum"};
    char **fields[4] = {&s->model, &s->method, &s->status, &s->checksum};
    for (int i = 0; i < 4; i++)
        if (!(*fields[i] = results_attr_str(r, names[i]))) {
            snprintf(err, errlen, "%s: attribute %s missing", file, names[i]);
            return -1;
        }
    if (results_attr_double(r, "seed", &s->seed)) {
        snprintf(err, errlen, "%s", results_error(r));
        return -1;
    }
    char *config = results_attr_str(r, "config");
    bool present = config != NULL;
    s->config_but_seed = present ? cJSON_Parse(config) : NULL;
    free(config);
    if (!cJSON_IsObject(s->config_but_seed)) {
        snprintf(err, errlen, "%s: attribute config: %s", file, present ? "not a JSON object" : "missing");
        return -1;
    }
    static const char *const aside[3] = {"seed", "output", "name"};
    for (int i = 0; i < 3; i++) cJSON_DeleteItemFromObjectCaseSensitive(s->config_but_seed, aside[i]);
    return 0;
}

int run_summary_read(const char *file, run_summary *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->file = file;
    results *r = results_open(file, false, err, errlen);
    if (!r) return -1;
    int rc = read_identity(r, file, s, err, errlen);
    double *n_edits = NULL, *m[3] = {NULL, NULL, NULL}, *after_edit = NULL;
    long rows, cols, width = 0, n_edit_rows = 0;
    if (!rc) {
        rc = results_read(r, "/checkpoints/n_edits", &n_edits, &s->n_ck, &cols);
        if (!rc) rc = results_read(r, "/edits/efficacy", &after_edit, &n_edit_rows, &cols);
        static const char *const paths[3] = {"/checkpoints/efficacy", "/checkpoints/paraphrase", "/checkpoints/specificity"};
        for (int i = 0; i < 3 && !rc; i++) {
            rc = results_read(r, paths[i], &m[i], &rows, &width);
            if (!rc && rows != s->n_ck) rc = -1;
        }
        if (rc) snprintf(err, errlen, "%s", results_error(r));
    }
    if (!rc) {
        s->ck = malloc(((size_t)s->n_ck + 1) * sizeof(long));
        s->score = malloc(((size_t)s->n_ck + 1) * sizeof *s->score);
        for (long c = 0; c < s->n_ck; c++) {
            long n = (long)n_edits[c] < width ? (long)n_edits[c] : width;
            s->ck[c] = (long)n_edits[c];
            for (int i = 0; i < 3; i++) s->score[c][i] = 100 * finite_mean(m[i] + c * width, n); // all n edits so far
            s->score[c][3] = (s->score[c][0] + s->score[c][1] + s->score[c][2]) / 3;
        }
        long last = s->n_ck - 1, n_last = last < 0 ? 0 : s->ck[last] < width ? s->ck[last] : width;
        // independent edits are never re-scored later (their checkpoint rows are the scores right after each)
        const cJSON *sched = cJSON_GetObjectItemCaseSensitive(s->config_but_seed, "schedule");
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(sched, "mode");
        bool independent = cJSON_IsString(mode) && !strcmp(mode->valuestring, "independent");
        s->forgetting = last < 0 || independent ? NAN : forgetting(after_edit, n_edit_rows, m[0] + last * width, n_last);
    }
    free(n_edits);
    free(after_edit);
    for (int i = 0; i < 3; i++) free(m[i]);
    results_close(r);
    if (rc) run_summary_free(s);
    return rc;
}

run_summary *run_summaries_read(const char *const *files, int n, char *err, size_t errlen) {
    run_summary *s = calloc((size_t)n + 1, sizeof *s);
    for (int i = 0; i < n; i++)
        if (run_summary_read(files[i], &s[i], err, errlen)) {
            run_summaries_free(s, i);
            return NULL;
        }
    return s;
}

void run_summaries_free(run_summary *s, int n) {
    for (int i = 0; s && i < n; i++) run_summary_free(&s[i]);
    free(s);
}

static int by_value(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

long *run_summaries_checkpoints(const run_summary *s, int n, int *n_ck) {
    long total = 0;
    for (int i = 0; i < n; i++) total += s[i].n_ck;
    long *ck = malloc(((size_t)total + 1) * sizeof(long));
    long k = 0;
    for (int i = 0; i < n; i++)
        for (long c = 0; c < s[i].n_ck; c++) ck[k++] = s[i].ck[c];
    qsort(ck, (size_t)k, sizeof(long), by_value);
    long u = 0;
    for (long i = 0; i < k; i++)
        if (u == 0 || ck[u - 1] != ck[i]) ck[u++] = ck[i];
    *n_ck = (int)u;
    return ck;
}

const double *run_summary_at(const run_summary *s, long n_edits) {
    for (long c = s->n_ck - 1; c >= 0; c--)
        if (s->ck[c] == n_edits) return s->score[c];
    return NULL;
}

bool run_summary_complete(const run_summary *s) { return !strcmp(s->status, "complete"); }

bool same_runs_but_seed(const run_summary *a, const run_summary *b) {
    return !strcmp(a->method, b->method) && !strcmp(a->model, b->model) && !strcmp(a->checksum, b->checksum) &&
           cJSON_Compare(a->config_but_seed, b->config_but_seed, true);
}
