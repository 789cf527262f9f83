#include "run/proc_memory.h"

#include <stdio.h>
#include <stdlib.h>
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

long long host_memory_limit(char *err, size_t errlen) {
    const char *s = getenv("KEDIT_MEMORY_LIMIT");
    if (!s || !*s) return (long long)proc_kb_field("/proc/meminfo", "MemAvailable");
    char *end;
    double v = strtod(s, &end);
    const char *units = "KMGT";
    const char *u = *end ? strchr(units, *end) : NULL;
    if (end == s || v <= 0 || (*end && (!u || end[1]))) {
        snprintf(err, errlen, "KEDIT_MEMORY_LIMIT=%s: not a positive number of bytes (suffix K, M, G or T allowed)", s);
        return -1;
    }
    for (const char *p = units; u && p <= u; p++) v *= 1024;
    return (long long)v;
}
