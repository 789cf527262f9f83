/* The backend a test runs on. test_cuda_backend: the CUDA backend when this build has it and a device
 * is visible. test_device_backend: KEDIT_TEST_DEVICE=cpu (the default) or cuda, so the reference tests
 * (tests/test_forward.c) run unchanged on the GPU under `make test-gpu`. Both return NULL with the
 * reason to skip. */
#ifndef KEDIT_TEST_DEVICE_H
#define KEDIT_TEST_DEVICE_H

#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef KEDIT_CUDA
#include "../kernels/cuda_backend.h"
#endif

static inline const backend *test_cuda_backend(const char **why) {
#ifdef KEDIT_CUDA
    const backend *g = cuda_device_count() > 0 ? backend_cuda() : NULL;
    if (!g) *why = "no CUDA device";
    return g;
#else
    *why = "built without CUDA: make GPU=1";
    return NULL;
#endif
}

static inline const backend *test_device_backend(const char **why) {
    const char *dev = getenv("KEDIT_TEST_DEVICE");
    if (!dev || !*dev || !strcmp(dev, "cpu")) return backend_cpu();
    if (!strcmp(dev, "cuda")) return test_cuda_backend(why);
    fprintf(stderr, "KEDIT_TEST_DEVICE=%s: expected cpu or cuda\n", dev);
    exit(2);
}

/* declares be, the backend under test, or skips the test with the reason */
#define NEED_BACKEND(be)                                                                                    \
    const char *why_ = "";                                                                                  \
    const backend *be = test_device_backend(&why_);                                                         \
    if (!be) SKIP("%s", why_)

#endif
