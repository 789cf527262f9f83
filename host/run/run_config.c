#include "run/run_config.h"

#include "file_read.h"
#include "model.h"
#include "run/downstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "$NAME/rest" reads NAME from the environment; KEDIT_DATA defaults to ../shared/data (the shared data),
 * KEDIT_MODELS to checkpoints (where downloaded Hugging Face folders go) */
char *run_config_path(const char *p) {
    static const char *const vars[][2] = {{"KEDIT_DATA", "../shared/data"}, {"KEDIT_MODELS", "checkpoints"}};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        size_t k = strlen(vars[i][0]);
        if (p[0] != '$' || strncmp(p + 1, vars[i][0], k) || p[k + 1] != '/') continue;
        const char *root = getenv(vars[i][0]);
        if (!root || !*root) root = vars[i][1];
        size_t n = strlen(root) + strlen(p + k + 1) + 1;
        char *out = malloc(n);
        snprintf(out, n, "%s%s", root, p + k + 1);
        return out;
    }
    return strdup(p);
}

typedef struct reader {
    const char *source;
    char *err;
    size_t errlen;
    int failed;
} reader;

static void fail(reader *r, const char *field, const char *problem) {
    if (!r->failed) snprintf(r->err, r->errlen, "%s: field %s: %s", r->source, field, problem);
    r->failed = 1;
}

/* the member `key` of obj, added with the default when absent (so the resolved config shows it) */
static cJSON *member(cJSON *obj, const char *key, cJSON *dflt) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v || !dflt) {
        cJSON_Delete(dflt);
        return v;
    }
    cJSON_AddItemToObject(obj, key, dflt);
    return dflt;
}

/* a string field: dflt fills an absent one; REQUIRED (dflt) makes an absent one an error; NULL leaves it
 * absent (returns NULL) */
#define REQUIRED ((const char *)1)
static char *str_field(reader *r, cJSON *obj, const char *key, const char *field, const char *dflt, bool path) {
    bool required = dflt == REQUIRED;
    cJSON *v = member(obj, key, dflt && !required ? cJSON_CreateString(dflt) : NULL);
    if (!v || (cJSON_IsNull(v) && !required)) {
        if (required) fail(r, field, "missing (a string is required)");
        return NULL;
    }
    if (!cJSON_IsString(v) || !*v->valuestring) {
        fail(r, field, "expected a non-empty string");
        return NULL;
    }
    return path ? run_config_path(v->valuestring) : strdup(v->valuestring);
}

static double num_field(reader *r, cJSON *obj, const char *key, const char *field, double dflt, double lo, double hi,
                        bool whole) {
    cJSON *v = member(obj, key, cJSON_CreateNumber(dflt));
    if (!cJSON_IsNumber(v)) {
        fail(r, field, "expected a number");
        return dflt;
    }
    double x = v->valuedouble;
    if (x < lo || x > hi || (whole && x != (double)(long long)x)) {
        char msg[160];
        snprintf(msg, sizeof msg, "%g is not %s in [%g, %g]", x, whole ? "a whole number" : "a number", lo, hi);
        fail(r, field, msg);
        return dflt;
    }
    return x;
}

static bool bool_field(reader *r, cJSON *obj, const char *key, const char *field, bool dflt) {
    cJSON *v = member(obj, key, cJSON_CreateBool(dflt));
    if (!cJSON_IsBool(v)) {
        fail(r, field, "expected true or false");
        return dflt;
    }
    return cJSON_IsTrue(v);
}

static cJSON *obj_field(reader *r, cJSON *obj, const char *key, const char *field) {
    cJSON *v = member(obj, key, cJSON_CreateObject());
    if (!cJSON_IsObject(v)) {
        fail(r, field, "expected an object");
        return NULL;
    }
    return v;
}

static const char *const known_top[] = {"name", "model", "model_name", "tokenizer", "hparams", "dataset", "protocol",
                                        "schedule", "stats", "templates", "perplexity", "downstream",
                                        "eval_batch", "output", "device", "weights", "seed", NULL};

static void reject_unknown(reader *r, cJSON *obj, const char *const *known, const char *where) {
    for (cJSON *e = obj ? obj->child : NULL; e; e = e->next) {
        bool ok = false;
        for (int i = 0; known[i]; i++) ok |= !strcmp(e->string, known[i]);
        if (!ok) {
            char field[160];
            snprintf(field, sizeof field, "%s%s", where, e->string);
            fail(r, field, "unknown field (see configs/README.md)");
        }
    }
}

