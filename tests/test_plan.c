/* kedit run --dry-run against real runs: the plan's peak memory is within 10% of the peak resident memory of
 * the run it plans (5 MEMIT edits whose statistics are computed, then 5 D4S edits that read them from the
 * cache; on fact-world also 5 FT and 5 GRACE edits) on the bundled fact-world model and, when the shared
 * data is present, on stories260K; a dry run
 * writes no file; a run that does not fit in KEDIT_MEMORY_LIMIT is refused with exit 1 and a message
 * naming what does not fit, a malformed limit likewise; a grid prints one line a task. */
#include "test.h"
#include "test_cli.h"
#include "test_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/stat.h>

static char dir[256]; /* this test's temporary folder */

/* the entries of a folder, for "the dry run wrote nothing" */
static int n_entries(const char *path) {
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

/* runs kedit with argv, output discarded; its exit status and its peak resident memory (bytes) */
static int kedit_peak(const char *const *argv, double *peak) {
    pid_t pid = kedit_spawn_quiet(argv);
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid) return -1;
    *peak = (double)ru.ru_maxrss * 1024; // KiB
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* the dry run's "total (peak)" in bytes, or -1 */
static double planned_peak(const char *out) {
    const char *at = strstr(out, "total (peak)");
    double mib;
    return at && sscanf(at + strlen("total (peak)"), "%lf MiB", &mib) == 1 ? mib * 1048576 : -1;
}

/* a run configuration in a folder of its own under dir: 5 edits of the hyper-parameters hp, statistics of
 * 20000 tokens of corpus cached in dir/stats; extra: further top-level fields */
static const char *write_config(const char *name, const char *model, const char *hp, const char *dataset,
                                const char *corpus, const char *extra) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"model\": \"%s\", \"hparams\": \"%s\", \"dataset\": {\"path\": \"%s\", \"n_edits\": 5},\n"
            " \"stats\": {\"corpus\": \"%s\", \"n_tokens\": 20000, \"cache\": \"%s/stats\"},\n"
            " \"output\": \"%s/%s.h5\"%s%s}\n",
            model, hp, dataset, corpus, dir, dir, name, extra ? ", " : "", extra ? extra : "");
    fclose(f);
    return path;
}

/* the dry run of config, then the run: the plan within 10% of the run's peak, and nothing written by the
 * dry run */
static void check_estimate(const char *config, const char *what) {
    char out[8192];
    int before = n_entries(dir);
    const char *dry[] = {"run", "--dry-run", "--config", config, NULL};
    int rc = kedit(dry, 0, out, sizeof out);
    CHECK(rc == 0, "%s: dry run exit %d: %s", what, rc, out);
    CHECK(n_entries(dir) == before, "%s: the dry run wrote a file in %s", what, dir);
    double plan = planned_peak(out), peak = 0;
    const char *run[] = {"run", "--config", config, "--quiet", NULL};
    rc = kedit_peak(run, &peak);
    CHECK(rc == 0, "%s: run exit %d", what, rc);
    printf("    %s: planned %.1f MiB, measured peak %.1f MiB (%+.1f%%)\n", what, plan / 1048576, peak / 1048576,
           100 * (plan - peak) / peak);
    CHECK(plan > 0 && fabs(plan - peak) <= 0.10 * peak, "%s: planned %.0f bytes, peak %.0f: %s", what, plan, peak, out);
}

static void test_factworld_estimates(void) {
    const char *model = "models/factworld/gpt2", *data = "models/factworld/data/edits_zsre.json",
               *corpus = "models/factworld/data/corpus.txt";
    check_estimate(write_config("fw_memit", model, "configs/memit_factworld.json", data, corpus, NULL),
                   "fact-world MEMIT, statistics computed");
    check_estimate(write_config("fw_d4s", model, "configs/d4s_factworld.json", data, corpus, NULL),
                   "fact-world D4S, statistics cached");
    check_estimate(write_config("fw_ft", model, "configs/ft_factworld.json", data, corpus, NULL), "fact-world FT");
    check_estimate(write_config("fw_grace", model, "configs/grace_factworld.json", data, corpus, NULL),
                   "fact-world GRACE");
}

