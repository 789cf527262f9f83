/* Rotary position embedding in place (CPU twin: cpu_rotary): a block per row (grid-stride over rows),
 * its threads over the (head, pair) couples of that row, each rotating one pair with km_rotate_pair. */
#include "cuda_common.h"

__global__ void rotary_kernel(float *x, const int *pos, int rows, int n_heads, int head_dim, int rot_dim,
                              float theta, bool interleaved, bool inverse) {
    int half = rot_dim / 2, pairs = n_heads * half;
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        int p = pos[r];
        for (int e = threadIdx.x; e < pairs; e += blockDim.x) {
            int h = e / half, i = e % half;
            float *xh = x + ((size_t)r * n_heads + h) * head_dim;
            float *a = interleaved ? xh + 2 * i : xh + i; /* pair (2i, 2i+1) or (i, i + rot_dim/2) */
            float *b = interleaved ? xh + 2 * i + 1 : xh + i + half;
            float va = *a, vb = *b;
            km_rotate_pair(&va, &vb, p, i, rot_dim, theta, inverse);
            *a = va;
            *b = vb;
        }
    }
}

void cu_rotary(float *x, const int *pos, int rows, int n_heads, int head_dim, int rot_dim, float theta,
               bool interleaved, bool inverse) {
    if (rows <= 0 || n_heads <= 0 || rot_dim < 2) return;
    rotary_kernel<<<cu_grid((int64_t)rows * CU_THREADS), CU_THREADS>>>(x, pos, rows, n_heads, head_dim, rot_dim,
                                                                       theta, interleaved, inverse);
    KERNEL_CHECK();
}
