/* kedit verify through the command line: it passes on the bundled fact-world model, the tiny GPT-2, GPT-J
 * and (sharded) Llama fixtures and a small llama2.c file written here; and it exits 1 naming the file,
 * tensor and problem on broken copies made here in a temporary folder: a truncated shard, a tensor with
 * a wrong shape, a NaN in a tensor's bytes, a missing tensor, an unsupported dtype, a missing
 * config.json, a cut llama2.c file. */
#include "test.h"
#include "test_cli.h"
#include "test_files.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

static char dir[256]; /* this test's temporary folder */
static char out[1 << 16];

/* kedit verify MODEL [extra]; its exit status, the output in out */
static int verify(const char *model, const char *extra) {
    const char *argv[] = {"verify", model, extra, NULL};
    return kedit(argv, 0, out, sizeof out);
}

/* a fresh copy of the fixture folder tests/fixtures/<name> as dir/<copy>; its path */
static const char *copy_fixture(const char *name, const char *copy) {
    static char path[600];
    char cmd[1400];
    snprintf(path, sizeof path, "%s/%s", dir, copy);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r tests/fixtures/%s '%s'", path, name, path);
    CHECK(system(cmd) == 0, "%s", cmd);
    return path;
}

static void expect_pass(const char *model, const char *extra) {
    int rc = verify(model, extra);
    CHECK(rc == 0 && strstr(out, "is ready"), "%s: exit %d:\n%s", model, rc, out);
}

/* exit 1 with each of the words in the output */
static void expect_fail(const char *model, const char *what, const char *a, const char *b) {
    int rc = verify(model, "--no-tokenizer");
    CHECK(rc == 1 && strstr(out, "NOT ready") && strstr(out, a) && strstr(out, b),
          "%s: exit %d, expected 1 with \"%s\" and \"%s\":\n%s", what, rc, a, b, out);
}

/* ---- safetensors surgery ---- */

typedef void (*header_edit)(cJSON *header);

/* rewrites the header of the safetensors file at path through edit, keeping the data as it is */
static void rewrite_header(const char *path, header_edit edit) {
    size_t n = 0;
    char *bytes = file_read_all(path, &n);
    CHECK(bytes && n >= 8, "cannot read %s", path);
    if (!bytes || n < 8) return;
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | (unsigned char)bytes[i];
    cJSON *header = cJSON_ParseWithLength(bytes + 8, (size_t)len);
    edit(header);
    char *text = cJSON_PrintUnformatted(header);
    size_t tlen = strlen(text), padded = (tlen + 7) / 8 * 8;
    FILE *f = fopen(path, "wb");
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(padded >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(text, 1, tlen, f);
    for (size_t i = tlen; i < padded; i++) fputc(' ', f);
    fwrite(bytes + 8 + len, 1, n - 8 - (size_t)len, f);
    fclose(f);
    cJSON_Delete(header);
    free(text);
    free(bytes);
}

/* the header entry whose name ends with suffix */
static cJSON *entry(cJSON *header, const char *suffix) {
    cJSON *e;
    cJSON_ArrayForEach(e, header) {
        size_t n = strlen(e->string), k = strlen(suffix);
        if (n >= k && !strcmp(e->string + n - k, suffix)) return e;
    }
    return NULL;
}

static void swap_wte_dims(cJSON *header) { /* [vocab, d] → [d, vocab]: same bytes, wrong shape */
    cJSON *shape = cJSON_GetObjectItem(entry(header, "wte.weight"), "shape");
    double d0 = cJSON_GetArrayItem(shape, 0)->valuedouble, d1 = cJSON_GetArrayItem(shape, 1)->valuedouble;
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(d1));
    cJSON_ReplaceItemInArray(shape, 1, cJSON_CreateNumber(d0));
}

static void rename_ln_f(cJSON *header) { /* ln_f.weight no longer found */
    cJSON *e = entry(header, "ln_f.weight");
    cJSON_AddItemToObject(header, "renamed_ln_f.weight", cJSON_DetachItemViaPointer(header, e));
}

static void ln_f_as_i32(cJSON *header) { /* an F32 tensor declared I32: same size, unreadable dtype */
    cJSON_ReplaceItemInObject(entry(header, "ln_f.weight"), "dtype", cJSON_CreateString("I32"));
}

/* writes a NaN over the first element of the tensor whose name ends with suffix */
static void poison(const char *path, const char *suffix) {
    size_t n = 0;
    char *bytes = file_read_all(path, &n);
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | (unsigned char)bytes[i];
    cJSON *header = cJSON_ParseWithLength(bytes + 8, (size_t)len);
    cJSON *e = entry(header, suffix);
    const char *dtype = cJSON_GetObjectItem(e, "dtype")->valuestring;
    size_t at = 8 + (size_t)len + (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(e, "data_offsets"), 0)->valuedouble;
    static const unsigned char f32[] = {0x00, 0x00, 0xc0, 0x7f}, bf16[] = {0xc0, 0x7f}, f16[] = {0x00, 0x7e};
    const unsigned char *nan = !strcmp(dtype, "F32") ? f32 : !strcmp(dtype, "BF16") ? bf16 : f16;
    memcpy(bytes + at, nan, !strcmp(dtype, "F32") ? 4 : 2);
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
    cJSON_Delete(header);
    free(bytes);
}

/* ---- a llama2.c file: dim 8, hidden 16, 1 layer, 2 heads, 2 kv heads, vocab 10 (tied), seq 4 ---- */

