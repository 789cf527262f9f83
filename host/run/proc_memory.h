/* The memory of this process and of the machine, as Linux reports it: what a dry run measures and what a
 * run's plan is checked against. */
#ifndef KEDIT_PROC_MEMORY_H
#define KEDIT_PROC_MEMORY_H

#include <stddef.h>

/* the resident memory of this process now (VmRSS) and its peak so far (VmHWM), bytes; 0 if unknown */
size_t proc_rss_now(void);
size_t proc_rss_peak(void);

/* host memory a run may use: $KEDIT_MEMORY_LIMIT when set (bytes, or with a suffix K, M, G, T: powers of
 * 1024), else MemAvailable of /proc/meminfo; 0 if unknown. A malformed limit is -1 with a message in err. */
long long host_memory_limit(char *err, size_t errlen);

#endif
