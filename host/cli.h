/* Small helpers shared by the subcommands: option parsing and loading a model with its tokenizer. */
#ifndef KEDIT_CLI_H
#define KEDIT_CLI_H

#include "model.h"
#include "tokenizer.h"

#include <stdbool.h>

/* If argv[*i] is --name, returns its value (the next argument, consuming it) or exits with a message
 * naming the option when it is missing; returns NULL when argv[*i] is another option. */
const char *cli_value(int *i, int argc, char **argv, const char *name);

/* parses a whole number or a real number of an option, exiting with a message naming it when malformed */
long cli_long(const char *opt, const char *text, long lo, long hi);
double cli_double(const char *opt, const char *text);

/* the backend named by --device (default cpu) */
const backend *cli_backend(const char *device);
/* the storage named by --weights (f32 or bf16; default f32), exiting with a message when malformed */
kweight_type cli_weights(const char *weights);

/* loads a model with its linears held as wt and, when tok is not NULL, its tokenizer: tokenizer_path,
 * else the model folder's own tokenizer.json or vocab.json + merges.txt. Exits with a clear message on
 * failure. */
void cli_load_model(const char *model_path, const char *tokenizer_path, const backend *be, kweight_type wt, model *m,
                    tokenizer **tok);

#endif
