/* kedit table beyond one row per file: `kedit table --paper` prints the paper's Table 2 exactly as
 * editing-spec §7 gives it (its rows read from the spec's Markdown table when the spec is at
 * $KEDIT_DATA/../docs, and a few cells typed here); runs of one configuration but for the seed make one
 * row with the mean, the sample standard deviation and n computed here from the values written; a
 * repeated seed keeps its files apart; --paper with files prints the paper's row, kedit's row and their
 * difference, and names the files whose model or method the paper lacks and the checkpoints it lacks; a
 * config attribute that is not JSON is refused naming the file. The results files are written here through
 * the results API. */
#include "run/results_h5.h"
#include "run/table.h"
#include "test.h"
#include "test_cli.h"
#include "test_files.h"

static char dir[256];

static const char *tmp_path(char *buf, size_t n, const char *name) {
    if (!*dir && !test_make_dir(dir, sizeof dir, "table")) dir[0] = 0;
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

/* a run planned for n_planned edits whose checkpoints ck[0..n_ck) score every edit so far alike:
 * efficacy eff[c], paraphrase par[c], specificity spe[c]; complete when its last checkpoint is at
 * n_planned. config: the attribute config (JSON). */
typedef struct run_spec {
    const char *model, *method, *config;
    long long seed;
    long n_planned;
    int n_ck;
    long ck[3];
    double eff[3], par[3], spe[3];
} run_spec;

static void write_run(const char *path, const run_spec *x) {
    char err[1024];
    results_meta meta = {.config_json = x->config, .method = x->method, .model_path = x->model, .model_name = x->model,
                         .model_checksum = "0123456789abcdef", .dataset = "zsre.json", .protocol = "easyedit",
                         .device = "cpu", .seed = x->seed, .n_edits = x->n_planned};
    results *r = results_create(path, &meta, err, sizeof err);
    CHECK(r && results_publish(r) == 0, "%s: %s", path, r ? results_error(r) : err);
    if (!r) return;
    double *v[3];
    for (int m = 0; m < 3; m++) v[m] = malloc((size_t)x->n_planned * sizeof(double));
    long made = 0;
    for (int c = 0; c < x->n_ck; c++) {
        for (; made < x->ck[c]; made++) {
            edit_row e = {.edit = made, .case_id = made, .efficacy = 1, .paraphrase = 1, .specificity = 1};
            CHECK(results_append_edit(r, &e) == 0, "%s", results_error(r));
        }
        for (long j = 0; j < made; j++) v[0][j] = x->eff[c], v[1][j] = x->par[c], v[2][j] = x->spe[c];
        checkpoint_row row = {made, v[0], v[1], v[2], NAN, NAN, 1.0};
        CHECK(results_append_checkpoint(r, &row) == 0, "%s", results_error(r));
    }
    if (made == x->n_planned) CHECK(results_mark_complete(r) == 0, "%s", results_error(r));
    for (int m = 0; m < 3; m++) free(v[m]);
    results_close(r);
}

typedef int (*table_fn)(FILE *, const char *const *, int, table_format, const long *, int, char *, size_t);

static char *table_text(table_fn print, const char *const *files, int n, table_format fmt) {
    char err[1024], *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    CHECK(print(f, files, n, fmt, NULL, 0, err, sizeof err) == 0, "%s", err);
    fclose(f);
    return text;
}

/* `kedit table --paper --format md` against the rows of the spec's table (each row's line, "| Llama | FT |
 * 30.47 | … |", must appear as it is), and cells typed from §7 */
static void test_paper_alone(void) {
    static char out[65536];
    const char *argv[] = {"table", "--paper", "--format", "md", NULL};
    int rc = kedit(argv, 0, out, sizeof out);
    CHECK(rc == 0, "kedit table --paper: exit %d:\n%s", rc, out);
    static const char *const typed[] = {"| GPT | GRACE | 100.00 | 0.40 | 100.00 | 66.8 | 100.00 | 0.15 | 100.00 | 66.72 |",
                                        "| Llama | D4S | 95.53 | 86.45 | 93.44 | 91.81 | 91.19 | 81.48 | 83.34 | 85.34 | 87.36 |",
                                        "| GPT | MEMIT | 98.25 | 93.41 | 87.24 | 92.97 | 84.94 | 76.15 | 59.72 | 73.60 | 0.00 | 0.02 |",
                                        "| Llama | PMET | 0.24 | 0.35 | 0.46 | 0.35 | 0.00 |"};
    for (size_t i = 0; i < sizeof typed / sizeof *typed; i++) CHECK(strstr(out, typed[i]), "no \"%s\" in:\n%s", typed[i], out);
    const char *data = test_data_dir();
    char spec_path[512];
    snprintf(spec_path, sizeof spec_path, "%s/../docs/editing-spec.md", data ? data : "../shared/data");
    char *spec = read_text(spec_path);
    if (!spec) SKIP("%.300s absent: the paper's cells were checked only against the ones typed here", spec_path);
    char *section = strstr(spec, "## 7. The paper's Table 2"), *end = section ? strstr(section, "\n## 8.") : NULL;
    CHECK(section && end, "%s: no section 7 with the paper's Table 2", spec_path);
    int rows = 0;
    for (char *line = section; line && line < end; line = strchr(line + 1, '\n')) {
        char *start = line + (*line == '\n'), *stop = strchr(start, '\n');
        bool header = !strncmp(start, "| model | method |", 18);
        if (strncmp(start, "| Llama |", 9) && strncmp(start, "| GPT |", 7) && !header) continue;
        *stop = 0;
        CHECK(strstr(out, start), "the spec's row \"%s\" is not in kedit table --paper:\n%s", start, out);
        *stop = '\n';
        rows += !header;
    }
    CHECK(rows == 12, "%d rows of the paper's table in %s, 12 expected", rows, spec_path);
    free(spec);
}

/* mean and sample standard deviation of x[0..n), ×100 */
static void mean_sd(const double *x, int n, double *mean, double *sd) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += 100 * x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) ss += (100 * x[i] - *mean) * (100 * x[i] - *mean);
    *sd = sqrt(ss / (n - 1));
}

