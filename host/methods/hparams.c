#include "hparams.h"

#include "file_read.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const METHOD_NAMES[METHOD_COUNT] = {"ROME", "MEMIT", "D4S", "FT", "PMET", "GRACE",
                                                               "AlphaEdit", "D4S-P"};

const char *method_name(edit_method m) { return (unsigned)m < METHOD_COUNT ? METHOD_NAMES[m] : "?"; }

/* the fields of a method's file: those it reads and the labels every file carries (kedit refuses any
 * other, as run configurations do: a misspelt field would otherwise leave its default in force) */
static const char *unknown_field(const cJSON *root, edit_method m) {
    static const char *const common[] = {"method", "model", "notes", "source", "layers", NULL};
    static const char *const closed_form[] = {"v_num_grad_steps", "v_lr", "v_weight_decay", "kl_factor",
                                              "clamp_norm_factor", "mom2_n_tokens", "fact_token", "v_loss_layer", NULL};
    static const char *const own[METHOD_COUNT][12] = {
        [METHOD_ROME] = {"mom2_adjustment"},
        [METHOD_MEMIT] = {"mom2_update_weight"},
        [METHOD_D4S] = {"mom2_update_weight", "solve", "refactor_every", "keep_S"},
        [METHOD_PMET] = {"mom2_update_weight", "nll_loss_factor"},
        [METHOD_FT] = {"rewrite_module_tmp", "num_steps", "lr", "weight_decay", "norm_constraint",
                       "objective_optimization", "stop_loss"},
        [METHOD_ALPHAEDIT] = {"L2", "nullspace_threshold"},
        [METHOD_D4SP] = {"mom2_update_weight", "L2", "nullspace_threshold"},
        [METHOD_GRACE] = {"inner_params", "edit_lr", "n_iter", "eps", "dist_fn", "val_init", "eps_expand",
                          "replacement", "val_train", "seed", "scoring"},
    };
    bool is_closed_form = m != METHOD_FT && m != METHOD_GRACE;
    for (const cJSON *e = root->child; e; e = e->next) {
        bool known = false;
        for (int i = 0; common[i] && !known; i++) known = !strcmp(e->string, common[i]);
        for (int i = 0; is_closed_form && closed_form[i] && !known; i++) known = !strcmp(e->string, closed_form[i]);
        for (int i = 0; own[m][i] && !known; i++) known = !strcmp(e->string, own[m][i]);
        if (!known) return e->string;
    }
    return NULL;
}

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

/* a number ≥ 0 that may be absent (def) */
static int num0(const cJSON *root, const char *field, double def, double *out, const char **problem,
                const char **which) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    if (v && (!cJSON_IsNumber(v) || !(v->valuedouble >= 0))) {
        *problem = "is not a number ≥ 0";
        *which = field;
        return -1;
    }
    *out = v ? v->valuedouble : def;
    return 0;
}

/* AlphaEdit: τ > 0 and α = L2 > 0 (required); D4S-P: τ > 0 required, α ≥ 0 and μ ≥ 0 optional (10, 0;
 * editing-spec §11.6) */