/* "downstream": {"tasks": [...], "n": N, "path": FOLDER}; absent: no downstream evaluation */
static void downstream_fields(reader *r, cJSON *j, run_config *c) {
    if (!cJSON_GetObjectItemCaseSensitive(j, "downstream")) return;
    cJSON *dn = obj_field(r, j, "downstream", "downstream");
    if (!dn) return;
    static const char *const known[] = {"tasks", "n", "path", NULL};
    reject_unknown(r, dn, known, "downstream.");
    c->downstream_path = str_field(r, dn, "path", "downstream.path", "$KEDIT_DATA/downstream", true);
    c->downstream_n = (int)num_field(r, dn, "n", "downstream.n", 100, 1, 1e6, true);
    cJSON *tasks = member(dn, "tasks", cJSON_CreateStringArray((const char *const[]){"sst2", "mmlu", "mrpc", "cola",
                                                                                     "rte", "nli"}, 6));
    if (!cJSON_IsArray(tasks) || cJSON_GetArraySize(tasks) == 0) {
        fail(r, "downstream.tasks", "expected a non-empty array of task names (" DOWNSTREAM_TASKS ")");
        return;
    }
    c->downstream_tasks = calloc((size_t)cJSON_GetArraySize(tasks), sizeof(char *));
    const cJSON *e;
    cJSON_ArrayForEach(e, tasks) {
        char field[64], msg[160];
        snprintf(field, sizeof field, "downstream.tasks[%d]", c->n_downstream);
        if (!cJSON_IsString(e) || !downstream_task_known(e->valuestring)) {
            snprintf(msg, sizeof msg, "%s%s%s: not a task (known: " DOWNSTREAM_TASKS ")", cJSON_IsString(e) ? "\"" : "",
                     cJSON_IsString(e) ? e->valuestring : "not a string", cJSON_IsString(e) ? "\"" : "");
            fail(r, field, msg);
            return;
        }
        for (int k = 0; k < c->n_downstream; k++)
            if (!strcmp(c->downstream_tasks[k], e->valuestring)) {
                snprintf(msg, sizeof msg, "\"%s\" is listed twice", e->valuestring);
                fail(r, field, msg);
                return;
            }
        c->downstream_tasks[c->n_downstream++] = strdup(e->valuestring);
    }
    if (c->mode == EDITS_INDEPENDENT)
        fail(r, "downstream", "independent edits leave the unedited model at every checkpoint: nothing to compare");
}

