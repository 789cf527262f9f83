#include "run/table_grid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const metric_names[4] = {"Eff", "Par", "Spe", "Avg"};

static int scores_per_checkpoint(const table_grid *g) { return g->sd_columns ? 8 : 4; }

int table_grid_add_row(table_grid *g) {
    g->cell = realloc(g->cell, (size_t)(g->rows + 1) * sizeof(char **));
    g->cell[g->rows] = malloc((size_t)g->cols * sizeof(char *));
    for (int c = 0; c < g->cols; c++) g->cell[g->rows][c] = strdup("");
    return g->rows++;
}

void table_grid_put(table_grid *g, int r, int c, const char *text) {
    free(g->cell[r][c]);
    g->cell[r][c] = strdup(text);
}

void table_grid_init(table_grid *g, const char *const *labels, int n_labels, const long *ck, int n_ck, table_format fmt,
                     bool sd_columns, bool fgt) {
    *g = (table_grid){.n_labels = n_labels, .fmt = fmt, .ck = ck, .n_ck = n_ck, .sd_columns = sd_columns && fmt == TABLE_CSV,
                      .fgt = fgt};
    g->cols = n_labels + scores_per_checkpoint(g) * n_ck + (fgt ? 1 + g->sd_columns : 0);
    int r = table_grid_add_row(g), c = 0;
    for (; c < n_labels; c++) table_grid_put(g, r, c, labels[c]);
    for (int j = 0; j < n_ck; j++)
        for (int i = 0; i < 4; i++) {
            char head[64];
            if (fmt == TABLE_CSV) snprintf(head, sizeof head, "%s_%ld", metric_names[i], ck[j]);
            else if (fmt == TABLE_MARKDOWN && i == 0) snprintf(head, sizeof head, "%ld: %s", ck[j], metric_names[i]);
            else snprintf(head, sizeof head, "%s", metric_names[i]);
            table_grid_put(g, r, c++, head);
            if (g->sd_columns) {
                snprintf(head, sizeof head, "%s_%ld_sd", metric_names[i], ck[j]);
                table_grid_put(g, r, c++, head);
            }
        }
    if (fgt) table_grid_put(g, r, c++, "Fgt");
    if (fgt && g->sd_columns) table_grid_put(g, r, c, "Fgt_sd");
}

void table_number(char *buf, size_t n, double v, bool sign) {
    if (isfinite(v)) snprintf(buf, n, sign ? "%+.2f" : "%.2f", v);
    else snprintf(buf, n, "-");
}

/* one score of a row of runs from column c; returns the next column */
static int put_stat(table_grid *g, int r, int c, cell_stat s, int n_runs) {
    char mean[32], sd[32], text[96];
    table_number(mean, sizeof mean, s.mean, false);
    table_number(sd, sizeof sd, s.sd, false);
    if (g->sd_columns) {
        table_grid_put(g, r, c++, mean);
        table_grid_put(g, r, c++, n_runs > 1 ? sd : "");
        return c;
    }
    int w = snprintf(text, sizeof text, "%s", mean);
    if (s.n > 1 && g->fmt != TABLE_CSV) w += snprintf(text + w, sizeof text - (size_t)w, " ± %s", sd);
    if (n_runs > 1 && s.n > 0 && s.n < n_runs) snprintf(text + w, sizeof text - (size_t)w, " [%d]", s.n);
    table_grid_put(g, r, c++, text);
    return c;
}

void table_grid_put_runs(table_grid *g, int r, const run_group *x) {
    int c = g->n_labels;
    for (int j = 0; j < g->n_ck; j++)
        for (int i = 0; i < 4; i++) c = put_stat(g, r, c, run_group_score(x, g->ck[j], i), x->n);
    if (g->fgt) put_stat(g, r, c, run_group_forgetting(x), x->n);
}

char *table_runs_label(const run_group *x, table_format fmt) {
    size_t size = 16;
    for (int i = 0; i < x->n; i++) size += strlen(x->run[i]->file) + 32;
    char *text = malloc(size);
    size_t w = 0;
    if (x->n > 1 && fmt != TABLE_CSV) w += (size_t)snprintf(text, size, "seeds ");
    for (int i = 0; i < x->n; i++) {
        const char *file = x->run[i]->file, *slash = strrchr(file, '/');
        if (i) w += (size_t)snprintf(text + w, size - w, fmt == TABLE_CSV ? ";" : ", ");
        if (x->n > 1 && fmt != TABLE_CSV) w += (size_t)snprintf(text + w, size - w, "%.0f", x->run[i]->seed);
        else w += (size_t)snprintf(text + w, size - w, "%s", fmt == TABLE_CSV || !slash ? file : slash + 1);
    }
    return text;
}

/* characters of UTF-8 text (bytes that do not continue a character) */
static int text_width(const char *t) {
    int w = 0;
    for (; *t; t++) w += ((unsigned char)*t & 0xC0) != 0x80;
    return w;
}

static void print_padded(FILE *out, const char *t, int width, bool left) {
    int pad = width - text_width(t);
    if (!left) fprintf(out, "%*s", pad > 0 ? pad : 0, "");
    fputs(t, out);
    if (left) fprintf(out, "%*s", pad > 0 ? pad : 0, "");
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

/* text: a first header line names each group of four columns "after N edits" */
static void print_checkpoint_heads(FILE *out, const table_grid *g, const int *w) {
    int pos = 0;
    for (int c = 0; c < g->n_labels; c++) pos += w[c] + 2;
    fprintf(out, "%*s", pos, "");
    for (int j = 0; j < g->n_ck; j++) {
        int span = 0;
        for (int i = 0; i < 4; i++) span += w[g->n_labels + 4 * j + i] + 2;
        char head[48];
        snprintf(head, sizeof head, "after %ld edits", g->ck[j]);
        fprintf(out, "%-*s", j + 1 < g->n_ck ? span : 0, head);
    }
    fputc('\n', out);
}

void table_grid_print(FILE *out, const table_grid *g) {
    int *w = calloc((size_t)g->cols, sizeof(int));
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) {
            int len = text_width(g->cell[r][c]);
            if (len > w[c]) w[c] = len;
        }
    if (g->fmt == TABLE_TEXT && g->n_ck) print_checkpoint_heads(out, g, w);
    for (int r = 0; r < g->rows; r++) {
        for (int c = 0; c < g->cols; c++) {
            const char *t = g->cell[r][c];
            if (g->fmt == TABLE_CSV) {
                if (c) fputc(',', out);
                print_csv_field(out, t);
            } else if (g->fmt == TABLE_MARKDOWN) {
                fprintf(out, "| %s ", t);
            } else {
                bool label = c < g->n_labels, last = c + 1 == g->cols;
                if (last && label) fputs(t, out);
                else print_padded(out, t, w[c], label);
                if (!last) fputs("  ", out);
            }
        }
        if (g->fmt == TABLE_MARKDOWN) fputs("|", out);
        fputc('\n', out);
        if (r == 0 && g->fmt == TABLE_MARKDOWN) {
            for (int c = 0; c < g->cols; c++) fputs(c < g->n_labels ? "|---" : "|---:", out);
            fputs("|\n", out);
        }
    }
    free(w);
}

void table_grid_free(table_grid *g) {
    for (int r = 0; r < g->rows; r++) {
        for (int c = 0; c < g->cols; c++) free(g->cell[r][c]);
        free(g->cell[r]);
    }
    free(g->cell);
}
