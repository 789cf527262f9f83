#include "run/mqd.h"

#include "run/atomic.h"
#include "run/dataset.h"
#include "rng.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const type_names[MQD_N_TYPES] = {"dg", "mq", "tf"};

const char *mqd_type_name(mqd_type t) { return type_names[t]; }

/* the distinct tails of one relation (case-insensitively), sorted */
typedef struct tail_pool {
    int n;
    const char **tail;
} tail_pool;

static int by_text(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int c = strcasecmp(x, y);
    return c ? c : strcmp(x, y);
}

static void build_pools(const atomic_set *s, tail_pool *pool) {
    for (int r = 0; r < ATOMIC_N_RELATIONS; r++) {
        tail_pool *p = &pool[r];
        for (int i = 0; i < s->n; i++)
            if (s->t[i].relation == r) {
                p->tail = realloc(p->tail, (size_t)(p->n + s->t[i].n_tails + 1) * sizeof *p->tail);
                for (int j = 0; j < s->t[i].n_tails; j++) p->tail[p->n++] = s->t[i].tails[j];
            }
        qsort(p->tail, (size_t)p->n, sizeof *p->tail, by_text);
        int u = 0;
        for (int i = 0; i < p->n; i++)
            if (u == 0 || strcasecmp(p->tail[u - 1], p->tail[i]) != 0) p->tail[u++] = p->tail[i];
        p->n = u;
    }
}

static bool among(const char *x, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (!strcasecmp(x, list[i])) return true;
    return false;
}

/* k tails of the tuple's relation that are none of its own tails nor of each other, drawn uniformly
 * (the caller has checked that k exist) */
static void draw_tails(const tail_pool *p, const atomic_tuple *t, int k, const char **out, uint64_t *rng) {
    for (int got = 0; got < k;) {
        const char *c = p->tail[splitmix64(rng) % (uint64_t)p->n];
        if (!among(c, (const char *const *)t->tails, t->n_tails) && !among(c, out, got)) out[got++] = c;
    }
}

/* a printf into a malloc'd string */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* what one usable tuple becomes */
typedef struct question {
    const atomic_tuple *t;
    char *src[MQD_N_TYPES], *rephrase[MQD_N_TYPES];
    const char *target[MQD_N_TYPES];
    const char *shown_tail; /* T/F: the tail of the statement */
} question;

static const char *const letters[4] = {"a", "b", "c", "d"};
static const char *const tf_question = ". Is this sentence logical? Please answer yes or no. A:";

/* the MQ suffix: the answer at position `correct`, the distractors elsewhere in their drawn order */
static char *options(const char *answer, const char *const *distractors, int correct) {
    const char *opt[4];
    for (int i = 0, d = 0; i < 4; i++) opt[i] = i == correct ? answer : distractors[d++];
    return fmt("? Below are four options: (a) %s; (b) %s; (c) %s; (d) %s. The correct option is", opt[0], opt[1], opt[2],
               opt[3]);
}

static void make_question(question *q, const atomic_tuple *t, const char *const *distractors, int correct, bool yes,
                          const char *false_tail) {
    const atomic_relation *rel = &atomic_relations[t->relation];
    const char *answer = t->tails[0];
    char *dg = fmt("%s%s", t->head, rel->connective), *dg_re = fmt("%s%s", t->head, rel->rephrase);
    char *opts = options(answer, distractors, correct);
    q->t = t;
    q->shown_tail = yes ? answer : false_tail;
    q->src[MQD_DG] = dg;
    q->rephrase[MQD_DG] = dg_re;
    q->target[MQD_DG] = answer;
    q->src[MQD_MQ] = fmt("%s%s", dg, opts);
    q->rephrase[MQD_MQ] = fmt("%s%s", dg_re, opts);
    q->target[MQD_MQ] = letters[correct];
    q->src[MQD_TF] = fmt("%s %s%s", dg, q->shown_tail, tf_question);
    q->rephrase[MQD_TF] = fmt("%s %s%s", dg_re, q->shown_tail, tf_question);
    q->target[MQD_TF] = yes ? "yes" : "no";
    free(opts);
}

