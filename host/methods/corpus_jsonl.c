#include "corpus_jsonl.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool corpus_is_jsonl(const char *path) {
    size_t n = strlen(path);
    return n >= 6 && !strcmp(path + n - 6, ".jsonl");
}

static bool is_blank_line(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

/* the "text" of one record, malloc'd, or NULL with the reason in why */
static char *record_text(const char *line, size_t len, const char **why) {
    cJSON *rec = cJSON_ParseWithLength(line, len);
    char *text = NULL;
    if (!rec || !cJSON_IsObject(rec)) *why = "is not a JSON object";
    else if (!cJSON_GetObjectItemCaseSensitive(rec, "text")) *why = "has no field \"text\"";
    else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rec, "text"))) *why = "field \"text\" is not a string";
    else text = strdup(cJSON_GetObjectItemCaseSensitive(rec, "text")->valuestring);
    cJSON_Delete(rec);
    return text;
}

int corpus_jsonl_documents(const char *path, const char *text, char ***docs, char *err, size_t errlen) {
    int n = 0, cap = 0;
    char **out = NULL;
    long line_no = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        line_no++;
        if (!is_blank_line(p, len)) {
            const char *why = NULL;
            char *doc = record_text(p, len, &why);
            if (!doc) {
                snprintf(err, errlen, "%s: line %ld: the record %s (each line must be an object with a string "
                         "field \"text\")", path, line_no, why);
                for (int i = 0; i < n; i++) free(out[i]);
                free(out);
                *docs = NULL;
                return -1;
            }
            if (n == cap) out = realloc(out, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *out);
            out[n++] = doc;
        }
        if (!e) break;
        p = e + 1;
    }
    *docs = out;
    return n;
}
