/* Reading a JSON file whole: the one reader behind config.json, safetensors indexes, sweep grids, datasets
 * and reference fixtures, with an error that names the file (and the byte where parsing stopped). */
#ifndef KEDIT_JSON_FILE_H
#define KEDIT_JSON_FILE_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* the parsed JSON file at path, or NULL with a message naming the file in err */
cJSON *json_file_read(const char *path, char *err, size_t errlen);

#endif
