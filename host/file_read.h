/* Reading a whole file into memory: the one reader behind the JSON, configuration, template, D4S-state
 * and corpus loaders (and the tests). */
#ifndef KEDIT_FILE_READ_H
#define KEDIT_FILE_READ_H

#include <stddef.h>

/* the bytes of the file at path followed by a NUL, malloc'd, their count in *len (when len is not NULL);
 * NULL with errno set (fopen's, ENOMEM, or EIO for a read error) when it cannot be read whole. Reads to
 * the end, so pipes and other unseekable files work too. */
char *file_read_all(const char *path, size_t *len);

#endif
