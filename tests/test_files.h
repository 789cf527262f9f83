/* Reading a whole text or JSON file in tests and benchmarks. */
#ifndef KEDIT_TEST_FILES_H
#define KEDIT_TEST_FILES_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* the file's bytes with a NUL after them, malloc'd, and their count in *len (when len is not NULL);
 * NULL when it cannot be read whole */
static inline char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) == (size_t)n) {
        s[n] = 0;
        if (len) *len = (size_t)n;
    } else {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

/* a text file, NUL-terminated, malloc'd; NULL when it cannot be read */
static inline char *read_text(const char *path) { return read_file(path, NULL); }

/* the file parsed as JSON; NULL when it cannot be read or parsed */
static inline cJSON *read_json(const char *path) {
    char *s = read_text(path);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

#endif
