#include "proc_memory.h"

#include <stdio.h>
#include <string.h>

/* the value of the "key:   N kB" line of a /proc file, in bytes; 0 if absent */
static size_t proc_kb_field(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':' && sscanf(line + kl + 1, "%llu", &kb) == 1) break;
    fclose(f);
    return (size_t)kb * 1024;
}

size_t proc_rss_now(void) { return proc_kb_field("/proc/self/status", "VmRSS"); }
size_t proc_rss_peak(void) { return proc_kb_field("/proc/self/status", "VmHWM"); }

size_t proc_mem_available(void) { return proc_kb_field("/proc/meminfo", "MemAvailable"); }
