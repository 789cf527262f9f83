/* The dataset loader: zsRE, flat CounterFact and ROME-format CounterFact from the shared data, read and
 * selected (shuffle with a seed, offset, count) exactly as tests/reference/make_dataset_ref.py reads them
 * with Python's json module (tests/fixtures/metrics/dataset_ref.json); shorter runs are prefixes of longer
 * ones; invalid records stop the load or are skipped and counted, and messages name file, record, field. */
#include "json_file.h"
#include "run/dataset.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <unistd.h>

#define REF_PATH "tests/fixtures/metrics/dataset_ref.json"

static const char *str_of(const cJSON *o, const char *name) {
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

static long num_of(const cJSON *o, const char *name) {
    return (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

static void check_str(const char *got, const char *want, const char *what, long record) {
    CHECK(got && want && !strcmp(got, want), "record %ld %s: got \"%s\", expected \"%s\"", record, what,
          got ? got : "(null)", want ? want : "(null)");
}

static void check_list(char **got, int n, const cJSON *want, const char *what, long record) {
    CHECK(n == cJSON_GetArraySize(want), "record %ld %s: %d entries, expected %d", record, what, n,
          cJSON_GetArraySize(want));
    for (int i = 0; i < n && i < cJSON_GetArraySize(want); i++)
        check_str(got[i], cJSON_GetStringValue(cJSON_GetArrayItem(want, i)), what, record);
}

static void check_request(const edit_record *r, const cJSON *w) {
    long rec = num_of(w, "record");
    CHECK(r->record == rec, "record index %ld, expected %ld", r->record, rec);
    CHECK(r->case_id == num_of(w, "case_id"), "record %ld case_id %ld, expected %ld", rec, r->case_id,
          num_of(w, "case_id"));
    check_str(r->subject, str_of(w, "subject"), "subject", rec);
    check_str(r->prompt, str_of(w, "prompt"), "prompt", rec);
    check_str(r->prompt_template, str_of(w, "prompt_template"), "prompt_template", rec);
    check_str(r->target_new, str_of(w, "target_new"), "target_new", rec);
    check_str(r->target_true, str_of(w, "target_true"), "target_true", rec);
    check_list(r->rephrase, r->n_rephrase, cJSON_GetObjectItemCaseSensitive(w, "rephrase"), "rephrase", rec);
    check_list(r->loc_prompt, r->n_loc, cJSON_GetObjectItemCaseSensitive(w, "loc_prompt"), "loc_prompt", rec);
    check_list(r->loc_answer, r->n_loc, cJSON_GetObjectItemCaseSensitive(w, "loc_answer"), "loc_answer", rec);
}

static void test_reference_selections(void) {
    if (!test_data_dir()) SKIP("shared data folder absent (set KEDIT_DATA)");
    char err0[512];
    cJSON *ref = json_file_read(REF_PATH, err0, sizeof err0);
    CHECK(ref != NULL, "%s", err0);
    if (!ref) return;
    const cJSON *sel;
    cJSON_ArrayForEach(sel, ref) {
        char path[512], err[1024];
        if (!test_data_path(path, sizeof path, str_of(sel, "file"))) {
            CHECK(0, "%s missing from the data folder", str_of(sel, "file"));
            continue;
        }
        dataset_opts o = dataset_opts_default();
        CHECK(dataset_format_parse(str_of(sel, "format"), &o.format) == 0, "format name");
        CHECK(protocol_parse(str_of(sel, "protocol"), &o.protocol) == 0, "protocol name");
        o.shuffle = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sel, "shuffle"));
        o.seed = (uint64_t)num_of(sel, "seed");
        o.offset = num_of(sel, "offset");
        o.n_edits = num_of(sel, "n_edits");
        edit_dataset d;
        int rc = dataset_load(path, &o, &d, err, sizeof err);
        CHECK(rc == 0, "%s", err);
        if (rc) continue;
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(sel, "requests");
        CHECK(d.n == cJSON_GetArraySize(want), "%s: %d requests, expected %d", path, d.n, cJSON_GetArraySize(want));
        CHECK(d.n_records == num_of(sel, "n_records"), "%s: %ld records", path, d.n_records);
        CHECK(d.n_skipped == 0, "%s: %ld skipped", path, d.n_skipped);
        for (int i = 0; i < d.n && i < cJSON_GetArraySize(want); i++) check_request(&d.req[i], cJSON_GetArrayItem(want, i));
        dataset_free(&d);
    }
    cJSON_Delete(ref);
}

/* §10.2: the n-edit run's requests are the first n of the longer run's, for the same seed */
static void test_shorter_runs_are_prefixes(void) {
    char path[512], err[1024];
    if (!test_data_path(path, sizeof path, "zsre/zsre_mend_train_1k.json")) SKIP("zsRE file absent (set KEDIT_DATA)");
    dataset_opts o = dataset_opts_default();
    o.shuffle = true;
    o.seed = 1234;
    edit_dataset all, some;
    CHECK(dataset_load(path, &o, &all, err, sizeof err) == 0, "%s", err);
    o.n_edits = 100;
    CHECK(dataset_load(path, &o, &some, err, sizeof err) == 0, "%s", err);
    CHECK(all.n == 1000 && some.n == 100, "sizes %d, %d", all.n, some.n);
    int same = 0, moved = 0;
    for (int i = 0; i < some.n && i < all.n; i++) {
        same += some.req[i].record == all.req[i].record;
        moved += some.req[i].record != i;
    }
    CHECK(same == some.n, "only %d of the first 100 agree", same);
    CHECK(moved > 90, "the shuffle left %d of 100 in place", 100 - moved);
    dataset_free(&all);
    dataset_free(&some);
}

/* writes text to a fresh temporary file; its path in path */
static void write_temp(char *path, size_t n, const char *text) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, n, "%s/kedit_dataset_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
}

