#include "run/downstream.h"

#include "file_read.h"
#include "run/confusion.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A task as AlphaEdit prompts it (zero-shot): in the prompt "{field}" stands for the record's string field
 * and "{field.k}" for element k of its array field; the label field holds the class, an int or (with
 * label_names) a string naming it; option[k] is the answer word of class k. */
struct task_def {
    const char *name, *prompt, *label_field;
    const char *const *label_names;
    int n_options;
    const char *option[4];
};

static const char *const nli_labels[] = {"not_entailment", "entailment", NULL};

static const task_def tasks[] = {
    {"sst2", "Review :{sentence}\nSentiment :", "label", NULL, 2, {"negative", "positive"}},
    {"mrpc", "Are the sentences paraphrases of each other.\nSentence 1: {sentence1}\nSentence 2: {sentence2}\nAnswer:",
     "label", NULL, 2, {"No", "Yes"}},
    {"cola", "Is this sentence linguistically acceptable?\nSentence: {sentence}\nAnswer: ", "label", NULL, 2,
     {"No", "Yes"}},
    {"rte", "{premise}\nquestion: {hypothesis} True or False?\nanswer:", "label", NULL, 2, {"True", "False"}},
    {"mmlu", "Question: {question}\n(A) {choices.0}\n(B) {choices.1}\n(C) {choices.2}\n(D) {choices.3}\nAnswer:",
     "answer", NULL, 4, {"A", "B", "C", "D"}},
    {"nli", "{premise} entails the {hypothesis} True or False? Answer:", "label", nli_labels, 2, {"False", "True"}},
};
#define N_TASKS (int)(sizeof tasks / sizeof *tasks)

static const task_def *task_by_name(const char *name) {
    for (int i = 0; i < N_TASKS; i++)
        if (!strcmp(tasks[i].name, name)) return &tasks[i];
    return NULL;
}

bool downstream_task_known(const char *name) { return task_by_name(name) != NULL; }

const char *const *downstream_task_options(const char *name, int *n_options) {
    const task_def *d = task_by_name(name);
    *n_options = d ? d->n_options : 0;
    return d ? d->option : NULL;
}

/* ---- reading ---- */

typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void text_add(text *t, const char *s, size_t n) {
    if (t->n + n + 1 > t->cap) t->s = realloc(t->s, t->cap = 2 * (t->n + n + 1));
    memcpy(t->s + t->n, s, n);
    t->s[t->n += n] = 0;
}

/* the prompt of record rec, malloc'd; NULL with a message naming the field */
static char *expand_prompt(const task_def *d, const cJSON *rec, const char *where, char *err, size_t errlen) {
    text t = {NULL, 0, 0};
    text_add(&t, "", 0);
    for (const char *p = d->prompt; *p;) {
        const char *open = strchr(p, '{');
        if (!open) {
            text_add(&t, p, strlen(p));
            break;
        }
        text_add(&t, p, (size_t)(open - p));
        const char *close = strchr(open, '}'), *dot = memchr(open, '.', (size_t)(close - open));
        char field[64];
        snprintf(field, sizeof field, "%.*s", (int)((dot ? dot : close) - open - 1), open + 1);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, field);
        if (dot) v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(dot + 1)) : NULL;
        if (!cJSON_IsString(v)) {
            snprintf(err, errlen, "%s: field %.*s: %s", where, (int)(close - open - 1), open + 1,
                     dot ? "expected an array of strings long enough" : "expected a string");
            free(t.s);
            return NULL;
        }
        text_add(&t, v->valuestring, strlen(v->valuestring));
        p = close + 1;
    }
    return t.s;
}

/* the class of record rec; −1 with a message naming the field */
static int read_label(const task_def *d, const cJSON *rec, const char *where, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, d->label_field);
    if (d->label_names) {
        for (int k = 0; cJSON_IsString(v) && d->label_names[k]; k++)
            if (!strcmp(v->valuestring, d->label_names[k])) return k;
        snprintf(err, errlen, "%s: field %s: expected \"%s\" or \"%s\"", where, d->label_field, d->label_names[0],
                 d->label_names[1]);
        return -1;
    }
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (x >= 0 && x < d->n_options && x == (int)x) return (int)x;
    snprintf(err, errlen, "%s: field %s: expected a whole number in [0, %d]", where, d->label_field, d->n_options - 1);
    return -1;
}

