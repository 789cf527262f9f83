/* Files in tests and benchmarks: reading a whole text or JSON file, a fresh temporary folder and its
 * removal. */
#ifndef KEDIT_TEST_FILES_H
#define KEDIT_TEST_FILES_H

#include "file_read.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a text file, NUL-terminated, malloc'd; NULL when it cannot be read (file_read_all for the length) */
static inline char *read_text(const char *path) { return file_read_all(path, NULL); }

/* the file parsed as JSON; NULL when it cannot be read or parsed */
static inline cJSON *read_json(const char *path) {
    char *s = read_text(path);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

/* a fresh empty folder $TMPDIR/kedit_<name>_XXXXXX (/tmp without TMPDIR) in dir; false when it cannot be made */
static inline bool test_make_dir(char *dir, size_t n, const char *name) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, n, "%s/kedit_%s_XXXXXX", t && *t ? t : "/tmp", name);
    return mkdtemp(dir) != NULL;
}

/* true when both files can be read and hold the same bytes */
static inline bool test_same_bytes(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = file_read_all(a, &na), *y = file_read_all(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* the statistics cache that the tests of the bundled fact-world model share (build/ is not tracked): its
 * files are keyed by the model's and the corpus's checksums, so no test reads another model's or corpus's C,
 * and the pass over the corpus (about a minute on 2 cores) runs once per build folder */
#define TEST_FACTWORLD_STATS "build/test-stats"

/* removes a test's folder and everything in it */
static inline void test_remove_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
