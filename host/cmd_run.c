/* kedit run: one sequential-editing run from a configuration, a sweep's task, or a results file to resume. */
#include "cli.h"
#include "commands.h"
#include "proc_memory.h"
#include "run/interrupt.h"
#include "run/plan.h"
#include "run/results_h5.h"
#include "run/runner.h"
#include "run/sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f, "usage: kedit run --config CONFIG.json [options]\n"
               "       kedit run --task I --grid GRID.json [options]\n"
               "       kedit run --resume RESULTS.h5 [options]\n"
               "       kedit run --dry-run [--no-probe] (--config CONFIG.json | --grid GRID.json [--task I])\n\n"
               "  --config FILE       the run's configuration (configs/README.md lists the fields)\n"
               "  --task I --grid G   task I of a sweep's grid (kedit sweep); I defaults to $SLURM_ARRAY_TASK_ID\n"
               "  --resume FILE       continue a run that stopped, from its results file and its own configuration\n"
               "  --save-model DIR    write the edited model there as a Hugging Face folder at the end\n"
               "  --device cpu|cuda   overrides the configuration's device\n"
               "  --quiet             no progress lines\n"
               "  --progress-every S  seconds between progress lines in a log (default 5; 0: every edit)\n"
               "  --stop-after N      stop after N edits of this process (at the end of the edit call that reaches\n"
               "                      N, with schedule.batch_size), leaving the run resumable (exit 2)\n"
               "  --dry-run           print the run's plan and write nothing: the model's parameters, its memory on the\n"
               "                      device by part (refused, exit 1, when it does not fit), the statistics' cost and\n"
               "                      cache, the time per edit from a probe; a grid without --task: one line a task\n"
               "  --no-probe          a dry run without loading the model: weights counted, not measured, and no time\n\n"
               "A dry run checks the peak against $KEDIT_MEMORY_LIMIT when set (bytes; suffix K, M, G or T), else\n"
               "against MemAvailable of /proc/meminfo (CUDA: the device's free memory).\n\n"
               "A sweep task whose results file exists continues it (as --resume does), so a requeued task goes on\n"
               "where it stopped. SIGTERM, SIGUSR1 (Slurm's warning before the time limit) and SIGINT stop the run\n"
               "after the edit in flight, with its state saved: exit status %d, continue with --resume (or the same\n"
               "--task). A second SIGINT ends it at once. Exit status: 0 complete, 1 bad input or failure, 2 bad\n"
               "arguments or --stop-after reached, %d stopped by a signal, resumable.\n",
               EXIT_INTERRUPTED, EXIT_INTERRUPTED);
}

/* the configuration stored in a results file */
static int config_of_results(const char *path, run_config *c, char *err, size_t errlen) {
    results *r = results_open(path, false, err, errlen);
    if (!r) return 1;
    char *text = results_attr_str(r, "config");
    results_close(r);
    if (!text) {
        snprintf(err, errlen, "%s: no config attribute: not a kedit results file", path);
        return 1;
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) {
        snprintf(err, errlen, "%s: its config attribute is not valid JSON", path);
        return 1;
    }
    return run_config_from_json(j, path, c, err, errlen);
}

/* a sweep task whose results file exists continues it, provided the file holds the task's configuration */
static int resume_task(const run_config *c, const char *grid, const char *task, run_opts *o, char *err, size_t errlen) {
    if (access(c->output, F_OK) != 0) return 0;
    run_config stored;
    if (config_of_results(c->output, &stored, err, errlen)) return 1;
    bool same = cJSON_Compare(stored.json, c->json, true);
    const cJSON *e = NULL;
    if (!same) { /* the first field that differs, for the message */
        for (e = c->json->child; e && cJSON_Compare(e, cJSON_GetObjectItemCaseSensitive(stored.json, e->string), true);)
            e = e->next;
        for (const cJSON *s = stored.json->child; !e && s; s = s->next)
            if (!cJSON_GetObjectItemCaseSensitive(c->json, s->string)) e = s;
        snprintf(err, errlen,
                 "%s: exists with another configuration than task %s of %s (field %s differs): move it away to run "
                 "the task afresh",
                 c->output, task, grid, e ? e->string : "?");
    }
    run_config_free(&stored);
    if (!same) return 1;
    printf("task %s: its results file %s exists: continuing it\n", task, c->output);
    o->resume = c->output;
    return 0;
}

/* one configuration's plan, printed in full or as a grid's line (label); 1 when it does not fit */
static int plan_one(run_config *c, const char *label, const run_opts *o, bool probe, double base) {
    run_plan p;
    char err[2048];
    if (plan_make(c, o->device, probe, base, &p, err, sizeof err)) {
        fprintf(stderr, "kedit run: %s\n", err);
        return 1;
    }
    if (label) plan_print_line(label, &p, stdout);
    else plan_print(c, &p, stdout);
    if (plan_check_fit(c, &p, err, sizeof err)) {
        fprintf(stderr, "kedit run: %s\n", err);
        return 1;
    }
    return 0;
}

