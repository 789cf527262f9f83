#include "run/run_state.h"

#include "file_read.h"
#include "fnv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "KEDITRS1"
#define PATH_LEN 4096

typedef struct state_header {
    char magic[8];
    int64_t t;
    char run_id[RUN_ID_LEN];
    uint64_t len;
} state_header;

struct run_state {
    char *dir;
    char run_id[RUN_ID_LEN + 1];
    long *have; /* edit counts with a record, ascending */
    long n_have;
};

char *run_state_dir(const char *results_path) {
    size_t n = strlen(results_path) + 8;
    char *d = malloc(n);
    snprintf(d, n, "%s.state", results_path);
    return d;
}

static void record_path(const run_state *s, long t, char *buf, size_t n) {
    snprintf(buf, n, "%s/edit-%08ld.kst", s->dir, t);
}

/* the edit count of a record's file name, or -1 when the name is not one */
static long record_count(const char *name) {
    long t;
    int used = 0;
    if (sscanf(name, "edit-%8ld.kst%n", &t, &used) != 1 || used != (int)strlen(name) || strlen(name) != 17 || t < 1)
        return -1;
    return t;
}

static bool is_temporary(const char *name) {
    size_t n = strlen(name);
    return !strncmp(name, "edit-", 5) && n > 4 && !strcmp(name + n - 4, ".tmp");
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* lists the records (and removes temporaries, or with clear every file of ours) */
static int scan(run_state *s, bool clear, char *err, size_t errlen) {
    DIR *d = opendir(s->dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot list the state folder (%s)", s->dir, strerror(errno));
        return -1;
    }
    s->n_have = 0;
    long cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        long t = record_count(de->d_name);
        char p[PATH_LEN];
        snprintf(p, sizeof p, "%s/%s", s->dir, de->d_name);
        if (is_temporary(de->d_name) || (clear && t > 0)) {
            unlink(p);
            continue;
        }
        if (t < 0) continue;
        if (s->n_have == cap) {
            cap = cap ? 2 * cap : 64;
            s->have = realloc(s->have, (size_t)cap * sizeof *s->have);
        }
        s->have[s->n_have++] = t;
    }
    closedir(d);
    if (s->n_have) qsort(s->have, (size_t)s->n_have, sizeof *s->have, cmp_long);
    return 0;
}

