/* ATOMIC-2020 tuples (`head @@ relation<TAB>tail1| tail2| ...`, one per line) and the natural phrasing
 * of each of its 23 relations, the connective that joins a head to a tail in the MQD questions. */
#ifndef KEDIT_ATOMIC_H
#define KEDIT_ATOMIC_H

#include <stddef.h>

typedef struct atomic_relation {
    const char *name;       /* as in the file, e.g. "oEffect" */
    const char *connective; /* head + connective + " " + tail reads as a sentence, e.g. ", resulting in PersonY" */
    const char *rephrase;   /* a second phrasing of the same connective (the rephrased question) */
} atomic_relation;

#define ATOMIC_N_RELATIONS 23
extern const atomic_relation atomic_relations[ATOMIC_N_RELATIONS];

typedef struct atomic_tuple {
    long line;     /* 1-based line in the file */
    char *head;
    int relation;  /* index into atomic_relations */
    int n_tails;
    char **tails;  /* the usable tails in file order: without surrounding spaces and final periods, not empty,
                      not "none", no case-insensitive repeat */
} atomic_tuple;

typedef struct atomic_set {
    int n;
    atomic_tuple *t;
} atomic_set;

/* Reads every line of an ATOMIC-2020 file. A malformed line (no " @@ ", no tab, an empty head, an unknown
 * relation) is an error "FILE: line L: field F: problem" (returns −1, message in err). */
int atomic_load(const char *path, atomic_set *out, char *err, size_t errlen);
void atomic_free(atomic_set *s);

#endif
