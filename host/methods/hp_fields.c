#include "hp_fields.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void problem(hp_reader *r, const char *field, const char *what) {
    if (r->failed) return;
    r->failed = true;
    snprintf(r->err, r->errlen, "%s: field \"%s\" %s", r->path, field, what);
}

static const cJSON *get(const hp_reader *r, const char *field) {
    return cJSON_GetObjectItemCaseSensitive(r->root, field);
}

double hp_number(hp_reader *r, const char *field, double lo, bool open, bool optional, double def) {
    const cJSON *v = get(r, field);
    if (!v) {
        if (!optional) problem(r, field, "is missing");
        return def;
    }
    if (!cJSON_IsNumber(v) || (open ? !(v->valuedouble > lo) : !(v->valuedouble >= lo))) {
        char what[96];
        snprintf(what, sizeof what, "is not a number %s %g", open ? ">" : "≥", lo);
        problem(r, field, what);
        return def;
    }
    return v->valuedouble;
}

int hp_int(hp_reader *r, const char *field, int lo, int hi) {
    const cJSON *v = get(r, field);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) || v->valuedouble != floor(v->valuedouble)) {
        char what[96];
        snprintf(what, sizeof what, v ? "is not an integer in [%d, %d]" : "is missing", lo, hi);
        problem(r, field, what);
        return lo;
    }
    return v->valueint;
}

int hp_choice(hp_reader *r, const char *field, const char *const *allowed, int n, const char *def) {
    const cJSON *v = get(r, field);
    const char *s = v ? cJSON_GetStringValue(v) : def;
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, allowed[i])) return i;
    char what[256];
    int k = snprintf(what, sizeof what, "%s", s ? "must be one of" : "is missing (one of");
    for (int i = 0; i < n && k < (int)sizeof what; i++)
        k += snprintf(what + k, sizeof what - (size_t)k, " \"%s\"", allowed[i]);
    if (!s && k < (int)sizeof what) snprintf(what + k, sizeof what - (size_t)k, ")");
    problem(r, field, what);
    return 0;
}

int hp_matrix(hp_reader *r, const char *field, int *layer) {
    static const char *const names[] = {"c_proj", "fc_out", "down_proj", "c_fc", "fc_in", "gate_proj"};
    const char *s = cJSON_GetStringValue(get(r, field));
    *layer = -1;
    if (!s) {
        problem(r, field, get(r, field) ? "is not a module name" : "is missing");
        return 0;
    }
    size_t n = strlen(s);
    if (n > 7 && !strcmp(s + n - 7, ".weight")) n -= 7;
    const char *br = strchr(s, '[');
    if (br && br[1] >= '0' && br[1] <= '9') *layer = atoi(br + 1);
    for (int i = 0; i < 6; i++) {
        char tail[16];
        size_t k = (size_t)snprintf(tail, sizeof tail, "mlp.%s", names[i]);
        if (n >= k && !strncmp(s + n - k, tail, k) && (n == k || s[n - k - 1] == '.')) return i < 3 ? 0 : 1;
    }
    problem(r, field, "does not name an MLP matrix (…mlp.c_proj, fc_out, down_proj: W_out; …mlp.c_fc, fc_in, "
            "gate_proj: W_in)");
    return 0;
}

int hp_first_layer(hp_reader *r) {
    const cJSON *v = get(r, "layers"), *l0 = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 0) : NULL;
    if (!cJSON_IsNumber(l0) || l0->valueint < 0) {
        problem(r, "layers", v ? "is not a non-empty array of layer indices" : "is missing");
        return 0;
    }
    return l0->valueint;
}
