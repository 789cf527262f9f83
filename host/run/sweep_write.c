/* sweep_write (see sweep.h): every task configuration checked first, then the sweep folder written: the
 * frozen grid, one configuration per task and the Slurm array script. */
#include "run/interrupt.h"
#include "run/run_config.h"
#include "run/sweep.h"
#include "save_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* checks every task's configuration as `kedit run` will read it, so a bad grid fails here rather than on
 * the cluster */
static int check_tasks(const sweep_grid *g, char *err, size_t errlen) {
    for (int t = 0; t < g->n_tasks; t++) {
        cJSON *cfg;
        if (sweep_grid_task(g, t, &cfg, err, errlen)) return 1;
        char *values = sweep_grid_describe(g, t), source[1024], inner[1024];
        snprintf(source, sizeof source, "%s, task %d (%s)", g->path, t, values ? values : "?");
        free(values);
        run_config rc;
        int bad = run_config_from_json(cfg, source, &rc, inner, sizeof inner); /* takes cfg over */
        run_config_free(&rc);
        if (bad) {
            snprintf(err, errlen, "%s%s", inner,
                     strstr(inner, "unknown field") ? " (a grid key that is no field of the run configuration "
                                                      "must begin with '$')"
                                                    : "");
            return 1;
        }
    }
    return 0;
}

/* creates dir and the folders above it */
static int make_dirs(const char *dir, char *err, size_t errlen) {
    char *p = strdup(dir);
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return 1;
    }
    int rc = 0;
    for (char *s = p + 1; !rc; s++) {
        bool end = *s == 0;
        if (*s != '/' && !end) continue;
        *s = 0;
        struct stat st;
        if (mkdir(p, 0777) != 0 && !(errno == EEXIST && stat(p, &st) == 0 && S_ISDIR(st.st_mode))) {
            snprintf(err, errlen, "%s: cannot create folder (%s)", p, strerror(errno));
            rc = 1;
        }
        if (end) break;
        *s = '/';
    }
    free(p);
    return rc;
}

/* the grid as the tasks will read it: base inlined, output_dir the sweep's folder */
static cJSON *frozen_grid(const sweep_grid *g) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "base", cJSON_Duplicate(g->base, true));
    cJSON_AddItemToObject(j, "grid", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(g->json, "grid"), true));
    cJSON_AddStringToObject(j, "output_dir", g->output_dir);
    if (g->sbatch) cJSON_AddItemToObject(j, "sbatch", cJSON_Duplicate(g->sbatch, true));
    cJSON_AddNumberToObject(j, "signal_seconds", g->signal_seconds);
    return j;
}

/* the JSON file dir/name ← j and a final newline */
static int write_json(const char *dir, const char *name, const cJSON *j, char *err, size_t errlen) {
    char *json = cJSON_Print(j), *text = json ? realloc(json, strlen(json) + 2) : NULL;
    if (text)
        strcat(text, "\n");
    else
        free(json);
    int rc = text ? save_dir_write_text(dir, name, text, err, errlen) : 1;
    if (!text) snprintf(err, errlen, "%s/%s: out of memory", dir, name);
    free(text);
    return rc;
}

/* refuses a folder that already holds another sweep's grid.json */
static int check_same_sweep(const char *dir, const cJSON *frozen, char *err, size_t errlen) {
    char path[4096], inner[1024];
    snprintf(path, sizeof path, "%s/grid.json", dir);
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n = 0;
    if (f) {
        text = malloc((size_t)st.st_size + 1);
        n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
        fclose(f);
    }
    cJSON *old = text ? cJSON_ParseWithLength(text, n) : NULL;
    bool same = old && cJSON_Compare(old, frozen, true);
    snprintf(inner, sizeof inner, "%s", old ? "its grid differs" : "it cannot be read");
    cJSON_Delete(old);
    free(text);
    if (same) return 0;
    snprintf(err, errlen, "%s: holds another sweep (%s: %s): choose another --out or remove it", dir, path, inner);
    return 1;
}

/* a path that may stand in an #SBATCH line: no spaces, quotes or control characters */
static bool sbatch_safe(const char *s) {
    for (; *s; s++)
        if (*s <= ' ' || *s == '"' || *s == '\'' || *s == '\\' || *s == 0x7f) return false;
    return true;
}

