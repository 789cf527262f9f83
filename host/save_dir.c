/* Folder staging and renaming (see save_dir.h). */
#include "save_dir.h"

#include "path_join.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* path + suffix, malloc'd */
static char *with_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", path, suffix);
    return p;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* removes the folder path and the files in it; 0 when it is absent. Refuses folders holding folders. */
static int remove_flat(const char *path, char *err, size_t errlen) {
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: cannot open folder to remove it (%s)", path, strerror(errno));
        return 1;
    }
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *file = path_join(path, e->d_name);
        if (!file || unlink(file) != 0) {
            snprintf(err, errlen, "%s: cannot remove %s (%s)", path, e->d_name,
                     file ? strerror(errno) : "out of memory");
            rc = 1;
        }
        free(file);
    }
    closedir(d);
    if (!rc && rmdir(path) != 0) {
        snprintf(err, errlen, "%s: cannot remove folder (%s)", path, strerror(errno));
        rc = 1;
    }
    return rc;
}

/* flushes a folder's entries (names created or renamed in it) to disk */
static int sync_dir(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: cannot flush folder to disk (%s)", path, strerror(errno));
        if (fd >= 0) close(fd);
        return 1;
    }
    close(fd);
    return 0;
}

static void save_dir_free(save_dir *s) {
    free(s->dir);
    free(s->tmp);
    free(s->old);
    memset(s, 0, sizeof *s);
}

int save_dir_begin(save_dir *s, const char *dir, const char *marker, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0 || (n == 1 && dir[0] == '/')) {
        snprintf(err, errlen, "'%s': not a folder name to save into", dir);
        return 1;
    }
    s->dir = strndup(dir, n);
    s->tmp = s->dir ? with_suffix(s->dir, ".tmp") : NULL;
    s->old = s->dir ? with_suffix(s->dir, ".old") : NULL;
    char *mark = s->dir ? path_join(s->dir, marker) : NULL;
    int rc = 0;
    struct stat st;
    if (!s->tmp || !s->old || !mark) {
        snprintf(err, errlen, "%s: out of memory", dir);
        rc = 1;
    } else if (stat(s->dir, &st) == 0 && (!S_ISDIR(st.st_mode) || !exists(mark))) {
        snprintf(err, errlen, "%s: exists and is not a folder holding %s: not replaced (remove it or choose another)",
                 s->dir, marker);
        rc = 1;
    } else if (remove_flat(s->tmp, err, errlen))
        rc = 1;
    else if (mkdir(s->tmp, 0777) != 0) {
        snprintf(err, errlen, "%s: cannot create folder (%s)", s->tmp, strerror(errno));
        rc = 1;
    }
    free(mark);
    if (rc) save_dir_free(s);
    return rc;
}

int save_dir_commit(save_dir *s, char *err, size_t errlen) {
    char *slash = strrchr(s->dir, '/');
    char *parent = slash ? strndup(s->dir, slash == s->dir ? 1 : (size_t)(slash - s->dir)) : strdup(".");
    bool replacing = exists(s->dir);
    int rc = 0;
    if (!parent) {
        snprintf(err, errlen, "%s: out of memory", s->dir);
        rc = 1;
    } else if (sync_dir(s->tmp, err, errlen) || (replacing && remove_flat(s->old, err, errlen)))
        rc = 1;
    else if (replacing && rename(s->dir, s->old) != 0) {
        snprintf(err, errlen, "%s: cannot move the previous folder aside to %s (%s)", s->dir, s->old, strerror(errno));
        rc = 1;
    } else if (rename(s->tmp, s->dir) != 0) {
        snprintf(err, errlen, "%s: cannot rename %s into place (%s)", s->dir, s->tmp, strerror(errno));
        rc = 1;
    } else if (sync_dir(parent, err, errlen))
        rc = 1;
    char ignored[256];
    if (!rc && replacing)
        remove_flat(s->old, ignored, sizeof ignored); /* the new folder is in place: a leftover
                                                         dir.old is harmless and removed next time */
    free(parent);
    if (rc) remove_flat(s->tmp, ignored, sizeof ignored);
    save_dir_free(s);
    return rc;
}

void save_dir_abort(save_dir *s) {
    char ignored[256];
    remove_flat(s->tmp, ignored, sizeof ignored);
    save_dir_free(s);
}

/* dir/name ← text, or when text is NULL the rest of the open file `from`; flushed to disk and closed */
static int write_file(const char *dir, const char *name, const char *text, FILE *from, const char *from_path, char *err,
                      size_t errlen) {
    char *path = path_join(dir, name);
    FILE *f = path ? fopen(path, "wb") : NULL;
    if (!f) {
        snprintf(err, errlen, "%s/%s: cannot create (%s)", dir, name, path ? strerror(errno) : "out of memory");
        free(path);
        return 1;
    }
    int ok = 1;
    if (text)
        ok = fwrite(text, 1, strlen(text), f) == strlen(text);
    else {
        char buf[1 << 16];
        size_t got;
        while (ok && (got = fread(buf, 1, sizeof buf, from)) > 0) ok = fwrite(buf, 1, got, f) == got;
        if (ferror(from)) {
            snprintf(err, errlen, "%s: read error", from_path);
            fclose(f);
            free(path);
            return 1;
        }
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) snprintf(err, errlen, "%s: write error (%s)", path, strerror(errno));
    free(path);
    return !ok;
}

int save_dir_write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen) {
    return write_file(dir, name, text, NULL, NULL, err, errlen);
}

int save_dir_copy(const char *src, const char *dir, const char *name, char *err, size_t errlen) {
    FILE *from = fopen(src, "rb");
    if (!from) {
        snprintf(err, errlen, "%s: cannot open (%s)", src, strerror(errno));
        return 1;
    }
    int rc = write_file(dir, name, NULL, from, src, err, errlen);
    fclose(from);
    return rc;
}
