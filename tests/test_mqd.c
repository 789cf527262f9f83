/* The MQD builder (kedit mqd): on a small ATOMIC file written here, the three files parse through kedit's
 * dataset loader and a malformed line is an error naming the file, line and field that leaves no file
 * behind; on the shared ATOMIC-2020 sample (skipped when ../shared/data is absent), the same seed gives
 * the same bytes and another seed other bytes, T/F is balanced and its "no" statements show another
 * tail of the same relation, MQ's correct letters are evenly placed, the correct option is the tuple's
 * tail and the distractors are other tails of its relation. Then the target statistics on the bundled
 * fact-world model: its known facts have a perplexity near 1, its counterfactual targets a high one. */
#include "backend_by_name.h"
#include "run/dataset.h"
#include "run/metrics.h"
#include "run/mqd.h"
#include "run/target_stats.h"
#include "test.h"
#include "test_files.h"

#include <cjson/cJSON.h>
#include <strings.h>

static char dir[256];

static const char *tmp_path(char *buf, size_t n, const char *name) {
    if (!*dir && !test_make_dir(dir, sizeof dir, "mqd")) dir[0] = 0;
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0, "cannot write %s", path);
    if (f) fclose(f);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* the JSON list DIR/<type>.json */
static cJSON *type_file(const char *d, mqd_type k) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.json", d, mqd_type_name(k));
    return read_json(path);
}