static void question_free(question *q) {
    for (int k = 0; k < MQD_N_TYPES; k++) {
        free(q->src[k]);
        free(q->rephrase[k]);
    }
}

/* record i of type k, its locality pair from question loc */
static cJSON *record_json(const question *q, const question *loc, mqd_type k) {
    cJSON *o = cJSON_CreateObject(), *answers = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "subject", q->t->head);
    cJSON_AddStringToObject(o, "src", q->src[k]);
    cJSON_AddStringToObject(o, "rephrase", q->rephrase[k]);
    cJSON_AddStringToObject(o, "alt", q->target[k]);
    cJSON_AddItemToArray(answers, cJSON_CreateString(q->target[k]));
    cJSON_AddItemToObject(o, "answers", answers);
    cJSON_AddStringToObject(o, "loc", loc->src[k]);
    cJSON_AddStringToObject(o, "loc_ans", loc->target[k]);
    cJSON_AddStringToObject(o, "relation", atomic_relations[q->t->relation].name);
    cJSON_AddStringToObject(o, "tail", q->t->tails[0]);
    if (k == MQD_TF) cJSON_AddStringToObject(o, "shown_tail", q->shown_tail);
    cJSON_AddNumberToObject(o, "atomic_line", (double)q->t->line);
    return o;
}

/* writes the three files through temporary names, renamed only when all three are written */
static int write_files(const char *out_dir, cJSON *const *list, char *err, size_t errlen) {
    char tmp[MQD_N_TYPES][1024], final[MQD_N_TYPES][1024];
    int k = 0, rc = 0;
    for (; k < MQD_N_TYPES && !rc; k++) {
        snprintf(final[k], sizeof final[k], "%s/%s.json", out_dir, type_names[k]);
        snprintf(tmp[k], sizeof tmp[k], "%s.tmp", final[k]);
        char *text = cJSON_Print(list[k]);
        FILE *f = fopen(tmp[k], "w");
        bool ok = text && f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        if (f && fclose(f)) ok = false;
        if (!ok) {
            snprintf(err, errlen, "%s: cannot write: %s", tmp[k], strerror(errno));
            rc = -1;
        }
        free(text);
    }
    int renamed = 0;
    for (; !rc && renamed < k; renamed++)
        if (rename(tmp[renamed], final[renamed])) {
            snprintf(err, errlen, "%s: cannot rename to %s: %s", tmp[renamed], final[renamed], strerror(errno));
            rc = -1;
        }
    if (rc)
        for (int i = 0; i < k; i++) unlink(i < renamed - 1 ? final[i] : tmp[i]); // a half-replaced set is removed
    return rc;
}

/* what the seed draws for one usable tuple, independently of which others are kept */
typedef struct draw {
    const atomic_tuple *t;
    const char *distractor[3];
    const char *false_tail;
} draw;

/* rank[i] of each of n items in an order shuffled with seed */
static void ranks(long n, uint64_t seed, long *rank) {
    long *perm = malloc((size_t)n * sizeof(long));
    for (long i = 0; i < n; i++) perm[i] = i;
    dataset_shuffle(perm, n, seed);
    for (long r = 0; r < n; r++) rank[perm[r]] = r;
    free(perm);
}

/* the questions of the n draws: rank r of a seeded order gets letter r mod 4, another's r "yes" when
 * even; also the n_yes */
static void make_questions(const draw *d, long n, uint64_t seed_letter, uint64_t seed_yes, question *q, long *n_yes) {
    long *letter_rank = malloc((size_t)n * sizeof(long)), *yes_rank = malloc((size_t)n * sizeof(long));
    ranks(n, seed_letter, letter_rank);
    ranks(n, seed_yes, yes_rank);
    *n_yes = 0;
    for (long i = 0; i < n; i++) {
        bool yes = yes_rank[i] % 2 == 0;
        make_question(&q[i], d[i].t, d[i].distractor, (int)(letter_rank[i] % 4), yes, d[i].false_tail);
        *n_yes += yes;
    }
    free(letter_rank);
    free(yes_rank);
}

