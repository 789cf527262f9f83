/* Sweeps: a grid file expanded into task configurations in a fixed order, the sweep folder (task files, the
 * frozen grid, the Slurm array script and how it passes signals on and requeues), kedit sweep's
 * arguments, and an error naming the grid file and the field for each kind of bad grid. Expected task
 * values are computed here from the documented order (first key slowest), independently of the expansion
 * code. */
#include "run/run_config.h"
#include "run/sweep.h"
#include "test.h"
#include "test_files.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp_root[128];

int cmd_sweep(int argc, char **argv); /* host/cmd_sweep.c (to be declared in commands.h) */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) fputs(text, f);
    if (f) fclose(f);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* writes a grid file named name under the temporary root; path receives its path */
static const char *grid_file(char *path, size_t n, const char *name, const char *text) {
    snprintf(path, n, "%s/%s", tmp_root, name);
    write_text(path, text);
    return path;
}

/* ---- the reference grid: 2 methods × 3 edit counts × 2 models × 2 seeds = 24 tasks ---- */

static const char *const methods[] = {"rome", "memit"};
static const int n_edits[] = {10, 100, 1000};
static const char *const model_names[] = {"gpt2-xl", "gpt-j-6B"};
static const int seeds[] = {0, 1};
enum { N_TASKS = 24 };

#define BASE                                                                                                       \
    "{\"model\": \"models/{model_name}\", \"hparams\": \"configs/{method}_{model_name}.json\",\n"                  \
    " \"dataset\": {\"path\": \"data/zsre.json\", \"shuffle\": false}, \"name\": \"{method}-n{dataset.n_edits}\"," \
    " \"device\": \"cuda\", \"templates\": \"templates/{}.json\"}"
/* a base with no placeholders, for grids of other keys */
#define BASE_PLAIN \
    "{\"model\": \"models/m\", \"hparams\": \"configs/rome_m.json\", \"dataset\": {\"path\": \"d.json\"}}"
#define AXES                                                                     \
    "{\"$method\": [\"rome\", \"memit\"], \"dataset.n_edits\": [10, 100, 1000]," \
    " \"model_name\": [\"gpt2-xl\", \"gpt-j-6B\"], \"seed\": [0, 1]}"

/* checks task t's configuration against the documented order: key 0 slowest, the last key fastest */
static void check_task(const cJSON *cfg, int t, const char *dir) {
    const char *method = methods[t / 12], *name = model_names[(t / 2) % 2];
    int edits = n_edits[(t / 4) % 3], seed = seeds[t % 2];
    char want[256];
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(cfg, "dataset");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ds, "n_edits");
    CHECK(cJSON_IsNumber(v) && v->valueint == edits, "task %d: dataset.n_edits", t);
    v = cJSON_GetObjectItemCaseSensitive(ds, "path");
    CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, "data/zsre.json"), "task %d: dataset.path kept", t);
    v = cJSON_GetObjectItemCaseSensitive(cfg, "seed");
    CHECK(cJSON_IsNumber(v) && v->valueint == seed, "task %d: seed", t);
    v = cJSON_GetObjectItemCaseSensitive(cfg, "model_name");
    CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, name), "task %d: model_name", t);
    snprintf(want, sizeof want, "configs/%s_%s.json", method, name);
    v = cJSON_GetObjectItemCaseSensitive(cfg, "hparams");
    CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, want), "task %d: hparams %s, expected %s", t,
          cJSON_IsString(v) ? v->valuestring : "?", want);
    snprintf(want, sizeof want, "models/%s", name);
    v = cJSON_GetObjectItemCaseSensitive(cfg, "model");
    CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, want), "task %d: model", t);
    snprintf(want, sizeof want, "%s-n%d", method, edits);
    v = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, want), "task %d: name (a number substituted)", t);
    v = cJSON_GetObjectItemCaseSensitive(cfg, "templates");
    CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, "templates/{}.json"), "task %d: {} left alone", t);
    snprintf(want, sizeof want, "%s/task-%04d.h5", dir, t);
    v = cJSON_GetObjectItemCaseSensitive(cfg, "output");
    CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, want), "task %d: output %s, expected %s", t,
          cJSON_IsString(v) ? v->valuestring : "?", want);
    CHECK(!cJSON_GetObjectItemCaseSensitive(cfg, "method") && !cJSON_GetObjectItemCaseSensitive(cfg, "$method"),
          "task %d: the $method variable set a field", t);
}

