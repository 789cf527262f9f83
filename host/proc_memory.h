/* The memory of this process and of the machine, as Linux reports it (/proc): what a dry run measures and
 * what the CPU backend offers. */
#ifndef KEDIT_PROC_MEMORY_H
#define KEDIT_PROC_MEMORY_H

#include <stddef.h>

/* the resident memory of this process now (VmRSS) and its peak so far (VmHWM), bytes; 0 if unknown */
size_t proc_rss_now(void);
size_t proc_rss_peak(void);
/* memory the system can give without swapping (MemAvailable), bytes; 0 if unknown */
size_t proc_mem_available(void);

#endif
