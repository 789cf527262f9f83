#include "run/dataset.h"

#include "json_file.h"
#include "rng.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* where a record is being read, and its first problem */
typedef struct rec_ctx {
    const char *path;
    long index;
    bool failed;
    char msg[768];
} rec_ctx;

static void rec_fail(rec_ctx *c, const char *field, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = true;
    int k = snprintf(c->msg, sizeof c->msg, "%s: record %ld: field %s: ", c->path, c->index, field);
    va_list ap;
    va_start(ap, fmt);
    if (k > 0 && (size_t)k < sizeof c->msg) vsnprintf(c->msg + k, sizeof c->msg - (size_t)k, fmt, ap);
    va_end(ap);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    memcpy(d, s, n);
    return d;
}

/* obj[name] as a string, empty or not (owned copy); `field` names it in messages (dotted path for nested
 * objects) */
static char *get_any_str(const cJSON *obj, const char *name, const char *field, rec_ctx *c) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) {
        rec_fail(c, field, "missing");
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        rec_fail(c, field, "expected a string");
        return NULL;
    }
    return dup_str(v->valuestring);
}

/* the same, refused when empty */
static char *get_str(const cJSON *obj, const char *name, const char *field, rec_ctx *c) {
    char *s = get_any_str(obj, name, field, c);
    if (s && !*s) {
        rec_fail(c, field, "empty");
        free(s);
        s = NULL;
    }
    return s;
}

static const cJSON *get_object(const cJSON *obj, const char *name, const char *field, rec_ctx *c) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) rec_fail(c, field, "missing");
    else if (!cJSON_IsObject(v)) rec_fail(c, field, "expected an object");
    return cJSON_IsObject(v) ? v : NULL;
}

/* obj[name] as a non-empty list of non-empty strings (owned copies); *n its length */
static char **get_str_list(const cJSON *obj, const char *name, int *n, rec_ctx *c) {
    *n = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) {
        rec_fail(c, name, "missing");
        return NULL;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        rec_fail(c, name, "expected a non-empty list of strings");
        return NULL;
    }
    int len = cJSON_GetArraySize(v), i = 0;
    char **out = calloc((size_t)len, sizeof *out);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e) || !*e->valuestring) {
            rec_fail(c, name, "element %d is %s", i, cJSON_IsString(e) ? "empty" : "not a string");
            break;
        }
        out[i++] = dup_str(e->valuestring);
    }
    *n = i;
    return out;
}

/* a list of one string (a zsRE or flat CounterFact record holds one rephrase and one locality pair) */
static char **one(char *s) {
    char **l = malloc(sizeof *l);
    l[0] = s;
    return l;
}

static void free_list(char **l, int n) {
    for (int i = 0; l && i < n; i++) free(l[i]);
    free(l);
}

static void request_free(edit_record *r) {
    free(r->subject);
    free(r->prompt);
    free(r->prompt_template);
    free(r->target_new);
    free(r->target_true);
    free_list(r->rephrase, r->n_rephrase);
    free_list(r->loc_prompt, r->n_loc);
    free_list(r->loc_answer, r->n_loc);
    memset(r, 0, sizeof *r);
}

/* s with its first occurrence of `what` replaced by `with` (malloc'd), or NULL when `what` is absent */
static char *replace_first(const char *s, const char *what, const char *with) {
    const char *at = strstr(s, what);
    if (!at) return NULL;
    size_t pre = (size_t)(at - s), lw = strlen(what), lwith = strlen(with), rest = strlen(at + lw);
    char *out = malloc(pre + lwith + rest + 1);
    memcpy(out, s, pre);
    memcpy(out + pre, with, lwith);
    memcpy(out + pre + lwith, at + lw, rest + 1);
    return out;
}

/* fills prompt_template from prompt and subject: the subject must occur in the prompt */
static void set_template(edit_record *r, const char *prompt_field, rec_ctx *c) {
    if (c->failed) return;
    if (!*r->subject) rec_fail(c, "subject", "empty");
    else if (!*r->prompt) rec_fail(c, prompt_field, "empty");
    else if (!(r->prompt_template = replace_first(r->prompt, r->subject, "{}")))
        rec_fail(c, prompt_field, "the subject \"%s\" does not occur in the prompt \"%s\"", r->subject, r->prompt);
}

