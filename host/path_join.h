/* "dir/name": the one way kedit names a file inside a model, save or cache folder. */
#ifndef KEDIT_PATH_JOIN_H
#define KEDIT_PATH_JOIN_H

/* "dir/name" (malloc'd), or NULL when out of memory */
char *path_join(const char *dir, const char *name);

#endif
