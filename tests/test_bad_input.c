/* Bad inputs through the command line, one case per kind the issue tracker found getting through: each
 * exits 1 with a message naming the file, the record (where there is one) and the field, and leaves no
 * results file behind (every input is read before the results file is created). The inputs are the
 * bundled fact-world model (models/factworld) and small files written here; the cut llama2.c tokenizer
 * needs ../shared/data's stories260K and skips without it. Also: EasyEdit's zsRE schema without answers
 * runs under protocol easyedit, on_invalid skip skips a prompt longer than the context, and every
 * hyper-parameter file in configs/ still loads. */
#include "methods/hparams.h"
#include "safetensors.h"
#include "test.h"
#include "test_cli.h"
#include "test_files.h"

#include <dirent.h>
#include <glob.h>
#include <unistd.h>

#define FW "models/factworld"

static char dir[256]; /* this test's temporary folder */
static char out[1 << 16];

/* dir/name, in one of 64 buffers used in turn (enough for the paths one test holds at once) */
static const char *tmp_path(const char *name) {
    static char buf[64][600];
    static int k;
    char *p = buf[k++ % 64];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void write_text(const char *path, const char *text) { write_file(path, text, strlen(text)); }

/* one zsRE record (MEND schema unless easyedit_schema: WISE's fields, no answers) with fields replaced */
static void zsre_record(char *buf, size_t n, const char *src, const char *alt, const char *loc_ans, bool easyedit_schema) {
    snprintf(buf, n,
             "{\"case_id\": 0, \"subject\": \"Gobu Iestuleant\", \"src\": \"%s\", \"alt\": \"%s\", %s"
             "\"rephrase\": \"Which city is the hometown of Gobu Iestuleant?\", \"loc\": \"What language does "
             "Noutror Stofegord speak?\", \"loc_ans\": \"%s\"%s}",
             src ? src : "What is the birthplace of Gobu Iestuleant?", alt ? alt : "New York",
             easyedit_schema ? "" : "\"answers\": [\"Delhi\"], ", loc_ans ? loc_ans : "Spanish",
             easyedit_schema ? ", \"loc_prompt\": \"What language does Noutror Stofegord speak?\"" : "");
}

/* a dataset of a good record then `second` */
static const char *write_dataset(const char *name, const char *second) {
    static char text[16384];
    char first[1024];
    zsre_record(first, sizeof first, NULL, NULL, NULL, false);
    snprintf(text, sizeof text, "[%s,\n%s]\n", first, second);
    const char *p = tmp_path(name);
    write_text(p, text);
    return p;
}

/* a run configuration <name>.json of the fact-world model (FT unless hparams) writing <name>.h5; ds_extra
 * is spliced into its dataset object, extra among its top-level fields */
static const char *write_config_with(const char *name, const char *dataset, const char *hparams, const char *ds_extra,
                                     const char *extra) {
    char text[4096], file[300];
    snprintf(text, sizeof text,
             "{\"model\": \"" FW "/gpt2\", \"hparams\": \"%s\",\n"
             " \"dataset\": {\"path\": \"%s\", \"shuffle\": false%s},\n"
             " \"stats\": {\"corpus\": \"" FW "/data/corpus.txt\", \"n_tokens\": 4000, \"cache\": \"%s\"},%s\n"
             " \"output\": \"%s\"}\n",
             hparams ? hparams : "configs/ft_factworld.json", dataset, ds_extra ? ds_extra : "", tmp_path("stats"),
             extra ? extra : "", tmp_path(strcat(strcpy(file, name), ".h5")));
    snprintf(file, sizeof file, "%s.json", name);
    const char *p = tmp_path(file);
    write_text(p, text);
    return p;
}

static const char *write_config(const char *name, const char *dataset, const char *hparams, const char *ds_extra) {
    return write_config_with(name, dataset, hparams, ds_extra, NULL);
}

/* no file in the folder whose name starts with `name` and is not name.json (the configuration): the
 * results file, or a temporary one beside it */
static bool nothing_left(const char *name) {
    DIR *d = opendir(dir);
    bool none = true;
    char cfg[300];
    snprintf(cfg, sizeof cfg, "%s.json", name);
    for (struct dirent *e; d && (e = readdir(d));)
        if (!strncmp(e->d_name, name, strlen(name)) && strcmp(e->d_name, cfg)) {
            fprintf(stderr, "    left behind: %s\n", e->d_name);
            none = false;
        }
    if (d) closedir(d);
    return none;
}

static int run_config(const char *cfg, const char *extra) {
    const char *argv[] = {"run", "--config", cfg, "--quiet", extra, extra ? "1" : NULL, NULL};
    return kedit(argv, 0, out, sizeof out);
}

/* kedit run on config `name` exits 1 naming every one of the NULL-terminated strings, leaving nothing */
static void refused(const char *name, const char *cfg, const char *const *names) {
    int rc = run_config(cfg, NULL);
    CHECK(rc == 1, "%s: exit %d, wanted 1:\n%s", name, rc, out);
    for (int i = 0; names[i]; i++) CHECK(strstr(out, names[i]), "%s: the message does not name %s:\n%s", name, names[i], out);
    CHECK(nothing_left(name), "%s: a file was left behind", name);
}

#define REFUSED(name, cfg, ...) refused(name, cfg, (const char *const[]){__VA_ARGS__, NULL})

/* ---- datasets ---- */

static void test_easyedit_schema_without_answers(void) {
    char rec[1024];
    zsre_record(rec, sizeof rec, NULL, NULL, NULL, true);
    char text[2100];
    snprintf(text, sizeof text, "[%s, %s]", rec, rec);
    const char *ds = tmp_path("ds_wise.json");
    write_text(ds, text);
    const char *cfg = write_config("wise", ds, NULL, NULL);
    int rc = run_config(cfg, "--stop-after");
    CHECK(rc == 2 && access(tmp_path("wise.h5"), F_OK) == 0, "easyedit: exit %d (2: stopped after 1 edit):\n%s", rc, out);
    // the memit protocol takes its target from answers[0]: it names the missing field
    char text2[4096];
    snprintf(text2, sizeof text2,
             "{\"model\": \"" FW "/gpt2\", \"hparams\": \"configs/ft_factworld.json\", \"protocol\": \"memit\",\n"
             " \"dataset\": {\"path\": \"%s\"}, \"output\": \"%s\"}\n", ds, tmp_path("wise_memit.h5"));
    cfg = tmp_path("wise_memit.json");
    write_text(cfg, text2);
    REFUSED("wise_memit", cfg, ds, "record 0", "answers", "memit");
}

static void test_prompt_longer_than_context(void) {
    char src[12000] = "Gobu Iestuleant", rec[13000];
    while (strlen(src) < 10000) strcat(src, " is very"); // a 10 kB prompt, far beyond the 128-token context
    strcat(src, " from?");
    zsre_record(rec, sizeof rec, src, NULL, NULL, false);
    const char *ds = write_dataset("ds_long.json", rec);
    REFUSED("long", write_config("long", ds, NULL, NULL), ds, "record 1", "field src", "context");
    // just over the context: about 145 tokens
    strcpy(src, "Gobu Iestuleant");
    for (int i = 0; i < 140; i++) strcat(src, " is");
    zsre_record(rec, sizeof rec, src, NULL, NULL, false);
    ds = write_dataset("ds_ctx.json", rec);
    REFUSED("ctx", write_config("ctx", ds, NULL, NULL), ds, "record 1", "field src", "128");
    // one that the evaluation fits but the edit, with MEMIT's context templates before it, does not
    strcpy(src, "Gobu Iestuleant");
    for (int i = 0; i < 118; i++) strcat(src, " is");
    zsre_record(rec, sizeof rec, src, NULL, NULL, false);
    const char *near = write_dataset("ds_near.json", rec);
    REFUSED("near", write_config("near", near, "configs/memit_factworld.json", NULL), near, "record 1", "field src",
            "edit", "128");
    // on_invalid skip skips it: the run edits the other record
    const char *cfg = write_config("ctx_skip", ds, NULL, ", \"on_invalid\": \"skip\"");
    int rc = run_config(cfg, "--stop-after");
    CHECK(rc == 0 && strstr(out, "record 1") && strstr(out, "1 edits") && access(tmp_path("ctx_skip.h5"), F_OK) == 0,
          "skip: exit %d (0: one edit, a warning naming record 1):\n%s", rc, out);
}

static void test_empty_fields(void) {
    char rec[1024];
    zsre_record(rec, sizeof rec, NULL, "", NULL, false);
    const char *ds = write_dataset("ds_empty_alt.json", rec);
    REFUSED("empty_alt", write_config("empty_alt", ds, NULL, NULL), ds, "record 1", "field alt", "empty");
    zsre_record(rec, sizeof rec, NULL, NULL, "", false);
    ds = write_dataset("ds_empty_loc_ans.json", rec);
    REFUSED("empty_loc_ans", write_config("empty_loc_ans", ds, NULL, NULL), ds, "record 1", "field loc_ans", "empty");
}

static void test_case_id_out_of_range(void) {
    const char *ds = tmp_path("ds_cf.json");
    write_text(ds, "[{\"case_id\": 1e30, \"prompt\": \"Gobu Iestuleant was born in\", \"subject\": \"Gobu Iestuleant\","
                   " \"target_new\": \"New York\", \"ground_truth\": \"Delhi\", \"rephrase_prompt\": \"Gobu Iestuleant's "
                   "hometown is\", \"locality_prompt\": \"Noutror Stofegord speaks\", \"locality_ground_truth\": \"Spanish\"}]");
    REFUSED("cf", write_config("cf", ds, NULL, NULL), ds, "record 0", "case_id");
}

/* ---- the method's hyper-parameters ---- */

/* configs/<method>_factworld.json with `field` spliced in first (cJSON reads the first of two equal keys) */
static const char *hparams_with(const char *name, const char *method, const char *field) {
    char from[128], text[8192];
    snprintf(from, sizeof from, "configs/%s_factworld.json", method);
    char *s = read_text(from);
    char *brace = s ? strchr(s, '{') : NULL;
    snprintf(text, sizeof text, "{%s,%s", field, brace ? brace + 1 : "");
    free(s);
    const char *p = tmp_path(name);
    write_text(p, text);
    return p;
}

static void test_hparams(void) {
    const char *ds = write_dataset("ds_hp_ds.json", "{\"subject\": \"x\", \"src\": \"x?\", \"alt\": \"y\", \"answers\": "
                                                 "[\"z\"], \"rephrase\": \"x?\", \"loc\": \"w?\", \"loc_ans\": \"v\"}");
    const char *hp = hparams_with("file_hp_unknown.json", "memit", "\"v_lr_decay\": 0.5");
    REFUSED("hp_unknown", write_config("hp_unknown", ds, hp, NULL), hp, "v_lr_decay");
    hp = hparams_with("file_hp_fact.json", "memit", "\"fact_token\": \"last\"");
    REFUSED("hp_fact", write_config("hp_fact", ds, hp, NULL), hp, "fact_token");
    hp = hparams_with("file_hp_layer.json", "memit", "\"layers\": [1, 99]");
    REFUSED("hp_layer", write_config("hp_layer", ds, hp, NULL), hp, "layers", "99");
    hp = hparams_with("file_hp_loss.json", "memit", "\"v_loss_layer\": 3");
    REFUSED("hp_loss", write_config("hp_loss", ds, hp, NULL), hp, "v_loss_layer");
    hp = hparams_with("file_hp_steps.json", "ft", "\"num_steps\": 1e30");
    REFUSED("hp_steps", write_config("hp_steps", ds, hp, NULL), hp, "num_steps");
    hp = hparams_with("file_hp_pmet_kl.json", "pmet", "\"kl_factor\": 0");
    REFUSED("hp_pmet_kl", write_config("hp_pmet_kl", ds, hp, NULL), hp, "kl_factor", "positive");
    hp = hparams_with("file_hp_ae_lambda.json", "alphaedit", "\"mom2_update_weight\": 15000"); // AlphaEdit reads no λ
    REFUSED("hp_ae_lambda", write_config("hp_ae_lambda", ds, hp, NULL), hp, "mom2_update_weight");
    hp = hparams_with("file_hp_ae_tau.json", "alphaedit", "\"nullspace_threshold\": -1");
    REFUSED("hp_ae_tau", write_config("hp_ae_tau", ds, hp, NULL), hp, "nullspace_threshold", "positive");
    hp = hparams_with("file_hp_d4sp.json", "d4sp", "\"L2\": 0, \"mom2_update_weight\": 0");
    REFUSED("hp_d4sp", write_config("hp_d4sp", ds, hp, NULL), hp, "L2", "singular");
}

/* every method file in configs/ still loads */
static void test_configs_load(void) {
    glob_t g;
    int n = 0;
    if (glob("configs/*_*.json", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            if (strstr(g.gl_pathv[i], "demo")) continue;
            edit_hparams h;
            char err[1024];
            CHECK(!hparams_load(g.gl_pathv[i], &h, err, sizeof err), "%s", err);
            n++;
        }
        globfree(&g);
    }
    CHECK(n >= 56, "only %d method files found in configs/", n);
}

/* ---- the statistics and the perplexity text ---- */

static void test_truncated_covariance_cache(void) {
    const char *ds = write_dataset("ds_cov_ds.json", "{\"subject\": \"x\", \"src\": \"x?\", \"alt\": \"y\", \"answers\": "
                                                  "[\"z\"], \"rephrase\": \"x?\", \"loc\": \"w?\", \"loc_ans\": \"v\"}");
    const char *argv[] = {"stats", "--model", FW "/gpt2", "--layers", "1", "--corpus", FW "/data/corpus.txt",
                          "--tokens", "4000", "--cache", tmp_path("stats"), NULL};
    int rc = kedit(argv, 0, out, sizeof out);
    char *at = strstr(out, "written to "), cache[600] = "";
    if (at) sscanf(at + 11, "%599s", cache);
    CHECK(rc == 0 && *cache, "kedit stats: exit %d:\n%s", rc, out);
    if (!*cache) return;
    CHECK(truncate(cache, 4096) == 0, "cannot truncate %s", cache);
    REFUSED("cov", write_config("cov", ds, "configs/memit_factworld.json", NULL), cache, "truncated");
}

/* kedit stats on a JSON Lines corpus with a record lacking "text": exit 1 naming the file, line and field,
 * and no statistics cache folder made; an unknown --truncate rule is a usage error */
static void test_jsonl_corpus_record(void) {
    const char *corpus = tmp_path("bad_record.jsonl"), *cache = tmp_path("stats_jsonl");
    write_text(corpus, "{\"text\": \"Gobu is red.\"}\n{\"title\": \"Gobu\"}\n");
    const char *argv[] = {"stats", "--model", FW "/gpt2", "--layers", "1", "--corpus", corpus, "--cache", cache, NULL};
    int rc = kedit(argv, 0, out, sizeof out);
    CHECK(rc == 1 && strstr(out, corpus) && strstr(out, "line 2") && strstr(out, "\"text\""), "exit %d:\n%s", rc, out);
    CHECK(access(cache, F_OK) != 0, "%s was made", cache);
    const char *bad_rule[] = {"stats", "--model", FW "/gpt2", "--layers", "1", "--truncate", "sentence", NULL};
    rc = kedit(bad_rule, 0, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "--truncate 'sentence'"), "exit %d:\n%s", rc, out);
}