#define SEED_CONFIG(s) "{\"model\": \"tiny\", \"hparams\": \"configs/memit_tiny-gpt2.json\", \"seed\": " #s ", \"output\": \"r" #s ".h5\"}"

/* seeds 1, 2, 3 (checkpoints after 2 and 4 edits) and seed 4 (stopped after the first) make one row of
 * n 4; a run of another protocol its own row */
static void test_seeds(void) {
    const double eff[4][2] = {{0.25, 0.5}, {0.5, 0.75}, {1.0, 0.25}, {0.75, 0}}, par[2] = {0.5, 0.25}, spe[2] = {1, 0.75};
    const char *configs[4] = {SEED_CONFIG(1), SEED_CONFIG(2), SEED_CONFIG(3), SEED_CONFIG(4)};
    char p[5][512];
    const char *files[5];
    for (int s = 0; s < 4; s++) {
        char name[32];
        snprintf(name, sizeof name, "seed%d.h5", s + 1);
        files[s] = tmp_path(p[s], sizeof p[s], name);
        run_spec x = {"tiny", "memit", configs[s], s + 1, 4, s == 3 ? 1 : 2, {2, 4}, {eff[s][0], eff[s][1]}, {par[0], par[1]},
                      {spe[0], spe[1]}};
        write_run(files[s], &x);
    }
    files[4] = tmp_path(p[4], sizeof p[4], "other.h5");
    run_spec other = {"tiny", "memit", "{\"model\": \"tiny\", \"protocol\": \"memit\", \"seed\": 1}", 1, 4, 1, {4}, {0.5}, {0.5}, {0.5}};
    write_run(files[4], &other);
    char *csv = table_text(table_print, files, 5, TABLE_CSV);
    CHECK(!strncmp(csv, "model,method,file,status,n,Eff_2,Eff_2_sd,Par_2,Par_2_sd,", 57), "csv header:\n%s", csv);
    double x[4], m, sd;
    char want[1024];
    int w = snprintf(want, sizeof want, "\ntiny,memit,%s;%s;%s;%s,running,4", files[0], files[1], files[2], files[3]);
    for (int c = 0; c < 2; c++) {
        int n = c ? 3 : 4; // seed 4 has no checkpoint after 4 edits
        for (int s = 0; s < n; s++) x[s] = eff[s][c];
        mean_sd(x, n, &m, &sd);
        double avg[4];
        for (int s = 0; s < n; s++) avg[s] = (eff[s][c] + par[c] + spe[c]) / 3;
        double am, asd;
        mean_sd(avg, n, &am, &asd);
        w += snprintf(want + w, sizeof want - (size_t)w, ",%.2f,%.2f,%.2f,0.00,%.2f,0.00,%.2f,%.2f", m, sd, 100 * par[c],
                      100 * spe[c], am, asd);
    }
    CHECK(strstr(csv, want), "csv lacks\n%s\nin\n%s", want + 1, csv);
    snprintf(want, sizeof want, "\ntiny,memit,%s,complete,1,", files[4]);
    CHECK(strstr(csv, want), "the other protocol's run is not a row of its own:\n%s", csv);
    free(csv);
    char *text = table_text(table_print, files, 5, TABLE_TEXT);
    printf("%s", text);
    for (int s = 0; s < 3; s++) x[s] = eff[s][1];
    mean_sd(x, 3, &m, &sd);
    snprintf(want, sizeof want, "%.2f ± %.2f [3]", m, sd);
    CHECK(strstr(text, want) && strstr(text, "seeds 1, 2, 3, 4") && strstr(text, "  n  "), "text lacks \"%s\":\n%s", want, text);
    free(text);
}

