#include "hparams.h"

#include "file_read.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const METHOD_NAMES[METHOD_COUNT] = {"ROME", "MEMIT", "D4S", "FT", "PMET", "GRACE"};

const char *method_name(edit_method m) { return (unsigned)m < METHOD_COUNT ? METHOD_NAMES[m] : "?"; }

/* a required positive number */
static int num(const cJSON *root, const char *field, double *out, const char **problem, const char **which) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0)) {
        *problem = v ? "is not a positive number" : "is missing";
        *which = field;
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

int hparams_load(const char *path, edit_hparams *h, char *err, size_t errlen) {
    memset(h, 0, sizeof *h);
    char *buf = file_read_all(path, NULL);
    if (!buf) {
        snprintf(err, errlen, "%s: cannot open the hyper-parameter file", path);
        return -1;
    }
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    const char *problem = root ? NULL : "is not valid JSON", *which = "";
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    if (!problem) {
        int k = -1;
        for (int i = 0; cJSON_IsString(method) && i < METHOD_COUNT; i++)
            if (!strcmp(method->valuestring, METHOD_NAMES[i])) k = i;
        if (k < 0) problem = "is not \"ROME\", \"MEMIT\", \"D4S\", \"FT\", \"PMET\" or \"GRACE\"", which = "method";
        else h->method = (edit_method)k;
    }
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *l;
    if (!problem && (!cJSON_IsArray(layers) || !cJSON_GetArraySize(layers) ||
                     cJSON_GetArraySize(layers) > HP_MAX_LAYERS))
        problem = "is not a non-empty array of layer indices", which = "layers";
    cJSON_ArrayForEach(l, (problem ? NULL : layers)) {
        if (!cJSON_IsNumber(l) || l->valueint < 0 || (h->n_layers && l->valueint <= h->layers[h->n_layers - 1])) {
            problem = "must hold ascending non-negative layer indices", which = "layers";
            break;
        }
        h->layers[h->n_layers++] = l->valueint;
    }
    bool own_parser = h->method == METHOD_FT || h->method == METHOD_GRACE;
    bool failed = false; // an FT / GRACE parser wrote its own message
    if (!problem && h->method == METHOD_FT) failed = ft_hparams_parse(root, path, &h->ft, err, errlen) != 0;
    if (!problem && h->method == METHOD_GRACE) failed = grace_hparams_parse(root, path, &h->grace, err, errlen) != 0;
    if (!problem && !failed && own_parser && h->n_layers != 1)
        problem = "must hold one layer (FT and GRACE edit one matrix)", which = "layers";
    double v;
    if (!problem && !own_parser) {
        if (!num(root, "v_num_grad_steps", &v, &problem, &which)) h->v_num_grad_steps = (int)v;
        if (!problem && !num(root, "v_lr", &v, &problem, &which)) h->v_lr = (float)v;
        if (!problem && !num(root, "v_weight_decay", &v, &problem, &which)) h->v_weight_decay = (float)v;
        if (!problem && !num(root, "kl_factor", &v, &problem, &which)) h->kl_factor = (float)v;
        if (!problem && !num(root, "clamp_norm_factor", &v, &problem, &which)) h->clamp_norm_factor = (float)v;
        if (!problem && h->method != METHOD_ROME) num(root, "mom2_update_weight", &h->lambda, &problem, &which);
    }
    h->nll_loss_factor = 1;
    if (!problem && h->method == METHOD_PMET && cJSON_GetObjectItemCaseSensitive(root, "nll_loss_factor") &&
        !num(root, "nll_loss_factor", &v, &problem, &which))
        h->nll_loss_factor = (float)v;
    const cJSON *adj = cJSON_GetObjectItemCaseSensitive(root, "mom2_adjustment");
    if (!problem && h->method == METHOD_ROME) {
        if (!cJSON_IsBool(adj)) problem = "is missing or not true/false", which = "mom2_adjustment";
        else h->mom2_adjustment = cJSON_IsTrue(adj);
    }
    const cJSON *ntok = cJSON_GetObjectItemCaseSensitive(root, "mom2_n_tokens");
    if (!problem && ntok) {
        if (!cJSON_IsNumber(ntok) || ntok->valuedouble < 0)
            problem = "is not a non-negative token count", which = "mom2_n_tokens";
        else h->mom2_n_tokens = (int64_t)ntok->valuedouble;
    }
    snprintf(h->templates, sizeof h->templates, "%s", h->method == METHOD_ROME ? "rome" : own_parser ? "" : "memit");
    if (!problem && h->method == METHOD_D4S) {
        const cJSON *solve = cJSON_GetObjectItemCaseSensitive(root, "solve");
        const cJSON *every = cJSON_GetObjectItemCaseSensitive(root, "refactor_every");
        const cJSON *keep = cJSON_GetObjectItemCaseSensitive(root, "keep_S");
        if (!cJSON_IsString(solve) || (strcmp(solve->valuestring, "exact") && strcmp(solve->valuestring, "incremental")))
            problem = "is not \"exact\" or \"incremental\"", which = "solve";
        else if (every && (!cJSON_IsNumber(every) || every->valueint < 0))
            problem = "is not a non-negative number of edits", which = "refactor_every";
        else if (keep && !cJSON_IsBool(keep))
            problem = "is not true/false", which = "keep_S";
        else
            h->d4s = (d4s_opts){!strcmp(solve->valuestring, "exact") ? D4S_EXACT : D4S_INCREMENTAL,
                                every ? every->valueint : 0, keep && cJSON_IsTrue(keep)};
    }
    cJSON_Delete(root);
    if (failed) return -1;
    if (problem) {
        snprintf(err, errlen, "%s: %s%s%s %s", path, *which ? "field \"" : "", which, *which ? "\"" : "", problem);
        return -1;
    }
    return 0;
}
