/* libFuzzer: a run configuration (JSON text) through run_config_from_json. */
#include "run/run_config.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    cJSON *j = cJSON_ParseWithLength((const char *)data, n);
    if (!j) return 0;
    run_config c;
    char err[2048];
    run_config_from_json(j, "fuzz.json", &c, err, sizeof err); // takes j, refused or not
    run_config_free(&c);
    return 0;
}
