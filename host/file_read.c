#include "file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char *file_read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t n = 0, cap = 0, got;
    do { /* one spare byte for the NUL */
        if (n + 1 >= cap) {
            char *grown = realloc(text, cap = cap ? 2 * cap : 65536);
            if (!grown) {
                free(text);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            text = grown;
        }
        got = fread(text + n, 1, cap - 1 - n, f);
        n += got;
    } while (got > 0);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        errno = EIO;
        return NULL;
    }
    text[n] = 0;
    if (len) *len = n;
    return text;
}
