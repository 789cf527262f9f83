/* Checks for CUDA runtime, cuBLAS and cuSOLVER status codes: on failure they print the file, line, the
 * call, the library's own message and a hint at the usual cause, then exit non-zero. A failed device
 * allocation says how much was asked for and how much the device has free (cudaMemGetInfo).
 * C++ (nvcc) only: included by the .cu files of kernels/. */
#ifndef KEDIT_CUDA_CHECK_H
#define KEDIT_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <stdio.h>
#include <stdlib.h>

static inline const char *cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorMemoryAllocation: return "the device is out of memory: use a smaller batch or model";
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver: return "no usable CUDA device or driver: run with the cpu backend";
    case cudaErrorIllegalAddress: return "a kernel read or wrote outside a buffer: an index or size is wrong";
    case cudaErrorLaunchFailure: return "a kernel faulted: rerun under compute-sanitizer";
    case cudaErrorInvalidConfiguration: return "bad launch size: a dimension is zero or too large";
    case cudaErrorInvalidValue: return "an argument is invalid: a NULL pointer, a negative size or a host pointer";
    case cudaErrorNoKernelImageForDevice: return "the binary has no code for this GPU: rebuild for its compute capability";
    default: return "see the CUDA runtime documentation for this error";
    }
}

static inline void cuda_fail(cudaError_t e, const char *call, const char *file, int line) {
    fprintf(stderr, "kedit: cuda backend: %s:%d: %s failed: %s (%s); hint: %s\n", file, line, call,
            cudaGetErrorString(e), cudaGetErrorName(e), cuda_hint(e));
    exit(1);
}

static inline const char *cublas_hint(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "cuBLAS could not start: check the driver and free device memory";
    case CUBLAS_STATUS_ALLOC_FAILED: return "cuBLAS could not allocate its workspace: the device is out of memory";
    case CUBLAS_STATUS_INVALID_VALUE: return "a size or leading dimension is invalid (ld smaller than a row?)";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "this GPU lacks the feature (bf16 needs compute capability 8.0)";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the kernel failed on the device: an earlier fault?";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "this type or layout combination is not supported";
    default: return "see the cuBLAS documentation for this status";
    }
}

static inline void cublas_fail(cublasStatus_t s, const char *call, const char *file, int line) {
    fprintf(stderr, "kedit: cuda backend: %s:%d: %s failed: %s (%s); hint: %s\n", file, line, call,
            cublasGetStatusString(s), cublasGetStatusName(s), cublas_hint(s));
    exit(1);
}

static inline void cusolver_fail(cusolverStatus_t s, const char *call, const char *file, int line) {
    const char *hint = s == CUSOLVER_STATUS_INVALID_VALUE   ? "a size or leading dimension is invalid"
                       : s == CUSOLVER_STATUS_ALLOC_FAILED  ? "cuSOLVER could not allocate: the device is out of memory"
                       : s == CUSOLVER_STATUS_NOT_INITIALIZED ? "cuSOLVER could not start: check the driver"
                       : s == CUSOLVER_STATUS_EXECUTION_FAILED ? "a cuSOLVER kernel failed to run on the device"
                       : s == CUSOLVER_STATUS_INTERNAL_ERROR ? "cuSOLVER failed internally (often an earlier memory fault)"
                                                              : "see the cuSOLVER documentation for this status";
    fprintf(stderr, "kedit: cuda backend: %s:%d: %s failed with cusolverStatus_t %d; hint: %s\n", file, line, call,
            (int)s, hint);
    exit(1);
}

/* a failed cudaMalloc: what was asked, what is free, then exit */
static inline void cuda_alloc_fail(cudaError_t e, size_t bytes, const char *what, const char *file, int line) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError(); /* clear the allocation error before asking for the free memory */
    cudaError_t q = cudaMemGetInfo(&free_b, &total_b);
    fprintf(stderr, "kedit: cuda backend: %s:%d: allocating %zu bytes (%.1f MiB) of %s failed: %s; ", file, line,
            bytes, bytes / 1048576.0, what, cudaGetErrorString(e));
    if (q != cudaSuccess) /* a sticky fault from an earlier kernel, not a shortage */
        fprintf(stderr, "the free memory is unknown (%s); hint: an earlier kernel failed, rerun with "
                        "CUDA_LAUNCH_BLOCKING=1 to find it\n", cudaGetErrorString(q));
    else if (e == cudaErrorMemoryAllocation)
        fprintf(stderr, "the device has %.1f MiB free of %.1f MiB; hint: use a smaller batch or model, bf16 weights "
                        "(\"weights\": \"bf16\"), or a GPU with more memory\n", free_b / 1048576.0, total_b / 1048576.0);
    else
        fprintf(stderr, "the device has %.1f MiB free of %.1f MiB\n", free_b / 1048576.0, total_b / 1048576.0);
    exit(1);
}

#define CUDA_CHECK(call)                                                                                    \
    do {                                                                                                    \
        cudaError_t e_ = (call);                                                                            \
        if (e_ != cudaSuccess) cuda_fail(e_, #call, __FILE__, __LINE__);                                    \
    } while (0)

/* after a kernel launch: reports a bad launch at once (faults inside the kernel surface at the next sync) */
#define KERNEL_CHECK() CUDA_CHECK(cudaGetLastError())

#define CUBLAS_CHECK(call)                                                                                  \
    do {                                                                                                    \
        cublasStatus_t s_ = (call);                                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS) cublas_fail(s_, #call, __FILE__, __LINE__);                        \
    } while (0)

#define CUSOLVER_CHECK(call)                                                                                \
    do {                                                                                                    \
        cusolverStatus_t s_ = (call);                                                                       \
        if (s_ != CUSOLVER_STATUS_SUCCESS) cusolver_fail(s_, #call, __FILE__, __LINE__);                    \
    } while (0)

/* cudaMalloc of `bytes` into *ptr, exiting with the sizes on failure; `what` names the buffer */
#define CUDA_MALLOC_CHECK(ptr, bytes, what)                                                                 \
    do {                                                                                                    \
        cudaError_t e_ = cudaMalloc((ptr), (bytes));                                                        \
        if (e_ != cudaSuccess) cuda_alloc_fail(e_, (bytes), (what), __FILE__, __LINE__);                    \
    } while (0)

#endif