static bool fits(const question *q, const mqd_fit *fit) {
    for (int k = 0; k < MQD_N_TYPES; k++)
        if (fit->n_tokens(fit->ctx, q->src[k], q->target[k]) > fit->max_tokens ||
            fit->n_tokens(fit->ctx, q->rephrase[k], q->target[k]) > fit->max_tokens)
            return false;
    return true;
}

/* the three lists of records; loc: a seeded cycle over the records, so never the record itself */
static void make_lists(const question *q, long n, uint64_t seed_loc, cJSON **list) {
    long *order = malloc((size_t)n * sizeof(long)), *loc_of = malloc((size_t)n * sizeof(long));
    for (long i = 0; i < n; i++) order[i] = i;
    dataset_shuffle(order, n, seed_loc);
    for (long r = 0; r < n; r++) loc_of[order[r]] = order[(r + 1) % n];
    for (int k = 0; k < MQD_N_TYPES; k++) {
        list[k] = cJSON_CreateArray();
        for (long i = 0; i < n; i++) cJSON_AddItemToArray(list[k], record_json(&q[i], &q[loc_of[i]], (mqd_type)k));
    }
    free(order);
    free(loc_of);
}

int mqd_build(const char *atomic_path, uint64_t seed, const mqd_fit *fit, const char *out_dir, mqd_summary *sum,
              char *err, size_t errlen) {
    memset(sum, 0, sizeof *sum);
    atomic_set s;
    if (atomic_load(atomic_path, &s, err, errlen)) return -1;
    tail_pool pool[ATOMIC_N_RELATIONS] = {{0}};
    build_pools(&s, pool);
    sum->n_tuples = s.n;
    uint64_t rng = seed, seed_letter = splitmix64(&rng), seed_yes = splitmix64(&rng), seed_loc = splitmix64(&rng);
    draw *d = calloc((size_t)s.n, sizeof *d); // the usable tuples in file order, with their draws
    long n = 0;
    for (int i = 0; i < s.n; i++) {
        const atomic_tuple *t = &s.t[i];
        if (t->n_tails == 0) {
            sum->n_no_tail++;
        } else if (pool[t->relation].n - t->n_tails < 3) {
            sum->n_few_tails++;
        } else {
            d[n].t = t;
            draw_tails(&pool[t->relation], t, 3, d[n].distractor, &rng);
            draw_tails(&pool[t->relation], t, 1, &d[n].false_tail, &rng);
            n++;
        }
    }
    question *q = calloc((size_t)n + 1, sizeof *q);
    make_questions(d, n, seed_letter, seed_yes, q, &sum->n_yes);
    // drop the tuples with a question too long, then place the letters and yes/no again over the rest,
    // until every question fits (a new placement can lengthen an MQ question by a token)
    for (long kept = n; fit; n = kept) {
        kept = 0;
        for (long i = 0; i < n; i++)
            if (fits(&q[i], fit)) d[kept++] = d[i];
        for (long i = 0; i < n; i++) question_free(&q[i]);
        sum->n_too_long += n - kept;
        make_questions(d, kept, seed_letter, seed_yes, q, &sum->n_yes);
        if (kept == n) break;
    }
    int rc = -1;
    cJSON *list[MQD_N_TYPES] = {NULL, NULL, NULL};
    if (n < 2) {
        snprintf(err, errlen, "%s: %ld usable tuples: the MQD needs at least 2", atomic_path, n);
        goto done;
    }
    make_lists(q, n, seed_loc, list);
    sum->n_records = n;
    bool made_dir = mkdir(out_dir, 0777) == 0;
    if (!made_dir && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create the folder: %s", out_dir, strerror(errno));
        goto done;
    }
    rc = write_files(out_dir, list, err, errlen);
    if (rc && made_dir) rmdir(out_dir);
done:
    for (int k = 0; k < MQD_N_TYPES; k++) cJSON_Delete(list[k]);
    for (long i = 0; i < n; i++) question_free(&q[i]);
    free(q);
    free(d);
    for (int r = 0; r < ATOMIC_N_RELATIONS; r++) free(pool[r].tail);
    atomic_free(&s);
    return rc;
}