/* zsRE in the MEND schema, or EasyEdit's (WISE's: no answers, which only protocol memit needs) */
static void read_zsre(const cJSON *o, eval_protocol p, edit_record *r, rec_ctx *c) {
    int n_answers = 0;
    r->case_id = c->index;
    r->subject = get_str(o, "subject", "subject", c);
    r->prompt = get_str(o, "src", "src", c);
    // alt may be empty (two records of MEND's zsRE train file): a run's check refuses it where it is edited
    char *alt = get_any_str(o, "alt", "alt", c);
    char **answers = NULL;
    if (cJSON_GetObjectItemCaseSensitive(o, "answers")) answers = get_str_list(o, "answers", &n_answers, c);
    else if (p == PROTOCOL_MEMIT)
        rec_fail(c, "answers", "missing (protocol memit takes the target from answers[0]; protocol easyedit does not "
                               "need it)");
    char *rephrase = get_str(o, "rephrase", "rephrase", c);
    char *loc = get_str(o, "loc", "loc", c), *loc_ans = get_str(o, "loc_ans", "loc_ans", c);
    if (!c->failed) {
        r->target_true = answers ? dup_str(answers[0]) : NULL;
        r->target_new = dup_str(p == PROTOCOL_MEMIT ? answers[0] : alt); // editing-spec §10.1
        r->n_rephrase = 1;
        r->rephrase = one(rephrase);
        r->n_loc = 1;
        r->loc_prompt = one(loc);
        r->loc_answer = one(loc_ans);
        rephrase = loc = loc_ans = NULL;
    }
    free(alt);
    free_list(answers, n_answers);
    free(rephrase);
    free(loc);
    free(loc_ans);
    set_template(r, "src", c);
}

static long get_case_id(const cJSON *o, rec_ctx *c) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "case_id");
    bool whole = cJSON_IsNumber(v) && fabs(v->valuedouble) <= 9007199254740992.0 && // 2^53: exact, and castable
                 v->valuedouble == floor(v->valuedouble);
    if (!v) rec_fail(c, "case_id", "missing");
    else if (!whole) rec_fail(c, "case_id", "expected a whole number of magnitude at most 2^53");
    return whole ? (long)v->valuedouble : -1;
}

static void read_counterfact(const cJSON *o, edit_record *r, rec_ctx *c) {
    r->case_id = get_case_id(o, c);
    r->subject = get_str(o, "subject", "subject", c);
    r->prompt = get_str(o, "prompt", "prompt", c);
    r->target_new = get_str(o, "target_new", "target_new", c);
    r->target_true = get_str(o, "ground_truth", "ground_truth", c);
    char *rephrase = get_str(o, "rephrase_prompt", "rephrase_prompt", c);
    char *loc = get_str(o, "locality_prompt", "locality_prompt", c);
    char *loc_ans = get_str(o, "locality_ground_truth", "locality_ground_truth", c);
    if (!c->failed) {
        r->n_rephrase = 1;
        r->rephrase = one(rephrase);
        r->n_loc = 1;
        r->loc_prompt = one(loc);
        r->loc_answer = one(loc_ans);
        rephrase = loc = loc_ans = NULL;
    }
    free(rephrase);
    free(loc);
    free(loc_ans);
    set_template(r, "prompt", c);
}

/* target_new / target_true of ROME's requested_rewrite: objects with a "str" */
static char *get_rome_target(const cJSON *rw, const char *name, const char *field, rec_ctx *c) {
    const cJSON *t = get_object(rw, name, field, c);
    char sub[96];
    snprintf(sub, sizeof sub, "%s.str", field);
    return t ? get_str(t, "str", sub, c) : NULL;
}

