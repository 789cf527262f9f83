/* kedit generate: text from a model, greedy or top-k sampling with a seed. */
#include "cli.h"
#include "commands.h"
#include "sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: kedit generate --model PATH [--tokenizer PATH] [--prompt TEXT] [--steps N]\n"
               "                      [--temperature T] [--top-k K] [--seed S]\n"
               "                      [--weights f32|bf16] [--device cpu|cuda]\n\n"
               "  --model PATH        a Hugging Face model folder or a llama2.c .bin file\n"
               "  --tokenizer PATH    tokenizer (needed where the model folder has none, as for llama2.c files)\n"
               "  --prompt TEXT       text to continue (default: empty, starting from BOS or <|endoftext|>)\n"
               "  --steps N           tokens to generate (default 64)\n"
               "  --temperature T     0 for greedy decoding (default 0)\n"
               "  --top-k K           sample among the K most likely tokens (default 0: all)\n"
               "  --seed S            seed of the sampler (default 42)\n"
               "  --weights f32|bf16  hold the linear layers' weights in float32 (default) or bfloat16\n"
               "  --device cpu|cuda   backend (cuda in a make GPU=1 build; default cpu)\n");
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *prompt = "", *device = NULL, *weights = NULL, *v;
    long steps = 64, top_k = 0, seed = 42;
    double temperature = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = cli_value(&i, argc, argv, "--model"))) model_path = v;
        else if ((v = cli_value(&i, argc, argv, "--tokenizer"))) tok_path = v;
        else if ((v = cli_value(&i, argc, argv, "--prompt"))) prompt = v;
        else if ((v = cli_value(&i, argc, argv, "--device"))) device = v;
        else if ((v = cli_value(&i, argc, argv, "--weights"))) weights = v;
        else if ((v = cli_value(&i, argc, argv, "--steps"))) steps = cli_long("--steps", v, 0, 1 << 20);
        else if ((v = cli_value(&i, argc, argv, "--top-k"))) top_k = cli_long("--top-k", v, 0, 1 << 30);
        else if ((v = cli_value(&i, argc, argv, "--seed"))) seed = cli_long("--seed", v, 0, __LONG_MAX__);
        else if ((v = cli_value(&i, argc, argv, "--temperature"))) temperature = cli_double("--temperature", v);
        else {
            fprintf(stderr, "kedit generate: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "kedit generate: --model is required\n");
        usage(stderr);
        return 2;
    }
    model m;
    tokenizer *tok;
    cli_load_model(model_path, tok_path, cli_backend(device), cli_weights(weights), &m, &tok);
    int *prompt_ids, n = tokenizer_encode(tok, prompt, true, &prompt_ids);
    if (n < 0) return 1;
    if (n == 0) { // an empty prompt starts from BOS, or from <|endoftext|> where there is no BOS
        int start = tokenizer_bos(tok) >= 0 ? tokenizer_bos(tok) : tokenizer_eos(tok);
        if (start < 0) {
            fprintf(stderr, "kedit generate: the tokenizer has no BOS or EOS token to start from: give --prompt\n");
            return 2;
        }
        prompt_ids = realloc(prompt_ids, sizeof(int));
        prompt_ids[n++] = start;
    }
    int *ids = malloc((size_t)(n + steps) * sizeof(int));
    memcpy(ids, prompt_ids, (size_t)n * sizeof(int));
    sampler s = sampler_make((float)temperature, (int)top_k, (uint64_t)seed);
    int len = generate_tokens(&m, ids, n, (int)steps, &s, tokenizer_eos(tok));
    if (len < 0) return 1;
    char *text = tokenizer_decode(tok, ids, len, true);
    printf("%s\n", text);
    free(text);
    free(ids);
    free(prompt_ids);
    tokenizer_free(tok);
    model_free(&m);
    return 0;
}