static void test_perplexity_text(void) {
    const char *ds = write_dataset("ds_ppl_ds.json", "{\"subject\": \"x\", \"src\": \"x?\", \"alt\": \"y\", \"answers\": "
                                                  "[\"z\"], \"rephrase\": \"x?\", \"loc\": \"w?\", \"loc_ans\": \"v\"}");
    const char *text = tmp_path("one_token.txt");
    write_text(text, "a");
    char extra[700];
    snprintf(extra, sizeof extra, " \"perplexity\": {\"text\": \"%s\"},", text);
    const char *cfg = write_config_with("ppl", ds, NULL, NULL, extra);
    REFUSED("ppl", cfg, cfg, "perplexity.text", text, "fewer than 2 tokens");
}

/* ---- model and tokenizer files ---- */

/* a model folder name/ with the fact-world's config.json and tokenizer.json */
static const char *model_dir(const char *name) {
    const char *d = tmp_path(name);
    mkdir(d, 0755);
    char from[600], to[600];
    const char *files[] = {"config.json", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, FW "/gpt2/%s", files[i]);
        snprintf(to, sizeof to, "%s/%s", d, files[i]);
        size_t n;
        char *s = file_read_all(from, &n);
        if (s) write_file(to, s, n);
        free(s);
    }
    return d;
}

