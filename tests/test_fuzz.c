/* A short run of each libFuzzer harness of tests/fuzz/ (make fuzz, with clang): a few seconds from its
 * seed corpus (tests/fuzz/corpus/<name>/), which must end without a crash, leak or sanitizer report.
 * Skips when clang is absent (no fuzzers are built then). README: a long run. */
#include "test.h"
#include "test_files.h"

#include <unistd.h>

#define SECONDS 3

static void fuzz(const char *name) {
    char bin[256], dir[512], cmd[2048];
    snprintf(bin, sizeof bin, "build/fuzz/tests/fuzz/fuzz_%s", name);
    if (access(bin, X_OK) != 0) {
        if (system("command -v clang >/dev/null 2>&1") != 0) SKIP("clang (libFuzzer) absent: make fuzz builds nothing");
        CHECK(0, "%s is missing although clang is present (make fuzz)", bin);
        return;
    }
    if (!test_make_dir(dir, sizeof dir, name)) SKIP("cannot make a temporary folder");
    // new inputs go to the first folder (a temporary copy), crash files beside them; the log is printed on failure
    snprintf(cmd, sizeof cmd,
             "%s -max_total_time=%d -timeout=10 -rss_limit_mb=4096 -artifact_prefix=%s/ %s tests/fuzz/corpus/%s "
             ">%s/log 2>&1",
             bin, SECONDS, dir, dir, name, dir);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "tail -n 40 %s/log >&2", dir);
        if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
    }
    CHECK(rc == 0, "%s: exit status %d (the crash input is in %s)", bin, rc, dir);
    if (rc == 0) test_remove_dir(dir);
}

static void test_fuzz_safetensors(void) { fuzz("safetensors"); }
static void test_fuzz_tokenizer(void) { fuzz("tokenizer"); }
static void test_fuzz_dataset(void) { fuzz("dataset"); }
static void test_fuzz_run_config(void) { fuzz("run_config"); }

int main(void) {
    RUN(test_fuzz_safetensors);
    RUN(test_fuzz_tokenizer);
    RUN(test_fuzz_dataset);
    RUN(test_fuzz_run_config);
    return TEST_SUMMARY();
}
