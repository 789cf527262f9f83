/* kedit table --paper: the paper's Table 2, alone or beside kedit's rows of the same model and method with
 * the difference per cell (table.h). */
#include "run/paper_table2.h"
#include "run/run_group.h"
#include "run/run_summary.h"
#include "run/table.h"
#include "run/table_grid.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* the paper's cell text of (row, checkpoint N, metric), or NULL when the paper has no column N */
static const char *paper_cell(const paper_row *p, long n_edits, int metric) {
    int k = paper_checkpoint_index(n_edits);
    return k < 0 ? NULL : p->cell[k][metric];
}

static void put_paper_row(table_grid *g, const paper_row *p, bool with_source) {
    int r = table_grid_add_row(g), c = 0;
    table_grid_put(g, r, c++, p->model);
    table_grid_put(g, r, c++, p->method);
    if (with_source) table_grid_put(g, r, c++, "paper");
    c = g->n_labels;
    for (int j = 0; j < g->n_ck; j++)
        for (int i = 0; i < 4; i++) {
            const char *v = paper_cell(p, g->ck[j], i);
            table_grid_put(g, r, c, v ? v : "-");
            c += g->sd_columns ? 2 : 1;
        }
}

/* kedit's row of runs x; its source says what they are */
static void put_kedit_row(table_grid *g, const run_group *x, const char *what, bool with_n) {
    int r = table_grid_add_row(g), c = 0;
    bool done = run_group_complete(x);
    char text[512];
    table_grid_put(g, r, c++, x->run[0]->model);
    snprintf(text, sizeof text, "%s%s", x->run[0]->method, done || g->fmt == TABLE_CSV ? "" : "*");
    table_grid_put(g, r, c++, text);
    char *runs = table_runs_label(x, g->fmt);
    snprintf(text, sizeof text, "%s: %s", what, runs);
    free(runs);
    table_grid_put(g, r, c++, text);
    if (g->fmt == TABLE_CSV) table_grid_put(g, r, c++, done ? "complete" : "running");
    if (with_n) {
        snprintf(text, sizeof text, "%d", x->n);
        table_grid_put(g, r, c++, text);
    }
    table_grid_put_runs(g, r, x);
}

/* kedit − paper per cell ("-" where either has no value) */
static void put_difference_row(table_grid *g, const run_group *x, const paper_row *p) {
    int r = table_grid_add_row(g), c = g->n_labels;
    table_grid_put(g, r, 2, "kedit − paper");
    for (int j = 0; j < g->n_ck; j++)
        for (int i = 0; i < 4; i++) {
            const char *v = paper_cell(p, g->ck[j], i);
            char num[32];
            table_number(num, sizeof num, v ? run_group_score(x, g->ck[j], i).mean - strtod(v, NULL) : NAN, true);
            table_grid_put(g, r, c, num);
            c += g->sd_columns ? 2 : 1;
        }
}

static const paper_row *counterpart(const run_group *x) {
    const char *model = paper_model_of(x->run[0]->model);
    return model ? paper_row_of(model, x->run[0]->method) : NULL;
}

static void print_paper_alone(FILE *out, table_format fmt, const long *ck, int n_ck) {
    static const char *const labels[2] = {"model", "method"};
    table_grid g;
    table_grid_init(&g, labels, 2, ck, n_ck, fmt, false, false);
    for (int i = 0; i < PAPER_N_ROWS; i++) put_paper_row(&g, &paper_table2[i], false);
    table_grid_print(out, &g);
    table_grid_free(&g);
}

