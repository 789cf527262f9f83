/* kedit table's cells as text and their printing as aligned text (widths counted in characters, so that
 * "±" and "−" take one), Markdown or CSV: a header row, then rows of label columns followed by Eff, Par,
 * Spe and Avg per checkpoint (with, in CSV, each one's standard deviation beside it when a row stands
 * for several runs) and the mean forgetting Fgt. */
#ifndef KEDIT_TABLE_GRID_H
#define KEDIT_TABLE_GRID_H

#include "run/run_group.h"
#include "run/table_format.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct table_grid {
    int rows, cols, n_labels;
    table_format fmt;
    const long *ck; /* the checkpoints of the columns (n_ck), not owned */
    int n_ck;
    bool sd_columns; /* CSV: a standard-deviation column after each score */
    bool fgt;        /* a last column Fgt */
    char ***cell;    /* rows × cols, "" until put */
} table_grid;

/* a grid holding its header row: the labels, then the scores' names per checkpoint, then "Fgt" */
void table_grid_init(table_grid *g, const char *const *labels, int n_labels, const long *ck, int n_ck, table_format fmt,
                     bool sd_columns, bool fgt);
int table_grid_add_row(table_grid *g); /* a row of empty cells; its index */
void table_grid_put(table_grid *g, int r, int c, const char *text);
/* the scores of a row of runs in row r from column n_labels on (each cell its mean, ± the standard
 * deviation when the row has several runs, "[k]" when only k of them have a value there; "-" for none) */
void table_grid_put_runs(table_grid *g, int r, const run_group *x);
/* what names a row's runs (malloc'd): a file's name (CSV: its path), or for several runs their seeds
 * ("seeds 0, 1, 2"; CSV: the paths, separated by ';') */
char *table_runs_label(const run_group *x, table_format fmt);
/* a cell's number as the table writes it: two decimals, or "-" when not finite; with sign: "+1.00" */
void table_number(char *buf, size_t n, double v, bool sign);
void table_grid_print(FILE *out, const table_grid *g);
void table_grid_free(table_grid *g);

#endif