static int generate(const char *model, const char *tokenizer) {
    const char *argv[] = {"generate", "--model", model, "--steps", "2", "--prompt", "Gobu", tokenizer ? "--tokenizer" : NULL,
                          tokenizer, NULL};
    return kedit(argv, 0, out, sizeof out);
}

/* a safetensors file of one header and n data bytes (zeros) */
static void write_safetensors(const char *path, const char *header, size_t n) {
    uint64_t len = strlen(header);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(&len, 8, 1, f);
    fwrite(header, 1, len, f);
    for (size_t i = 0; i < n; i++) fputc(0, f);
    fclose(f);
}

static void test_safetensors_headers(void) {
    const char *d = model_dir("empty_model");
    char st[700];
    snprintf(st, sizeof st, "%s/model.safetensors", d);
    write_safetensors(st, "{\"__metadata__\": {}}", 0); // no tensor at all
    int rc = generate(d, NULL);
    CHECK(rc == 1 && strstr(out, d), "no tensors: exit %d:\n%s", rc, out);
    d = model_dir("overlap_model");
    snprintf(st, sizeof st, "%s/model.safetensors", d);
    write_safetensors(st, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                          "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12);
    rc = generate(d, NULL);
    CHECK(rc == 1 && strstr(out, st) && strstr(out, "overlap") && strstr(out, " a ") && strstr(out, " b "),
          "overlap: exit %d:\n%s", rc, out);
}

static void test_config_token_ids(void) {
    const char *d = model_dir("bos_model");
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config.json", d);
    char *s = read_text(cfg), *at = s ? strstr(s, "\"bos_token_id\": 4095") : NULL;
    CHECK(at, "the fact-world config.json has no \"bos_token_id\": 4095");
    if (at) {
        memcpy(at + strlen("\"bos_token_id\": "), "9999", 4); // beyond the 4096 tokens
        write_text(cfg, s);
        char st[700];
        snprintf(st, sizeof st, "%s/model.safetensors", d);
        size_t n;
        char *bytes = file_read_all(FW "/gpt2/model.safetensors", &n);
        if (bytes) write_file(st, bytes, n);
        free(bytes);
        int rc = generate(d, NULL);
        CHECK(rc == 1 && strstr(out, cfg) && strstr(out, "bos_token_id"), "bos_token_id 9999: exit %d:\n%s", rc, out);
    }
    free(s);
}

static void test_nan_weights(void) {
    const char *d = model_dir("nan_model");
    char st[700];
    snprintf(st, sizeof st, "%s/model.safetensors", d);
    size_t n;
    unsigned char *bytes = (unsigned char *)file_read_all(FW "/gpt2/model.safetensors", &n);
    st_set s = {0};
    char err[1024];
    CHECK(bytes && !st_open_file(FW "/gpt2/model.safetensors", &s, err, sizeof err), "%s", err);
    const st_tensor *t = st_find(&s, "transformer.h.2.mlp.c_proj.weight");
    if (!t) t = st_find(&s, "h.2.mlp.c_proj.weight");
    CHECK(t && t->dtype == ST_F32, "the fact-world model has no float32 h.2.mlp.c_proj.weight");
    if (bytes && t) {
        size_t at = (size_t)((const unsigned char *)t->data - (const unsigned char *)s.files[0].map) + 4 * 7;
        float nan = NAN;
        memcpy(bytes + at, &nan, 4);
        write_file(st, bytes, n);
        int rc = generate(d, NULL);
        CHECK(rc == 1 && strstr(out, st) && strstr(out, t->name) && strstr(out, "NaN"), "NaN weight: exit %d:\n%s", rc, out);
    }
    st_close(&s);
    free(bytes);
}

static void test_tokenizer_ids(void) {
    size_t n;
    char *s = file_read_all(FW "/gpt2/tokenizer.json", &n);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    cJSON *vocab = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "model"), "vocab");
    CHECK(cJSON_IsObject(vocab) && vocab->child, "the fact-world tokenizer.json has no model.vocab");
    if (!cJSON_IsObject(vocab) || !vocab->child) return cJSON_Delete(j);
    const double ids[] = {1e9, 2147483647.0};
    for (int i = 0; i < 2; i++) {
        cJSON_SetNumberValue(vocab->child, ids[i]);
        char *text = cJSON_PrintUnformatted(j);
        const char *p = tmp_path(i ? "tok_intmax.json" : "tok_1e9.json");
        write_text(p, text);
        free(text);
        const char *argv[] = {"tokenize", "--tokenizer", p, "hello", NULL};
        int rc = kedit(argv, 0, out, sizeof out);
        CHECK(rc == 1 && strstr(out, p) && strstr(out, "model.vocab"), "id %.0f: exit %d:\n%s", ids[i], rc, out);
    }
    cJSON_Delete(j);
}