static void test_stories260K_estimates(void) {
    char model[512], tok[512], zsre[512], text[512], extra[1200];
    if (!test_data_path(model, sizeof model, "models/stories260K/stories260K.bin") ||
        !test_data_path(tok, sizeof tok, "models/stories260K/tok512.bin") ||
        !test_data_path(zsre, sizeof zsre, "zsre/zsre_mend_train_1k.json") ||
        !test_data_path(text, sizeof text, "text/wikitext-2-raw-test.txt"))
        SKIP("the shared data (stories260K, zsRE, WikiText) is absent: set KEDIT_DATA");
    snprintf(extra, sizeof extra,
             "\"tokenizer\": \"%s\", \"perplexity\": {\"text\": \"%s\", \"n_tokens\": 1024, \"window\": 128}", tok, text);
    check_estimate(write_config("st_memit", model, "configs/memit_stories260K.json", zsre, text, extra),
                   "stories260K MEMIT, statistics computed");
    check_estimate(write_config("st_d4s", model, "configs/d4s_stories260K.json", zsre, text, extra),
                   "stories260K D4S, statistics cached");
}

/* a run refused by KEDIT_MEMORY_LIMIT: exit 1, the file and the parts named, nothing written */
static void test_refused(void) {
    const char *config = write_config("small", "models/factworld/gpt2", "configs/d4s_factworld.json",
                                      "models/factworld/data/edits_zsre.json", "models/factworld/data/corpus.txt", NULL);
    char out[8192];
    int before = n_entries(dir);
    setenv("KEDIT_MEMORY_LIMIT", "20M", 1);
    const char *dry[] = {"run", "--dry-run", "--no-probe", "--config", config, NULL};
    int rc = kedit(dry, 0, out, sizeof out);
    CHECK(rc == 1, "exit %d: %s", rc, out);
    CHECK(strstr(out, "does not fit") && strstr(out, config) && strstr(out, "20.0 MiB are available") &&
              strstr(out, "KEDIT_MEMORY_LIMIT"),
          "%s", out);
    setenv("KEDIT_MEMORY_LIMIT", "20 MB", 1);
    rc = kedit(dry, 0, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "KEDIT_MEMORY_LIMIT=20 MB") && strstr(out, "not a positive number"), "exit %d: %s",
          rc, out);
    unsetenv("KEDIT_MEMORY_LIMIT");
    CHECK(n_entries(dir) == before, "a refused dry run wrote a file in %s", dir);
}

/* a grid: one line a task, named as the sweep names them */
static void test_grid_lines(void) {
    char grid[600], out[8192];
    snprintf(grid, sizeof grid, "%s/grid.json", dir);
    FILE *f = fopen(grid, "w");
    fprintf(f,
            "{\"base\": {\"model\": \"models/factworld/gpt2\", \"hparams\": \"configs/{method}_factworld.json\",\n"
            "  \"dataset\": {\"path\": \"models/factworld/data/edits_zsre.json\", \"n_edits\": 5},\n"
            "  \"stats\": {\"corpus\": \"models/factworld/data/corpus.txt\", \"cache\": \"%s/grid_stats\"}},\n"
            " \"grid\": {\"$method\": [\"memit\", \"d4s\", \"grace\"]}, \"output_dir\": \"%s/grid_out\"}\n",
            dir, dir);
    fclose(f);
    int before = n_entries(dir);
    const char *argv[] = {"run", "--dry-run", "--no-probe", "--grid", grid, NULL};
    int rc = kedit(argv, 0, out, sizeof out);
    CHECK(rc == 0, "exit %d: %s", rc, out);
    int lines = 0;
    for (const char *p = out; (p = strstr(p, "task-")); p++) lines++;
    CHECK(lines == 3, "%d task lines: %s", lines, out);
    CHECK(strstr(out, "MEMIT") && strstr(out, "D4S") && strstr(out, "GRACE"), "%s", out);
    CHECK(n_entries(dir) == before, "the grid's dry run wrote a file in %s", dir);
}

int main(void) {
    if (!test_make_dir(dir, sizeof dir, "plan")) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_refused);
    RUN(test_grid_lines);
    RUN(test_factworld_estimates);
    RUN(test_stories260K_estimates);
    test_remove_dir(dir);
    return TEST_SUMMARY();
}
