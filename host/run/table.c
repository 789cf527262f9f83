#include "run/table.h"

#include "run/results_h5.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const metric_names[4] = {"Eff", "Par", "Spe", "Avg"};

/* what the table needs from one results file */
typedef struct run_summary {
    const char *file;
    char *model, *method, *status;
    long n_ck;
    long *ck;           /* n_ck: edits at each checkpoint */
    double (*score)[4]; /* n_ck × {Eff, Par, Spe, Avg}, ×100 */
    double forgetting;  /* ×100; NaN without a checkpoint (forgetting below) */
} run_summary;

static void summary_free(run_summary *s) {
    free(s->model);
    free(s->method);
    free(s->status);
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

static int summarize(const char *file, run_summary *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->file = file;
    results *r = results_open(file, false, err, errlen);
    if (!r) return -1;
    s->model = results_attr_str(r, "model_name");
    s->method = results_attr_str(r, "method");
    s->status = results_attr_str(r, "status");
    double *n_edits = NULL, *m[3] = {NULL, NULL, NULL}, *after_edit = NULL;
    long rows, cols, width = 0, n_edit_rows = 0;
    int rc = results_read(r, "/checkpoints/n_edits", &n_edits, &s->n_ck, &cols);
    if (!rc) rc = results_read(r, "/edits/efficacy", &after_edit, &n_edit_rows, &cols);
    static const char *const paths[3] = {"/checkpoints/efficacy", "/checkpoints/paraphrase", "/checkpoints/specificity"};
    for (int i = 0; i < 3 && !rc; i++) {
        rc = results_read(r, paths[i], &m[i], &rows, &width);
        if (!rc && rows != s->n_ck) rc = -1;
    }
    if (rc) snprintf(err, errlen, "%s", results_error(r));
    if (!rc && !(s->model && s->method && s->status)) {
        snprintf(err, errlen, "%s: attribute model_name, method or status missing", file);
        rc = -1;
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
        s->forgetting = last < 0 ? NAN : forgetting(after_edit, n_edit_rows, m[0] + last * width, n_last);
    }
    free(n_edits);
    free(after_edit);
    for (int i = 0; i < 3; i++) free(m[i]);
    results_close(r);
    if (rc) summary_free(s);
    return rc;
}

static int by_value(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* every checkpoint of the runs, ascending, without repeats */
static long *all_checkpoints(const run_summary *s, int n, int *n_ck) {
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

/* the run's scores at checkpoint N, or NULL */
static const double *scores_at(const run_summary *s, long N) {
    for (long c = s->n_ck - 1; c >= 0; c--)
        if (s->ck[c] == N) return s->score[c];
    return NULL;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* the table as cells: header row(s) first; label columns, then 4 per checkpoint */
typedef struct grid {
    int rows, cols, n_labels;
    char ***cell;
} grid;

static void put(grid *g, int r, int c, const char *text) { g->cell[r][c] = strdup(text); }

static void fill_rows(grid *g, const run_summary *s, const int *order, int n, const long *ck, int n_ck,
                      table_format fmt, bool with_run) {
    for (int k = 0; k < n; k++) {
        const run_summary *x = &s[order[k]];
        int r = k + 1, c = 0;
        bool done = !strcmp(x->status, "complete");
        char method[256];
        snprintf(method, sizeof method, "%s%s", x->method, done || fmt == TABLE_CSV ? "" : "*");
        put(g, r, c++, x->model);
        put(g, r, c++, method);
        if (with_run) put(g, r, c++, fmt == TABLE_CSV ? x->file : base_name(x->file));
        if (fmt == TABLE_CSV) put(g, r, c++, x->status);
        for (int j = 0; j < n_ck; j++) {
            const double *v = scores_at(x, ck[j]);
            for (int i = 0; i < 4; i++) {
                char num[32];
                if (v && isfinite(v[i])) snprintf(num, sizeof num, "%.2f", v[i]);
                else snprintf(num, sizeof num, "-");
                put(g, r, c++, num);
            }
        }
        char num[32];
        if (isfinite(x->forgetting)) snprintf(num, sizeof num, "%.2f", x->forgetting);
        else snprintf(num, sizeof num, "-");
        put(g, r, c++, num);
    }
}

static void print_csv_field(FILE *out, const char *t) {
    if (!strpbrk(t, ",\"\n")) {
        fputs(t, out);
        return;
    }
    fputc('"', out);
    for (; *t; t++) {
        if (*t == '"') fputc('"', out);
        fputc(*t, out);
    }
    fputc('"', out);
}

static void print_grid(FILE *out, const grid *g, table_format fmt, const long *ck, int n_ck) {
    int *w = calloc((size_t)g->cols, sizeof(int));
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) {
            int len = (int)strlen(g->cell[r][c]);
            if (len > w[c]) w[c] = len;
        }
    if (fmt == TABLE_TEXT) { // a first header line names each group of four: "after N edits"
        int pos = 0;
        for (int c = 0; c < g->n_labels; c++) pos += w[c] + 2;
        fprintf(out, "%*s", pos, "");
        for (int j = 0; j < n_ck; j++) {
            int span = 0;
            for (int i = 0; i < 4; i++) span += w[g->n_labels + 4 * j + i] + 2;
            char head[48];
            snprintf(head, sizeof head, "after %ld edits", ck[j]);
            fprintf(out, "%-*s", j + 1 < n_ck ? span : 0, head);
        }
        fputc('\n', out);
    }
    for (int r = 0; r < g->rows; r++) {
        for (int c = 0; c < g->cols; c++) {
            const char *t = g->cell[r][c];
            bool label = c < g->n_labels;
            if (fmt == TABLE_CSV) {
                if (c) fputc(',', out);
                print_csv_field(out, t);
            } else if (fmt == TABLE_MARKDOWN) {
                fprintf(out, "| %s ", t);
            } else {
                fprintf(out, c + 1 < g->cols ? (label ? "%-*s  " : "%*s  ") : (label ? "%-*s" : "%*s"), w[c], t);
            }
        }
        if (fmt == TABLE_MARKDOWN) fputs("|", out);
        fputc('\n', out);
        if (r == 0 && fmt == TABLE_MARKDOWN) {
            for (int c = 0; c < g->cols; c++) fputs(c < g->n_labels ? "|---" : "|---:", out);
            fputs("|\n", out);
        }
    }
    free(w);
}

int table_print(FILE *out, const char *const *files, int n_files, table_format fmt, const long *checkpoints, int n_ck,
                char *err, size_t errlen) {
    run_summary *s = calloc((size_t)n_files + 1, sizeof *s);
    int n = 0, rc = 0;
    for (; n < n_files && !rc; n++)
        if (summarize(files[n], &s[n], err, errlen)) rc = -1;
    if (rc) n--;
    long *ck = NULL;
    if (!rc) {
        if (checkpoints) {
            ck = malloc(((size_t)n_ck + 1) * sizeof(long));
            memcpy(ck, checkpoints, (size_t)n_ck * sizeof(long));
        } else {
            ck = all_checkpoints(s, n, &n_ck);
        }
        // rows grouped by model in order of first appearance, files in their order within a model
        int *order = malloc(((size_t)n + 1) * sizeof(int)), k = 0;
        bool *used = calloc((size_t)n + 1, sizeof(bool)), with_run = false, incomplete = false;
        for (int i = 0; i < n; i++) {
            if (used[i]) continue;
            for (int j = i; j < n; j++)
                if (!used[j] && !strcmp(s[j].model, s[i].model)) {
                    used[j] = true;
                    order[k++] = j;
                }
        }
        for (int i = 0; i < n; i++) {
            incomplete |= strcmp(s[i].status, "complete") != 0;
            for (int j = i + 1; j < n; j++) with_run |= !strcmp(s[i].model, s[j].model) && !strcmp(s[i].method, s[j].method);
        }
        with_run |= fmt == TABLE_CSV;
        grid g = {.rows = n + 1, .n_labels = 2 + with_run + (fmt == TABLE_CSV)};
        g.cols = g.n_labels + 4 * n_ck + 1; // the last: forgetting
        g.cell = malloc((size_t)g.rows * sizeof(char **));
        for (int r = 0; r < g.rows; r++) g.cell[r] = calloc((size_t)g.cols, sizeof(char *));
        int c = 0;
        put(&g, 0, c++, "model");
        put(&g, 0, c++, "method");
        if (with_run) put(&g, 0, c++, fmt == TABLE_CSV ? "file" : "run");
        if (fmt == TABLE_CSV) put(&g, 0, c++, "status");
        for (int j = 0; j < n_ck; j++)
            for (int i = 0; i < 4; i++) {
                char head[48];
                if (fmt == TABLE_CSV) snprintf(head, sizeof head, "%s_%ld", metric_names[i], ck[j]);
                else if (fmt == TABLE_MARKDOWN && i == 0) snprintf(head, sizeof head, "%ld: %s", ck[j], metric_names[i]);
                else snprintf(head, sizeof head, "%s", metric_names[i]);
                put(&g, 0, c++, head);
            }
        put(&g, 0, c++, "Fgt");
        fill_rows(&g, s, order, n, ck, n_ck, fmt, with_run);
        print_grid(out, &g, fmt, ck, n_ck);
        if (fmt != TABLE_CSV)
            fprintf(out, "\nFgt: mean forgetting, efficacy right after each edit minus at the last checkpoint\n");
        if (incomplete && fmt != TABLE_CSV) fprintf(out, "\n* run not complete (status \"running\"): partial numbers\n");
        for (int r = 0; r < g.rows; r++) {
            for (int cc = 0; cc < g.cols; cc++) free(g.cell[r][cc]);
            free(g.cell[r]);
        }
        free(g.cell);
        free(order);
        free(used);
    }
    for (int i = 0; i < n; i++) summary_free(&s[i]);
    free(s);
    free(ck);
    return rc;
}

int table_format_parse(const char *name, table_format *f) {
    if (!strcmp(name, "text")) *f = TABLE_TEXT;
    else if (!strcmp(name, "md") || !strcmp(name, "markdown")) *f = TABLE_MARKDOWN;
    else if (!strcmp(name, "csv")) *f = TABLE_CSV;
    else return -1;
    return 0;
}