/* plan_one in a child process, so that every task's probe measures its inputs from the same start (the
 * memory of an earlier task's inputs, freed, stays with this process and would be reused) */
static int plan_apart(run_config *c, const char *label, const run_opts *o, bool probe, double base) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = plan_one(c, label, o, probe, base);
        fflush(stdout);
        _exit(rc);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) {
        fprintf(stderr, "kedit run: %s: cannot start the plan's process\n", label);
        return 1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* --dry-run over every task of a grid: one line a task; 1 when any does not fit or fails */
static int plan_grid(const char *grid, const run_opts *o, bool probe, double base) {
    sweep_grid g;
    char err[2048];
    if (sweep_grid_load(grid, &g, err, sizeof err)) {
        fprintf(stderr, "kedit run: %s\n", err);
        return 1;
    }
    int bad = 0;
    for (int t = 0; t < g.n_tasks; t++) {
        cJSON *j = NULL;
        run_config c = {0};
        char label[SWEEP_TASK_NAME];
        sweep_task_name(&g, t, label);
        if (sweep_grid_task(&g, t, &j, err, sizeof err) || run_config_from_json(j, grid, &c, err, sizeof err)) {
            fprintf(stderr, "kedit run: %s\n", err);
            bad++;
        } else bad += plan_apart(&c, label, o, probe, base);
        run_config_free(&c);
    }
    sweep_grid_free(&g);
    return bad ? 1 : 0;
}

int cmd_run(int argc, char **argv) {
    double base = (double)proc_rss_now(); // the process before anything is loaded, for a dry run's plan
    const char *config = NULL, *grid = NULL, *task = getenv("SLURM_ARRAY_TASK_ID"), *v;
    run_opts o = {.progress_every = -1};
    bool dry_run = false, probe = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quiet")) o.quiet = true;
        else if (!strcmp(argv[i], "--dry-run")) dry_run = true;
        else if (!strcmp(argv[i], "--no-probe")) probe = false;
        else if ((v = cli_value(&i, argc, argv, "--config"))) config = v;
        else if ((v = cli_value(&i, argc, argv, "--grid"))) grid = v;
        else if ((v = cli_value(&i, argc, argv, "--task"))) task = v;
        else if ((v = cli_value(&i, argc, argv, "--resume"))) o.resume = v;
        else if ((v = cli_value(&i, argc, argv, "--save-model"))) o.save_model = v;
        else if ((v = cli_value(&i, argc, argv, "--device"))) o.device = v;
        else if ((v = cli_value(&i, argc, argv, "--progress-every"))) o.progress_every = cli_double("--progress-every", v);
        else if ((v = cli_value(&i, argc, argv, "--stop-after"))) o.stop_after = cli_long("--stop-after", v, 1, 1L << 40);
        else {
            fprintf(stderr, "kedit run: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!!config + !!grid + !!o.resume != 1) {
        fprintf(stderr, "kedit run: give exactly one of --config, --grid (with --task) or --resume\n");
        usage(stderr);
        return 2;
    }
    if (!probe && !dry_run) {
        fprintf(stderr, "kedit run: --no-probe is an option of --dry-run\n");
        return 2;
    }
    if (dry_run && o.resume) {
        fprintf(stderr, "kedit run: --dry-run plans a --config or a --grid, not a --resume\n");
        return 2;
    }
    if (dry_run && grid && !task) return plan_grid(grid, &o, probe, base);
    run_config c = {0};
    char err[2048];
    int rc;
    if (config) rc = run_config_load(config, &c, err, sizeof err);
    else if (o.resume) rc = config_of_results(o.resume, &c, err, sizeof err);
    else {
        if (!task) {
            fprintf(stderr, "kedit run: --grid needs --task I (or SLURM_ARRAY_TASK_ID)\n");
            return 2;
        }
        cJSON *j = NULL;
        rc = sweep_task_config(grid, (int)cli_long("--task", task, 0, 1 << 30), &j, err, sizeof err);
        if (!rc) rc = run_config_from_json(j, grid, &c, err, sizeof err);
        if (!rc && !dry_run && (rc = resume_task(&c, grid, task, &o, err, sizeof err))) run_config_free(&c);
    }
    if (rc) {
        fprintf(stderr, "kedit run: %s\n", err);
        run_config_free(&c); // what the configuration read before its refusal
        return 1;
    }
    if (dry_run) rc = plan_one(&c, NULL, &o, probe, base);
    else {
        interrupt_install();
        rc = run_execute(&c, &o);
    }
    run_config_free(&c);
    return rc < 0 ? 1 : rc; /* a failure is 1, as its --help says */
}
