/* libFuzzer: a tokenizer.json through tokenizer_load; a tokenizer that loads encodes and decodes a text. */
#include "fuzz_file.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char err[1024];
    // a leading '{' makes the loader read it as JSON (not as a llama2.c tokenizer.bin)
    if (n == 0 || data[0] != '{') return 0;
    tokenizer *t = tokenizer_load(fuzz_file(data, n), err, sizeof err);
    if (!t) return 0;
    int *ids = NULL, k = tokenizer_encode(t, "Hello world, <|endoftext|> caf\xc3\xa9 \xe2\x96\x81x 12", true, &ids);
    char *back = k >= 0 ? tokenizer_decode(t, ids, k, false) : NULL;
    free(back);
    free(ids);
    tokenizer_free(t);
    return 0;
}
