/* Causal attention with right padding and grouped-query heads (CPU twins: cpu_attention_fwd/bwd), as
 * cuBLAS batched GEMMs over the (sequence b, head h) pairs plus a warp-per-row softmax:
 *   forward   S = scale·Q·Kᵀ (into probs), P = causal softmax of S over keys j ≤ t (rows t ≥ len[b] and
 *             entries j > t zero), out = P·V
 *   backward  dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO
 * Query head h reads kv head h / G (G = nh / nkv). dK and dV of one kv head sum over its G query heads:
 * G batched GEMMs over (b, kv head), the first overwriting (beta 0) and the rest accumulating (beta 1),
 * so no two entries of one call write the same output. The GEMMs multiply whole T×T blocks: padded rows
 * and masked entries of P and dS are exact zeros, so they add nothing (the padding rows of q, k, v must
 * hold finite values, as the transformer's zero-filled buffers do). With KEDIT_TF32=1 these GEMMs run on
 * TF32 tensor cores like every float32 product. */
#include "cuda_common.h"

/* pointer of batch entry e = o·n_inner + i: base + o·s_outer + (i / div)·s_inner */
struct ptr_map {
    const float *base;
    int64_t s_outer, s_inner;
    int div;
};
#define MAX_MAPS 6
struct ptr_maps {
    ptr_map m[MAX_MAPS];
};

/* out[a·count + e] = pointer of entry e under map a, for a < n_maps */
__global__ void build_ptrs_kernel(const float **out, ptr_maps maps, int n_maps, int n_inner, int count) {
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= count) return;
    int o = e / n_inner, i = e % n_inner;
    for (int a = 0; a < n_maps; a++) {
        const ptr_map &m = maps.m[a];
        out[(int64_t)a * count + e] = m.base + o * m.s_outer + (int64_t)(i / m.div) * m.s_inner;
    }
}

static void build_ptrs(float **out, const ptr_map *maps, int n_maps, int n_inner, int count) {
    ptr_maps pm;
    for (int a = 0; a < n_maps; a++) pm.m[a] = maps[a];
    build_ptrs_kernel<<<(count + CU_THREADS - 1) / CU_THREADS, CU_THREADS>>>((const float **)out, pm, n_maps, n_inner,
                                                                             count);
    KERNEL_CHECK();
}

/* C_e = alpha·op(A_e)·op(B_e) + beta·C_e for every entry e, row-major (the operand swap of cu_gemm) */
static void gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, float *const *A, int lda,
                         float *const *B, int ldb, float beta, float *const *C, int ldc, int count) {
    CUBLAS_CHECK(cublasSgemmBatched(cu_blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                    N, M, K, &alpha, (const float *const *)B, ldb, (const float *const *)A, lda,
                                    &beta, C, ldc, count));
}

#define ROW_WARPS 8 /* rows (one warp each) per block of the softmax kernels */

/* the (b, t) of a row of the (B, nh, T, T) probabilities and its sequence's valid length */
__device__ __forceinline__ void row_site(int64_t row, int nh, int T, const int *len, int *t, int *L) {
    int b = (int)(row / ((int64_t)nh * T));
    *t = (int)(row % T);
    *L = len[b] < 0 ? 0 : len[b] > T ? T : len[b];
}

/* S (in P) → P: softmax over j ≤ t (max subtracted, the normaliser summed in double), zero elsewhere */
__global__ void causal_softmax_kernel(float *P, int64_t rows, int nh, int T, const int *len) {
    int64_t row = (int64_t)blockIdx.x * ROW_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x & 31, t, L;
    if (row >= rows) return;
    row_site(row, nh, T, len, &t, &L);
    float *p = P + row * T;
    if (t >= L) {
        for (int j = lane; j < T; j += 32) p[j] = 0.0f;
        return;
    }
    float smax = -INFINITY;
    for (int j = lane; j <= t; j += 32) smax = fmaxf(smax, p[j]);
    smax = warp_reduce(smax, cu_max());
    double z = 0;
    for (int j = lane; j <= t; j += 32) {
        float e = expf(p[j] - smax);
        p[j] = e;
        z += e;
    }
    z = warp_reduce(z, cu_sum());
    float inv_z = (float)(1.0 / z);
    for (int j = lane; j < T; j += 32) p[j] = j <= t ? p[j] * inv_z : 0.0f;
}

/* dP (in D) → dS = P ⊙ (dP − Σ_j P·dP) over j ≤ t (the sum in double), zero elsewhere */
__global__ void causal_softmax_bwd_kernel(const float *P, float *D, int64_t rows, int nh, int T, const int *len) {
    int64_t row = (int64_t)blockIdx.x * ROW_WARPS + threadIdx.x / 32;
    int lane = threadIdx.x & 31, t, L;
    if (row >= rows) return;
    row_site(row, nh, T, len, &t, &L);
    const float *p = P + row * T;
    float *ds = D + row * T;
    if (t >= L) {
        for (int j = lane; j < T; j += 32) ds[j] = 0.0f;
        return;
    }
    double pdp = 0;
    for (int j = lane; j <= t; j += 32) pdp += (double)p[j] * ds[j];
    float fpdp = (float)warp_reduce(pdp, cu_sum());
    for (int j = lane; j < T; j += 32) ds[j] = j <= t ? p[j] * (ds[j] - fpdp) : 0.0f;
}

static unsigned row_blocks(int64_t rows) { return (unsigned)((rows + ROW_WARPS - 1) / ROW_WARPS); }

