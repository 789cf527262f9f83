/* Sweeps: one grid file expands into many run configurations (methods × edit counts × models × seeds, or
 * any other fields), each a task of a Slurm job array.
 *
 * GRID.json:
 *   {
 *     "base": "configs/x.json",            (or the base run configuration itself, as an object)
 *     "grid": {
 *       "$method": ["rome", "memit", "d4s"],
 *       "dataset.n_edits": [100, 1000],
 *       "model_name": ["gpt2-xl", "gpt-j-6B"],
 *       "seed": [0, 1]
 *     },
 *     "output_dir": "results/sweep-name",
 *     "sbatch": {"time": "04:00:00", "gres": "gpu:1"},  (optional: more #SBATCH options)
 *     "signal_seconds": 120                              (optional: see below)
 *   }
 * Each grid key is a field path of the run configuration (run/run_config.h), dots going into objects
 * (missing objects are created); every task sets it to one of the listed values (any JSON value). A key
 * beginning with '$' is a variable: it sets no field. In every string of a task's configuration, "{name}"
 * is replaced by the task's value of grid key name (or $name), so that files can depend on several axes:
 * "hparams": "configs/{method}_{model_name}.json" ("{}" and other braces are left alone; a {name} that
 * names no grid key is an error). Each task's "output" is set to OUTPUT_DIR/task-NNNN.h5 (4 digits, more
 * when there are more than 10,000 tasks); the grid cannot set it.
 *
 * The Slurm array script (sweep_write) asks for `--requeue` and `--signal=B:USR1@signal_seconds` (default
 * 120, 1 to 86400: the time the edit in flight and the state save may take): Slurm sends SIGUSR1 to the
 * script that long before the time limit; the script passes it to kedit run, which stops after the edit
 * in flight with its state saved (exit EXIT_INTERRUPTED), and then requeues the task, which continues its
 * results file when it starts again. A preempted or `scontrol requeue`d task gets SIGTERM (passed on the
 * same way; Slurm requeues it itself); a cancelled one (scancel, also SIGTERM) is not requeued.
 *
 * Task order: the grid's keys in the order written, the first varying slowest; task t takes value
 * (t / (n_{k+1}·…·n_last)) mod n_k of key k. Relative paths (base, output_dir) are taken relative to the
 * current folder, like the paths inside run configurations. */
#ifndef KEDIT_SWEEP_H
#define KEDIT_SWEEP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define SWEEP_MAX_TASKS 1000000

typedef struct sweep_axis {
    const char *key;     /* as written in the grid ("dataset.n_edits", "$method") */
    const cJSON *values; /* the array of its values */
    int n;
    bool variable; /* '$' key: substituted only */
} sweep_axis;

typedef struct sweep_grid {
    char *path;  /* the grid file, for messages */
    cJSON *json; /* the grid file */
    cJSON *base; /* the base configuration */
    sweep_axis *axes;
    int n_axes;
    int n_tasks;
    char *output_dir;    /* NULL when the file gives none */
    const cJSON *sbatch; /* extra #SBATCH options (object) or NULL */
    int signal_seconds;  /* Slurm's SIGUSR1 this long before the time limit */
} sweep_grid;

/* Reads and checks a grid file (and its base configuration). Non-zero with a message naming the file and
 * the field in err. */
int sweep_grid_load(const char *path, sweep_grid *g, char *err, size_t errlen);
void sweep_grid_free(sweep_grid *g);

/* Task `task`'s resolved configuration (a new cJSON object, caller deletes) with output under g->output_dir
 * (which must be set). Non-zero with a message in err for a task out of range or a bad {name}. */
int sweep_grid_task(const sweep_grid *g, int task, cJSON **config, char *err, size_t errlen);

#define SWEEP_TASK_NAME 32
/* "task-0003": the file name (without extension) of a task's configuration and results */
void sweep_task_name(const sweep_grid *g, int task, char name[SWEEP_TASK_NAME]);

/* The values of task `task` as "method=rome dataset.n_edits=100 ...", for messages (caller frees). */
char *sweep_grid_describe(const sweep_grid *g, int task);

/* sweep_grid_load + sweep_grid_task: what `kedit run --task I --grid GRID.json` runs. Deterministic: the
 * same grid file gives the same configuration for the same I. */
int sweep_task_config(const char *grid_path, int task, cJSON **config, char *err, size_t errlen);

typedef struct sweep_opts {
    const char *out_dir;    /* NULL: the grid's output_dir */
    int max_parallel;       /* tasks running at once (Slurm's %M); 0: no limit */
    const char *kedit_path; /* the kedit executable the tasks run */
} sweep_opts;

/* Expands the grid into its output folder: task-NNNN.json for every task (each checked as a run
 * configuration), grid.json (the grid frozen: base inlined, output_dir set, so the tasks stay the same if
 * the base file changes later; the array runs `kedit run --task I --grid DIR/grid.json`), sweep.sbatch and
 * logs/. A folder holding another sweep's grid.json is refused; the same grid may be written again.
 * Returns the number of tasks and, when dir is not NULL, the folder written in *dir (malloc'd); −1 with a
 * message in err. */
int sweep_write(const char *grid_path, const sweep_opts *o, char **dir, char *err, size_t errlen);

#endif