/* two files of one configuration and seed are not two samples: each has its row */
static void test_repeated_seed(void) {
    char p[2][512];
    const char *files[2] = {tmp_path(p[0], sizeof p[0], "same_a.h5"), tmp_path(p[1], sizeof p[1], "same_b.h5")};
    run_spec x = {"tiny", "rome", SEED_CONFIG(7), 7, 2, 1, {2}, {1}, {1}, {1}};
    write_run(files[0], &x);
    write_run(files[1], &x);
    char *text = table_text(table_print, files, 2, TABLE_TEXT);
    CHECK(strstr(text, "same_a.h5") && strstr(text, "same_b.h5") && !strstr(text, "±") && strstr(text, "one per row"),
          "two rows expected:\n%s", text);
    free(text);
}

/* --paper with files: GPT-J-6B MEMIT (checkpoints after 50 and 100 edits) beside the paper's GPT MEMIT
 * with kedit − paper typed from §7; gpt2-xl and a method the paper lacks are named as without counterpart */
static void test_paper_beside(void) {
    char p[3][512];
    const char *files[3] = {tmp_path(p[0], sizeof p[0], "gptj_memit.h5"), tmp_path(p[1], sizeof p[1], "xl_memit.h5"),
                            tmp_path(p[2], sizeof p[2], "gptj_other.h5")};
    run_spec gptj = {"GPT-J-6B", "memit", "{\"seed\": 0}", 0, 100, 2, {50, 100}, {1, 0.5}, {1, 0.25}, {1, 1}};
    write_run(files[0], &gptj);
    run_spec xl = gptj, other = gptj;
    xl.model = "gpt2-xl";
    other.method = "alphaedit";
    write_run(files[1], &xl);
    write_run(files[2], &other);
    char *csv = table_text(table_print_paper, files, 3, TABLE_CSV);
    const double paper[4] = {98.25, 93.41, 87.24, 92.97}, kedit[4] = {50, 25, 100, (50 + 25 + 100) / 3.0};
    char want[1024];
    CHECK(strstr(csv, "\nGPT,MEMIT,paper,,98.25,93.41,87.24,92.97,84.94,76.15,59.72,73.60,0.00,0.02,0.00,0.01\n"),
          "no paper row:\n%s", csv);
    int w = snprintf(want, sizeof want, "\nGPT-J-6B,memit,kedit: %s,complete", files[0]);
    for (int i = 0; i < 4; i++) w += snprintf(want + w, sizeof want - (size_t)w, ",%.2f", kedit[i]);
    w += snprintf(want + w, sizeof want - (size_t)w, ",-,-,-,-,-,-,-,-\n,,kedit − paper,");
    for (int i = 0; i < 4; i++) w += snprintf(want + w, sizeof want - (size_t)w, ",%+.2f", kedit[i] - paper[i]);
    snprintf(want + w, sizeof want - (size_t)w, ",-,-,-,-,-,-,-,-\n");
    CHECK(strstr(csv, want), "csv lacks\n%s\nin\n%s", want + 1, csv);
    snprintf(want, sizeof want, "\ngpt2-xl,memit,no paper counterpart: %s,", files[1]);
    CHECK(strstr(csv, want), "csv lacks\n%s\nin\n%s", want + 1, csv);
    free(csv);
    char *text = table_text(table_print_paper, files, 3, TABLE_TEXT);
    printf("%s", text);
    CHECK(strstr(text, "xl_memit.h5 (memit): no paper counterpart: model gpt2-xl is not in the paper's Table 2"),
          "gpt2-xl not named:\n%s", text);
    CHECK(strstr(text, "gptj_other.h5 (GPT-J-6B): no paper counterpart: the paper's Table 2 has no method alphaedit"),
          "alphaedit not named:\n%s", text);
    CHECK(strstr(text, "the files' checkpoints without a paper counterpart, not shown: 50 edits"), "checkpoint 50 not named:\n%s",
          text);
    free(text);
}

/* a config attribute that is not a JSON object is an error naming the file and the attribute */
static void test_bad_config(void) {
    char path[512], err[1024];
    run_spec x = {"tiny", "rome", "[1, 2]", 0, 2, 1, {2}, {1}, {1}, {1}};
    write_run(tmp_path(path, sizeof path, "bad_config.h5"), &x);
    const char *files[1] = {path};
    CHECK(table_print(stdout, files, 1, TABLE_TEXT, NULL, 0, err, sizeof err) != 0 && strstr(err, path) &&
              strstr(err, "attribute config: not a JSON object"),
          "%s", err);
}

int main(void) {
    RUN(test_paper_alone);
    RUN(test_seeds);
    RUN(test_repeated_seed);
    RUN(test_paper_beside);
    RUN(test_bad_config);
    if (*dir) test_remove_dir(dir);
    return TEST_SUMMARY();
}