#define ZSRE_OK(subj, src)                                                                                  \
    "{\"subject\":\"" subj "\",\"src\":\"" src "\",\"rephrase\":\"r\",\"alt\":\"a\",\"answers\":[\"x\"],"     \
    "\"loc\":\"l\",\"loc_ans\":\"la\",\"pred\":\"p\",\"cond\":\"c\"}"

static void test_invalid_records(void) {
    /* record 0 valid; 1 lacks rephrase; 2 has answers as a string; 3's subject is not in src; 4 is not an
     * object; 5 has a number for loc_ans; 6 valid */
    const char *text = "[" ZSRE_OK("Paris", "Where is Paris?") ","
                       "{\"subject\":\"A\",\"src\":\"A?\",\"alt\":\"a\",\"answers\":[\"x\"],\"loc\":\"l\",\"loc_ans\":\"y\"},"
                       "{\"subject\":\"A\",\"src\":\"A?\",\"rephrase\":\"r\",\"alt\":\"a\",\"answers\":\"x\",\"loc\":\"l\",\"loc_ans\":\"y\"},"
                       ZSRE_OK("Rome", "Where is Paris?") ", 17,"
                       "{\"subject\":\"A\",\"src\":\"A?\",\"rephrase\":\"r\",\"alt\":\"a\",\"answers\":[\"x\"],\"loc\":\"l\",\"loc_ans\":3},"
                       ZSRE_OK("Oslo", "Oslo is in") "]";
    char path[512], err[1024];
    write_temp(path, sizeof path, text);
    dataset_opts o = dataset_opts_default();
    edit_dataset d;
    CHECK(dataset_load(path, &o, &d, err, sizeof err) != 0, "stop mode accepted an invalid record");
    CHECK(strstr(err, path) && strstr(err, "record 1") && strstr(err, "field rephrase") && strstr(err, "missing"),
          "message: %s", err);
    o.skip_invalid = true;
    fprintf(stderr, "    (five skip warnings expected below)\n");
    CHECK(dataset_load(path, &o, &d, err, sizeof err) == 0, "%s", err);
    CHECK(d.n == 2 && d.n_skipped == 5 && d.n_records == 7, "n %d skipped %ld records %ld", d.n, d.n_skipped, d.n_records);
    if (d.n == 2) {
        CHECK(d.req[0].record == 0 && d.req[1].record == 6, "kept records %ld, %ld", d.req[0].record, d.req[1].record);
        check_str(d.req[1].prompt_template, "{} is in", "prompt_template", 6);
    }
    dataset_free(&d);
    // each kind of problem is named
    const char *cases[][2] = {
        {"[" ZSRE_OK("A", "A?") ",{\"subject\":\"A\",\"src\":\"A?\",\"rephrase\":\"r\",\"alt\":\"a\",\"answers\":\"x\",\"loc\":\"l\",\"loc_ans\":\"y\"}]",
         "record 1: field answers: expected a non-empty list of strings"},
        {"[" ZSRE_OK("Rome", "Where is Paris?") "]", "record 0: field src: the subject \"Rome\" does not occur"},
        {"[" ZSRE_OK("A", "A?") ",17]", "record 1: field (record): expected an object"},
        {"[{\"subject\":\"A\",\"src\":\"A?\",\"rephrase\":\"r\",\"alt\":\"a\",\"answers\":[\"x\"],\"loc\":\"l\",\"loc_ans\":3}]",
         "record 0: field loc_ans: expected a string"},
        {"[{\"case_id\":1,\"requested_rewrite\":{\"prompt\":\"{} is\",\"subject\":\"S\",\"target_new\":{\"str\":\"x\"},"
         "\"target_true\":{\"id\":\"Q1\"}},\"paraphrase_prompts\":[\"S\"],\"neighborhood_prompts\":[\"T\"]}]",
         "record 0: field requested_rewrite.target_true.str: missing"},
        {"[{\"case_id\":1,\"requested_rewrite\":{\"prompt\":\"S is\",\"subject\":\"S\",\"target_new\":{\"str\":\"x\"},"
         "\"target_true\":{\"str\":\"y\"}},\"paraphrase_prompts\":[\"S\"],\"neighborhood_prompts\":[\"T\"]}]",
         "record 0: field requested_rewrite.prompt: no \"{}\""},
        {"[{\"case_id\":\"7\",\"prompt\":\"S is\",\"subject\":\"S\",\"target_new\":\"x\",\"ground_truth\":\"y\","
         "\"rephrase_prompt\":\"S\",\"locality_prompt\":\"T\",\"locality_ground_truth\":\"z\"}]",
         "record 0: field case_id: expected a whole number"},
        {"{\"subject\":\"A\"}", "expected a JSON list of records"},
        {"[{\"subject\":\"A\"}]", "cannot tell the dataset's schema"},
        {"[" ZSRE_OK("A", "A?") ",", "invalid JSON"},
    };
    o.skip_invalid = false;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char p[512];
        write_temp(p, sizeof p, cases[i][0]);
        CHECK(dataset_load(p, &o, &d, err, sizeof err) != 0, "case %zu accepted", i);
        CHECK(strstr(err, p) && strstr(err, cases[i][1]), "case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i][1]);
        unlink(p);
    }
    unlink(path);
}

