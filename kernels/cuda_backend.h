/* Plain C helpers around the CUDA backend for the tests and benchmarks (compiled by a C compiler, no
 * CUDA headers needed): whether a device exists, what it is and its nominal peaks, and event timing on
 * the stream every op of backend_cuda() runs on. Defined in kernels/backend_cuda.cu. */
#ifndef KEDIT_CUDA_BACKEND_H
#define KEDIT_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* number of CUDA devices; 0 when there is none or no driver (never exits) */
int cuda_device_count(void);

typedef struct cuda_device_info {
    char name[256];
    int cc_major, cc_minor, sm_count, bus_width_bits;
    size_t mem_bytes;
    double mem_clock_khz, sm_clock_khz; /* peak clocks */
    double peak_gbs;                    /* 2 (double data rate) · memory clock · bus width / 8 */
    /* nominal dense peaks at the peak SM clock, from a per-architecture table (sm_80, sm_90); 0 when
     * this architecture is not in the table */
    double peak_fp32_tflops, peak_tf32_tflops, peak_bf16_tflops, peak_fp64_tflops;
} cuda_device_info;

/* fills info for the current device; non-zero (with a message) when there is none */
int cuda_device_info_get(cuda_device_info *info);

/* CUDA events on the backend's stream: start, then stop_ms waits for the stop and returns the time */
typedef struct cuda_timer cuda_timer;
cuda_timer *cuda_timer_new(void);
void cuda_timer_start(cuda_timer *t);
float cuda_timer_stop_ms(cuda_timer *t);
void cuda_timer_free(cuda_timer *t);

#ifdef __cplusplus
}
#endif

#endif
