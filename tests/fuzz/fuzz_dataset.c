/* libFuzzer: an editing dataset (zsRE or CounterFact JSON) through dataset_load, under both protocols,
 * stopping at or skipping invalid records, shuffled. */
#include "fuzz_file.h"
#include "run/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *path = fuzz_file(data, n);
    char err[1024];
    for (int k = 0; k < 4; k++) {
        dataset_opts o = dataset_opts_default();
        o.protocol = k & 1 ? PROTOCOL_MEMIT : PROTOCOL_EASYEDIT;
        o.skip_invalid = k & 2;
        o.shuffle = true;
        edit_dataset d;
        if (!dataset_load(path, &o, &d, err, sizeof err)) dataset_free(&d);
    }
    return 0;
}
