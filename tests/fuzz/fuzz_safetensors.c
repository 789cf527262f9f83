/* libFuzzer: a safetensors file (header and data) through st_open_file, every tensor converted. */
#include "fuzz_file.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    st_set s;
    char err[1024];
    if (st_open_file(fuzz_file(data, n), &s, err, sizeof err)) return 0;
    for (int i = 0; i < s.n_tensors; i++) {
        const st_tensor *t = &s.tensors[i];
        if (t->numel > (1 << 20)) continue;
        float *x = malloc((size_t)t->numel * sizeof(float) + 1);
        st_read_f32(t, x, err, sizeof err);
        free(x);
        if (st_find(&s, t->name) != t) abort();
    }
    st_checksum(&s);
    st_close(&s);
    return 0;
}
