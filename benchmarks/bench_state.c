/* The resume state's cost at real scale (run/run_state.h): bytes per edit and seconds per state write
 * (checksum, write, fsync, rename, fsync of the folder) for GPT-J-6B (d 4096, d_ff 16384) and Llama-2-7B
 * (d 4096, d_ff 11008) with the reference layers of configs/<method>_<model>.json. The record sizes follow
 * editor_journal's layout for one request per edit: ROME, MEMIT and PMET E·(12 + 8(d + d_ff)), D4S
 * 4 + 8(d + E·d_ff), FT a snapshot of its matrix and bias 4·d_ff·(d + 1) (approximately: its small header
 * aside), plus 12E + 96 bytes of headers and checksum (test_run checks the MEMIT size on a real run).
 * Random bytes stand in for the factors; the folder is in $TMPDIR (default /tmp), the disk a results
 * folder would be on. Then the size of a results file after 1,000 edits written as a run writes it (a row
 * per edit, the norms of 6 matrices, a checkpoint every 100 edits, a flush after every edit), and the
 * seconds its writes took.
 *   usage: bench_state [writes per shape]   (default 20; FT's 256 MiB snapshot: 3) */
#include "run/results_h5.h"
#include "run/run_state.h"

#include <math.h>
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct shape {
    const char *model, *method;
    long d, d_ff, E; /* E: edited layers */
    int kind;        /* 0: factors, 1: D4S log record, 2: FT snapshot */
} shape;

static size_t record_bytes(const shape *s) {
    size_t payload = s->kind == 0   ? (size_t)s->E * (12 + 8 * (s->d + s->d_ff))
                     : s->kind == 1 ? 4 + 8 * (size_t)(s->d + s->E * s->d_ff)
                                    : 4 * (size_t)s->d_ff * (s->d + 1);
    return payload + 12 * (size_t)s->E + 96;
}

#define N_EDITS 1000
#define N_MATRICES 6
#define CHECKPOINT_EVERY 100

/* a results file of N_EDITS edits as a run writes it; its size in bytes, or −1 */
static long results_size(const char *path, double *seconds) {
    char err[1024];
    results_meta meta = {.config_json = "{}", .method = "memit", .model_path = "gpt-j-6B", .model_checksum = "0",
                         .dataset = "zsre.json", .protocol = "easyedit", .device = "cpu",
                         .run_id = "0123456789abcdef0123456789abcdef", .n_edits = N_EDITS};
    double t0 = now();
    results *r = results_create(path, &meta, err, sizeof err);
    int rc = !r || results_publish(r);
    static double scores[3][N_EDITS];
    for (long i = 0; i < N_EDITS && !rc; i++) {
        edit_row e = {.edit = i, .case_id = i, .efficacy = 1, .paraphrase = 0.5, .specificity = 0.75,
                      .target_prob_pre = 0.01, .target_prob_before = 0.02, .target_prob_post = 0.9, .t_z = 1,
                      .t_keys = 0.1, .t_solve = 0.2, .t_apply = 0.01, .t_eval = 0.3, .peak_rss = 1 << 30};
        rc = results_append_edit(r, &e);
        for (int m = 0; m < N_MATRICES && !rc; m++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.mlp_out", 3 + m);
            norm_row n = {1e-4 * i, 0.1 * i, 0.1, 0.02, NAN, NAN};
            rc = results_append_norms(r, name, i, &n);
        }
        for (int k = 0; k < 3; k++) scores[k][i] = 0.5;
        checkpoint_row c = {i + 1, scores[0], scores[1], scores[2], 30, 25, (double)i};
        if (!rc && (i + 1) % CHECKPOINT_EVERY == 0) rc = results_append_checkpoint(r, &c);
        if (!rc) rc = results_flush(r);
    }
    if (!rc) rc = results_mark_complete(r);
    if (rc) fprintf(stderr, "bench_state: %s\n", r ? results_error(r) : err);
    results_close(r);
    *seconds = now() - t0;
    struct stat sb;
    return rc || stat(path, &sb) ? -1 : (long)sb.st_size;
}

int main(int argc, char **argv) {
    int writes = argc > 1 ? atoi(argv[1]) : 20;
    if (writes < 1) writes = 1;
    static const shape shapes[] = {
        {"GPT-J-6B", "ROME", 4096, 16384, 1, 0},       {"GPT-J-6B", "MEMIT/PMET", 4096, 16384, 6, 0},
        {"GPT-J-6B", "D4S", 4096, 16384, 6, 1},        {"GPT-J-6B", "FT-L", 4096, 16384, 1, 2},
        {"Llama-2-7B", "ROME", 4096, 11008, 1, 0},     {"Llama-2-7B", "MEMIT/PMET", 4096, 11008, 5, 0},
        {"Llama-2-7B", "D4S", 4096, 11008, 5, 1},      {"Llama-2-7B", "FT-L", 4096, 11008, 1, 2},
    };
    const char *t = getenv("TMPDIR");
    char dir[512], results[600], err[1024];
    snprintf(dir, sizeof dir, "%s/kedit_bench_state_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(results, sizeof results, "%s/run.h5", dir);
    printf("%-11s %-11s %7s %14s %16s\n", "model", "method", "layers", "bytes/edit", "ms/state write");
    int rc = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes && !rc; i++) {
        const shape *s = &shapes[i];
        size_t n = record_bytes(s);
        unsigned char *rec = malloc(n);
        uint64_t x = 0x9E3779B97F4A7C15ull * (i + 1);
        for (size_t j = 0; j < n; j++) rec[j] = (unsigned char)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 56);
        run_state *st = run_state_create(results, "0123456789abcdef0123456789abcdef", err, sizeof err);
        int k = s->kind == 2 && writes > 3 ? 3 : writes;
        double t0 = now();
        for (int w = 0; w < k && st && !rc; w++) rc = run_state_write(st, w + 1, rec, n, s->kind == 2, err, sizeof err);
        double per = (now() - t0) / k;
        if (!st || rc) {
            fprintf(stderr, "bench_state: %s\n", err);
            rc = 1;
        } else printf("%-11s %-11s %7ld %14zu %16.2f\n", s->model, s->method, s->E, n, 1e3 * per);
        run_state_close(st);
        run_state_remove(results);
        free(rec);
    }
    double sec = 0;
    long size = rc ? -1 : results_size(results, &sec);
    if (size < 0) rc = 1;
    else printf("\nresults file after %d edits (%d matrices, a checkpoint every %d, a flush after every edit): %ld "
                "bytes, written in %.2f s\n", N_EDITS, N_MATRICES, CHECKPOINT_EVERY, size, sec);
    unlink(results);
    rmdir(dir);
    return rc;
}
