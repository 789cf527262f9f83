/* Reading a whole text or JSON file in tests and benchmarks. */
#ifndef KEDIT_TEST_FILES_H
#define KEDIT_TEST_FILES_H

#include "file_read.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* a text file, NUL-terminated, malloc'd; NULL when it cannot be read (file_read_all for the length) */
static inline char *read_text(const char *path) { return file_read_all(path, NULL); }

/* the file parsed as JSON; NULL when it cannot be read or parsed */
static inline cJSON *read_json(const char *path) {
    char *s = read_text(path);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

#endif