static void test_expansion_order(void) {
    char path[256], err[1024];
    grid_file(path, sizeof path, "inline.json",
              "{\"base\": " BASE ", \"grid\": " AXES ", \"output_dir\": \"results/s1\"}");
    sweep_grid g;
    if (sweep_grid_load(path, &g, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    CHECK(g.n_tasks == N_TASKS, "%d tasks, expected %d", g.n_tasks, N_TASKS);
    for (int t = 0; t < g.n_tasks; t++) {
        cJSON *a, *b;
        CHECK(sweep_grid_task(&g, t, &a, err, sizeof err) == 0, "task %d: %s", t, err);
        CHECK(sweep_task_config(path, t, &b, err, sizeof err) == 0, "task %d: %s", t, err);
        if (a) check_task(a, t, "results/s1");
        CHECK(a && b && cJSON_Compare(a, b, true), "task %d: a second expansion differs", t);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    char *d = sweep_grid_describe(&g, 23);
    CHECK(d && !strcmp(d, "$method=\"memit\" dataset.n_edits=1000 model_name=\"gpt-j-6B\" seed=1"), "describe: %s", d);
    free(d);
    cJSON *none;
    CHECK(sweep_grid_task(&g, N_TASKS, &none, err, sizeof err) != 0 && !none, "task 24 accepted");
    CHECK(strstr(err, path) && strstr(err, "task 24 out of range: the grid has 24 tasks"), "message: %s", err);
    CHECK(sweep_grid_task(&g, -1, &none, err, sizeof err) != 0, "task -1 accepted");
    sweep_grid_free(&g);
}

/* a base given as a file gives the same tasks as the same base inline */
static void test_base_file(void) {
    char base[256], a[256], b[256], err[1024];
    snprintf(base, sizeof base, "%s/base.json", tmp_root);
    write_text(base, BASE);
    char text[2048];
    snprintf(text, sizeof text, "{\"base\": \"%s\", \"grid\": " AXES ", \"output_dir\": \"results/s1\"}", base);
    grid_file(a, sizeof a, "by_file.json", text);
    grid_file(b, sizeof b, "inline.json", "{\"base\": " BASE ", \"grid\": " AXES ", \"output_dir\": \"results/s1\"}");
    for (int t = 0; t < N_TASKS; t += 5) {
        cJSON *x, *y;
        CHECK(sweep_task_config(a, t, &x, err, sizeof err) == 0, "%s", err);
        CHECK(sweep_task_config(b, t, &y, err, sizeof err) == 0, "%s", err);
        CHECK(x && y && cJSON_Compare(x, y, true), "task %d differs between base file and inline base", t);
        cJSON_Delete(x);
        cJSON_Delete(y);
    }
}

static void test_write_folder(void) {
    char grid[256], dir[256], path[300], err[1024];
    grid_file(grid, sizeof grid, "write.json",
              "{\"base\": " BASE ", \"grid\": " AXES ", \"output_dir\": \"results/unused\","
              " \"sbatch\": {\"time\": \"04:00:00\", \"gres\": \"gpu:1\", \"cpus-per-task\": 8}}");
    snprintf(dir, sizeof dir, "%s/out/sweep-a", tmp_root);
    sweep_opts o = {.out_dir = dir, .max_parallel = 3, .kedit_path = "/opt/it's here/kedit"};
    char *written = NULL;
    int n = sweep_write(grid, &o, &written, err, sizeof err);
    CHECK(n == N_TASKS, "sweep_write returned %d: %s", n, err);
    CHECK(written && !strcmp(written, dir), "folder written: %s", written ? written : "(none)");
    free(written);
    char frozen[300];
    snprintf(frozen, sizeof frozen, "%s/grid.json", dir);
    for (int t = 0; t < N_TASKS; t++) {
        snprintf(path, sizeof path, "%s/task-%04d.json", dir, t);
        cJSON *file = read_json(path), *again;
        CHECK(file != NULL, "%s missing or not JSON", path);
        if (file) check_task(file, t, dir);
        /* what `kedit run --task t --grid DIR/grid.json` reads is the task file */
        CHECK(sweep_task_config(frozen, t, &again, err, sizeof err) == 0, "%s", err);
        CHECK(file && again && cJSON_Compare(file, again, true), "%s differs from task %d of %s", path, t, frozen);
        cJSON_Delete(file);
        cJSON_Delete(again);
        run_config rc;
        CHECK(run_config_load(path, &rc, err, sizeof err) == 0, "%s", err);
        run_config_free(&rc);
    }
    snprintf(path, sizeof path, "%s/task-%04d.json", dir, N_TASKS);
    CHECK(!exists(path), "%s written", path);
    snprintf(path, sizeof path, "%s/logs", dir);
    CHECK(exists(path), "%s missing", path);
    snprintf(path, sizeof path, "%s/sweep.sbatch", dir);
    char *script = read_text(path), cwd[1024], line[2048];
    CHECK(script != NULL, "%s missing", path);
    if (!script || !getcwd(cwd, sizeof cwd)) return;
    const char *want[] = {"#!/bin/bash\n",
                          "\n#SBATCH --array=0-23%3\n",
                          "\n#SBATCH --job-name=kedit-sweep-a\n",
                          "\n#SBATCH --time=04:00:00\n",
                          "\n#SBATCH --gres=gpu:1\n",
                          "\n#SBATCH --cpus-per-task=8\n",
                          "/logs/task-%4a.log\n",
                          "\n#SBATCH --requeue\n",
                          "\n#SBATCH --open-mode=append\n",
                          "\n#SBATCH --signal=B:USR1@120\n"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) CHECK(strstr(script, want[i]), "script lacks %s", want[i]);
    snprintf(line, sizeof line, "\n#SBATCH --chdir=%s\n", cwd);
    CHECK(strstr(script, line), "script lacks %s", line);
    snprintf(line, sizeof line, "\n'/opt/it'\\''s here/kedit' run --task \"$SLURM_ARRAY_TASK_ID\" --grid '%s' &\n",
             frozen);
    CHECK(strstr(script, line), "script lacks %s", line);
    free(script);
    snprintf(line, sizeof line, "bash -n '%s'", path);
    CHECK(system(line) == 0, "%s is not valid bash", path);
    /* the same grid again: accepted; another grid into the same folder: refused */
    CHECK(sweep_write(grid, &o, NULL, err, sizeof err) == N_TASKS, "rewriting the same sweep: %s", err);
    grid_file(grid, sizeof grid, "other.json", "{\"base\": " BASE_PLAIN ", \"grid\": {\"seed\": [5]}}");
    CHECK(sweep_write(grid, &o, NULL, err, sizeof err) == -1, "another sweep written into %s", dir);
    CHECK(strstr(err, dir) && strstr(err, "holds another sweep"), "message: %s", err);
}

/* The array script run by bash with a stand-in kedit (which records its arguments and the signals it gets,
 * and exits 3 on one, as kedit run does) and a stand-in scontrol: sig sent to the script reaches kedit, the
 * script exits with kedit's status, and requeues its job after USR1 (the time limit is near) but not after
 * TERM (Slurm requeues a preempted job itself, and a cancelled one must stay cancelled). */
static void script_gets(int sig, const char *sig_name, bool requeues) {
    char dir[256], path[1024], log[300], bin[300], grid[256], err[1024];
    snprintf(dir, sizeof dir, "%s/script_%s", tmp_root, sig_name);
    snprintf(bin, sizeof bin, "%s/bin", tmp_root);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(path, sizeof path, "mkdir -p '%s' && rm -f '%s'", bin, log);
    CHECK(system(path) == 0, "%s", path);
    char text[2048];
    snprintf(text, sizeof text,
             "#!/bin/sh\ntrap 'echo \"kedit got USR1\" >> %s; exit 3' USR1\ntrap 'echo \"kedit got TERM\" >> %s; exit 3' TERM\n"
             "echo \"kedit $*\" >> %s\nwhile :; do sleep 0.05; done\n",
             log, log, log);
    snprintf(path, sizeof path, "%s/kedit", bin);
    write_text(path, text);
    snprintf(text, sizeof text, "#!/bin/sh\necho \"scontrol $*\" >> %s\n", log);
    snprintf(path, sizeof path, "%s/scontrol", bin);
    write_text(path, text);
    snprintf(path, sizeof path, "chmod +x '%s/kedit' '%s/scontrol'", bin, bin);
    CHECK(system(path) == 0, "%s", path);
    grid_file(grid, sizeof grid, "script.json",
              "{\"base\": " BASE_PLAIN ", \"grid\": {\"seed\": [0, 1]}, \"signal_seconds\": 300}");
    snprintf(path, sizeof path, "%s/kedit", bin);
    sweep_opts o = {.out_dir = dir, .kedit_path = path};
    CHECK(sweep_write(grid, &o, NULL, err, sizeof err) == 2, "%s", err);
    snprintf(path, sizeof path, "%s/sweep.sbatch", dir);
    char *script = read_text(path);
    CHECK(script && strstr(script, "\n#SBATCH --signal=B:USR1@300\n"), "signal_seconds 300 not in the script");
    free(script);
    pid_t pid = fork();
    if (pid == 0) {
        char env_path[1200];
        snprintf(env_path, sizeof env_path, "%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/bin:/usr/bin");
        setenv("PATH", env_path, 1);
        setenv("SLURM_ARRAY_TASK_ID", "1", 1);
        setenv("SLURM_JOB_ID", "4242", 1);
        execl("/bin/bash", "bash", path, (char *)NULL);
        _exit(127);
    }
    /* kedit has started (and set its traps) once it has written its arguments */
    char *got = NULL;
    for (int i = 0; i < 200 && !(got = read_text(log)); i++) nanosleep(&(struct timespec){0, 50000000}, NULL);
    CHECK(got != NULL, "the script did not start kedit");
    free(got);
    kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3, "%s: the script's status %d, expected kedit's 3", sig_name, st);
    got = read_text(log);
    char want[600];
    snprintf(want, sizeof want, "kedit run --task 1 --grid %s/grid.json\nkedit got %s\n", dir, sig_name);
    CHECK(got && !strncmp(got, want, strlen(want)), "%s: the log is\n%s\nexpected it to begin with\n%s", sig_name,
          got ? got : "(none)", want);
    bool requeued = got && strstr(got, "scontrol requeue 4242\n");
    CHECK(requeued == requeues, "%s: the script %s its job", sig_name, requeued ? "requeued" : "did not requeue");
    free(got);
}

static void test_script_passes_signals(void) {
    script_gets(SIGUSR1, "USR1", true);
    script_gets(SIGTERM, "TERM", false);
}

/* grid keys and output replace fields the base already has (each under its own name) */
static void test_base_fields_replaced(void) {
    char grid[256], err[1024];
    grid_file(grid, sizeof grid, "replace.json",
              "{\"base\": {\"model\": \"m\", \"hparams\": \"h.json\", \"seed\": 7, \"output\": \"mine.h5\","
              " \"dataset\": {\"path\": \"d.json\", \"n_edits\": 5}},"
              " \"grid\": {\"seed\": [1, 2], \"dataset.n_edits\": [10]}, \"output_dir\": \"r\"}");
    cJSON *cfg;
    CHECK(sweep_task_config(grid, 1, &cfg, err, sizeof err) == 0, "%s", err);
    if (!cfg) return;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(cfg, "seed"), *out = cJSON_GetObjectItemCaseSensitive(cfg, "output");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "dataset"), "n_edits");
    CHECK(cJSON_IsNumber(seed) && seed->valueint == 2, "seed not replaced");
    CHECK(cJSON_IsNumber(n) && n->valueint == 10, "dataset.n_edits not replaced");
    CHECK(cJSON_IsString(out) && !strcmp(out->valuestring, "r/task-0001.h5"), "output not replaced");
    run_config rc; /* reads every field by its name */
    CHECK(run_config_from_json(cfg, grid, &rc, err, sizeof err) == 0, "%s", err);
    run_config_free(&rc);
}

