/* Results files: written, closed, reopened and read back value for value; the status reads "complete"
 * only after results_mark_complete; resuming truncates to a checkpoint; missing, foreign, truncated and
 * schema-less files are refused with a message naming the file. Then `kedit table` (table_print) on
 * files written here, in its three formats, against means computed here from the values written, and
 * its forgetting column against a hand computation;
 * results/plot.py on them when python3 has h5py and matplotlib; and the progress lines. */
#include "blas_info.h"
#include "file_read.h"
#include "progress.h"
#include "run/results_h5.h"
#include "run/table.h"
#include "test.h"
#include "test_cli.h"
#include "test_files.h"

#include <cblas.h>
#include <hdf5.h>
#include <unistd.h>

#define N_PLANNED 6
#define N_DONE 5

static char dir[256];

static const char *tmp_path(char *buf, size_t n, const char *name) {
    if (!*dir && !test_make_dir(dir, sizeof dir, "results")) dir[0] = 0;
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

/* deterministic test values: a score in [0, 1] for (checkpoint row, edit, metric, run) */
static double score_of(int row, int edit, int metric, int run) {
    return (double)((row * 7 + edit * 13 + metric * 5 + run * 3) % 17) / 16.0;
}

static edit_row edit_of(int i) {
    return (edit_row){.edit = i, .case_id = 100 + i, .efficacy = score_of(9, i, 0, 0), .paraphrase = score_of(9, i, 1, 0),
                      .specificity = score_of(9, i, 2, 0), .target_prob_pre = 0.01 * i, .target_prob_post = 0.5 + 0.01 * i,
                      .t_z = 1.5 + i, .t_keys = 0.25, .t_solve = 0.125, .t_apply = 0.0625, .t_eval = 0.5,
                      .peak_rss = 1000000LL + i};
}

static norm_row norm_of(int matrix, int i) {
    return (norm_row){.l1_diff = 1e-4 * (i + 1) * (matrix + 1), .fro_diff = 0.5 * (i + 1), .fro_step = 0.5,
                      .l1 = 0.02 + 1e-4 * i, .codebook_size = NAN, .values_norm = NAN};
}

static results_meta meta_of(const char *model, const char *method) {
    return (results_meta){.config_json = "{\"method\": \"d4s\", \"lambda\": 15000}", .method = method,
                          .model_path = model, .model_checksum = "0123456789abcdef", .dataset = "zsre.json",
                          .protocol = "easyedit", .git_revision = "abc1234", .device = "cpu", .seed = 42,
                          .n_edits = N_PLANNED};
}

/* a checkpoint after n edits: scores row `row` of run `run` */
static int add_checkpoint(results *r, int row, long n, int run) {
    double s[3][N_PLANNED + 1]; // one spare: a test asks for a checkpoint past the plan
    for (int m = 0; m < 3; m++)
        for (int j = 0; j < n; j++) s[m][j] = score_of(row, j, m, run);
    checkpoint_row c = {n, s[0], s[1], s[2], 30.0 + row, 25.0, 10.0 * (row + 1)};
    return results_append_checkpoint(r, &c);
}

static const char *const templates[] = {"{}", "The city of Paris. {}", "Because of this, the \"quoted\" {}"};
static const char *const matrices[] = {"layers.13.mlp_out", "layers.4.mlp_out"};

/* a complete run of N_DONE edits of `dataset` with checkpoints after 2 and 5; not marked complete */
static results *write_run_on(const char *path, const char *model, const char *method, int run, const char *dataset) {
    char err[1024];
    results_meta meta = meta_of(model, method);
    meta.dataset = dataset;
    results *r = results_create(path, &meta, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (!r) return NULL;
    CHECK(access(path, F_OK) != 0, "%s exists before it is published", path);
    CHECK(results_publish(r) == 0 && access(path, F_OK) == 0, "publish: %s", results_error(r));
    CHECK(results_set_templates(r, templates, 3) == 0, "%s", results_error(r));
    for (int i = 0; i < N_DONE; i++) {
        edit_row e = edit_of(i);
        CHECK(results_append_edit(r, &e) == 0, "%s", results_error(r));
        for (int m = 0; m < 2; m++) {
            norm_row nr = norm_of(m, i);
            CHECK(results_append_norms(r, matrices[m], i, &nr) == 0, "%s", results_error(r));
        }
        if (i == 1 || i == 4) {
            CHECK(add_checkpoint(r, i == 1 ? 0 : 1, i + 1, run) == 0, "%s", results_error(r));
            CHECK(results_flush(r) == 0, "%s", results_error(r));
        }
    }
    return r;
}

static results *write_run(const char *path, const char *model, const char *method, int run) {
    return write_run_on(path, model, method, run, "zsre.json");
}

/* the last planned edit's row, then the status "complete" (which needs every planned edit) */
static int complete_run(results *r) {
    edit_row e = edit_of(N_DONE);
    return results_append_edit(r, &e) || results_mark_complete(r);
}

static void check_attr(results *r, const char *name, const char *want) {
    char *v = results_attr_str(r, name);
    CHECK(v && !strcmp(v, want), "attribute %s: \"%s\", expected \"%s\"", name, v ? v : "(absent)", want);
    free(v);
}

static void check_column(results *r, const char *path, const double *want, long n) {
    double *v;
    long rows, cols;
    int rc = results_read(r, path, &v, &rows, &cols);
    CHECK(rc == 0, "%s", results_error(r));
    if (rc) return;
    CHECK(rows == n && cols == 1, "%s: %ld × %ld, expected %ld", path, rows, cols, n);
    for (long i = 0; i < n && i < rows; i++) CHECK(v[i] == want[i], "%s[%ld] = %.17g, expected %.17g", path, i, v[i], want[i]);
    free(v);
}

static void test_roundtrip(void) {
    char path[512], err[1024];
    tmp_path(path, sizeof path, "run.h5");
    results *r = write_run(path, "models/gpt-j-6B/", "d4s", 0);
    if (!r) return;
    results_close(r);

    r = results_open(path, false, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (!r) return;
    check_attr(r, "status", "running"); // closed without results_mark_complete: never looks complete
    check_attr(r, "method", "d4s");
    check_attr(r, "model_name", "gpt-j-6B");
    check_attr(r, "model_path", "models/gpt-j-6B/");
    check_attr(r, "protocol", "easyedit");
    check_attr(r, "git_revision", "abc1234");
    check_attr(r, "blas", blas_description());
    check_attr(r, "config", "{\"method\": \"d4s\", \"lambda\": 15000}");
    double v;
    CHECK(results_attr_double(r, "schema_version", &v) == 0 && v == RESULTS_SCHEMA_VERSION, "schema_version");
    CHECK(results_attr_double(r, "seed", &v) == 0 && v == 42, "seed");
    CHECK(results_attr_double(r, "edits_flushed", &v) == 0 && v == N_DONE, "edits_flushed %g", v);
    CHECK(results_n_edits(r) == N_DONE && results_n_checkpoints(r) == 2, "%ld edits, %ld checkpoints",
          results_n_edits(r), results_n_checkpoints(r));
    double want[N_DONE];
    for (int i = 0; i < N_DONE; i++) want[i] = edit_of(i).efficacy;
    check_column(r, "/edits/efficacy", want, N_DONE);
    for (int i = 0; i < N_DONE; i++) want[i] = (double)edit_of(i).case_id;
    check_column(r, "/edits/case_id", want, N_DONE);
    for (int i = 0; i < N_DONE; i++) want[i] = edit_of(i).t_z;
    check_column(r, "/edits/t_z", want, N_DONE);
    for (int i = 0; i < N_DONE; i++) want[i] = (double)edit_of(i).peak_rss;
    check_column(r, "/edits/peak_rss", want, N_DONE);
    char **names;
    int n;
    CHECK(results_norm_matrices(r, &names, &n) == 0 && n == 2, "norm matrices: %d", n);
    for (int m = 0; m < n; m++) {
        CHECK(!strcmp(names[m], matrices[m]), "matrix %d is %s: not in the order recorded", m, names[m]);
        char p[128];
        snprintf(p, sizeof p, "/norms/%s/l1_diff", matrices[m]);
        for (int i = 0; i < N_DONE; i++) want[i] = norm_of(m, i).l1_diff;
        check_column(r, p, want, N_DONE);
        snprintf(p, sizeof p, "/norms/%s/edit", matrices[m]);
        for (int i = 0; i < N_DONE; i++) want[i] = i;
        check_column(r, p, want, N_DONE);
        free(names[m]);
    }
    free(names);
    // retention: 2 checkpoints × N_PLANNED edits, NaN where not yet edited
    double *ret;
    long rows, cols;
    CHECK(results_read(r, "/checkpoints/paraphrase", &ret, &rows, &cols) == 0 && rows == 2 && cols == N_PLANNED,
          "retention shape %ld × %ld", rows, cols);
    for (int row = 0; row < 2 && rows == 2; row++) {
        long n_done = row == 0 ? 2 : 5;
        for (int j = 0; j < N_PLANNED; j++) {
            double x = ret[row * N_PLANNED + j];
            if (j < n_done) CHECK(x == score_of(row, j, 1, 0), "retention[%d][%d] = %g", row, j, x);
            else CHECK(isnan(x), "retention[%d][%d] = %g, expected NaN (not yet edited)", row, j, x);
        }
    }
    free(ret);
    double ck_n[2] = {2, 5}, ppl[2] = {30, 31};
    check_column(r, "/checkpoints/n_edits", ck_n, 2);
    check_column(r, "/checkpoints/ppl_edited", ppl, 2);
    char **t;
    CHECK(results_read_templates(r, &t, &n) == 0 && n == 3, "templates: %d", n);
    for (int i = 0; i < n; i++) {
        CHECK(!strcmp(t[i], templates[i]), "template %d: \"%s\"", i, t[i]);
        free(t[i]);
    }
    free(t);
    CHECK(results_read(r, "/edits/nothing", &ret, &rows, &cols) != 0 && strstr(results_error(r), "/edits/nothing") &&
              strstr(results_error(r), path),
          "missing dataset: %s", results_error(r));
    results_close(r);

    r = results_open(path, true, err, sizeof err);
    CHECK(r && results_mark_complete(r) != 0 && strstr(results_error(r), "5 edits of the 6 planned"),
          "complete with 5 of 6 edits: %s", r ? results_error(r) : err);
    CHECK(r && complete_run(r) == 0, "%s", r ? results_error(r) : err);
    results_close(r);
    r = results_open(path, false, err, sizeof err);
    if (r) check_attr(r, "status", "complete");
    results_close(r);
    // a "complete" file with fewer edits than planned (an edited n_edits_planned) is refused
    r = results_open(path, true, err, sizeof err);
    if (r) results_set_attr_double(r, "n_edits_planned", 7), results_set_attr_str(r, "status", "complete");
    results_close(r);
    r = results_open(path, false, err, sizeof err);
    CHECK(!r && strstr(err, "inconsistent") && strstr(err, "6 edits of the 7 planned"), "%s", r ? "opened" : err);
    results_close(r);
}

static void test_resume(void) {
    char path[512], err[1024];
    tmp_path(path, sizeof path, "resume.h5");
    results *r = write_run(path, "gpt2-xl", "memit", 0);
    results_close(r);
    r = results_open(path, true, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (!r) return;
    check_attr(r, "status", "running"); // reopened to write: no longer complete
    // resume from the checkpoint after 2 edits
    CHECK(results_truncate_edits(r, 2) == 0, "%s", results_error(r));
    CHECK(results_n_edits(r) == 2 && results_n_checkpoints(r) == 1, "after truncation: %ld edits, %ld checkpoints",
          results_n_edits(r), results_n_checkpoints(r));
    for (int i = 2; i < N_DONE; i++) {
        edit_row e = edit_of(i);
        norm_row nr = norm_of(0, i);
        CHECK(results_append_edit(r, &e) == 0 && results_append_norms(r, matrices[0], i, &nr) == 0, "%s",
              results_error(r));
    }
    CHECK(add_checkpoint(r, 1, 5, 0) == 0, "%s", results_error(r));
    results_close(r);
    r = results_open(path, false, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (!r) return;
    double want[N_DONE], *v;
    long rows, cols;
    for (int i = 0; i < N_DONE; i++) want[i] = edit_of(i).specificity;
    check_column(r, "/edits/specificity", want, N_DONE);
    for (int i = 0; i < N_DONE; i++) want[i] = i;
    check_column(r, "/norms/layers.13.mlp_out/edit", want, N_DONE);
    CHECK(results_read(r, "/norms/layers.4.mlp_out/edit", &v, &rows, &cols) == 0 && rows == 2, "other matrix: %ld rows", rows);
    free(v);
    double ck_n[2] = {2, 5};
    check_column(r, "/checkpoints/n_edits", ck_n, 2);
    results_close(r);
}

static void test_bad_files(void) {
    char path[512], bad[512], err[1024];
    results *r;
    tmp_path(path, sizeof path, "good.h5");
    results_close(write_run(path, "m", "rome", 0));
    // an existing file is not overwritten
    results_meta meta = meta_of("m", "rome");
    CHECK(results_create(path, &meta, err, sizeof err) == NULL && strstr(err, path) && strstr(err, "exists"),
          "overwrite: %s", err);
    CHECK(results_open(tmp_path(bad, sizeof bad, "absent.h5"), false, err, sizeof err) == NULL && strstr(err, bad) &&
              strstr(err, "cannot open"),
          "missing: %s", err);
    // a file never published: only its .part exists; results_open says so, results_create replaces it
    r = results_create(tmp_path(bad, sizeof bad, "unpublished.h5"), &meta, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    results_close(r); // as a run killed before publishing leaves it
    CHECK(results_open(bad, false, err, sizeof err) == NULL && strstr(err, "before its first edit") &&
              strstr(err, "unpublished.h5.part"),
          "unpublished: %s", err);
    r = results_create(bad, &meta, err, sizeof err);
    CHECK(r != NULL && results_publish(r) == 0, "replacing the .part: %s", r ? results_error(r) : err);
    results_close(r);
    char part[600];
    snprintf(part, sizeof part, "%s.part", bad);
    CHECK(access(bad, F_OK) == 0 && access(part, F_OK) != 0, "after publishing: %s and no %s", bad, part);
    FILE *f = fopen(tmp_path(bad, sizeof bad, "text.h5"), "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    CHECK(results_open(bad, false, err, sizeof err) == NULL && strstr(err, bad) && strstr(err, "not an HDF5 file"),
          "text file: %s", err);
    // the first half of a valid file
    size_t size = 0;
    char *bytes = file_read_all(path, &size);
    CHECK(bytes != NULL, "read %s", path);
    f = fopen(tmp_path(bad, sizeof bad, "truncated.h5"), "wb");
    fwrite(bytes, 1, size / 2, f);
    fclose(f);
    r = results_open(bad, false, err, sizeof err);
    CHECK(r == NULL && strstr(err, bad) && strstr(err, "truncated or corrupt"), "truncated: %s", r ? "opened" : err);
    results_close(r);
    free(bytes);
    // an HDF5 file that is not a results file
    hid_t h = H5Fcreate(tmp_path(bad, sizeof bad, "other.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    CHECK(results_open(bad, false, err, sizeof err) == NULL && strstr(err, "not a kedit results file"), "other: %s", err);
    // writing errors name the problem
    r = results_open(path, true, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (!r) return;
    norm_row nr = norm_of(0, 0);
    CHECK(results_append_norms(r, "a/b", 0, &nr) != 0 && strstr(results_error(r), "no '/'"), "%s", results_error(r));
    CHECK(add_checkpoint(r, 0, N_PLANNED + 1, 0) != 0 && strstr(results_error(r), "plans 6"), "%s", results_error(r));
    results_close(r);
    meta.n_edits = 0;
    CHECK(results_create(tmp_path(bad, sizeof bad, "empty.h5"), &meta, err, sizeof err) == NULL && strstr(err, "at least one"),
          "zero planned edits: %s", err);
}

/* every dataset carries HDF5's Fletcher-32 checksum: a byte flipped in a chunk of /edits/efficacy makes
 * its read an error naming the file and the dataset, not a wrong number */
static void test_fletcher32(void) {
    char path[512], err[1024];
    tmp_path(path, sizeof path, "checksummed.h5");
    results_close(write_run(path, "m", "memit", 0));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "/edits/efficacy", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(d);
    unsigned flags, conf;
    size_t nv = 0;
    CHECK(H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &nv, NULL, 0, NULL, &conf) >= 0,
          "/edits/efficacy has no Fletcher-32 filter");
    hsize_t at[1] = {0}, size = 0;
    haddr_t addr = 0;
    CHECK(H5Dget_chunk_info_by_coord(d, at, &flags, &addr, &size) >= 0 && size > 0, "chunk of /edits/efficacy");
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(path, "r+b");
    int c = -1;
    if (fp && fseek(fp, (long)addr + 8, SEEK_SET) == 0 && (c = fgetc(fp)) != EOF && fseek(fp, (long)addr + 8, SEEK_SET) == 0)
        fputc(c ^ 0x10, fp);
    if (fp) fclose(fp);
    CHECK(c >= 0, "flip a byte of the chunk at %llu", (unsigned long long)addr);
    results *r = results_open(path, false, err, sizeof err);
    double *v = NULL;
    long rows, cols;
    CHECK(!r || (results_read(r, "/edits/efficacy", &v, &rows, &cols) != 0 && strstr(results_error(r), "/edits/efficacy") &&
                 strstr(results_error(r), path)),
          "a damaged chunk was read: %s", r ? results_error(r) : err);
    free(v);
    results_close(r);
}

/* the table's cell for (run, checkpoint row, metric): the mean of the first n scores × 100 */
static double expected_cell(int run, int row, long n, int metric) {
    if (metric == 3) return (expected_cell(run, row, n, 0) + expected_cell(run, row, n, 1) + expected_cell(run, row, n, 2)) / 3;
    double s = 0;
    for (int j = 0; j < n; j++) s += score_of(row, j, metric, run);
    return 100 * s / (double)n;
}

static char *table_to_string(const char *const *files, int n, table_format fmt, const long *ck, int n_ck) {
    char err[1024], *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    CHECK(table_print(f, files, n, fmt, ck, n_ck, err, sizeof err) == 0, "%s", err);
    fclose(f);
    return text;
}

static void test_table(void) {
    char p[3][512];
    const char *files[3] = {tmp_path(p[0], sizeof p[0], "t_llama_d4s.h5"), tmp_path(p[1], sizeof p[1], "t_gpt_memit.h5"),
                            tmp_path(p[2], sizeof p[2], "t_llama_rome.h5")};
    const char *models[3] = {"llama-2-7b", "gpt-j-6B", "llama-2-7b"}, *methods[3] = {"D4S", "MEMIT", "ROME"};
    for (int i = 0; i < 3; i++) {
        results *r = write_run(files[i], models[i], methods[i], i);
        if (r && i != 1) CHECK(complete_run(r) == 0, "%s", results_error(r)); // run 1 stays "running"
        results_close(r);
    }
    char *csv = table_to_string(files, 3, TABLE_CSV, NULL, 0);
    // CSV: header, then runs grouped by model in order of first appearance: llama D4S, llama ROME, gpt MEMIT
    const char *header = "model,method,file,status,Eff_2,Par_2,Spe_2,Avg_2,Eff_5,Par_5,Spe_5,Avg_5,Fgt\n";
    CHECK(!strncmp(csv, header, strlen(header)), "csv header: %.80s", csv);
    const int order[3] = {0, 2, 1};
    char *line = strchr(csv, '\n');
    for (int k = 0; k < 3 && line; k++) {
        int run = order[k];
        char want[512];
        int w = snprintf(want, sizeof want, "\n%s,%s,%s,%s", models[run], methods[run], files[run], run == 1 ? "running" : "complete");
        for (int row = 0; row < 2; row++)
            for (int m = 0; m < 4; m++) w += snprintf(want + w, sizeof want - (size_t)w, ",%.2f", expected_cell(run, row, row ? 5 : 2, m));
        CHECK(!strncmp(line, want, strlen(want)), "csv row %d:\n%.200s\nexpected\n%s", k, line, want + 1);
        line = strchr(line + 1, '\n');
    }
    free(csv);
    long only5[1] = {5};
    char *md = table_to_string(files, 3, TABLE_MARKDOWN, only5, 1);
    char want[256];
    snprintf(want, sizeof want, "| llama-2-7b | D4S | %.2f | %.2f | %.2f | %.2f |", expected_cell(0, 1, 5, 0),
             expected_cell(0, 1, 5, 1), expected_cell(0, 1, 5, 2), expected_cell(0, 1, 5, 3));
    CHECK(strstr(md, "| model | method | 5: Eff | Par | Spe | Avg | Fgt |") && strstr(md, "|---|---|---:|---:|---:|---:|---:|"),
          "md header:\n%s", md);
    CHECK(strstr(md, want) != NULL, "md lacks \"%s\":\n%s", want, md);
    CHECK(strstr(md, "| gpt-j-6B | MEMIT* |") && strstr(md, "* run not complete"), "md marks the running run:\n%s", md);
    free(md);
    char *text = table_to_string(files, 3, TABLE_TEXT, NULL, 0);
    printf("%s", text);
    snprintf(want, sizeof want, "%.2f", expected_cell(2, 0, 2, 3));
    CHECK(strstr(text, "after 2 edits") && strstr(text, "after 5 edits") && strstr(text, want), "text table:\n%s", text);
    free(text);
    char err[1024];
    const char *missing[1] = {tmp_path(p[0], sizeof p[0], "absent.h5")};
    CHECK(table_print(stdout, missing, 1, TABLE_TEXT, NULL, 0, err, sizeof err) != 0 && strstr(err, "absent.h5"), "%s", err);
}

/* Fgt, by hand: 4 edits scored 1, 1, 0.5, 1 right after each; at the last checkpoint (after 4 edits) 0.5,
 * 0, NaN, 1: forgetting (0.5 + 1 + 0) / 3 = 0.5 (the NaN pair left out), ×100 = 50.00; the earlier
 * checkpoint does not count. A run without a checkpoint shows "-". */
static void test_table_forgetting(void) {
    char path[512], path2[512], err[1024];
    results_meta meta = meta_of("tiny", "MEMIT");
    meta.n_edits = 4;
    results *r = results_create(tmp_path(path, sizeof path, "forget.h5"), &meta, err, sizeof err);
    results *r2 = results_create(tmp_path(path2, sizeof path2, "forget_none.h5"), &meta, err, sizeof err);
    CHECK(r && r2, "%s", err);
    if (!r || !r2) return;
    CHECK(results_publish(r) == 0 && results_publish(r2) == 0, "publish: %s", results_error(r));
    const double after[4] = {1, 1, 0.5, 1}, early[2] = {0, 0}, last[4] = {0.5, 0, NAN, 1};
    for (int i = 0; i < 4; i++) {
        edit_row e = edit_of(i);
        e.efficacy = after[i];
        CHECK(results_append_edit(r, &e) == 0 && results_append_edit(r2, &e) == 0, "%s", results_error(r));
        if (i == 1) {
            checkpoint_row c = {2, early, early, early, NAN, NAN, 1.0};
            CHECK(results_append_checkpoint(r, &c) == 0, "%s", results_error(r));
        }
    }
    checkpoint_row c = {4, last, last, last, NAN, NAN, 2.0};
    CHECK(results_append_checkpoint(r, &c) == 0, "%s", results_error(r));
    CHECK(results_mark_complete(r) == 0, "%s", results_error(r));
    results_close(r);
    results_close(r2);
    const char *files[2] = {path, path2};
    char *csv = table_to_string(files, 2, TABLE_CSV, NULL, 0);
    CHECK(strstr(csv, "\ntiny,MEMIT,") && strstr(csv, ",50.00\n"), "forgetting 50.00 expected:\n%s", csv);
    char *row2 = strstr(csv, "forget_none.h5");
    CHECK(row2 && strstr(row2, ",-\n"), "a run without checkpoints: \"-\" expected:\n%s", csv);
    free(csv);
}

static void test_plot(void) {
    if (system("python3 -c 'import h5py, matplotlib' >/dev/null 2>&1") != 0)
        SKIP("python3 with h5py and matplotlib not available (pip install h5py matplotlib)");
    char path[512], path2[512], out[512], cmd[3000];
    tmp_path(path, sizeof path, "plot.h5");
    results *r = write_run(path, "gpt-j-6B", "d4s", 0);
    results_close(r);
    tmp_path(path2, sizeof path2, "plot_memit.h5");
    r = write_run(path2, "gpt-j-6B", "memit", 1);
    results_close(r);
    char dg[512], tf[512];
    results_close(write_run_on(tmp_path(dg, sizeof dg, "plot_dg.h5"), "gpt-j-6B", "memit", 2, "mqd/dg.json"));
    results_close(write_run_on(tmp_path(tf, sizeof tf, "plot_tf.h5"), "gpt-j-6B", "memit", 3, "mqd/tf.json"));
    tmp_path(out, sizeof out, "plots");
    snprintf(cmd, sizeof cmd, "MPLBACKEND=Agg python3 results/plot.py '%s' '%s' '%s' '%s' --out '%s'", path, path2, dg, tf,
             out);
    CHECK(system(cmd) == 0, "%s failed", cmd);
    const char *pngs[] = {"plot_norms.png", "plot_target_prob.png", "plot_retention.png", "plot_memit_norms.png",
                          "compare.png", "forgetting.png", "fig6.png", "mqd.png"};
    for (size_t i = 0; i < sizeof pngs / sizeof *pngs; i++) {
        char png[700];
        snprintf(png, sizeof png, "%s/%s", out, pngs[i]);
        FILE *f = fopen(png, "rb");
        unsigned char sig[8] = {0};
        CHECK(f && fread(sig, 1, 8, f) == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8), "%s missing or not a PNG", png);
        if (f) fclose(f);
    }
}

static void test_progress(void) {
    char path[512];
    FILE *f = fopen(tmp_path(path, sizeof path, "progress.txt"), "w+");
    progress p;
    progress_start(&p, f, "d4s", 3, false);
    CHECK(!p.tty, "a regular file is not a terminal");
    p.interval = 0; // a line per edit
    progress_edit(&p, 1, 1.0);
    progress_note(&p, "checkpoint after %d edits", 1);
    progress_edit(&p, 2, 0.5);
    progress_edit(&p, 3, 0.0);
    progress_finish(&p);
    rewind(f);
    char line[4][256];
    int n = 0;
    while (n < 4 && fgets(line[n], sizeof line[n], f)) n++;
    fclose(f);
    CHECK(n == 4, "%d lines", n);
    if (n == 4) {
        CHECK(!strncmp(line[0], "edit 1/3  d4s  ", 15) && strstr(line[0], "ETA") && strstr(line[0], "efficacy 1.000 (mean 1.000)"),
              "line 1: %s", line[0]);
        CHECK(!strcmp(line[1], "checkpoint after 1 edits\n"), "note: %s", line[1]);
        CHECK(strstr(line[3], "edit 3/3") && strstr(line[3], "efficacy 0.000 (mean 0.500)") && !strchr(line[3], '\r'),
              "line 3: %s", line[3]);
    }
    f = fopen(path, "w+");
    progress_start(&p, f, "d4s", 3, true);
    progress_edit(&p, 3, 1.0);
    progress_note(&p, "x");
    CHECK(ftell(f) == 0, "--quiet printed %ld bytes", ftell(f));
    fclose(f);
    CHECK(peak_rss_bytes() > 0, "peak RSS %lld", peak_rss_bytes());
}

/* `kedit --version` names the BLAS and the kernel it runs, as the results files' attribute "blas" does */
static void test_version_names_blas(void) {
    char out[2048];
    const char *argv[] = {"--version", NULL};
    int rc = kedit(argv, 0, out, sizeof out);
    char want[128];
    snprintf(want, sizeof want, "; kernel %s; ", openblas_get_corename());
    CHECK(rc == 0 && !strncmp(out, "kedit ", 6) && strstr(out, "\nBLAS: OpenBLAS ") && strstr(out, want),
          "exit %d, want the version, OpenBLAS and '%s':\n%s", rc, want, out);
    CHECK(strstr(blas_description(), want) != NULL, "blas_description(): %s", blas_description());
}

int main(void) {
    RUN(test_version_names_blas);
    RUN(test_roundtrip);
    RUN(test_resume);
    RUN(test_bad_files);
    RUN(test_fletcher32);
    RUN(test_table);
    RUN(test_table_forgetting);
    RUN(test_plot);
    RUN(test_progress);
    if (*dir) test_remove_dir(dir);
    return TEST_SUMMARY();
}
