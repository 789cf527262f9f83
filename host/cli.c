#include "cli.h"

#include "backend_by_name.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *cli_value(int *i, int argc, char **argv, const char *name) {
    if (strcmp(argv[*i], name) != 0) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kedit: option %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

long cli_long(const char *opt, const char *text, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "kedit: option %s: '%s' is not a whole number in [%ld, %ld]\n", opt, text, lo, hi);
        exit(2);
    }
    return v;
}

double cli_double(const char *opt, const char *text) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end) {
        fprintf(stderr, "kedit: option %s: '%s' is not a number\n", opt, text);
        exit(2);
    }
    return v;
}

const backend *cli_backend(const char *device) {
    const backend *be = backend_by_name(device ? device : "cpu");
    if (!be) exit(2);
    return be;
}

kweight_type cli_weights(const char *weights) {
    kweight_type t = KT_F32;
    if (weights && weight_type_parse(weights, &t)) {
        fprintf(stderr, "kedit: option --weights: '%s' is not f32 or bf16\n", weights);
        exit(2);
    }
    return t;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

void cli_load_model(const char *model_path, const char *tokenizer_path, const backend *be, kweight_type wt, model *m,
                    tokenizer **tok) {
    char err[1024];
    if (model_load_as(model_path, be, wt, m, err, sizeof err)) {
        fprintf(stderr, "kedit: %s\n", err);
        exit(1);
    }
    if (!tok) return;
    const char *tp = tokenizer_path ? tokenizer_path : is_dir(model_path) ? model_path : NULL;
    if (!tp) {
        fprintf(stderr, "kedit: %s has no tokenizer beside it: give one with --tokenizer PATH\n", model_path);
        exit(2);
    }
    *tok = tokenizer_load(tp, err, sizeof err);
    if (!*tok || tokenizer_check_vocab(*tok, tp, m->cfg.vocab, err, sizeof err)) {
        fprintf(stderr, "kedit: %s\n", err);
        exit(1);
    }
}
