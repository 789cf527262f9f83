/* The message of a results handle's last error: set by every results_*.c through results_fail, read through
 * results_error (results_h5.h). Below the file's life, reading and writing, which all report through it. */
#include "run/results_impl.h"

#include <stdarg.h>
#include <stdio.h>

int results_fail(results *r, const char *fmt, ...) {
    int k = snprintf(r->err, sizeof r->err, "%s: ", r->path);
    va_list ap;
    va_start(ap, fmt);
    if (k > 0 && (size_t)k < sizeof r->err) vsnprintf(r->err + k, sizeof r->err - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

const char *results_error(const results *r) { return r->err; }