/* option k's ids after a prompt of ids p: what prompt ‖ " " ‖ option encodes to beyond p, or the option
 * encoded alone */
static int tokenize_option(const tokenizer *t, const char *prompt, const id_seq *p, const char *word, id_seq *out) {
    size_t n = strlen(prompt) + strlen(word) + 2;
    char *joint = malloc(n);
    snprintf(joint, n, "%s %s", prompt, word);
    int *ids, k = tokenizer_encode(t, joint, true, &ids);
    free(joint);
    if (k > p->n && !memcmp(ids, p->ids, (size_t)p->n * sizeof(int))) {
        memmove(ids, ids + p->n, (size_t)(k - p->n) * sizeof(int));
        *out = (id_seq){ids, k - p->n};
        return 0;
    }
    free(ids);
    return eval_tokenize_target(t, word, out) > 0 ? 0 : -1;
}

/* keeps the prompt's last tokens (and a leading BOS) so that it and its longest option fit n_ctx */
static bool fit_context(id_seq *p, int longest_option, int n_ctx, int bos) {
    int keep = n_ctx - longest_option, head = p->n > 0 && p->ids[0] == bos;
    if (p->n <= keep) return false;
    int cut = p->n - keep;
    memmove(p->ids + head, p->ids + head + cut, (size_t)(p->n - head - cut) * sizeof(int));
    p->n = keep;
    return true;
}

static void item_free(downstream_task *x, int i) {
    free(x->prompt[i].ids);
    for (int k = 0; k < x->n_options; k++) free(x->option[i * x->n_options + k].ids);
}

/* item i of task x from record rec */
static int load_item(downstream_task *x, int i, const cJSON *rec, const char *where, const tokenizer *t, int n_ctx,
                     char *err, size_t errlen) {
    const task_def *d = x->def;
    if ((x->label[i] = read_label(d, rec, where, err, errlen)) < 0) return -1;
    char *prompt = expand_prompt(d, rec, where, err, errlen);
    if (!prompt) return -1;
    id_seq *p = &x->prompt[i];
    p->n = tokenizer_encode(t, prompt, true, &p->ids);
    int longest = 0, rc = p->n > 0 ? 0 : -1;
    for (int k = 0; k < d->n_options && !rc; k++) {
        id_seq *o = &x->option[i * d->n_options + k];
        rc = tokenize_option(t, prompt, p, d->option[k], o);
        if (!rc && o->n > longest) longest = o->n;
    }
    free(prompt);
    if (rc) {
        snprintf(err, errlen, "%s: its prompt or an answer option encodes to no tokens", where);
        return -1;
    }
    if (longest >= n_ctx - 1) {
        snprintf(err, errlen, "%s: an answer option of %d tokens leaves no room for the prompt in the model's %d "
                 "positions", where, longest, n_ctx);
        return -1;
    }
    x->n_truncated += fit_context(p, longest, n_ctx, tokenizer_adds_bos(t) ? tokenizer_bos(t) : -1);
    return 0;
}

char *downstream_task_path(const char *folder, const char *task) {
    size_t n = strlen(folder) + strlen(task) + 8;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s.jsonl", folder, task);
    return path;
}

static int load_task(downstream_task *x, const char *folder, int n, const tokenizer *t, int n_ctx, char *err,
                     size_t errlen) {
    const task_def *d = x->def;
    char *path = downstream_task_path(folder, d->name), *data = file_read_all(path, NULL);
    int rc = 0;
    if (!data) {
        snprintf(err, errlen, "%s: cannot read the %s task's records (field downstream.path)", path, d->name);
        rc = -1;
    }
    x->n_options = d->n_options;
    x->prompt = calloc((size_t)n, sizeof(id_seq));
    x->option = calloc((size_t)n * (size_t)d->n_options, sizeof(id_seq));
    x->label = calloc((size_t)n, sizeof(int));
    char *line = data;
    for (long rec = 0; !rc && x->n_items < n; rec++) {
        if (!line || !*line) {
            snprintf(err, errlen, "%s: %ld records; its test items %d … %d (downstream.n = %d) need %d", path, rec,
                     DOWNSTREAM_FIRST, DOWNSTREAM_FIRST + n - 1, n, DOWNSTREAM_FIRST + n);
            rc = -1;
            break;
        }
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        if (rec >= DOWNSTREAM_FIRST) {
            char where[1100];
            snprintf(where, sizeof where, "%s: record %ld (line %ld)", path, rec, rec + 1);
            cJSON *j = cJSON_Parse(line);
            if (!cJSON_IsObject(j)) {
                snprintf(err, errlen, "%s: not a JSON object", where);
                rc = -1;
            } else if (!(rc = load_item(x, x->n_items, j, where, t, n_ctx, err, errlen)))
                x->n_items++;
            else item_free(x, x->n_items); // what the failed item had tokenised
            cJSON_Delete(j);
        }
        line = end ? end + 1 : NULL;
    }
    free(data);
    free(path);
    return rc;
}

