/* The CPU BLAS as OpenBLAS reports itself: its build configuration, the kernel it chose for this CPU at
 * load time (OPENBLAS_CORETYPE overrides the choice) and its thread count. */
#include "blas_info.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

const char *blas_description(void) {
    static char text[512];
    const char *config = openblas_get_config(), *core = openblas_get_corename();
    char trimmed[384];
    snprintf(trimmed, sizeof trimmed, "%s", config ? config : "OpenBLAS (no configuration string)");
    size_t n = strlen(trimmed);
    while (n && trimmed[n - 1] == ' ') trimmed[--n] = '\0';
    snprintf(text, sizeof text, "%s; kernel %s; %d threads", trimmed, core ? core : "unknown",
             openblas_get_num_threads());
    return text;
}
