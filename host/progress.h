/* Progress of a run on the terminal: after each edit, "edit i/N, method, rate, ETA, efficacy". On a
 * terminal one line is redrawn in place (carriage return); otherwise (a log file, a pipe) plain lines
 * are written, one every `interval` seconds and for the first and the last edit. --quiet prints nothing. */
#ifndef KEDIT_PROGRESS_H
#define KEDIT_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct progress {
    FILE *out;
    const char *method;
    long total;
    bool tty, quiet, drawn; /* drawn: a redrawn line is on the terminal, not yet ended */
    double interval;        /* seconds between plain lines (default 5); redraws at most every 0.1 s */
    double t_start, t_last; /* progress_now() at the start and at the last line */
    double eff_sum;         /* Σ efficacy of the edits so far (the running mean) */
    long n_eff;
} progress;

/* out is usually stdout; tty is decided with isatty */
void progress_start(progress *p, FILE *out, const char *method, long total, bool quiet);
/* after the done-th edit (1 … total), whose efficacy right after it was `efficacy` */
void progress_edit(progress *p, long done, double efficacy);
/* a message line (e.g. "checkpoint 100: ...") that does not garble a redrawn line */
void progress_note(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ends a redrawn line */
void progress_finish(progress *p);

/* monotonic wall seconds (the phase timers of a run and of an edit call, the statistics pass's rate) */
double progress_now(void);
/* the process's peak resident memory so far, bytes */
long long peak_rss_bytes(void);

#endif
