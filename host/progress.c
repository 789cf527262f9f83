#include "progress.h"

#include <stdarg.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_EVERY 0.1 /* seconds between redraws of a terminal line */

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long long peak_rss_bytes(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? (long long)u.ru_maxrss * 1024 : -1; // ru_maxrss is in KiB
}

void progress_start(progress *p, FILE *out, const char *method, long total, bool quiet) {
    *p = (progress){.out = out, .method = method, .total = total, .quiet = quiet, .interval = 5.0};
    p->tty = isatty(fileno(out));
    p->t_start = p->t_last = progress_now();
}

/* "1h02m", "6m57s", "41s" */
static void format_duration(char *buf, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

void progress_edit(progress *p, long done, double efficacy) {
    if (efficacy == efficacy) { // NaN (not measured) stays out of the mean
        p->eff_sum += efficacy;
        p->n_eff++;
    }
    if (p->quiet) return;
    double now = progress_now(), elapsed = now - p->t_start;
    bool last = done >= p->total;
    if (!last && now - p->t_last < (p->tty ? REDRAW_EVERY : p->interval) && done != 1) return;
    p->t_last = now;
    double rate = elapsed > 0 ? (double)done / elapsed : 0; // edits per second
    char speed[32], eta[32];
    if (rate >= 1 || rate == 0) snprintf(speed, sizeof speed, "%.2f edits/s", rate);
    else snprintf(speed, sizeof speed, "%.1f s/edit", 1 / rate);
    format_duration(eta, sizeof eta, rate > 0 ? (double)(p->total - done) / rate : 0);
    char line[256];
    snprintf(line, sizeof line, "edit %ld/%ld  %s  %s  ETA %s  efficacy %.3f (mean %.3f)", done, p->total, p->method,
             speed, eta, efficacy, p->n_eff ? p->eff_sum / (double)p->n_eff : 0.0);
    if (p->tty) {
        fprintf(p->out, "\r%s\033[K", line);
        p->drawn = true;
        if (last) progress_finish(p);
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

void progress_note(progress *p, const char *fmt, ...) {
    if (p->quiet) return;
    if (p->drawn) fputs("\r\033[K", p->out);
    p->drawn = false;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

void progress_finish(progress *p) {
    if (p->drawn) fputc('\n', p->out);
    p->drawn = false;
    fflush(p->out);
}
