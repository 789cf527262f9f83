/* A minimal test harness: each tests/test_*.c registers functions with RUN(); CHECK records a failure
 * with file and line; SKIP ends a test as skipped with its reason. The binary prints one line per test
 * and a final "RESULT pass fail skip" line that tests/run_tests.sh adds up. */
#ifndef KEDIT_TEST_H
#define KEDIT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int test_pass_, test_fail_, test_skip_;
static int test_cur_failed_, test_cur_skipped_;
static char test_skip_reason_[512];

#define CHECK(cond, ...)                                                                                    \
    do {                                                                                                    \
        if (!(cond)) {                                                                                      \
            fprintf(stderr, "    %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                    \
            fprintf(stderr, __VA_ARGS__);                                                                   \
            fprintf(stderr, "\n");                                                                          \
            test_cur_failed_ = 1;                                                                           \
        }                                                                                                   \
    } while (0)

/* ends the current test as skipped (use only for a missing optional input, never to hide a failure) */
#define SKIP(...)                                                                                           \
    do {                                                                                                    \
        snprintf(test_skip_reason_, sizeof test_skip_reason_, __VA_ARGS__);                                 \
        test_cur_skipped_ = 1;                                                                              \
        return;                                                                                             \
    } while (0)

/* KEDIT_TEST_ONLY=name runs only the test of that name (the others are neither run nor counted) */
#define RUN(fn)                                                                                             \
    do {                                                                                                    \
        const char *only_ = getenv("KEDIT_TEST_ONLY");                                                      \
        if (only_ && strcmp(only_, #fn)) break;                                                             \
        test_cur_failed_ = test_cur_skipped_ = 0;                                                           \
        fn();                                                                                               \
        if (test_cur_failed_) { test_fail_++; printf("FAIL %s\n", #fn); }                                   \
        else if (test_cur_skipped_) { test_skip_++; printf("SKIP %s (%s)\n", #fn, test_skip_reason_); }     \
        else { test_pass_++; printf("PASS %s\n", #fn); }                                                    \
        fflush(stdout);                                                                                     \
    } while (0)

#define TEST_SUMMARY()                                                                                      \
    (printf("RESULT %d %d %d\n", test_pass_, test_fail_, test_skip_), test_fail_ ? 1 : 0)

/* the shared data folder (KEDIT_DATA, default ../shared/data), or NULL when it is absent */
static inline const char *test_data_dir(void) {
    const char *d = getenv("KEDIT_DATA");
    if (!d || !*d) d = "../shared/data";
    struct stat st;
    return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

/* path of a file under the shared data folder in buf, or NULL when that folder or the file is absent */
static inline const char *test_data_path(char *buf, size_t n, const char *rel) {
    const char *d = test_data_dir();
    if (!d) return NULL;
    snprintf(buf, n, "%s/%s", d, rel);
    struct stat st;
    return stat(buf, &st) == 0 ? buf : NULL;
}

/* scale-free error ‖a − b‖ / max(‖b‖, tiny) */
static inline double rel_err(const float *a, const float *b, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num) / (den > 1e-300 ? sqrt(den) : 1e-150);
}

static inline double max_abs_diff(const float *a, const float *b, long n) {
    double m = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

#endif