int downstream_load(downstream *d, const char *folder, const char *const *names, int n_tasks, int n, const tokenizer *t,
                    int n_ctx, char *err, size_t errlen) {
    d->n = n_tasks;
    d->task = calloc((size_t)n_tasks, sizeof *d->task);
    int rc = 0;
    for (int i = 0; i < n_tasks && !rc; i++) {
        downstream_task *x = &d->task[i];
        if (!(x->def = task_by_name(names[i]))) {
            snprintf(err, errlen, "downstream task \"%s\": unknown (known: %s)", names[i], DOWNSTREAM_TASKS);
            return -1;
        }
        x->name = x->def->name;
        rc = load_task(x, folder, n, t, n_ctx, err, errlen);
    }
    return rc;
}

void downstream_free(downstream *d) {
    for (int i = 0; i < d->n; i++) {
        downstream_task *x = &d->task[i];
        for (int j = 0; j < x->n_items; j++) item_free(x, j);
        free(x->prompt);
        free(x->option);
        free(x->label);
    }
    free(d->task);
    memset(d, 0, sizeof *d);
}

/* ---- scoring ---- */

int downstream_answer(const double *nll, int k) {
    int best = 0;
    bool tie = false;
    for (int j = 1; j < k; j++) {
        if (nll[j] < nll[best]) best = j, tie = false;
        else if (nll[j] == nll[best]) tie = true;
    }
    return tie && k > 2 ? -1 : best;
}

int downstream_predict(const downstream_task *t, const model *m, const eval_hooks *h, int max_batch, int *answer,
                       double *nll, char *err, size_t errlen) {
    int k = t->n_options, n = t->n_items * k;
    eval_hooks nll_only; // only the NLL is used: a method's generation scoring (GRACE) is not run
    if (h) {
        nll_only = *h;
        nll_only.generate = NULL;
        h = &nll_only;
    }
    tf_item *items = malloc((size_t)n * sizeof *items);
    tf_score *s = malloc((size_t)n * sizeof *s);
    for (int j = 0; j < n; j++) {
        const id_seq *p = &t->prompt[j / k], *o = &t->option[j];
        items[j] = (tf_item){p->ids, p->n, o->ids, o->n, NULL};
    }
    int rc = tf_score_items_hooked(m, h, items, n, max_batch, s, NULL, err, errlen);
    double *mean = malloc((size_t)k * sizeof(double));
    for (int i = 0; !rc && i < t->n_items; i++) {
        for (int j = 0; j < k; j++) mean[j] = s[i * k + j].nll;
        answer[i] = downstream_answer(mean, k);
        if (nll) memcpy(nll + i * k, mean, (size_t)k * sizeof(double));
    }
    free(mean);
    free(items);
    free(s);
    return rc;
}

int downstream_score(const downstream *d, const model *m, const eval_hooks *h, int max_batch, downstream_row *out,
                     char *err, size_t errlen) {
    for (int i = 0; i < d->n; i++) {
        const downstream_task *t = &d->task[i];
        int k = t->n_options + 1; // the last class: no answer
        int *answer = malloc((size_t)t->n_items * sizeof(int));
        long *c = calloc((size_t)k * (size_t)k, sizeof(long));
        int rc = downstream_predict(t, m, h, max_batch, answer, NULL, err, errlen);
        for (int j = 0; !rc && j < t->n_items; j++) c[t->label[j] * k + (answer[j] < 0 ? k - 1 : answer[j])]++;
        class_scores cs = confusion_scores(c, k);
        out[i] = (downstream_row){t->name, t->n_items, t->n_truncated, cs.accuracy, cs.f1, cs.mcc};
        free(answer);
        free(c);
        if (rc) return -1;
    }
    return 0;
}
