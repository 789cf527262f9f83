/* Writing a folder so that it appears complete or not at all: its files go into DIR.tmp, each flushed to
 * disk, and DIR.tmp is renamed to DIR once everything is written. A DIR that already exists is replaced
 * only when it holds a given marker file (a folder this code wrote before); it is first renamed to
 * DIR.old, so at no moment does DIR hold a partial folder, and DIR.old is removed afterwards. */
#ifndef KEDIT_SAVE_DIR_H
#define KEDIT_SAVE_DIR_H

#include <stddef.h>

typedef struct save_dir {
    char *dir; /* the destination, without trailing slashes */
    char *tmp; /* dir.tmp: where the files are written */
    char *old; /* dir.old: the replaced folder while the new one is renamed in */
} save_dir;

/* Checks that dir is absent or a folder holding marker, removes a stale dir.tmp left by a crash (files
 * only) and creates dir.tmp. Non-zero with a message naming the path in err (s is then empty). */
int save_dir_begin(save_dir *s, const char *dir, const char *marker, char *err, size_t errlen);

/* Renames s->tmp to s->dir (replacing an existing dir as described above) and frees s. */
int save_dir_commit(save_dir *s, char *err, size_t errlen);

/* Removes s->tmp and its files, and frees s. */
void save_dir_abort(save_dir *s);

/* dir/name ← text, flushed to disk */
int save_dir_write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen);

/* dir/name ← a copy of the file src, flushed to disk */
int save_dir_copy(const char *src, const char *dir, const char *name, char *err, size_t errlen);

#endif