static int nullspace_fields(const cJSON *root, edit_hparams *h, const char **problem, const char **which) {
    if (num(root, "nullspace_threshold", &h->nullspace_threshold, problem, which)) return -1;
    if (h->method == METHOD_ALPHAEDIT) return num(root, "L2", &h->l2, problem, which);
    return num0(root, "L2", 10, &h->l2, problem, which) || num0(root, "mom2_update_weight", 0, &h->lambda, problem, which);
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
        if (k < 0) problem = "is not \"ROME\", \"MEMIT\", \"D4S\", \"FT\", \"PMET\", \"GRACE\", \"AlphaEdit\" or \"D4S-P\"",
            which = "method";
        else h->method = (edit_method)k;
    }
    const char *unknown = problem ? NULL : unknown_field(root, h->method);
    char unknown_name[128]; // the root's strings are gone when the message is written
    if (unknown) {
        snprintf(unknown_name, sizeof unknown_name, "%s", unknown);
        problem = "is not a field of this method's file (configs/README.md)", which = unknown_name;
    }
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *l;
    if (!problem && (!cJSON_IsArray(layers) || !cJSON_GetArraySize(layers) ||
                     cJSON_GetArraySize(layers) > HP_MAX_LAYERS))
        problem = "is not a non-empty array of layer indices", which = "layers";
    cJSON_ArrayForEach(l, (problem ? NULL : layers)) {
        if (!cJSON_IsNumber(l) || l->valuedouble != (double)l->valueint || l->valueint < 0 ||
            (h->n_layers && l->valueint <= h->layers[h->n_layers - 1])) {
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
        bool needs_lambda = h->method != METHOD_ROME && h->method != METHOD_ALPHAEDIT && h->method != METHOD_D4SP;
        if (!problem && needs_lambda) num(root, "mom2_update_weight", &h->lambda, &problem, &which);
    }
    if (!problem && (h->method == METHOD_ALPHAEDIT || h->method == METHOD_D4SP) &&
        nullspace_fields(root, h, &problem, &which) == 0 && h->method == METHOD_D4SP && !(h->lambda > 0 || h->l2 > 0))
        problem = "and \"mom2_update_weight\" are both 0: A = S̃ + μΛ + αI is singular before m edits", which = "L2";
    h->nll_loss_factor = 1;
    if (!problem && h->method == METHOD_PMET && cJSON_GetObjectItemCaseSensitive(root, "nll_loss_factor") &&
        !num(root, "nll_loss_factor", &v, &problem, &which))
        h->nll_loss_factor = (float)v;
    // PMET reads its NLL and KL back from the device's weighted loss (pmet.c), so neither weight may be 0
    if (!problem && h->method == METHOD_PMET && !(h->nll_loss_factor > 0))
        problem = "must be positive (PMET's NLL is read back from its weighted loss)", which = "nll_loss_factor";
    if (!problem && h->method == METHOD_PMET && !(h->kl_factor > 0))
        problem = "must be positive for PMET (its stop rule reads the KL back from the weighted loss)",
        which = "kl_factor";
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
    // the keys are taken at the subject's last token and the target loss after the last layer: the only
    // choices kedit implements, so a file asking for another is refused (v_loss_layer against the model
    // in hparams_check_model)
    const cJSON *fact = cJSON_GetObjectItemCaseSensitive(root, "fact_token");
    if (!problem && fact && (!cJSON_IsString(fact) || strcmp(fact->valuestring, "subject_last")))
        problem = "must be \"subject_last\" (the only key position kedit implements)", which = "fact_token";
    const cJSON *loss_layer = cJSON_GetObjectItemCaseSensitive(root, "v_loss_layer");
    h->v_loss_layer = -1;
    if (!problem && loss_layer) {
        if (!cJSON_IsNumber(loss_layer) || loss_layer->valuedouble != (double)loss_layer->valueint || loss_layer->valueint < 0)
            problem = "is not a layer index", which = "v_loss_layer";
        else h->v_loss_layer = loss_layer->valueint;
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

int hparams_check_model(const edit_hparams *h, const char *path, int n_layer, char *err, size_t errlen) {
    if (h->layers[h->n_layers - 1] >= n_layer)
        snprintf(err, errlen, "%s: field \"layers\": layer %d, but the model has %d layers (0 to %d)", path,
                 h->layers[h->n_layers - 1], n_layer, n_layer - 1);
    else if (h->v_loss_layer >= 0 && h->v_loss_layer != n_layer - 1)
        snprintf(err, errlen, "%s: field \"v_loss_layer\": %d, but kedit takes the target loss after the model's "
                 "last layer (%d)", path, h->v_loss_layer, n_layer - 1);
    else return 0;
    return -1;
}
