/* backend_by_name (see backend_by_name.h). */
#include "backend_by_name.h"

#include <stdio.h>
#include <string.h>

const backend *backend_by_name(const char *name) {
    if (name && strcmp(name, "cpu") == 0) return backend_cpu();
    if (name && strcmp(name, "cuda") == 0) {
#ifdef KEDIT_CUDA
        return backend_cuda();
#else
        fprintf(stderr, "kedit: backend \"cuda\": kedit was built without CUDA: rebuild with make GPU=1\n");
        return NULL;
#endif
    }
    fprintf(stderr, "kedit: unknown backend \"%s\" (expected \"cpu\" or \"cuda\")\n", name ? name : "(none)");
    return NULL;
}
