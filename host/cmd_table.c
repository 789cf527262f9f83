/* kedit table: the paper's Table 2 from results files (one row per run, or per configuration run with
 * several seeds; columns per checkpoint), or with --paper the paper's own numbers, alone or beside kedit's,
 * or with --downstream the downstream tasks' scores per checkpoint. */
#include "cli.h"
#include "commands.h"
#include "run/table.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: kedit table FILE.h5... [--format text|md|csv] [--checkpoints N,N,...]\n"
               "       kedit table --paper [FILE.h5...] [--format text|md|csv] [--checkpoints N,N,...]\n"
               "       kedit table --downstream FILE.h5... [--format text|md|csv] [--checkpoints N,N,...]\n\n"
               "  FILE.h5            results files of runs (kedit run), e.g. the files of a sweep\n"
               "  --paper            the paper's Table 2; with files, beside kedit's rows of the same model and\n"
               "                     method, with the difference kedit − paper per cell\n"
               "  --downstream       the downstream tasks' accuracy, F1 and MCC (x100) of each file, on the\n"
               "                     unedited model and after N edits (runs with a \"downstream\" field)\n"
               "  --format F         text (aligned, default), md (Markdown) or csv\n"
               "  --checkpoints L    the checkpoints to show, e.g. 100,500,1000 (default: all in the files;\n"
               "                     with --paper the paper's 100,500,1000)\n\n"
               "Each row is a run (model × method); for each checkpoint N: Eff, Par and Spe, the mean over edits\n"
               "1 … N re-evaluated after edit N, and their average Avg, all ×100. '*' marks a run not complete.\n"
               "Runs of the same configuration but for the seed (method, model name and checksum, and the config\n"
               "attribute without seed, output and name) make one row: mean ± sample standard deviation, and n.\n");
}

/* "100,500,1000" → malloc'd list */
static long *parse_checkpoints(const char *text, int *n) {
    long *ck = malloc((strlen(text) / 2 + 1) * sizeof(long));
    char *copy = strdup(text), *save = NULL;
    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        ck[(*n)++] = cli_long("--checkpoints", t, 1, __LONG_MAX__);
    free(copy);
    if (*n == 0) {
        fprintf(stderr, "kedit table: --checkpoints needs at least one number\n");
        exit(2);
    }
    return ck;
}

int cmd_table(int argc, char **argv) {
    const char **files = calloc((size_t)argc + 1, sizeof(char *)), *v;
    table_format fmt = TABLE_TEXT;
    long *ck = NULL;
    int n_files = 0, n_ck = 0;
    bool paper = false, downstream = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--paper")) {
            paper = true;
        } else if (!strcmp(argv[i], "--downstream")) {
            downstream = true;
        } else if ((v = cli_value(&i, argc, argv, "--format"))) {
            if (table_format_parse(v, &fmt)) {
                fprintf(stderr, "kedit table: --format '%s': use text, md or csv\n", v);
                return 2;
            }
        } else if ((v = cli_value(&i, argc, argv, "--checkpoints"))) {
            free(ck);
            ck = parse_checkpoints(v, &n_ck);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "kedit table: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            files[n_files++] = argv[i];
        }
    }
    if (paper && downstream) {
        fprintf(stderr, "kedit table: --paper and --downstream are separate tables: give one\n");
        return 2;
    }
    if (n_files == 0 && !paper) {
        fprintf(stderr, "kedit table: give at least one results file\n");
        usage(stderr);
        return 2;
    }
    char err[1024];
    int rc = paper        ? table_print_paper(stdout, files, n_files, fmt, ck, n_ck, err, sizeof err)
             : downstream ? table_print_downstream(stdout, files, n_files, fmt, ck, n_ck, err, sizeof err)
                          : table_print(stdout, files, n_files, fmt, ck, n_ck, err, sizeof err);
    if (rc) fprintf(stderr, "kedit table: %s\n", err);
    free(ck);
    free(files);
    return rc ? 1 : 0;
}