static void read_counterfact_rome(const cJSON *o, edit_record *r, rec_ctx *c) {
    r->case_id = get_case_id(o, c);
    const cJSON *rw = get_object(o, "requested_rewrite", "requested_rewrite", c);
    if (!rw) return;
    r->subject = get_str(rw, "subject", "requested_rewrite.subject", c);
    r->prompt_template = get_str(rw, "prompt", "requested_rewrite.prompt", c);
    r->target_new = get_rome_target(rw, "target_new", "requested_rewrite.target_new", c);
    r->target_true = get_rome_target(rw, "target_true", "requested_rewrite.target_true", c);
    r->rephrase = get_str_list(o, "paraphrase_prompts", &r->n_rephrase, c);
    r->loc_prompt = get_str_list(o, "neighborhood_prompts", &r->n_loc, c);
    if (c->failed) return;
    if (!*r->subject) {
        rec_fail(c, "requested_rewrite.subject", "empty");
        return;
    }
    if (!(r->prompt = replace_first(r->prompt_template, "{}", r->subject))) {
        rec_fail(c, "requested_rewrite.prompt", "no \"{}\" where the subject goes in \"%s\"", r->prompt_template);
        return;
    }
    // a neighbourhood prompt's subject shares the edited fact's true object (ROME's specificity)
    r->loc_answer = malloc((size_t)r->n_loc * sizeof *r->loc_answer);
    for (int i = 0; i < r->n_loc; i++) r->loc_answer[i] = dup_str(r->target_true);
}

static dataset_format detect(const cJSON *rec) {
    if (cJSON_GetObjectItemCaseSensitive(rec, "requested_rewrite")) return DS_COUNTERFACT_ROME;
    if (cJSON_GetObjectItemCaseSensitive(rec, "src")) return DS_ZSRE;
    if (cJSON_GetObjectItemCaseSensitive(rec, "target_new")) return DS_COUNTERFACT;
    return DS_AUTO;
}

void dataset_shuffle(long *idx, long n, uint64_t seed) {
    uint64_t state = seed;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(splitmix64(&state) % (uint64_t)(i + 1));
        long t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

dataset_opts dataset_opts_default(void) {
    return (dataset_opts){.format = DS_AUTO, .protocol = PROTOCOL_EASYEDIT, .n_edits = -1};
}

/* the file's name of a part of a record (a list's element with its index) */
static void field_name(dataset_format fmt, eval_protocol p, record_field f, int index, char *out, size_t n) {
    static const char *const zsre[] = {"src", "alt", "answers[0]", "rephrase", "loc", "loc_ans"};
    static const char *const flat[] = {"prompt", "target_new", "ground_truth", "rephrase_prompt", "locality_prompt",
                                       "locality_ground_truth"};
    static const char *const rome[] = {"requested_rewrite.prompt", "requested_rewrite.target_new.str",
                                       "requested_rewrite.target_true.str", "paraphrase_prompts",
                                       "neighborhood_prompts", "requested_rewrite.target_true.str"};
    if (fmt == DS_ZSRE) snprintf(out, n, "%s", f == FIELD_TARGET_NEW && p == PROTOCOL_MEMIT ? "answers[0]" : zsre[f]);
    else if (fmt == DS_COUNTERFACT) snprintf(out, n, "%s", flat[f]);
    else if (f == FIELD_REPHRASE || f == FIELD_LOC_PROMPT) snprintf(out, n, "%s[%d]", rome[f], index);
    else snprintf(out, n, "%s", rome[f]);
}

/* o->check on the selected records: a refused one stops (−1, err set) or, with skip_invalid, is dropped
 * from the selection with a warning */
static int check_selection(const char *path, const dataset_opts *o, edit_dataset *d, char *err, size_t errlen) {
    int kept = 0;
    for (int i = 0; i < d->n; i++) {
        edit_record *r = &d->req[i];
        rec_ctx c = {.path = path, .index = r->record};
        record_field f = FIELD_PROMPT;
        int index = 0;
        char msg[512] = "", name[96];
        if (o->check(r, o->check_ctx, &f, &index, msg, sizeof msg)) {
            field_name(d->format, o->protocol, f, index, name, sizeof name);
            rec_fail(&c, name, "%s", msg);
        }
        if (!c.failed) {
            d->req[kept++] = *r;
            continue;
        }
        if (!o->skip_invalid) {
            snprintf(err, errlen, "%s", c.msg);
            d->n = kept + (d->n - i); // the records not yet moved are freed with the dataset
            memmove(d->req + kept, d->req + i, (size_t)(d->n - kept) * sizeof *d->req);
            return -1;
        }
        fprintf(stderr, "warning: skipping %s\n", c.msg);
        request_free(r);
        d->n_skipped++;
    }
    d->n = kept;
    return 0;
}

/* the valid records of the parsed file into all[0..*n_valid), in file order; returns −1 with err set on a
 * stopping error */
static int read_records(const char *path, const cJSON *root, const dataset_opts *o, dataset_format fmt,
                        edit_record *all, long *n_valid, long *n_skipped, char *err, size_t errlen) {
    long index = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, root) {
        rec_ctx c = {.path = path, .index = index++};
        edit_record r = {.record = c.index};
        if (!cJSON_IsObject(rec)) rec_fail(&c, "(record)", "expected an object");
        else if (fmt == DS_ZSRE) read_zsre(rec, o->protocol, &r, &c);
        else if (fmt == DS_COUNTERFACT) read_counterfact(rec, &r, &c);
        else read_counterfact_rome(rec, &r, &c);
        if (!c.failed) {
            all[(*n_valid)++] = r;
            continue;
        }
        request_free(&r);
        if (!o->skip_invalid) {
            snprintf(err, errlen, "%s", c.msg);
            return -1;
        }
        fprintf(stderr, "warning: skipping %s\n", c.msg);
        (*n_skipped)++;
    }
    return 0;
}

