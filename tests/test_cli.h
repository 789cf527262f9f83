/* Running bin/kedit from a test as a user does: arguments, exit status and the output it printed, and
 * optionally a signal (SIGKILL, SIGTERM, ...) once it reports a given edit done. */
#ifndef KEDIT_TEST_CLI_H
#define KEDIT_TEST_CLI_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef KEDIT /* another build's binary: -DKEDIT='"build/asan/kedit"' */
#define KEDIT "bin/kedit"
#endif

/* in a forked child: replaces it with kedit and argv (NULL-terminated, without the program; at most 30) */
static inline void kedit_exec(const char *const *argv) {
    const char *args[32] = {KEDIT};
    int n = 1;
    for (; argv[n - 1] && n < 31; n++) args[n] = argv[n - 1];
    args[n] = NULL;
    execv(KEDIT, (char *const *)args);
    _exit(127);
}

/* starts kedit with argv in a child whose output (stdout and stderr) is discarded; its pid */
static inline pid_t kedit_spawn_quiet(const char *const *argv) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *null = fopen("/dev/null", "w");
        if (null) dup2(fileno(null), 1), dup2(fileno(null), 2);
        kedit_exec(argv);
    }
    return pid;
}

/* Runs kedit with argv (NULL-terminated, without the program); its output (stdout and stderr) goes to
 * out. With at > 0 the run is sent signal sig once it reports edit `at` done (progress lines after every
 * edit: --progress-every 0). Returns the exit status, 128 + signal when killed. */
static inline int kedit_signal(const char *const *argv, int at, int sig, char *out, size_t outlen) {
    int fd[2];
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        kedit_exec(argv);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    char line[1024], want[64];
    snprintf(want, sizeof want, "edit %d/", at);
    size_t used = 0;
    out[0] = 0;
    while (fgets(line, sizeof line, f)) {
        size_t k = strlen(line);
        if (used + k < outlen) memcpy(out + used, line, k + 1), used += k;
        if (at > 0 && !strncmp(line, want, strlen(want))) kill(pid, sig);
    }
    fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* kedit_signal with SIGKILL once edit kill_at is done (kill_at 0: never) */
static inline int kedit(const char *const *argv, int kill_at, char *out, size_t outlen) {
    return kedit_signal(argv, kill_at, SIGKILL, out, outlen);
}

#endif
