#include "templates.h"

#include "file_read.h"
#include "sample.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const PREFIXES[] = {"The", "Therefore", "Because", "I", "You"};
#define N_PREFIXES 5
#define TOP_K 5

/* (total length in tokens, samples per prefix) of each generated group part */
typedef struct gen_spec {
    int length, per_prefix;
} gen_spec;

static void push(ctx_templates *t, char *text, int group) {
    t->text = realloc(t->text, (size_t)(t->n + 1) * sizeof *t->text);
    t->group = realloc(t->group, (size_t)(t->n + 1) * sizeof *t->group);
    t->text[t->n] = text;
    t->group[t->n++] = group;
    if (group + 1 > t->n_groups) t->n_groups = group + 1;
}

/* a decoded sample → a template: "\n\n" → " ", braces → spaces, then ". {}" */
static char *to_template(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(n + 5), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' && s[i + 1] == '\n') {
            *o++ = ' ';
            i++;
        } else {
            *o++ = s[i] == '{' || s[i] == '}' ? ' ' : s[i];
        }
    }
    memcpy(o, ". {}", 5);
    return out;
}

/* one sample of `length` tokens (BOS not counted) continuing `prefix` */
static char *sample_one(const model *m, const tokenizer *tok, const char *prefix, int length, sampler *smp) {
    int *ids, n = tokenizer_encode(tok, prefix, true, &ids);
    if (n < 0) return NULL;
    int bos = n > 0 && tokenizer_adds_bos(tok) && ids[0] == tokenizer_bos(tok) ? 1 : 0;
    int steps = length + bos - n > 0 ? length + bos - n : 0;
    ids = realloc(ids, (size_t)(n + steps + 1) * sizeof(int));
    int len = generate_tokens(m, ids, n, steps, smp, -1);
    char *text = len < 0 ? NULL : tokenizer_decode(tok, ids, len, true);
    free(ids);
    return text;
}

int templates_generate(const model *m, const tokenizer *tok, const char *kind, uint64_t seed, ctx_templates *t,
                       char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    static const gen_spec memit_spec[] = {{10, 1}}, rome_spec[] = {{5, 2}, {10, 2}};
    bool rome = !strcmp(kind, "rome");
    if (!rome && strcmp(kind, "memit")) {
        snprintf(err, errlen, "templates: unknown kind \"%s\" (expected \"memit\" or \"rome\")", kind);
        return -1;
    }
    const gen_spec *spec = rome ? rome_spec : memit_spec;
    int n_spec = rome ? 2 : 1;
    snprintf(t->kind, sizeof t->kind, "%s", kind);
    snprintf(t->model, sizeof t->model, "%s", m->checksum);
    t->seed = seed;
    push(t, strdup("{}"), 0);
    sampler smp = sampler_make(1.0f, TOP_K, seed);
    for (int s = 0; s < n_spec; s++)
        for (int p = 0; p < N_PREFIXES; p++)
            for (int r = 0; r < spec[s].per_prefix; r++) {
                char *text = sample_one(m, tok, PREFIXES[p], spec[s].length, &smp);
                if (!text) {
                    snprintf(err, errlen, "templates: sampling a continuation of \"%s\" failed", PREFIXES[p]);
                    templates_free(t);
                    return -1;
                }
                push(t, to_template(text), rome ? 0 : 1 + s); // MEMIT: one group per length spec
                free(text);
            }
    return 0;
}

int templates_save(const ctx_templates *t, const char *path, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", t->kind);
    cJSON_AddNumberToObject(root, "seed", (double)t->seed);
    cJSON_AddStringToObject(root, "model_checksum", t->model);
    cJSON *groups = cJSON_AddArrayToObject(root, "groups");
    for (int g = 0; g < t->n_groups; g++) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < t->n; i++)
            if (t->group[i] == g) cJSON_AddItemToArray(arr, cJSON_CreateString(t->text[i]));
        cJSON_AddItemToArray(groups, arr);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(s, f) < 0 || fputc('\n', f) < 0;
    if (f && fclose(f)) bad = 1;
    free(s);
    if (bad) snprintf(err, errlen, "%s: cannot write the templates", path);
    return bad ? -1 : 0;
}

static int one_slot(const char *s) {
    const char *p = strstr(s, "{}");
    return p && !strstr(p + 2, "{}");
}

int templates_load(const char *path, ctx_templates *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    char *buf = file_read_all(path, NULL);
    if (!buf) {
        snprintf(err, errlen, "%s: cannot open the templates file", path);
        return -1;
    }
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model_checksum");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
    const char *problem = !root                        ? "is not valid JSON"
                          : !cJSON_IsString(kind)      ? "field \"kind\" is missing or not a string"
                          : !cJSON_IsArray(groups)     ? "field \"groups\" is missing or not an array"
                          : !cJSON_GetArraySize(groups) ? "field \"groups\" is empty"
                                                        : NULL;
    int g = 0;
    const cJSON *grp;
    cJSON_ArrayForEach(grp, (problem ? NULL : groups)) {
        const cJSON *item;
        if (!cJSON_IsArray(grp) || !cJSON_GetArraySize(grp)) problem = "a group is not a non-empty array";
        cJSON_ArrayForEach(item, (problem ? NULL : grp)) {
            if (!cJSON_IsString(item) || !one_slot(item->valuestring)) {
                problem = "a template is not a string with exactly one \"{}\"";
                break;
            }
            push(t, strdup(item->valuestring), g);
        }
        if (problem) break;
        g++;
    }
    if (!problem) {
        snprintf(t->kind, sizeof t->kind, "%s", kind->valuestring);
        if (cJSON_IsString(model)) snprintf(t->model, sizeof t->model, "%s", model->valuestring);
        t->seed = cJSON_IsNumber(seed) ? (uint64_t)seed->valuedouble : 0;
    }
    cJSON_Delete(root);
    if (problem) {
        snprintf(err, errlen, "%s: templates file %s", path, problem);
        templates_free(t);
        return -1;
    }
    return 0;
}

void templates_free(ctx_templates *t) {
    for (int i = 0; i < t->n; i++) free(t->text[i]);
    free(t->text);
    free(t->group);
    memset(t, 0, sizeof *t);
}

int templates_get(const model *m, const tokenizer *tok, const char *kind, const char *path, ctx_templates *t,
                  char *err, size_t errlen) {
    struct stat st;
    if (path && stat(path, &st) == 0) {
        if (templates_load(path, t, err, errlen)) return -1;
        const char *bad = strcmp(t->kind, kind) ? "kind" : *t->model && strcmp(t->model, m->checksum) ? "model" : NULL;
        if (bad) {
            snprintf(err, errlen, "%s: templates of another %s (%s, model %s; wanted %s, model %s)", path, bad,
                     t->kind, t->model, kind, m->checksum);
            templates_free(t);
            return -1;
        }
        return 0;
    }
    if (templates_generate(m, tok, kind, TEMPLATES_SEED, t, err, errlen)) return -1;
    return path ? templates_save(t, path, err, errlen) : 0;
}