static run_state *state_new(const char *results_path, const char *run_id, bool clear, char *err, size_t errlen) {
    run_state *s = calloc(1, sizeof *s);
    s->dir = run_state_dir(results_path);
    snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
    if (mkdir(s->dir, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create the state folder (%s)", s->dir, strerror(errno));
        run_state_close(s);
        return NULL;
    }
    if (scan(s, clear, err, errlen)) {
        run_state_close(s);
        return NULL;
    }
    return s;
}

run_state *run_state_create(const char *results_path, const char *run_id, char *err, size_t errlen) {
    return state_new(results_path, run_id, true, err, errlen);
}

run_state *run_state_open(const char *results_path, const char *run_id, char *err, size_t errlen) {
    return state_new(results_path, run_id, false, err, errlen);
}

void run_state_close(run_state *s) {
    if (!s) return;
    free(s->dir);
    free(s->have);
    free(s);
}

long run_state_last(const run_state *s) { return s->n_have ? s->have[s->n_have - 1] : 0; }

static int sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int run_state_write(run_state *s, long t, const void *rec, size_t n, bool snapshot, char *err, size_t errlen) {
    char path[PATH_LEN], tmp[PATH_LEN + 8];
    record_path(s, t, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    state_header h = {.t = t, .len = n};
    memcpy(h.magic, STATE_MAGIC, 8);
    memcpy(h.run_id, s->run_id, RUN_ID_LEN);
    uint64_t sum = fnv1a64(fnv1a64(FNV1A64_OFFSET, &h, sizeof h), rec, n);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 || write_all(fd, &h, sizeof h) || write_all(fd, rec, n) || write_all(fd, &sum, sizeof sum) ||
             fsync(fd);
    if (fd >= 0 && close(fd)) rc = 1;
    if (!rc) rc = rename(tmp, path) || sync_dir(s->dir);
    if (rc) {
        snprintf(err, errlen, "%s: cannot write the edit's state (%s)", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (snapshot) { // the earlier snapshots are superseded
        for (long i = 0; i < s->n_have; i++) {
            char old[PATH_LEN];
            record_path(s, s->have[i], old, sizeof old);
            if (s->have[i] != t) unlink(old);
        }
        s->n_have = 0;
    }
    if (s->n_have && s->have[s->n_have - 1] >= t) return 0; // rewritten in place
    s->have = realloc(s->have, (size_t)(s->n_have + 1) * sizeof *s->have);
    s->have[s->n_have++] = t;
    return 0;
}

static bool has(const run_state *s, long t) {
    return s->n_have && bsearch(&t, s->have, (size_t)s->n_have, sizeof *s->have, cmp_long);
}

/* one record's payload, checked; NULL with the message naming the file */
static void *read_record(run_state *s, long t, size_t *len, char *err, size_t errlen) {
    char path[PATH_LEN];
    record_path(s, t, path, sizeof path);
    size_t n;
    unsigned char *buf = (unsigned char *)file_read_all(path, &n);
    if (!buf) {
        snprintf(err, errlen, "%s: cannot read the state of edit %ld (%s)", path, t, strerror(errno));
        return NULL;
    }
    state_header h;
    uint64_t sum = 0, want;
    bool ok = n >= sizeof h + sizeof sum;
    if (ok) memcpy(&h, buf, sizeof h);
    if (ok) memcpy(&sum, buf + n - sizeof sum, sizeof sum);
    const char *why = !ok || memcmp(h.magic, STATE_MAGIC, 8) ? "not a kedit state file (bad magic or too short)"
                      : h.len != n - sizeof h - sizeof sum   ? "truncated (its length field does not match its size)"
                                                             : NULL;
    if (!why && sum != (want = fnv1a64(FNV1A64_OFFSET, buf, n - sizeof sum))) {
        snprintf(err, errlen, "%s: corrupt: checksum %016" PRIx64 " stored, %016" PRIx64 " computed over its bytes",
                 path, sum, want);
        free(buf);
        return NULL;
    }
    if (!why && h.t != t) why = "its edit count does not match its name";
    if (!why && memcmp(h.run_id, s->run_id, RUN_ID_LEN)) why = "written by another run (its run id differs)";
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        free(buf);
        return NULL;
    }
    memmove(buf, buf + sizeof h, (size_t)h.len);
    *len = (size_t)h.len;
    return buf;
}

int run_state_read(run_state *s, long t, int batch, bool snapshot, int *n_rec, void ***recs, size_t **lens, char *err,
                   size_t errlen) {
    long n = snapshot ? 1 : (t + batch - 1) / batch; // the calls' ends: min(k·batch, t)
    *n_rec = 0;
    *recs = calloc((size_t)(n > 0 ? n : 1), sizeof **recs);
    *lens = calloc((size_t)(n > 0 ? n : 1), sizeof **lens);
    for (long i = 0; i < n; i++) {
        long at = snapshot || (i + 1) * batch > t ? t : (i + 1) * batch;
        if (!has(s, at)) {
            snprintf(err, errlen, "%s: the state of edit %ld is missing", s->dir, at);
            return -1;
        }
        if (!((*recs)[i] = read_record(s, at, &(*lens)[i], err, errlen))) return -1;
        *n_rec = (int)(i + 1);
    }
    return 0;
}

int run_state_drop_after(run_state *s, long t, char *err, size_t errlen) {
    long keep = 0;
    for (long i = 0; i < s->n_have; i++) {
        if (s->have[i] <= t) {
            s->have[keep++] = s->have[i];
            continue;
        }
        char p[PATH_LEN];
        record_path(s, s->have[i], p, sizeof p);
        if (unlink(p) && errno != ENOENT) {
            snprintf(err, errlen, "%s: cannot remove (%s)", p, strerror(errno));
            return -1;
        }
    }
    s->n_have = keep;
    return sync_dir(s->dir) ? -1 : 0;
}

int run_state_remove(const char *results_path) {
    char err[64];
    run_state *s = state_new(results_path, "", true, err, sizeof err); // removes our files
    if (!s) return -1;
    int rc = rmdir(s->dir);
    run_state_close(s);
    return rc;
}
