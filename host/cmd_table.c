/* kedit table: the paper's Table 2 from results files (one row per run, columns per checkpoint). */
#include "cli.h"
#include "commands.h"
#include "run/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: kedit table FILE.h5... [--format text|md|csv] [--checkpoints N,N,...]\n\n"
               "  FILE.h5            results files of runs (kedit run), e.g. the files of a sweep\n"
               "  --format F         text (aligned, default), md (Markdown) or csv\n"
               "  --checkpoints L    the checkpoints to show, e.g. 100,500,1000 (default: all in the files)\n\n"
               "Each row is a run (model × method); for each checkpoint N: Eff, Par and Spe, the mean over edits\n"
               "1 … N re-evaluated after edit N, and their average Avg, all ×100. '*' marks a run not complete.\n");
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
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
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
    if (n_files == 0) {
        fprintf(stderr, "kedit table: give at least one results file\n");
        usage(stderr);
        return 2;
    }
    char err[1024];
    int rc = table_print(stdout, files, n_files, fmt, ck, n_ck, err, sizeof err);
    if (rc) fprintf(stderr, "kedit table: %s\n", err);
    free(ck);
    free(files);
    return rc ? 1 : 0;
}
