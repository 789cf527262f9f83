/* Tokenizers: GPT-2 byte-level BPE (vocab.json + merges.txt, or tokenizer.json), Llama SentencePiece-BPE
 * (tokenizer.json with byte fallback), and llama2.c's tokenizer.bin. Ids equal the Hugging Face
 * `tokenizers` library's. */
#ifndef KEDIT_TOKENIZER_H
#define KEDIT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tokenizer tokenizer;

/* path: a folder with tokenizer.json or vocab.json + merges.txt, a tokenizer.json file, or a llama2.c
 * tokenizer.bin. NULL on failure with a message naming the file and field in err. */
tokenizer *tokenizer_load(const char *path, char *err, size_t errlen);
void tokenizer_free(tokenizer *t);

/* Encodes UTF-8 text; add_special adds BOS where the tokenizer's post-processor adds it (Llama).
 * Returns the number of ids written to a malloc'd array *ids (caller frees), or −1 on error. */
int tokenizer_encode(const tokenizer *t, const char *text, bool add_special, int **ids);

/* Decodes ids to malloc'd UTF-8 text; skip_special drops BOS/EOS and other special tokens. */
char *tokenizer_decode(const tokenizer *t, const int *ids, int n, bool skip_special);

int tokenizer_vocab_size(const tokenizer *t);
/* the tokenizer (read from path) against a model's vocabulary size: no more tokens than the model has, and
 * a llama2.c tokenizer.bin exactly as many (cut short at a token boundary it reads as a smaller one).
 * Non-zero with a message naming the file in err. */
int tokenizer_check_vocab(const tokenizer *t, const char *path, int model_vocab, char *err, size_t errlen);
int tokenizer_bos(const tokenizer *t); /* −1 if none */
int tokenizer_eos(const tokenizer *t); /* −1 if none */
bool tokenizer_adds_bos(const tokenizer *t);

#endif
