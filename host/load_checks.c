/* The refusals the checkpoint loaders share (see load_checks.h): a model too large for memory, a tensor
 * that is not finite. */
#include "load_checks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* bytes the system can give without swapping: MemAvailable, else the physical memory; 0 if unknown */
static size_t available_memory(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                fclose(f);
                return (size_t)kb * 1024;
            }
        fclose(f);
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
}

int load_check_memory(const model_config *c, const backend *be, kweight_type linears, const char *path, char *err,
                      size_t errlen) {
    if (strcmp(be->name, "cpu") != 0) return 0;
    size_t need = model_weight_bytes(c, linears), avail = available_memory();
    if (avail && need > avail) {
        snprintf(err, errlen,
                 "%s: the model needs an estimated %.2f GiB of weights (linear layers in %s) but only %.2f GiB "
                 "of memory is available%s",
                 path, need / 1073741824.0, weight_type_name(linears), avail / 1073741824.0,
                 linears == KT_F32 ? " (bf16 weights need about half)" : "");
        return 1;
    }
    return 0;
}

int load_check_finite(const float *x, size_t n, const char *path, const char *tensor, char *err, size_t errlen) {
    size_t bad = n;
#pragma omp parallel for reduction(min : bad) if (n >= (1 << 20))
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && i < bad) bad = i;
    if (bad == n) return 0;
    snprintf(err, errlen, "%s: tensor %s: element %zu is %s (NaN or infinite weights are refused)", path, tensor, bad,
             isnan(x[bad]) ? "NaN" : "infinite");
    return 1;
}
