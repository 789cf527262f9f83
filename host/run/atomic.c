#include "run/atomic.h"

#include "file_read.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const atomic_relation atomic_relations[ATOMIC_N_RELATIONS] = {
    {"AtLocation", " is located at", " can be found at"},
    {"CapableOf", " is capable of", " is able to"},
    {"Causes", " causes", " leads to"},
    {"Desires", " desires", " wants"},
    {"HasProperty", " has the property", " can be described as"},
    {"HasSubEvent", " includes the event", " involves"},
    {"HinderedBy", " can be hindered by", " would not happen if"},
    {"MadeUpOf", " is made up of", " consists of"},
    {"NotDesires", " does not desire", " does not want"},
    {"ObjectUse", " is used to", " is useful to"},
    {"isAfter", " happens after", " takes place after"},
    {"isBefore", " happens before", " takes place before"},
    {"isFilledBy", ", where the blank is filled by", ", with the blank being"},
    {"oEffect", ", resulting in PersonY", ". As a result, PersonY"},
    {"oReact", ", as a result, PersonY feels", ". Then PersonY feels"},
    {"oWant", ", as a result, PersonY wants", ". Then PersonY wants"},
    {"xAttr", ". PersonX is seen as", ". PersonX is described as"},
    {"xEffect", ", resulting in PersonX", ". As a result, PersonX"},
    {"xIntent", ", because PersonX wanted", ". PersonX did this"},
    {"xNeed", ". Before that, PersonX needed", ". To do this, PersonX first had"},
    {"xReact", ", as a result, PersonX feels", ". Then PersonX feels"},
    {"xReason", ", because", ". The reason is"},
    {"xWant", ", as a result, PersonX wants", ". Then PersonX wants"},
};

static int relation_index(const char *name) {
    for (int i = 0; i < ATOMIC_N_RELATIONS; i++)
        if (!strcmp(atomic_relations[i].name, name)) return i;
    return -1;
}

/* s[0..n) without surrounding spaces, malloc'd */
static char *trimmed(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    return strndup(s, n);
}

/* the usable tails of "t1| t2| ..." into t */
static void split_tails(const char *text, atomic_tuple *t) {
    for (const char *p = text;;) {
        const char *bar = strchr(p, '|');
        char *tail = trimmed(p, bar ? (size_t)(bar - p) : strlen(p));
        for (size_t k = strlen(tail); k && (tail[k - 1] == '.' || tail[k - 1] == ' '); k--) tail[k - 1] = 0;
        bool keep = *tail && strcasecmp(tail, "none") != 0;
        for (int i = 0; keep && i < t->n_tails; i++) keep = strcasecmp(t->tails[i], tail) != 0;
        if (keep) {
            t->tails = realloc(t->tails, (size_t)(t->n_tails + 1) * sizeof *t->tails);
            t->tails[t->n_tails++] = tail;
        } else {
            free(tail);
        }
        if (!bar) break;
        p = bar + 1;
    }
}

/* one line into t; 0, or −1 with the message in err */
static int parse_line(const char *path, long line, char *text, atomic_tuple *t, char *err, size_t errlen) {
    char *tab = strchr(text, '\t'), *at = strstr(text, " @@ ");
    if (!at || (tab && at > tab)) {
        snprintf(err, errlen, "%s: line %ld: field head: no \" @@ \" between the head and the relation", path, line);
        return -1;
    }
    if (!tab) {
        snprintf(err, errlen, "%s: line %ld: field tails: no tab after the relation", path, line);
        return -1;
    }
    *at = *tab = 0;
    char *rel = trimmed(at + 4, strlen(at + 4));
    t->line = line;
    t->relation = relation_index(rel);
    t->head = trimmed(text, strlen(text));
    int rc = 0;
    if (t->relation < 0) {
        snprintf(err, errlen, "%s: line %ld: field relation: unknown relation \"%s\"", path, line, rel);
        rc = -1;
    } else if (!*t->head) {
        snprintf(err, errlen, "%s: line %ld: field head: empty", path, line);
        rc = -1;
    } else {
        split_tails(tab + 1, t);
    }
    free(rel);
    return rc;
}

int atomic_load(const char *path, atomic_set *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    char *text = file_read_all(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    long line = 0;
    for (char *p = text, *next; *p && !rc; p = next) {
        char *nl = strchr(p, '\n');
        next = nl ? nl + 1 : p + strlen(p);
        if (nl) *nl = 0;
        line++;
        if (!*p || (*p == '\r' && !p[1])) continue; // a blank line
        out->t = realloc(out->t, (size_t)(out->n + 1) * sizeof *out->t);
        atomic_tuple *t = &out->t[out->n++];
        memset(t, 0, sizeof *t);
        rc = parse_line(path, line, p, t, err, errlen);
    }
    free(text);
    if (!rc && out->n == 0) {
        snprintf(err, errlen, "%s: no tuples", path);
        rc = -1;
    }
    if (rc) atomic_free(out);
    return rc;
}

void atomic_free(atomic_set *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].head);
        for (int j = 0; j < s->t[i].n_tails; j++) free(s->t[i].tails[j]);
        free(s->t[i].tails);
    }
    free(s->t);
    memset(s, 0, sizeof *s);
}