int dataset_load(const char *path, const dataset_opts *o, edit_dataset *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    cJSON *root = json_file_read(path, err, errlen);
    if (!root) return -1;
    int rc = -1;
    edit_record *all = NULL;
    long *idx = NULL, n_valid = 0;
    if (!cJSON_IsArray(root)) {
        snprintf(err, errlen, "%s: expected a JSON list of records", path);
        goto done;
    }
    long n_records = cJSON_GetArraySize(root);
    dataset_format fmt = o->format;
    if (fmt == DS_AUTO && n_records > 0) fmt = detect(cJSON_GetArrayItem(root, 0));
    if (fmt == DS_AUTO) {
        snprintf(err, errlen, "%s: record 0: cannot tell the dataset's schema (no field src, target_new or "
                              "requested_rewrite): name it with the format option", path);
        goto done;
    }
    all = calloc((size_t)n_records + 1, sizeof *all);
    if (read_records(path, root, o, fmt, all, &n_valid, &out->n_skipped, err, errlen)) goto done;
    idx = malloc(((size_t)n_valid + 1) * sizeof *idx);
    for (long i = 0; i < n_valid; i++) idx[i] = i;
    if (o->shuffle) dataset_shuffle(idx, n_valid, o->seed);
    long want = o->n_edits < 0 ? n_valid - o->offset : o->n_edits;
    if (o->offset < 0 || want < 0 || o->offset + want > n_valid) {
        snprintf(err, errlen, "%s: asks for %ld edits from offset %ld, but the file has %ld valid records (%ld skipped)",
                 path, o->n_edits, o->offset, n_valid, out->n_skipped);
        goto done;
    }
    out->format = fmt;
    out->n_records = n_records;
    out->n = (int)want;
    out->req = calloc((size_t)want + 1, sizeof *out->req);
    for (long i = 0; i < want; i++) {
        out->req[i] = all[idx[o->offset + i]];
        memset(&all[idx[o->offset + i]], 0, sizeof *all);
    }
    rc = o->check ? check_selection(path, o, out, err, errlen) : 0;
done:
    for (long i = 0; i < n_valid; i++) request_free(&all[i]);
    free(all);
    free(idx);
    cJSON_Delete(root);
    if (rc) dataset_free(out);
    return rc;
}

void dataset_free(edit_dataset *d) {
    for (int i = 0; i < d->n; i++) request_free(&d->req[i]);
    free(d->req);
    memset(d, 0, sizeof *d);
}

static const char *const protocol_names[] = {"easyedit", "memit"};
static const char *const format_names[] = {"auto", "zsre", "counterfact", "counterfact-rome"};

const char *protocol_name(eval_protocol p) { return protocol_names[p]; }
const char *dataset_format_name(dataset_format f) { return format_names[f]; }

int protocol_parse(const char *name, eval_protocol *p) {
    for (int i = 0; i < 2; i++)
        if (!strcmp(name, protocol_names[i])) {
            *p = (eval_protocol)i;
            return 0;
        }
    return -1;
}

int dataset_format_parse(const char *name, dataset_format *f) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, format_names[i])) {
            *f = (dataset_format)i;
            return 0;
        }
    return -1;
}