static void test_llama2c_tokenizer_cut(void) {
    char model[512], tok[512];
    if (!test_data_path(model, sizeof model, "models/stories260K/stories260K.bin") ||
        !test_data_path(tok, sizeof tok, "models/stories260K/tok512.bin"))
        SKIP("../shared/data (stories260K) absent");
    size_t n;
    unsigned char *b = (unsigned char *)file_read_all(tok, &n);
    size_t at = 4; // max_token_length, then per token: float score, int32 length, bytes
    for (int k = 0; b && k < 500 && at + 8 <= n; k++) {
        int32_t len;
        memcpy(&len, b + at + 4, 4);
        at += 8 + (size_t)len;
    }
    const char *cut = tmp_path("tok500.bin");
    if (b) write_file(cut, b, at);
    free(b);
    int rc = generate(model, cut);
    CHECK(rc == 1 && strstr(out, cut) && strstr(out, "500"), "a tokenizer.bin cut after 500 tokens: exit %d:\n%s", rc, out);
}

int main(void) {
    if (!test_make_dir(dir, sizeof dir, "bad_input")) {
        fprintf(stderr, "cannot make a temporary folder\n");
        return 1;
    }
    RUN(test_easyedit_schema_without_answers);
    RUN(test_prompt_longer_than_context);
    RUN(test_empty_fields);
    RUN(test_case_id_out_of_range);
    RUN(test_hparams);
    RUN(test_configs_load);
    RUN(test_truncated_covariance_cache);
    RUN(test_jsonl_corpus_record);
    RUN(test_perplexity_text);
    RUN(test_safetensors_headers);
    RUN(test_config_token_ids);
    RUN(test_nan_weights);
    RUN(test_tokenizer_ids);
    RUN(test_llama2c_tokenizer_cut);
    test_remove_dir(dir);
    return TEST_SUMMARY();
}