static const char *field(const cJSON *rec, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static const char *small_atomic = "PersonX pays the bill @@ xEffect\tgets a receipt| none| loses money.\n"
                                  "PersonX runs home @@ xEffect\tgets tired\n"
                                  "PersonX trips @@ xEffect\tfalls down| none\n"
                                  "PersonX sings @@ xEffect\tgets applause\n"
                                  "PersonX eats @@ xEffect\tnone\n"
                                  "cabbage @@ AtLocation\tsupermarket\n";

/* every type's records parse through dataset_load (zsRE schema) and carry the builder's targets */
static void test_small_file_parses(void) {
    char atomic[512], out[512], err[1024];
    write_text(tmp_path(atomic, sizeof atomic, "small.tsv"), small_atomic);
    mqd_summary s;
    int rc = mqd_build(atomic, 3, NULL, tmp_path(out, sizeof out, "small"), &s, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    // 6 tuples: "PersonX eats" has no usable tail, cabbage's relation has no other tail: 4 records
    CHECK(s.n_tuples == 6 && s.n_no_tail == 1 && s.n_few_tails == 1 && s.n_records == 4, "%ld %ld %ld %ld", s.n_tuples,
          s.n_no_tail, s.n_few_tails, s.n_records);
    CHECK(s.n_yes == 2, "T/F: %ld yes of 4", s.n_yes);
    for (int k = 0; k < MQD_N_TYPES; k++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s.json", out, mqd_type_name((mqd_type)k));
        dataset_opts o = dataset_opts_default();
        edit_dataset d;
        rc = dataset_load(path, &o, &d, err, sizeof err);
        CHECK(rc == 0 && d.format == DS_ZSRE && d.n == 4, "%s: %s (%d records)", path, rc ? err : "", d.n);
        if (rc) continue;
        CHECK(!strcmp(d.req[0].subject, "PersonX pays the bill") && d.req[0].n_rephrase == 1 && d.req[0].n_loc == 1,
              "%s: record 0: subject \"%s\"", path, d.req[0].subject);
        if (k == MQD_DG)
            CHECK(!strcmp(d.req[0].prompt, "PersonX pays the bill, resulting in PersonX") &&
                      !strcmp(d.req[0].target_new, "gets a receipt") &&
                      !strcmp(d.req[0].rephrase[0], "PersonX pays the bill. As a result, PersonX"),
                  "DG record 0: \"%s\" → \"%s\"", d.req[0].prompt, d.req[0].target_new);
        for (int i = 0; i < d.n; i++) {
            const char *t = d.req[i].target_new;
            if (k == MQD_MQ) CHECK(strlen(t) == 1 && t[0] >= 'a' && t[0] <= 'd', "MQ target \"%s\"", t);
            if (k == MQD_TF) CHECK(!strcmp(t, "yes") || !strcmp(t, "no"), "T/F target \"%s\"", t);
            CHECK(strcmp(d.req[i].loc_prompt[0], d.req[i].prompt) != 0, "%s record %d is its own locality prompt", path, i);
        }
        dataset_free(&d);
    }
}

/* a length in characters, as a stand-in for a tokenizer's count */
static long n_chars(void *ctx, const char *prompt, const char *target) {
    (void)ctx;
    return (long)(strlen(prompt) + strlen(target));
}

/* a length limit drops the tuples with a question too long, and the rest stay balanced */
static void test_length_limit(void) {
    char atomic[512], out[512], err[1024];
    write_text(tmp_path(atomic, sizeof atomic, "long.tsv"),
               "PersonX runs @@ xEffect\tgets tired\n"
               "PersonX sings @@ xEffect\tgets applause\n"
               "PersonX pays the bill of the very long dinner at the restaurant @@ xEffect\tloses money\n"
               "PersonX trips @@ xEffect\tfalls down\n"
               "PersonX eats @@ xEffect\tgets full\n");
    mqd_fit fit = {n_chars, NULL, 180}; // only the long head's questions exceed 180 characters
    mqd_summary s;
    int rc = mqd_build(atomic, 1, &fit, tmp_path(out, sizeof out, "long"), &s, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    CHECK(s.n_too_long == 1 && s.n_records == 4 && s.n_yes == 2, "%ld too long, %ld records, %ld yes", s.n_too_long,
          s.n_records, s.n_yes);
    cJSON *mq = type_file(out, MQD_MQ), *rec;
    int letters[4] = {0};
    cJSON_ArrayForEach(rec, mq) {
        CHECK(!strstr(field(rec, "subject"), "restaurant"), "the long tuple is kept");
        CHECK(n_chars(NULL, field(rec, "src"), field(rec, "alt")) <= 180 &&
                  n_chars(NULL, field(rec, "rephrase"), field(rec, "alt")) <= 180,
              "%s", field(rec, "rephrase"));
        const char *l = field(rec, "alt");
        if (strlen(l) == 1 && l[0] >= 'a' && l[0] <= 'd') letters[l[0] - 'a']++;
    }
    CHECK(letters[0] == 1 && letters[1] == 1 && letters[2] == 1 && letters[3] == 1, "letters %d %d %d %d", letters[0],
          letters[1], letters[2], letters[3]);
    cJSON_Delete(mq);
}

/* a malformed line: an error naming the file, line and field, and no output */
static void test_bad_line(void) {
    char atomic[512], out[512], err[1024];
    write_text(tmp_path(atomic, sizeof atomic, "bad.tsv"),
               "PersonX runs home @@ xEffect\tgets tired\nPersonX trips @@ xEffects\tfalls down\n");
    mqd_summary s;
    CHECK(mqd_build(atomic, 0, NULL, tmp_path(out, sizeof out, "bad_out"), &s, err, sizeof err) != 0, "a bad relation is accepted");
    CHECK(strstr(err, "bad.tsv: line 2: field relation") && strstr(err, "xEffects"), "%s", err);
    CHECK(!exists(out), "%s was created", out);
    write_text(atomic, "PersonX runs home xEffect\tgets tired\n");
    CHECK(mqd_build(atomic, 0, NULL, out, &s, err, sizeof err) != 0 && strstr(err, "line 1: field head"), "%s", err);
    write_text(atomic, "PersonX runs home @@ xEffect gets tired\n");
    CHECK(mqd_build(atomic, 0, NULL, out, &s, err, sizeof err) != 0 && strstr(err, "line 1: field tails"), "%s", err);
    CHECK(!exists(out), "%s was created", out);
}

static const char *atomic_sample(char *buf, size_t n) {
    return test_data_path(buf, n, "atomic/atomic2020_test_5000.tsv");
}

static void test_deterministic(void) {
    char atomic[512], out[3][512], err[1024];
    if (!atomic_sample(atomic, sizeof atomic)) SKIP("../shared/data/atomic/atomic2020_test_5000.tsv absent (KEDIT_DATA)");
    const char *names[3] = {"seed7a", "seed7b", "seed8"};
    const uint64_t seeds[3] = {7, 7, 8};
    for (int i = 0; i < 3; i++) {
        mqd_summary s;
        CHECK(mqd_build(atomic, seeds[i], NULL, tmp_path(out[i], sizeof out[i], names[i]), &s, err, sizeof err) == 0, "%s", err);
    }
    for (int k = 0; k < MQD_N_TYPES; k++) {
        char p[3][1600];
        for (int i = 0; i < 3; i++) snprintf(p[i], sizeof p[i], "%s/%s.json", out[i], mqd_type_name((mqd_type)k));
        CHECK(test_same_bytes(p[0], p[1]), "%s and %s differ", p[0], p[1]);
        CHECK(!test_same_bytes(p[0], p[2]), "seeds 7 and 8 give the same %s", p[2]);
    }
}

/* ATOMIC's tails, normalised as the builder does (trimmed, without final periods), of one relation */
static bool is_tail_of_relation(const char *atomic, const char *relation, const char *tail) {
    char *text = read_text(atomic), *save = NULL, want[64];
    snprintf(want, sizeof want, " @@ %s\t", relation);
    bool found = false;
    for (char *line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
        char *at = strstr(line, want);
        if (!at) continue;
        char *save2 = NULL;
        for (char *t = strtok_r(at + strlen(want), "|", &save2); t && !found; t = strtok_r(NULL, "|", &save2)) {
            while (*t == ' ') t++;
            size_t n = strlen(t);
            while (n && (t[n - 1] == '.' || t[n - 1] == ' ' || t[n - 1] == '\r')) n--;
            found = strlen(tail) == n && !strncasecmp(t, tail, n);
        }
    }
    free(text);
    return found;
}

static void test_true_false_balanced(void) {
    char atomic[512], out[512], err[1024];
    if (!atomic_sample(atomic, sizeof atomic)) SKIP("../shared/data/atomic/atomic2020_test_5000.tsv absent (KEDIT_DATA)");
    mqd_summary s;
    CHECK(mqd_build(atomic, 11, NULL, tmp_path(out, sizeof out, "tf"), &s, err, sizeof err) == 0, "%s", err);
    cJSON *tf = type_file(out, MQD_TF), *rec;
    CHECK(tf != NULL, "tf.json unreadable");
    if (!tf) return;
    long yes = 0, no = 0, n = 0;
    cJSON_ArrayForEach(rec, tf) {
        const char *ans = field(rec, "alt"), *shown = field(rec, "shown_tail"), *tail = field(rec, "tail");
        bool y = !strcmp(ans, "yes");
        yes += y;
        no += !strcmp(ans, "no");
        if (y) CHECK(!strcmp(shown, tail), "a yes statement shows \"%s\", not its tail \"%s\"", shown, tail);
        else if (n < 300) // a sample: each check reads the file
            CHECK(strcasecmp(shown, tail) && is_tail_of_relation(atomic, field(rec, "relation"), shown),
                  "a no statement shows \"%s\" (tail \"%s\", relation %s)", shown, tail, field(rec, "relation"));
        CHECK(strstr(field(rec, "src"), shown) != NULL, "the statement lacks its tail: %s", field(rec, "src"));
        n += !y;
    }
    CHECK(yes + no == s.n_records && yes == s.n_yes && labs(yes - no) <= 1, "%ld yes, %ld no of %ld", yes, no, s.n_records);
    cJSON_Delete(tf);
}

/* the four options of an MQ prompt into opt[4] (malloc'd); false when it has not that form */
static bool parse_options(const char *src, char *opt[4]) {
    static const char *const starts[4] = {"(a) ", "; (b) ", "; (c) ", "; (d) "};
    const char *p = strstr(src, "? Below are four options: ");
    if (!p) return false;
    for (int i = 0; i < 4; i++) {
        p = strstr(p, starts[i]);
        if (!p) return false;
        p += strlen(starts[i]);
        const char *end = i < 3 ? strstr(p, starts[i + 1]) : strstr(p, ". The correct option is");
        if (!end) return false;
        opt[i] = strndup(p, (size_t)(end - p));
    }
    return true;
}

static void test_multiple_choice(void) {
    char atomic[512], out[512], err[1024];
    if (!atomic_sample(atomic, sizeof atomic)) SKIP("../shared/data/atomic/atomic2020_test_5000.tsv absent (KEDIT_DATA)");
    mqd_summary s;
    CHECK(mqd_build(atomic, 5, NULL, tmp_path(out, sizeof out, "mq"), &s, err, sizeof err) == 0, "%s", err);
    cJSON *mq = type_file(out, MQD_MQ), *rec;
    CHECK(mq != NULL, "mq.json unreadable");
    if (!mq) return;
    long count[4] = {0}, n = 0;
    cJSON_ArrayForEach(rec, mq) {
        const char *letter = field(rec, "alt"), *tail = field(rec, "tail"), *rel = field(rec, "relation");
        char *opt[4] = {NULL};
        bool ok = strlen(letter) == 1 && letter[0] >= 'a' && letter[0] <= 'd' && parse_options(field(rec, "src"), opt);
        CHECK(ok, "record %ld: letter \"%s\", prompt %s", n, letter, field(rec, "src"));
        if (ok) {
            int c = letter[0] - 'a';
            count[c]++;
            CHECK(!strcmp(opt[c], tail), "record %ld: the correct option (%s) is \"%s\", the tail \"%s\"", n, letter, opt[c], tail);
            for (int i = 0; i < 4; i++) {
                if (i == c) continue;
                CHECK(strcasecmp(opt[i], tail) != 0, "record %ld: distractor %d is the answer \"%s\"", n, i, tail);
                for (int j = 0; j < i; j++) CHECK(strcasecmp(opt[i], opt[j]) != 0, "record %ld: options %d, %d repeat", n, j, i);
                if (n < 100) // a sample: each check reads the file
                    CHECK(is_tail_of_relation(atomic, rel, opt[i]), "record %ld: distractor \"%s\" is no %s tail", n, opt[i], rel);
            }
        }
        for (int i = 0; i < 4; i++) free(opt[i]);
        n++;
    }
    CHECK(n == s.n_records, "%ld records, summary %ld", n, s.n_records);
    for (int i = 0; i < 4; i++)
        CHECK(count[i] == n / 4 || count[i] == n / 4 + 1, "letter %c is correct %ld times of %ld", 'a' + i, count[i], n);
    cJSON_Delete(mq);
}

/* the fact-world model knows answers[0] (protocol memit's target) and not the counterfactual alt */
static void test_target_stats(void) {
    char err[1024];
    model m;
    tokenizer *tok = tokenizer_load("models/factworld/gpt2", err, sizeof err);
    CHECK(tok != NULL, "%s", err);
    int rc = model_load_as("models/factworld/gpt2", backend_by_name("cpu"), KT_F32, &m, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (!tok || rc) return;
    target_stats st[2];
    for (int p = 0; p < 2; p++) {
        dataset_opts o = dataset_opts_default();
        o.protocol = p ? PROTOCOL_MEMIT : PROTOCOL_EASYEDIT;
        o.n_edits = 20;
        edit_dataset d;
        rc = dataset_load("models/factworld/data/edits_zsre.json", &o, &d, err, sizeof err);
        CHECK(rc == 0, "%s", err);
        if (rc) continue;
        CHECK(target_stats_compute(&m, tok, &d, 0, 8, &st[p], err, sizeof err) == 0, "%s", err);
        double target = 0, input = 0;
        for (int i = 0; i < d.n; i++) {
            id_seq t;
            int *ids = NULL;
            target += eval_tokenize_target(tok, d.req[i].target_new, &t);
            input += t.n + tokenizer_encode(tok, d.req[i].prompt, true, &ids);
            free(t.ids);
            free(ids);
        }
        CHECK(st[p].n == 20 && st[p].n_truncated == 0 && fabs(st[p].mean_target_tokens - target / 20) < 1e-12 &&
                  fabs(st[p].mean_input_tokens - input / 20) < 1e-12,
              "n %ld, target tokens %.3f (expected %.3f), input %.3f (expected %.3f)", st[p].n, st[p].mean_target_tokens,
              target / 20, st[p].mean_input_tokens, input / 20);
        dataset_free(&d);
    }
    printf("    target perplexity: known facts %.4g, counterfactual targets %.4g\n", st[1].ppl, st[0].ppl);
    CHECK(st[1].ppl >= 1 && st[1].ppl < 1.5 && st[0].ppl > 100, "known %.4g, counterfactual %.4g", st[1].ppl, st[0].ppl);
    model_free(&m);
    tokenizer_free(tok);
}

int main(void) {
    RUN(test_small_file_parses);
    RUN(test_length_limit);
    RUN(test_bad_line);
    RUN(test_deterministic);
    RUN(test_true_false_balanced);
    RUN(test_multiple_choice);
    RUN(test_target_stats);
    if (*dir) test_remove_dir(dir);
    return TEST_SUMMARY();
}
