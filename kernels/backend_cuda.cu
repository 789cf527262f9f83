/* The CUDA backend: the op table of host/backend.h, device memory, the cuBLAS/cuSOLVER handles, scratch
 * buffers, and the C helpers of kernels/cuda_backend.h (device count and peaks, event timers). The ops
 * themselves live one family per file (gemm.cu, rows.cu, elementwise.cu, norm.cu, rotary.cu,
 * attention.cu, loss.cu, reduce.cu, linalg.cu), each reviewed against its twin in host/backend_cpu.c.
 * Environment: KEDIT_TF32=1 lets cuBLAS run float32 products on TF32 tensor cores (faster, ~1e-3
 * relative error instead of ~1e-6). */
#include "cuda_backend.h"
#include "cuda_common.h"

#include <string.h>

static struct {
    bool ready;
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    cusolverDnParams_t solver_params;
    int sm_count;
    void *scratch[SCRATCH_COUNT];
    size_t scratch_bytes[SCRATCH_COUNT];
} g_cu;

cublasHandle_t cu_blas(void) { return g_cu.blas; }
cusolverDnHandle_t cu_solver(void) { return g_cu.solver; }
cusolverDnParams_t cu_solver_params(void) { return g_cu.solver_params; }

void *cu_scratch(cu_scratch_slot slot, size_t bytes) {
    static const char *names[SCRATCH_COUNT] = {"gemm scratch", "attention scratch", "batched-gemm pointers",
                                               "reduction scratch", "linear-algebra scratch"};
    if (bytes > g_cu.scratch_bytes[slot]) {
        size_t grown = (bytes + (1u << 20) - 1) & ~(size_t)((1u << 20) - 1); /* whole MiB */
        CUDA_CHECK(cudaDeviceSynchronize()); /* earlier ops may still read the old buffer */
        CUDA_CHECK(cudaFree(g_cu.scratch[slot]));
        g_cu.scratch[slot] = NULL;
        g_cu.scratch_bytes[slot] = 0;
        CUDA_MALLOC_CHECK(&g_cu.scratch[slot], grown, names[slot]);
        g_cu.scratch_bytes[slot] = grown;
    }
    return g_cu.scratch[slot];
}

unsigned cu_grid(int64_t n) {
    int64_t blocks = (n + CU_THREADS - 1) / CU_THREADS, cap = (int64_t)g_cu.sm_count * (2048 / CU_THREADS);
    if (blocks > cap) blocks = cap;
    return blocks > 0 ? (unsigned)blocks : 1u;
}

/* ---------------------------------------------------------------- memory */

static void *cu_alloc(size_t bytes) {
    void *p = NULL;
    size_t n = bytes ? bytes : 1;
    CUDA_MALLOC_CHECK(&p, n, "a backend buffer");
    CUDA_CHECK(cudaMemset(p, 0, n));
    return p;
}

static void cu_free(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}

static void cu_to_device(void *dst, const void *host_src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}

static void cu_to_host(void *host_dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}

static void cu_copy(void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

static void cu_zero(void *dst, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemset(dst, 0, bytes));
}

static void cu_sync(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

static size_t cu_mem_available(void) {
    size_t free_bytes = 0, total = 0;
    return cudaMemGetInfo(&free_bytes, &total) == cudaSuccess ? free_bytes : 0;
}

/* ---------------------------------------------------------------- the table */

/* filled member by member (C++17 has no designated initialisers), so each entry is checked by name */
static backend cuda_table(void) {
    backend b;
    memset(&b, 0, sizeof b);
    b.name = "cuda";
    b.alloc = cu_alloc;
    b.free = cu_free;
    b.to_device = cu_to_device;
    b.to_host = cu_to_host;
    b.copy = cu_copy;
    b.zero = cu_zero;
    b.sync = cu_sync;
    b.mem_available = cu_mem_available;
    b.gemm = cu_gemm;
    b.add_bias = cu_add_bias;
    b.axpy = cu_axpy;
    b.scale = cu_scale;
    b.col_sum_acc = cu_col_sum_acc;
    b.gather_rows = cu_gather_rows;
    b.scatter_add_rows = cu_scatter_add_rows;
    b.scatter_rows = cu_scatter_rows;
    b.layernorm_fwd = cu_layernorm_fwd;
    b.layernorm_bwd = cu_layernorm_bwd;
    b.rmsnorm_fwd = cu_rmsnorm_fwd;
    b.rmsnorm_bwd = cu_rmsnorm_bwd;
    b.gelu_fwd = cu_gelu_fwd;
    b.gelu_bwd = cu_gelu_bwd;
    b.silu_mul_fwd = cu_silu_mul_fwd;
    b.silu_mul_bwd = cu_silu_mul_bwd;
    b.rotary = cu_rotary;
    b.attention_fwd = cu_attention_fwd;
    b.attention_bwd = cu_attention_bwd;
    b.nll_loss = cu_nll_loss;
    b.kl_loss = cu_kl_loss;
    b.log_softmax = cu_log_softmax;
    b.sum_abs = cu_sum_abs;
    b.sum_sq = cu_sum_sq;
    b.sum_abs_diff = cu_sum_abs_diff;
    b.sum_sq_diff = cu_sum_sq_diff;
    b.adam_step = cu_adam_step;
    b.clamp_box = cu_clamp_box;
    b.f32_to_f64 = cu_f32_to_f64;
    b.f64_to_f32 = cu_f64_to_f32;
    b.f64_axpy = cu_f64_axpy;
    b.dgemm = cu_dgemm;
    b.dsyrk_acc = cu_dsyrk_acc;
    b.dger_acc = cu_dger_acc;
    b.potrf = cu_potrf;
    b.potrs_right = cu_potrs_right;
    b.chol_update = cu_chol_update;
    return b;
}

static const backend cuda_backend = cuda_table();

static bool tf32_requested(void) {
    const char *e = getenv("KEDIT_TF32");
    return e && strcmp(e, "1") == 0;
}

/* The first call picks the current device and creates the handles; NULL with a message when no device. */
extern "C" const backend *backend_cuda(void) {
    if (g_cu.ready) return &cuda_backend;
    if (cuda_device_count() == 0) {
        fprintf(stderr, "kedit: backend \"cuda\": no CUDA device is visible (driver missing or "
                        "CUDA_VISIBLE_DEVICES empty); run with the cpu backend\n");
        return NULL;
    }
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&g_cu.sm_count, cudaDevAttrMultiProcessorCount, dev));
    CUBLAS_CHECK(cublasCreate(&g_cu.blas));
    CUBLAS_CHECK(cublasSetMathMode(g_cu.blas, tf32_requested() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    CUSOLVER_CHECK(cusolverDnCreate(&g_cu.solver));
    CUSOLVER_CHECK(cusolverDnCreateParams(&g_cu.solver_params));
    g_cu.ready = true;
    return &cuda_backend;
}

/* ---------------------------------------------------------------- C helpers (cuda_backend.h) */

extern "C" int cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear it: no device is an answer here, not an error */
        return 0;
    }
    return n;
}

