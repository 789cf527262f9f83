/* The fuzzers' input as a file: the parsers under test read paths, so each input is written to one
 * in-memory file (memfd) and read back through /proc/self/fd/N. */
#ifndef KEDIT_FUZZ_FILE_H
#define KEDIT_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* the path of a file holding data[0..n); the same file every call */
static inline const char *fuzz_file(const uint8_t *data, size_t n) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("kedit_fuzz", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data, n, 0) != (ssize_t)n) abort();
    return path;
}

#endif