/* s in single quotes for the shell */
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* The script runs kedit in the background and passes it the signals Slurm sends (the batch shell is all
 * that `--signal=B:` and bash's traps reach), then waits for it. kedit stops after the edit in flight
 * with its state saved and exits EXIT_INTERRUPTED (run/interrupt.h). After USR1 (the time limit is near,
 * and Slurm does not requeue a timed-out job) the script requeues its own job; after SIGTERM (preemption,
 * scontrol requeue: Slurm requeues; scancel: it must not) it leaves the decision to Slurm. */
static const char script_head[] =
    "set -u\n"
    "# USR1: the time limit is near (--signal); TERM: preempted, requeued or cancelled\n"
    "requeue=no; kedit_pid=; signalled=no\n"
    "trap 'requeue=yes; signalled=yes; kill -USR1 \"$kedit_pid\" 2>/dev/null' USR1\n"
    "trap 'signalled=yes; kill -TERM \"$kedit_pid\" 2>/dev/null' TERM\n";
static const char script_tail[] =
    " &\n"
    "kedit_pid=$!\n"
    "# a trapped signal ends wait early: wait again until kedit itself has exited\n"
    "while :; do\n"
    "    signalled=no\n"
    "    wait \"$kedit_pid\"; status=$?\n"
    "    [ \"$signalled\" = yes ] || break\n"
    "done\n"
    "if [ \"$status\" -eq " STR(EXIT_INTERRUPTED) " ] && [ \"$requeue\" = yes ]; then\n"
    "    echo \"kedit sweep: task $SLURM_ARRAY_TASK_ID stopped before the time limit: requeueing job $SLURM_JOB_ID\"\n"
    "    scontrol requeue \"$SLURM_JOB_ID\"\n"
    "fi\n"
    "exit \"$status\"\n";

static int write_sbatch(const sweep_grid *g, const sweep_opts *o, char *err, size_t errlen) {
    char cwd[4096], path[4096], last[SWEEP_TASK_NAME];
    const char *dir = g->output_dir, *slash = strrchr(dir, '/');
    if (!getcwd(cwd, sizeof cwd)) {
        snprintf(err, errlen, "cannot read the current folder (%s)", strerror(errno));
        return 1;
    }
    if (!sbatch_safe(cwd) || !sbatch_safe(dir)) {
        snprintf(err, errlen, "%s: a folder path with spaces or quotes cannot be written in #SBATCH lines (%s)", dir,
                 cwd);
        return 1;
    }
    sweep_task_name(g, g->n_tasks - 1, last);
    snprintf(path, sizeof path, "%s/sweep.sbatch", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create (%s)", path, strerror(errno));
        return 1;
    }
    fprintf(f,
            "#!/bin/bash\n# kedit sweep of %s: %d tasks, run configurations %s/task-*.json (last %s.json).\n"
            "# Submit with: sbatch %s\n",
            g->path, g->n_tasks, dir, last, path);
    if (!cJSON_GetObjectItemCaseSensitive(g->sbatch, "job-name"))
        fprintf(f, "#SBATCH --job-name=kedit-%s\n", slash ? slash + 1 : dir);
    fprintf(f, "#SBATCH --array=0-%d", g->n_tasks - 1);
    if (o->max_parallel > 0) fprintf(f, "%%%d", o->max_parallel);
    /* %Na: the array index zero-padded to N digits, as in the task names */
    fprintf(f, "\n#SBATCH --chdir=%s\n#SBATCH --output=%s%s%s/logs/task-%%%da.log\n", cwd, dir[0] == '/' ? "" : cwd,
            dir[0] == '/' ? "" : "/", dir, (int)strlen(last) - 5);
    /* a requeued task appends to its log; USR1 to this script (B:) signal_seconds before the time limit */
    fprintf(f, "#SBATCH --open-mode=append\n#SBATCH --requeue\n#SBATCH --signal=B:USR1@%d\n", g->signal_seconds);
    for (const cJSON *e = g->sbatch ? g->sbatch->child : NULL; e; e = e->next) {
        if (cJSON_IsString(e))
            fprintf(f, "#SBATCH --%s=%s\n", e->string, e->valuestring);
        else
            fprintf(f, "#SBATCH --%s=%.17g\n", e->string, e->valuedouble);
    }
    fputs(script_head, f);
    put_quoted(f, o->kedit_path);
    fputs(" run --task \"$SLURM_ARRAY_TASK_ID\" --grid ", f);
    snprintf(path, sizeof path, "%s/grid.json", dir);
    put_quoted(f, path);
    fputs(script_tail, f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        snprintf(err, errlen, "%s/sweep.sbatch: write error", dir);
        return 1;
    }
    return 0;
}

static int write_folder(const sweep_grid *g, const sweep_opts *o, char *err, size_t errlen) {
    const char *dir = g->output_dir;
    char logs[4096];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    cJSON *frozen = frozen_grid(g);
    int rc = !frozen || make_dirs(logs, err, errlen) || check_same_sweep(dir, frozen, err, errlen) ||
             write_json(dir, "grid.json", frozen, err, errlen);
    if (!frozen) snprintf(err, errlen, "%s: out of memory", dir);
    cJSON_Delete(frozen);
    for (int t = 0; t < g->n_tasks && !rc; t++) {
        cJSON *cfg;
        char name[SWEEP_TASK_NAME + 8];
        sweep_task_name(g, t, name);
        strcat(name, ".json");
        rc = sweep_grid_task(g, t, &cfg, err, errlen) || write_json(dir, name, cfg, err, errlen);
        cJSON_Delete(cfg);
    }
    return rc || write_sbatch(g, o, err, errlen);
}

int sweep_write(const char *grid_path, const sweep_opts *o, char **dir, char *err, size_t errlen) {
    sweep_grid g;
    if (sweep_grid_load(grid_path, &g, err, errlen)) return -1;
    if (o->out_dir) {
        free(g.output_dir);
        g.output_dir = *o->out_dir ? strdup(o->out_dir) : NULL;
    }
    if (!g.output_dir) {
        snprintf(err, errlen, "%s: field output_dir: %s", grid_path,
                 o->out_dir ? "--out needs a folder path (or out of memory)" : "missing (or give --out DIR)");
        sweep_grid_free(&g);
        return -1;
    }
    size_t n = strlen(g.output_dir);
    while (n > 1 && g.output_dir[n - 1] == '/') g.output_dir[--n] = 0;
    int rc = check_tasks(&g, err, errlen) || write_folder(&g, o, err, errlen);
    int tasks = g.n_tasks;
    if (!rc && dir) {
        *dir = g.output_dir;
        g.output_dir = NULL;
    }
    sweep_grid_free(&g);
    return rc ? -1 : tasks;
}