void cu_attention_fwd(const float *q, const float *k, const float *v, float *out, float *probs, int B, int T, int nh,
                      int nkv, int hd, const int *len, float scale) {
    if (B <= 0 || T <= 0 || nh <= 0 || nkv <= 0 || hd <= 0) return;
    int G = nh / nkv, count = B * nh;                            /* query heads per kv head; (b, h) pairs */
    int64_t qs = (int64_t)nh * hd, ks = (int64_t)nkv * hd, TT = (int64_t)T * T; /* row strides; a (T, T) block */
    const ptr_map maps[5] = {
        {q, T * qs, hd, 1},      /* Q of (b, h): (T, hd), stride qs */
        {k, T * ks, hd, G},      /* K of (b, h / G): (T, hd), stride ks */
        {v, T * ks, hd, G},      /* V of (b, h / G) */
        {probs, nh * TT, TT, 1}, /* P of (b, h): (T, T) */
        {out, T * qs, hd, 1},    /* out of (b, h): (T, hd), stride qs */
    };
    float **ptr = (float **)cu_scratch(SCRATCH_PTRS, 5 * (size_t)count * sizeof(float *)); /* (5, count) */
    build_ptrs(ptr, maps, 5, nh, count);
    float **Q = ptr, **K = ptr + count, **V = ptr + 2 * count, **P = ptr + 3 * count, **O = ptr + 4 * count;
    gemm_batched(false, true, T, T, hd, scale, Q, (int)qs, K, (int)ks, 0.0f, P, T, count); /* S = scale·Q·Kᵀ */
    causal_softmax_kernel<<<row_blocks((int64_t)count * T), ROW_WARPS * 32>>>(probs, (int64_t)count * T, nh, T, len);
    KERNEL_CHECK();
    gemm_batched(false, false, T, hd, T, 1.0f, P, T, V, (int)ks, 0.0f, O, (int)qs, count); /* out = P·V */
}

void cu_attention_bwd(const float *dout, const float *q, const float *k, const float *v, const float *probs,
                      float *dq, float *dk, float *dv, int B, int T, int nh, int nkv, int hd, const int *len,
                      float scale) {
    if (B <= 0 || T <= 0 || nh <= 0 || nkv <= 0 || hd <= 0) return;
    int G = nh / nkv, count = B * nh, count_kv = B * nkv;
    int64_t qs = (int64_t)nh * hd, ks = (int64_t)nkv * hd, TT = (int64_t)T * T;
    float *D = (float *)cu_scratch(SCRATCH_ATTN, (size_t)count * TT * sizeof(float)); /* (B, nh, T, T): dP, then dS */
    /* pointers: 5 arrays over (b, h), then 6 over (b, kv head) for each of the G query heads of a group */
    float **ptr = (float **)cu_scratch(SCRATCH_PTRS, (5 * (size_t)count + 6 * (size_t)G * count_kv) * sizeof(float *));
    const ptr_map maps[5] = {
        {dout, T * qs, hd, 1}, /* dO of (b, h) */
        {v, T * ks, hd, G},    /* V of (b, h / G) */
        {D, nh * TT, TT, 1},   /* dP, dS of (b, h) */
        {k, T * ks, hd, G},    /* K of (b, h / G) */
        {dq, T * qs, hd, 1},   /* dQ of (b, h) */
    };
    build_ptrs(ptr, maps, 5, nh, count);
    float **dO = ptr, **V = ptr + count, **dS = ptr + 2 * count, **K = ptr + 3 * count, **dQ = ptr + 4 * count;
    gemm_batched(false, true, T, T, hd, 1.0f, dO, (int)qs, V, (int)ks, 0.0f, dS, T, count); /* dP = dO·Vᵀ */
    causal_softmax_bwd_kernel<<<row_blocks((int64_t)count * T), ROW_WARPS * 32>>>(probs, D, (int64_t)count * T, nh, T,
                                                                                 len);
    KERNEL_CHECK();
    gemm_batched(false, false, T, hd, T, scale, dS, T, K, (int)ks, 0.0f, dQ, (int)qs, count); /* dQ = scale·dS·K */
    for (int gi = 0; gi < G; gi++) { /* query head h = g·G + gi of kv head g */
        float **p = ptr + 5 * (size_t)count + 6 * (size_t)gi * count_kv;
        const ptr_map group[6] = {
            {D + gi * TT, nh * TT, G * TT, 1},     /* dS of (b, h) */
            {q + gi * hd, T * qs, G * hd, 1},      /* Q of (b, h) */
            {dk, T * ks, hd, 1},                   /* dK of (b, g) */
            {probs + gi * TT, nh * TT, G * TT, 1}, /* P of (b, h) */
            {dout + gi * hd, T * qs, G * hd, 1},   /* dO of (b, h) */
            {dv, T * ks, hd, 1},                   /* dV of (b, g) */
        };
        build_ptrs(p, group, 6, nkv, count_kv);
        float beta = gi == 0 ? 0.0f : 1.0f;
        gemm_batched(true, false, T, hd, T, scale, p, T, p + count_kv, (int)qs, beta, p + 2 * count_kv, (int)ks,
                     count_kv); /* dK (+)= scale·dSᵀ·Q */
        gemm_batched(true, false, T, hd, T, 1.0f, p + 3 * count_kv, T, p + 4 * count_kv, (int)qs, beta,
                     p + 5 * count_kv, (int)ks, count_kv); /* dV (+)= Pᵀ·dO */
    }
}
