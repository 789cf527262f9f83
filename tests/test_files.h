/* Reading a whole text or JSON file in tests and benchmarks. */
#ifndef KEDIT_TEST_FILES_H
#define KEDIT_TEST_FILES_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* the file's bytes, NUL-terminated, malloc'd; NULL when it cannot be read */
static inline char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

/* the file parsed as JSON; NULL when it cannot be read or parsed */
static inline cJSON *read_json(const char *path) {
    char *s = read_text(path);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

#endif