/* 10,001 tasks: task names get 5 digits */
static void test_wide_names(void) {
    char grid[256], err[1024];
    cJSON *j = cJSON_Parse("{\"base\": " BASE_PLAIN ", \"grid\": {\"$method\": [\"rome\"], \"model_name\": [\"m\"]},"
                           " \"output_dir\": \"r\"}");
    cJSON *seeds_list = cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(j, "grid"), "seed");
    for (int i = 0; i < 10001; i++) cJSON_AddItemToArray(seeds_list, cJSON_CreateNumber(i));
    char *text = cJSON_PrintUnformatted(j);
    grid_file(grid, sizeof grid, "wide.json", text);
    free(text);
    cJSON_Delete(j);
    sweep_grid g;
    if (sweep_grid_load(grid, &g, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    char name[SWEEP_TASK_NAME];
    sweep_task_name(&g, 7, name);
    CHECK(!strcmp(name, "task-00007"), "name %s", name);
    cJSON *cfg;
    CHECK(sweep_grid_task(&g, 10000, &cfg, err, sizeof err) == 0, "%s", err);
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(cfg, "output");
    CHECK(cJSON_IsString(out) && !strcmp(out->valuestring, "r/task-10000.h5"), "output %s",
          cJSON_IsString(out) ? out->valuestring : "?");
    cJSON_Delete(cfg);
    sweep_grid_free(&g);
}

/* ---- errors: each names the grid file and the field ---- */

typedef struct bad_grid {
    const char *text;
    const char *message; /* expected in the error */
} bad_grid;

static void test_bad_grids(void) {
    const bad_grid cases[] = {
        {"{\"base\": " BASE ", \"grid\": " AXES, "invalid JSON"},
        {"[1, 2]", "(top level): expected a JSON object"},
        {"{\"base\": " BASE ", \"grids\": " AXES "}", "field grids: unknown field"},
        {"{\"grid\": " AXES "}", "field base: expected the path of a run configuration"},
        {"{\"base\": \"no/such/base.json\", \"grid\": " AXES "}", "field base: no/such/base.json: cannot open"},
        {"{\"base\": " BASE ", \"grid\": {}}", "field grid: expected an object"},
        {"{\"base\": " BASE ", \"grid\": {\"seed\": []}}", "field grid.seed: expected a non-empty list"},
        {"{\"base\": " BASE ", \"grid\": {\"seed\": 3}}", "field grid.seed: expected a non-empty list"},
        {"{\"base\": " BASE ", \"grid\": {\"output\": [\"a.h5\"]}}", "field grid.output: output is set by the sweep"},
        {"{\"base\": " BASE ", \"grid\": {\"dataset..n_edits\": [1]}}",
         "field grid.dataset..n_edits: not a field path"},
        {"{\"base\": " BASE ", \"grid\": {\"$a.b\": [1]}}", "field grid.$a.b: not a field path"},
        {"{\"base\": " BASE ", \"grid\": {\"dataset\": [{}], \"dataset.n_edits\": [1]}}",
         "field grid.dataset.n_edits: clashes with grid key dataset"},
        {"{\"base\": " BASE ", \"grid\": {\"seed\": [1], \"$seed\": [2]}}",
         "field grid.$seed: clashes with grid key seed"},
        {"{\"base\": " BASE ", \"grid\": {\"seed\": [1]}, \"output_dir\": 5}",
         "field output_dir: expected a folder path"},
        {"{\"base\": " BASE ", \"grid\": " AXES ", \"sbatch\": {\"time\": \"4 hours\"}}",
         "field sbatch.time: expected"},
        {"{\"base\": " BASE ", \"grid\": " AXES ", \"sbatch\": {\"array\": \"0-3\"}}",
         "field sbatch.array: set by the sweep"},
        {"{\"base\": " BASE ", \"grid\": " AXES ", \"sbatch\": {\"signal\": \"B:USR2@60\"}}",
         "field sbatch.signal: set by the sweep itself for requeueing"},
        {"{\"base\": " BASE ", \"grid\": " AXES ", \"sbatch\": {\"no-requeue\": 1}}",
         "field sbatch.no-requeue: set by the sweep itself for requeueing"},
        {"{\"base\": " BASE ", \"grid\": " AXES ", \"signal_seconds\": 0}",
         "field signal_seconds: expected a whole number of seconds from 1 to 86400"},
        {"{\"base\": " BASE ", \"grid\": " AXES ", \"signal_seconds\": 1e300}",
         "field signal_seconds: expected a whole number"},
        {"{\"base\": " BASE ", \"grid\": " AXES ", \"signal_seconds\": 90.5}",
         "field signal_seconds: expected a whole number"},
        {"{\"base\": " BASE ", \"grid\": {\"a\": [1,2,3,4,5,6,7,8,9,10,11], \"b\": [1,2,3,4,5,6,7,8,9,10],"
         " \"c\": [1,2,3,4,5,6,7,8,9,10], \"d\": [1,2,3,4,5,6,7,8,9,10], \"e\": [1,2,3,4,5,6,7,8,9,10],"
         " \"f\": [1,2,3,4,5,6,7,8,9,10]}}",
         "field grid: 1100000 tasks, more than the 1000000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256], err[1024] = "";
        sweep_grid g;
        grid_file(path, sizeof path, "bad.json", cases[i].text);
        int rc = sweep_grid_load(path, &g, err, sizeof err);
        CHECK(rc != 0, "case %zu accepted: %s", i, cases[i].text);
        CHECK(strstr(err, path) && strstr(err, cases[i].message), "case %zu: message \"%s\", expected \"%s\"", i, err,
              cases[i].message);
        if (!rc) sweep_grid_free(&g);
    }
}

/* grids that load but whose tasks cannot be made or are not run configurations */
static void test_bad_tasks(void) {
    const bad_grid cases[] = {
        {"{\"base\": " BASE ", \"grid\": {\"model.path\": [\"x\"]}, \"output_dir\": \"r\"}",
         "field grid.model.path: model is not an object in the base configuration"},
        {"{\"base\": {\"hparams\": \"configs/{mthod}.json\"}, \"grid\": {\"$method\": [\"rome\"]}, \"output_dir\": "
         "\"r\"}",
         "\"configs/{mthod}.json\": {mthod} names no grid key"},
        {"{\"base\": {\"hparams\": \"{$m}\"}, \"grid\": {\"$m\": [[1]]}, \"output_dir\": \"r\"}",
         "grid key $m: only strings, numbers and booleans can fill {$m}"},
        {"{\"base\": " BASE ", \"grid\": {\"seed\": [1]}}", "field output_dir: missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256], err[1024] = "";
        cJSON *cfg;
        grid_file(path, sizeof path, "bad_task.json", cases[i].text);
        CHECK(sweep_task_config(path, 0, &cfg, err, sizeof err) != 0 && !cfg, "case %zu accepted", i);
        CHECK(strstr(err, path) && strstr(err, cases[i].message), "case %zu: message \"%s\", expected \"%s\"", i, err,
              cases[i].message);
    }
    /* a key that is no field of the run configuration: caught by sweep_write before anything is written */
    char path[256], dir[256], err[1024] = "";
    grid_file(path, sizeof path, "method_field.json",
              "{\"base\": " BASE ", \"grid\": {\"method\": [\"rome\"],"
              " \"$method\": [\"x\"]}}");
    snprintf(dir, sizeof dir, "%s/never", tmp_root);
    sweep_opts o = {.out_dir = dir, .kedit_path = "kedit"};
    CHECK(sweep_write(path, &o, NULL, err, sizeof err) == -1, "a clash of method and $method accepted");
    CHECK(strstr(err, "clashes"), "message: %s", err);
    grid_file(path, sizeof path, "method_field.json", "{\"base\": " BASE_PLAIN ", \"grid\": {\"method\": [\"rome\"]}}");
    CHECK(sweep_write(path, &o, NULL, err, sizeof err) == -1, "a grid setting an unknown field accepted");
    CHECK(strstr(err, path) && strstr(err, "task 0") && strstr(err, "field method: unknown field") &&
              strstr(err, "must begin with '$'"),
          "message: %s", err);
    CHECK(!exists(dir), "%s written by a failed sweep", dir);
}

static void test_cmd_sweep(void) {
    char grid[256], dir[256], path[300];
    grid_file(grid, sizeof grid, "cmd.json", "{\"base\": " BASE ", \"grid\": " AXES "}");
    snprintf(dir, sizeof dir, "%s/cmd", tmp_root);
    char *ok[] = {"sweep", "--grid", grid, "--out", dir, "--max-parallel", "2", NULL};
    CHECK(cmd_sweep(7, ok) == 0, "kedit sweep failed");
    snprintf(path, sizeof path, "%s/task-0023.json", dir);
    CHECK(exists(path), "%s missing", path);
    char *no_grid[] = {"sweep", "--out", dir, NULL}, *unknown[] = {"sweep", "--grid", grid, "--bogus", NULL};
    CHECK(cmd_sweep(3, no_grid) == 2, "missing --grid accepted");
    CHECK(cmd_sweep(4, unknown) == 2, "unknown argument accepted");
    char *no_dir[] = {"sweep", "--grid", grid, NULL}; /* the grid has no output_dir */
    CHECK(cmd_sweep(3, no_dir) == 1, "a grid without output_dir and no --out accepted");
}

int main(void) {
    if (!test_make_dir(tmp_root, sizeof tmp_root, "sweep")) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_expansion_order);
    RUN(test_base_file);
    RUN(test_write_folder);
    RUN(test_base_fields_replaced);
    RUN(test_script_passes_signals);
    RUN(test_wide_names);
    RUN(test_bad_grids);
    RUN(test_bad_tasks);
    RUN(test_cmd_sweep);
    test_remove_dir(tmp_root);
    return TEST_SUMMARY();
}
