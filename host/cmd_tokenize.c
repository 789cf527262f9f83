/* kedit tokenize: prints the token ids of a text, or of each line of standard input. */
#include "commands.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: kedit tokenize --tokenizer PATH TEXT\n"
            "       kedit tokenize --tokenizer PATH -      (one line of ids per line of standard input)\n\n"
            "Prints the token ids of TEXT separated by single spaces. BOS is added where the tokenizer's own\n"
            "post-processor adds it (Llama, llama2.c), not for GPT-2. Input lines lose their \"\\n\" or \"\\r\\n\".\n\n"
            "  --tokenizer PATH  a folder with tokenizer.json or vocab.json + merges.txt, a tokenizer.json file,\n"
            "                    or a llama2.c tokenizer.bin\n"
            "  --help            this help\n"
            "  --                the next argument is TEXT even if it starts with --\n");
}

/* prints the ids of one text; 0, or 1 with a message naming what failed */
static int print_ids(const tokenizer *t, const char *text, const char *what) {
    int *ids = NULL;
    int n = tokenizer_encode(t, text, true, &ids);
    if (n < 0) {
        fprintf(stderr, "kedit tokenize: cannot encode %s: %s\n", what,
                tok_utf8_valid(text, strlen(text)) ? "out of memory" : "not valid UTF-8");
        return 1;
    }
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
    free(ids);
    return 0;
}

static int tokenize_stdin(const tokenizer *t) {
    char *line = NULL, what[64];
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    for (long line_no = 1; !rc && (len = getline(&line, &cap, stdin)) >= 0; line_no++) {
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        if ((size_t)len != strlen(line)) {
            fprintf(stderr, "kedit tokenize: standard input line %ld contains a NUL byte\n", line_no);
            rc = 1;
            break;
        }
        snprintf(what, sizeof what, "standard input line %ld", line_no);
        rc = print_ids(t, line, what);
    }
    free(line);
    if (!rc && ferror(stdin)) {
        fprintf(stderr, "kedit tokenize: error reading standard input\n");
        rc = 1;
    }
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL, *text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            tokenize_usage(stdout);
            return 0;
        }
        if (!strcmp(arg, "--tokenizer")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kedit tokenize: --tokenizer needs a PATH\n");
                return 2;
            }
            path = argv[++i];
            continue;
        }
        if (!strcmp(arg, "--") && i + 1 < argc)
            arg = argv[++i]; /* a TEXT that starts with "--" */
        else if (!strncmp(arg, "--", 2)) {
            fprintf(stderr, "kedit tokenize: unknown option '%s' (see kedit tokenize --help)\n", arg);
            return 2;
        }
        if (text) {
            fprintf(stderr, "kedit tokenize: one TEXT only (quote it, or use - to read lines from standard input)\n");
            return 2;
        }
        text = arg;
    }
    if (!path || !text) {
        fprintf(stderr, "kedit tokenize: %s is missing\n\n", !path ? "--tokenizer PATH" : "TEXT (or -)");
        tokenize_usage(stderr);
        return 2;
    }
    char err[1024];
    tokenizer *t = tokenizer_load(path, err, sizeof err);
    if (!t) {
        fprintf(stderr, "kedit tokenize: %s\n", err);
        return 1;
    }
    int rc = strcmp(text, "-") ? print_ids(t, text, "TEXT") : tokenize_stdin(t);
    tokenizer_free(t);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "kedit tokenize: cannot write standard output\n");
        rc = 1;
    }
    return rc;
}