static void write_llama2c(const char *path, size_t cut) {
    int32_t header[7] = {8, 16, 1, 2, 2, 10, 4};
    size_t n = 80 + 8 + 4 * 64 + 8 + 3 * 128 + 8 + 2 * 8; /* emb ... rms_final, freq_cis_real and _imag */
    float *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++) w[i] = (float)(i % 7) * 0.125f;
    FILE *f = fopen(path, "wb");
    fwrite(header, sizeof header, 1, f);
    fwrite(w, 1, n * sizeof *w - cut, f);
    fclose(f);
    free(w);
}

/* ---- tests ---- */

static void test_good_models(void) {
    expect_pass("models/factworld/gpt2", NULL);
    CHECK(strstr(out, "ok    tokenizer"), "the bundled model's tokenizer is checked:\n%s", out);
    expect_pass("tests/fixtures/gpt2", "--no-tokenizer");
    expect_pass("tests/fixtures/gptj", "--no-tokenizer");
    expect_pass("tests/fixtures/llama", "--no-tokenizer");
    CHECK(strstr(out, "2 safetensors files"), "the sharded fixture's two files:\n%s", out);
    char path[600];
    snprintf(path, sizeof path, "%s/tiny.bin", dir);
    write_llama2c(path, 0);
    expect_pass(path, NULL);
}

static void test_no_tokenizer_fails(void) {
    int rc = verify("tests/fixtures/gpt2", NULL);
    CHECK(rc == 1 && strstr(out, "FAIL  tokenizer") && strstr(out, "tokenizer.json"), "exit %d:\n%s", rc, out);
}

static void test_truncated_shard(void) {
    const char *m = copy_fixture("llama", "truncated");
    char shard[700];
    snprintf(shard, sizeof shard, "%s/model-00002-of-00002.safetensors", m);
    struct stat st;
    CHECK(stat(shard, &st) == 0 && truncate(shard, st.st_size - 4) == 0, "cannot truncate %s", shard);
    expect_fail(m, "truncated shard", "model-00002-of-00002.safetensors", "truncated");
}

static void test_missing_shard(void) {
    const char *m = copy_fixture("llama", "missing_shard");
    char shard[700];
    snprintf(shard, sizeof shard, "%s/model-00001-of-00002.safetensors", m);
    CHECK(unlink(shard) == 0, "cannot remove %s", shard);
    expect_fail(m, "missing shard", "model-00001-of-00002.safetensors", "cannot open");
}

static void test_wrong_shape(void) {
    const char *m = copy_fixture("gpt2", "wrong_shape");
    char file[700];
    snprintf(file, sizeof file, "%s/model.safetensors", m);
    rewrite_header(file, swap_wte_dims);
    expect_fail(m, "wrong shape", "wte.weight", "wrong shape [32, 101], config.json implies [101, 32]");
}

static void test_nan(void) {
    const char *m = copy_fixture("gptj", "nan");
    char file[700];
    snprintf(file, sizeof file, "%s/model.safetensors", m);
    poison(file, "h.1.mlp.fc_in.weight");
    expect_fail(m, "NaN", "h.1.mlp.fc_in.weight", "element 0 is NaN");
}

static void test_missing_tensor(void) {
    const char *m = copy_fixture("gpt2", "missing_tensor");
    char file[700];
    snprintf(file, sizeof file, "%s/model.safetensors", m);
    rewrite_header(file, rename_ln_f);
    expect_fail(m, "missing tensor", "missing tensor", "ln_f.weight");
}

static void test_bad_dtype(void) {
    const char *m = copy_fixture("gpt2", "bad_dtype");
    char file[700];
    snprintf(file, sizeof file, "%s/model.safetensors", m);
    rewrite_header(file, ln_f_as_i32);
    expect_fail(m, "I32 tensor", "ln_f.weight", "dtype I32");
}

static void test_missing_config(void) {
    const char *m = copy_fixture("gpt2", "no_config");
    char file[700];
    snprintf(file, sizeof file, "%s/config.json", m);
    CHECK(unlink(file) == 0, "cannot remove %s", file);
    expect_fail(m, "missing config.json", "FAIL  config", "config.json");
}

static void test_cut_llama2c(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/cut.bin", dir);
    write_llama2c(path, 4);
    expect_fail(path, "cut llama2.c file", "cut.bin", "truncated");
}

static void test_usage(void) {
    const char *none[] = {"verify", NULL};
    CHECK(kedit(none, 0, out, sizeof out) == 2 && strstr(out, "MODEL is missing"), "%s", out);
    const char *help[] = {"verify", "--help", NULL};
    CHECK(kedit(help, 0, out, sizeof out) == 0 && strstr(out, "usage: kedit verify MODEL"), "%s", out);
    CHECK(verify("no/such/folder", NULL) == 1 && strstr(out, "no/such/folder"), "%s", out);
}

int main(void) {
    if (!test_make_dir(dir, sizeof dir, "verify")) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_good_models);
    RUN(test_no_tokenizer_fails);
    RUN(test_truncated_shard);
    RUN(test_missing_shard);
    RUN(test_wrong_shape);
    RUN(test_nan);
    RUN(test_missing_tensor);
    RUN(test_bad_dtype);
    RUN(test_missing_config);
    RUN(test_cut_llama2c);
    RUN(test_usage);
    test_remove_dir(dir);
    return TEST_SUMMARY();
}
