/* Picking a backend by the name given on the command line or in a config: above the backends it picks
 * from (backend_cpu.c, kernels/), which include only backend.h. */
#ifndef KEDIT_BACKEND_BY_NAME_H
#define KEDIT_BACKEND_BY_NAME_H

#include "backend.h"

/* "cpu" or "cuda" (when built with GPU=1); NULL with a message on stderr otherwise */
const backend *backend_by_name(const char *name);

#endif