/* dense FLOP per clock per SM of the architectures this build targets (fp32 FMA lanes ×2; TF32, BF16 and
 * FP64 tensor cores): A100 (8.0) and H100 (9.0) */
static void nominal_peaks(cuda_device_info *info) {
    static const struct { int major, minor; double fp32, tf32, bf16, fp64; } table[] = {
        {8, 0, 128, 1024, 2048, 128},
        {9, 0, 256, 2048, 4096, 256},
    };
    double sm_thz = info->sm_count * info->sm_clock_khz * 1e3 / 1e12; /* SMs · clock (Hz), in units of 1e12 */
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].major == info->cc_major && table[i].minor == info->cc_minor) {
            info->peak_fp32_tflops = table[i].fp32 * sm_thz;
            info->peak_tf32_tflops = table[i].tf32 * sm_thz;
            info->peak_bf16_tflops = table[i].bf16 * sm_thz;
            info->peak_fp64_tflops = table[i].fp64 * sm_thz;
        }
}

extern "C" int cuda_device_info_get(cuda_device_info *info) {
    memset(info, 0, sizeof *info);
    if (cuda_device_count() == 0) {
        fprintf(stderr, "kedit: no CUDA device\n");
        return 1;
    }
    int dev = 0, mem_khz = 0, sm_khz = 0;
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    /* CUDA 13 dropped the clock fields from cudaDeviceProp: the attributes carry them */
    CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, dev));
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->cc_major = prop.major;
    info->cc_minor = prop.minor;
    info->sm_count = prop.multiProcessorCount;
    info->bus_width_bits = prop.memoryBusWidth;
    info->mem_bytes = prop.totalGlobalMem;
    info->mem_clock_khz = mem_khz;
    info->sm_clock_khz = sm_khz;
    info->peak_gbs = 2.0 * mem_khz * 1e3 * (prop.memoryBusWidth / 8.0) / 1e9;
    nominal_peaks(info);
    return 0;
}

struct cuda_timer {
    cudaEvent_t start, stop;
};

extern "C" cuda_timer *cuda_timer_new(void) {
    cuda_timer *t = (cuda_timer *)calloc(1, sizeof *t);
    if (!t) {
        fprintf(stderr, "kedit: out of host memory for a timer\n");
        exit(1);
    }
    CUDA_CHECK(cudaEventCreate(&t->start));
    CUDA_CHECK(cudaEventCreate(&t->stop));
    return t;
}

extern "C" void cuda_timer_start(cuda_timer *t) { CUDA_CHECK(cudaEventRecord(t->start, 0)); }

extern "C" float cuda_timer_stop_ms(cuda_timer *t) {
    float ms = 0;
    CUDA_CHECK(cudaEventRecord(t->stop, 0));
    CUDA_CHECK(cudaEventSynchronize(t->stop));
    CUDA_CHECK(cudaEventElapsedTime(&ms, t->start, t->stop));
    return ms;
}

extern "C" void cuda_timer_free(cuda_timer *t) {
    if (!t) return;
    CUDA_CHECK(cudaEventDestroy(t->start));
    CUDA_CHECK(cudaEventDestroy(t->stop));
    free(t);
}
