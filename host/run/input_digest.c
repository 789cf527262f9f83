#include "run/input_digest.h"

#include "fnv.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1 << 20) /* bytes per read (a multiple of 8: the digest is the whole file's) */

unsigned long long digest_start(void) { return FNV1A64_OFFSET; }

unsigned long long digest_more(unsigned long long h, const void *p, size_t n) { return fnv1a64(h, p, n); }

void digest_add(cJSON *digests, const char *name, unsigned long long h) {
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", h);
    cJSON_AddStringToObject(digests, name, hex);
}

void digest_add_file(cJSON *digests, const char *name, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cJSON_AddStringToObject(digests, name, "unreadable");
        return;
    }
    unsigned char *buf = malloc(CHUNK);
    uint64_t h = FNV1A64_OFFSET;
    size_t k;
    while ((k = fread(buf, 1, CHUNK, f)) > 0) h = fnv1a64(h, buf, k);
    bool bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) cJSON_AddStringToObject(digests, name, "unreadable");
    else digest_add(digests, name, h);
}

int digests_check(const cJSON *recorded, const cJSON *now, const cJSON *paths, const char *results_path, char *err,
                  size_t errlen) {
    const cJSON *d;
    cJSON_ArrayForEach(d, now) {
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(recorded, d->string);
        const char *w = cJSON_IsString(was) ? was->valuestring : NULL;
        if (w && !strcmp(w, d->valuestring)) continue;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(paths, d->string);
        char where[1100] = "";
        if (cJSON_IsString(p)) snprintf(where, sizeof where, " (%s)", p->valuestring);
        snprintf(err, errlen, "%s: the input %s%s differs from the run's: digest %s recorded when it started, %s now; "
                 "resume refused", results_path, d->string, where, w ? w : "(none)", d->valuestring);
        return -1;
    }
    return 0;
}
