/* Reading and parsing a JSON file with an error that names it (see json_file.h). */
#include "json_file.h"

#include "file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *json_file_read(const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = file_read_all(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        snprintf(err, errlen, "%s: invalid JSON (near byte %ld)", path, off);
    }
    free(text);
    return root;
}
