/* kedit sweep: expands a grid file into one run configuration per task and a Slurm array script. */
#include "cli.h"
#include "commands.h"
#include "run/sweep.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f, "usage: kedit sweep --grid GRID.json [--out DIR] [--max-parallel M]\n\n"
               "  --grid GRID.json     the grid: a base run configuration and lists of values (run/sweep.h)\n"
               "  --out DIR            the sweep's folder (default: the grid's output_dir)\n"
               "  --max-parallel M     at most M tasks running at once (default: no limit)\n\n"
               "Writes DIR/task-NNNN.json (one run configuration per combination, each writing DIR/task-NNNN.h5),\n"
               "DIR/grid.json (the grid frozen) and DIR/sweep.sbatch, a Slurm job array whose task I runs\n"
               "`kedit run --task I --grid DIR/grid.json`. Submit it with `sbatch DIR/sweep.sbatch`.\n\n"
               "The script asks Slurm to requeue preempted tasks (--requeue) and to send it SIGUSR1 the grid's\n"
               "signal_seconds (default 120) before the time limit (--signal=B:USR1@S); it passes the signal to\n"
               "kedit run, which saves its state after the edit in flight and exits 3, and then requeues itself. A\n"
               "task that starts again continues its results file.\n");
}

int cmd_sweep(int argc, char **argv) {
    const char *grid = NULL, *v;
    sweep_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = cli_value(&i, argc, argv, "--grid")))
            grid = v;
        else if ((v = cli_value(&i, argc, argv, "--out")))
            o.out_dir = v;
        else if ((v = cli_value(&i, argc, argv, "--max-parallel")))
            o.max_parallel = (int)cli_long("--max-parallel", v, 1, INT_MAX);
        else {
            fprintf(stderr, "kedit sweep: unknown argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!grid) {
        fprintf(stderr, "kedit sweep: --grid is required\n\n");
        usage(stderr);
        return 2;
    }
    char self[PATH_MAX]; /* the tasks run this same kedit */
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = 0;
    o.kedit_path = n > 0 ? self : "kedit";
    char err[2048], *dir;
    int tasks = sweep_write(grid, &o, &dir, err, sizeof err);
    if (tasks < 0) {
        fprintf(stderr, "kedit sweep: %s\n", err);
        return 1;
    }
    printf("%d tasks in %s\nsubmit with: sbatch %s/sweep.sbatch\n", tasks, dir, dir);
    free(dir);
    return 0;
}
