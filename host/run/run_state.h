/* The durable resume state of a run, in a folder beside its results file (RESULTS.h5 → RESULTS.h5.state/):
 * one file per edit call, edit-NNNNNNNN.kst, holding the record (editor_journal) of the call that made
 * edit NNNNNNNN (the count of edits done, from 1); for a snapshot method (FT, GRACE) only the latest file
 * is kept. Each file holds "KEDITRS1", the edit count, the run's id (the results file's run_id), the
 * record's length, the record, then an FNV-1a 64 of every byte before it; it is written under a temporary
 * name, fsync'd, renamed into place and the folder fsync'd, so that a file present is whole, and a file
 * whose checksum, count or run id does not match is refused, naming it. */
#ifndef KEDIT_RUN_STATE_H
#define KEDIT_RUN_STATE_H

#include <stdbool.h>
#include <stddef.h>

#define RUN_ID_LEN 32 /* hex digits of a run id */

typedef struct run_state run_state;

/* the state folder of a results file, malloc'd */
char *run_state_dir(const char *results_path);
/* A fresh run's folder: created, or emptied of the files of an earlier run (left without a results file). */
run_state *run_state_create(const char *results_path, const char *run_id, char *err, size_t errlen);
/* The folder of an existing run (absent: a run that wrote no state yet, created empty). */
run_state *run_state_open(const char *results_path, const char *run_id, char *err, size_t errlen);
void run_state_close(run_state *s);

/* writes the record of edit count t; snapshot: then removes the records before it */
int run_state_write(run_state *s, long t, const void *rec, size_t n, bool snapshot, char *err, size_t errlen);
/* the largest edit count with a record (0: none) */
long run_state_last(const run_state *s);
/* Reads and checks the records that resume at edit count t: those of the edit calls of `batch` edits each,
 * at counts batch, 2·batch, … and t (1 … t in order for batch 1), or the snapshot t alone. *recs (*n_rec
 * of them, each malloc'd, in a malloc'd array) and *lens malloc'd. */
int run_state_read(run_state *s, long t, int batch, bool snapshot, int *n_rec, void ***recs, size_t **lens, char *err,
                   size_t errlen);
/* removes the records after edit count t */
int run_state_drop_after(run_state *s, long t, char *err, size_t errlen);
/* removes the folder of a results file and everything of ours in it (0 when it is gone) */
int run_state_remove(const char *results_path);

#endif