int run_config_from_json(cJSON *j, const char *source, run_config *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->json = j;
    c->source = strdup(source);
    reader r = {source, err, errlen, 0};
    if (!cJSON_IsObject(j)) {
        fail(&r, "(top level)", "expected a JSON object");
        return 1;
    }
    reject_unknown(&r, j, known_top, "");
    c->model_path = str_field(&r, j, "model", "model", REQUIRED, true);
    c->model_name = str_field(&r, j, "model_name", "model_name", NULL, false);
    c->tokenizer_path = str_field(&r, j, "tokenizer", "tokenizer", NULL, true);
    c->hparams_path = str_field(&r, j, "hparams", "hparams", REQUIRED, true);
    c->output = str_field(&r, j, "output", "output", REQUIRED, true);
    c->name = str_field(&r, j, "name", "name", NULL, false);
    c->device = str_field(&r, j, "device", "device", "cpu", false);
    char *weights = str_field(&r, j, "weights", "weights", "f32", false);
    if (weights && weight_type_parse(weights, &c->weights)) fail(&r, "weights", "expected \"f32\" or \"bf16\"");
    free(weights);
    c->seed = (uint64_t)num_field(&r, j, "seed", "seed", 0, 0, 9007199254740991.0, true);
    c->eval_batch = (int)num_field(&r, j, "eval_batch", "eval_batch", 32, 1, 4096, true);
    c->templates_path = str_field(&r, j, "templates", "templates", NULL, true);

    c->ds = dataset_opts_default();
    char *protocol = str_field(&r, j, "protocol", "protocol", "easyedit", false);
    if (protocol && protocol_parse(protocol, &c->ds.protocol)) fail(&r, "protocol", "expected \"easyedit\" or \"memit\"");
    free(protocol);

    cJSON *ds = obj_field(&r, j, "dataset", "dataset");
    if (ds) {
        static const char *const known[] = {"path", "format", "offset", "n_edits", "shuffle", "on_invalid", NULL};
        reject_unknown(&r, ds, known, "dataset.");
        c->dataset_path = str_field(&r, ds, "path", "dataset.path", REQUIRED, true);
        char *fmt = str_field(&r, ds, "format", "dataset.format", "auto", false);
        if (fmt && dataset_format_parse(fmt, &c->ds.format))
            fail(&r, "dataset.format", "expected \"auto\", \"zsre\", \"counterfact\" or \"counterfact-rome\"");
        free(fmt);
        c->ds.offset = (long)num_field(&r, ds, "offset", "dataset.offset", 0, 0, 1e9, true);
        c->ds.n_edits = (long)num_field(&r, ds, "n_edits", "dataset.n_edits", -1, -1, 1e9, true);
        c->ds.shuffle = bool_field(&r, ds, "shuffle", "dataset.shuffle", true);
        c->ds.seed = c->seed;
        char *inv = str_field(&r, ds, "on_invalid", "dataset.on_invalid", "stop", false);
        if (inv && strcmp(inv, "stop") && strcmp(inv, "skip")) fail(&r, "dataset.on_invalid", "expected \"stop\" or \"skip\"");
        c->ds.skip_invalid = inv && !strcmp(inv, "skip");
        free(inv);
    }
    c->batch_size = 1;
    cJSON *sc = obj_field(&r, j, "schedule", "schedule");
    if (sc) {
        static const char *const known[] = {"mode", "evaluate", "checkpoint_every", "state_every", "batch_size", NULL};
        reject_unknown(&r, sc, known, "schedule.");
        char *ev = str_field(&r, sc, "evaluate", "schedule.evaluate", "each", false);
        if (ev && strcmp(ev, "each") && strcmp(ev, "end_only")) fail(&r, "schedule.evaluate", "expected \"each\" or \"end_only\"");
        c->schedule = ev && !strcmp(ev, "end_only") ? EVAL_END_ONLY : EVAL_EACH;
        free(ev);
        char *mode = str_field(&r, sc, "mode", "schedule.mode", "sequential", false);
        if (mode && strcmp(mode, "sequential") && strcmp(mode, "independent"))
            fail(&r, "schedule.mode", "expected \"sequential\" or \"independent\"");
        c->mode = mode && !strcmp(mode, "independent") ? EDITS_INDEPENDENT : EDITS_SEQUENTIAL;
        if (c->mode == EDITS_INDEPENDENT && c->schedule != EVAL_EACH)
            fail(&r, "schedule.evaluate", "independent edits are scored right after each (\"each\")");
        free(mode);
        c->checkpoint_every = (int)num_field(&r, sc, "checkpoint_every", "schedule.checkpoint_every", 100, 1, 1e9, true);
        c->state_every = (int)num_field(&r, sc, "state_every", "schedule.state_every", 1, 1, 1e9, true);
        if (cJSON_GetObjectItemCaseSensitive(sc, "batch_size")) // absent stays absent: older runs' configurations resume
            c->batch_size = (int)num_field(&r, sc, "batch_size", "schedule.batch_size", 1, 1, 1e6, true);
        if (c->batch_size > 1 && c->mode == EDITS_INDEPENDENT)
            fail(&r, "schedule.batch_size", "independent edits are made one at a time (batch_size 1)");
    }
    cJSON *st = obj_field(&r, j, "stats", "stats");
    if (st) {
        static const char *const known[] = {"corpus", "truncate", "precision", "n_tokens", "cache", NULL};
        reject_unknown(&r, st, known, "stats.");
        c->stats_corpus = str_field(&r, st, "corpus", "stats.corpus", "$KEDIT_DATA/text/wikitext-2-raw-test.txt", true);
        char *rule = str_field(&r, st, "truncate", "stats.truncate", NULL, false);
        if (rule && corpus_rule_parse(rule, &c->stats_truncate))
            fail(&r, "stats.truncate", "expected \"windows\" or \"document\"");
        free(rule);
        char *precision = str_field(&r, st, "precision", "stats.precision", NULL, false);
        if (precision && cov_precision_parse(precision, &c->stats_precision))
            fail(&r, "stats.precision", "expected \"float64\" or \"float32\"");
        free(precision);
        c->stats_tokens = (int64_t)num_field(&r, st, "n_tokens", "stats.n_tokens", 0, 0, 1e12, true);
        c->stats_cache = str_field(&r, st, "cache", "stats.cache", "results/stats", true);
    }
    cJSON *pp = obj_field(&r, j, "perplexity", "perplexity");
    if (pp) {
        static const char *const known[] = {"text", "n_tokens", "window", NULL};
        reject_unknown(&r, pp, known, "perplexity.");
        c->ppl_text = str_field(&r, pp, "text", "perplexity.text", NULL, true);
        c->ppl_tokens = (int)num_field(&r, pp, "n_tokens", "perplexity.n_tokens", 4096, 2, 1e8, true);
        c->ppl_window = (int)num_field(&r, pp, "window", "perplexity.window", 256, 2, 1e6, true);
    }
    downstream_fields(&r, j, c);
    if (!r.failed && !c->name) {
        const char *base = strrchr(c->output, '/');
        c->name = strdup(base ? base + 1 : c->output);
    }
    return r.failed;
}

int run_config_load(const char *path, run_config *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    char *text = file_read_all(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read the configuration", path);
        return 1;
    }
    cJSON *j = cJSON_Parse(text);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = text; at && p < at; p++) line += *p == '\n';
        snprintf(err, errlen, "%s: not valid JSON (near line %d)", path, line);
        free(text);
        return 1;
    }
    free(text);
    return run_config_from_json(j, path, c, err, errlen);
}

void run_config_free(run_config *c) {
    char *ps[] = {c->source, c->name, c->model_path, c->model_name, c->tokenizer_path, c->hparams_path,
                  c->dataset_path, c->stats_corpus, c->stats_cache, c->templates_path, c->ppl_text, c->output,
                  c->device, c->downstream_path};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) free(ps[i]);
    for (int i = 0; i < c->n_downstream; i++) free(c->downstream_tasks[i]);
    free(c->downstream_tasks);
    cJSON_Delete(c->json);
    memset(c, 0, sizeof *c);
}