/* the notes below a comparison: why a row has no paper counterpart, and the checkpoints the paper lacks */
static void print_notes(FILE *out, const run_group *g, int n_groups, const long *ck, int n_ck, const long *file_ck,
                        int n_file_ck) {
    for (int i = 0; i < n_groups; i++) {
        if (counterpart(&g[i])) continue;
        const run_summary *s = g[i].run[0];
        char *runs = table_runs_label(&g[i], TABLE_TEXT);
        if (!paper_model_of(s->model))
            fprintf(out, "%s (%s): no paper counterpart: model %s is not in the paper's Table 2 (it has %s and %s)\n",
                    runs, s->method, s->model, paper_model_meaning("Llama"), paper_model_meaning("GPT"));
        else
            fprintf(out, "%s (%s): no paper counterpart: the paper's Table 2 has no method %s\n", runs, s->model,
                    s->method);
        free(runs);
    }
    for (int j = 0; j < n_ck; j++)
        if (paper_checkpoint_index(ck[j]) < 0)
            fprintf(out, "after %ld edits: no paper counterpart (the paper has 100, 500 and 1000 edits)\n", ck[j]);
    int shown = 0;
    for (int j = 0; j < n_file_ck; j++)
        if (paper_checkpoint_index(file_ck[j]) < 0) {
            fprintf(out, "%s%ld", shown++ ? ", " : "the files' checkpoints without a paper counterpart, not shown: ",
                    file_ck[j]);
        }
    if (shown) fprintf(out, " edits (kedit table without --paper shows them)\n");
}

int table_print_paper(FILE *out, const char *const *files, int n_files, table_format fmt, const long *checkpoints,
                      int n_ck, char *err, size_t errlen) {
    const long *ck = checkpoints ? checkpoints : paper_checkpoints;
    if (!checkpoints) n_ck = PAPER_N_CHECKPOINTS;
    if (n_files == 0) {
        print_paper_alone(out, fmt, ck, n_ck);
    } else {
        run_summary *s = run_summaries_read(files, n_files, err, errlen);
        if (!s) return -1;
        int n_groups = 0, n_file_ck = 0;
        run_group *g = run_groups(s, n_files, &n_groups);
        long *file_ck = checkpoints ? NULL : run_summaries_checkpoints(s, n_files, &n_file_ck);
        bool with_n = false, incomplete = false;
        for (int i = 0; i < n_groups; i++) {
            with_n |= g[i].n > 1;
            incomplete |= !run_group_complete(&g[i]);
        }
        const char *labels[5] = {"model", "method", "source"};
        int n_labels = 3;
        if (fmt == TABLE_CSV) labels[n_labels++] = "status";
        if (with_n) labels[n_labels++] = "n";
        table_grid grid;
        table_grid_init(&grid, labels, n_labels, ck, n_ck, fmt, with_n, false);
        for (int p = 0; p < PAPER_N_ROWS; p++) { // the paper's order; each of its rows once, before kedit's
            bool shown = false;
            for (int i = 0; i < n_groups; i++)
                if (counterpart(&g[i]) == &paper_table2[p]) {
                    if (!shown) put_paper_row(&grid, &paper_table2[p], true);
                    shown = true;
                    put_kedit_row(&grid, &g[i], "kedit", with_n);
                    put_difference_row(&grid, &g[i], &paper_table2[p]);
                }
        }
        for (int i = 0; i < n_groups; i++)
            if (!counterpart(&g[i])) put_kedit_row(&grid, &g[i], "no paper counterpart", with_n);
        table_grid_print(out, &grid);
        if (fmt != TABLE_CSV) {
            fputc('\n', out);
            print_notes(out, g, n_groups, ck, n_ck, file_ck, n_file_ck);
            if (with_n)
                fprintf(out, "n: runs of one configuration but for the seed; mean ± sample standard deviation over "
                             "them ([k]: only k of them have a value there)\n");
            if (incomplete) fprintf(out, "* run not complete (status \"running\"): partial numbers\n");
        }
        table_grid_free(&grid);
        free(file_ck);
        run_groups_free(g, n_groups);
        run_summaries_free(s, n_files);
    }
    if (fmt != TABLE_CSV)
        fprintf(out, "\npaper: the poster's Table 2 (editing-spec §7), sequential edits on zsRE, batch size 1, ×100; "
                     "GPT is most likely %s, Llama is %s\n",
                paper_model_meaning("GPT"), paper_model_meaning("Llama"));
    return 0;
}