static void test_selection_bounds(void) {
    char path[512], err[1024];
    write_temp(path, sizeof path, "[" ZSRE_OK("A", "A?") "," ZSRE_OK("B", "B?") "," ZSRE_OK("C", "C?") "]");
    dataset_opts o = dataset_opts_default();
    edit_dataset d;
    o.offset = 1;
    CHECK(dataset_load(path, &o, &d, err, sizeof err) == 0 && d.n == 2 && d.req[0].record == 1, "offset 1, all");
    dataset_free(&d);
    o.n_edits = 3;
    CHECK(dataset_load(path, &o, &d, err, sizeof err) != 0, "3 edits from offset 1 of 3 accepted");
    CHECK(strstr(err, "asks for 3 edits from offset 1") && strstr(err, "3 valid records"), "message: %s", err);
    o.offset = 0;
    o.protocol = PROTOCOL_MEMIT;
    CHECK(dataset_load(path, &o, &d, err, sizeof err) == 0 && d.n == 3, "%s", err);
    check_str(d.req[2].target_new, "x", "memit target (answers[0])", 2);
    dataset_free(&d);
    unlink(path);
    CHECK(dataset_load("no/such/file.json", &o, &d, err, sizeof err) != 0 && strstr(err, "no/such/file.json"),
          "missing file: %s", err);
}

static void test_names(void) {
    eval_protocol p;
    dataset_format f;
    CHECK(protocol_parse("memit", &p) == 0 && p == PROTOCOL_MEMIT, "memit");
    CHECK(protocol_parse("rome", &p) != 0, "unknown protocol accepted");
    CHECK(dataset_format_parse("counterfact-rome", &f) == 0 && f == DS_COUNTERFACT_ROME, "counterfact-rome");
    CHECK(!strcmp(protocol_name(PROTOCOL_EASYEDIT), "easyedit"), "easyedit name");
}

int main(void) {
    RUN(test_reference_selections);
    RUN(test_shorter_runs_are_prefixes);
    RUN(test_invalid_records);
    RUN(test_selection_bounds);
    RUN(test_names);
    return TEST_SUMMARY();
}
