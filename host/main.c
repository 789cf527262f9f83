/* kedit: sequential knowledge editing of language models. Dispatches to the subcommands. */
#include "blas_info.h"
#include "commands.h"
#include "version.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "one sequential-editing run from a configuration (or a sweep task; resumable)"},
    {"tokenize", cmd_tokenize, "print the token ids of a text (or of each line of standard input)"},
    {"generate", cmd_generate, "generate text from a model (greedy or top-k sampling)"},
    {"verify", cmd_verify, "check a model folder or llama2.c .bin before a long run: config, shards, shapes, dtypes, NaN/Inf, tokenizer"},
    {"stats", cmd_stats, "covariance statistics of W_out inputs over a corpus (cached, resumable)"},
    {"sweep", cmd_sweep, "expand a grid of run configurations into task files and a Slurm array script"},
    {"mqd", cmd_mqd, "build the Multi-Question Dataset (DG, MQ, T/F edit requests) from ATOMIC-2020"},
    {"table", cmd_table, "print the paper's Table 2 (Eff/Par/Spe/Avg per checkpoint) from results files, or the paper's own (--paper)"},
};

static void usage(FILE *f) {
    fprintf(f, "kedit %s: sequential knowledge editing of language models\n\n", KEDIT_VERSION);
    fprintf(f, "usage: kedit COMMAND [options]    (kedit COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kedit %s\nBLAS: %s\n", KEDIT_VERSION, blas_description());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kedit: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
