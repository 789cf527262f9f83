/* kedit mqd: the Multi-Question Dataset from ATOMIC-2020 (DG, MQ and T/F edit requests in the zsRE
 * schema) and, with a model, how long and how hard each type's targets are for it. */
#include "cli.h"
#include "commands.h"
#include "run/dataset.h"
#include "run/metrics.h"
#include "run/mqd.h"
#include "run/target_stats.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: kedit mqd --atomic FILE --out DIR [--seed S] [--model PATH] [--tokenizer PATH]\n"
            "                 [--max-tokens N] [--n N] [--batch N] [--weights f32|bf16] [--device cpu|cuda]\n\n"
            "  --atomic FILE      ATOMIC-2020 tuples, one 'head @@ relation<TAB>tail| tail| ...' a line\n"
            "                     (e.g. ../shared/data/atomic/atomic2020_test_5000.tsv)\n"
            "  --out DIR          writes DIR/dg.json, DIR/mq.json, DIR/tf.json (zsRE schema; created when absent)\n"
            "  --seed S           seed of the distractors, letters, yes/no and locality pairs (default 0)\n"
            "  --model PATH       also report, per type, the mean target and prompt+target length in this\n"
            "                     model's tokens and the perplexity of the targets after their prompts (a prompt\n"
            "                     too long for the model's context keeps its last tokens: 'truncated')\n"
            "  --tokenizer PATH   the model's tokenizer (where the model folder has none)\n"
            "  --max-tokens N     keep only the tuples whose every question (prompt and rephrase + target)\n"
            "                     has at most N tokens of the model's tokenizer (a small model's context)\n"
            "  --n N              report on the first N records of each type (default 0: all)\n"
            "  --batch N          sequences per forward pass of the report (default 64)\n"
            "  --weights f32|bf16, --device cpu|cuda   as for kedit generate\n\n"
            "The same file and seed give the same bytes. README.md (MQD) documents the questions.\n");
}

/* the lengths and perplexities of the three files just written */
static int report(const char *out_dir, const model *m, const tokenizer *tok, long n, int batch) {
    printf("%-4s  %8s  %13s  %12s  %10s  %9s\n", "type", "records", "target tokens", "input tokens", "target ppl",
           "truncated");
    int rc = 0;
    for (int k = 0; k < MQD_N_TYPES && !rc; k++) {
        char path[1200], err[1024];
        snprintf(path, sizeof path, "%s/%s.json", out_dir, mqd_type_name((mqd_type)k));
        dataset_opts o = dataset_opts_default();
        edit_dataset d;
        target_stats st;
        rc = dataset_load(path, &o, &d, err, sizeof err);
        if (!rc) {
            rc = target_stats_compute(m, tok, &d, n, batch, &st, err, sizeof err);
            dataset_free(&d);
        }
        if (rc) fprintf(stderr, "kedit mqd: %s\n", err);
        else
            printf("%-4s  %8ld  %13.2f  %12.2f  %10.4g  %9ld\n", mqd_type_name((mqd_type)k), st.n,
                   st.mean_target_tokens, st.mean_input_tokens, st.ppl, st.n_truncated);
    }
    return rc ? 1 : 0;
}

/* prompt (as the tokenizer encodes it) + target (as an edit target) in tokens */
static long n_tokens(void *ctx, const char *prompt, const char *target) {
    const tokenizer *t = ctx;
    int *ids = NULL;
    id_seq tg = {0};
    long n = tokenizer_encode(t, prompt, true, &ids) + eval_tokenize_target(t, target, &tg);
    free(ids);
    free(tg.ids);
    return n;
}

int cmd_mqd(int argc, char **argv) {
    const char *atomic = NULL, *out = NULL, *model_path = NULL, *tok = NULL, *device = NULL, *weights = NULL, *v;
    uint64_t seed = 0;
    long n = 0, max_tokens = 0;
    int batch = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = cli_value(&i, argc, argv, "--atomic"))) atomic = v;
        else if ((v = cli_value(&i, argc, argv, "--out"))) out = v;
        else if ((v = cli_value(&i, argc, argv, "--seed"))) seed = (uint64_t)cli_long("--seed", v, 0, __LONG_MAX__);
        else if ((v = cli_value(&i, argc, argv, "--model"))) model_path = v;
        else if ((v = cli_value(&i, argc, argv, "--tokenizer"))) tok = v;
        else if ((v = cli_value(&i, argc, argv, "--n"))) n = cli_long("--n", v, 0, __LONG_MAX__);
        else if ((v = cli_value(&i, argc, argv, "--max-tokens"))) max_tokens = cli_long("--max-tokens", v, 1, __LONG_MAX__);
        else if ((v = cli_value(&i, argc, argv, "--batch"))) batch = (int)cli_long("--batch", v, 1, 1 << 20);
        else if ((v = cli_value(&i, argc, argv, "--weights"))) weights = v;
        else if ((v = cli_value(&i, argc, argv, "--device"))) device = v;
        else {
            fprintf(stderr, "kedit mqd: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!atomic || !out) {
        fprintf(stderr, "kedit mqd: --atomic and --out are required\n");
        usage(stderr);
        return 2;
    }
    if (max_tokens && !model_path) {
        fprintf(stderr, "kedit mqd: --max-tokens counts a model's tokens: give --model\n");
        return 2;
    }
    model m;
    tokenizer *tk = NULL;
    if (model_path) cli_load_model(model_path, tok, cli_backend(device), cli_weights(weights), &m, &tk); // before any output
    char err[1024];
    mqd_summary s;
    mqd_fit fit = {n_tokens, tk, max_tokens};
    int rc = mqd_build(atomic, seed, max_tokens ? &fit : NULL, out, &s, err, sizeof err);
    if (rc) fprintf(stderr, "kedit mqd: %s\n", err);
    else {
        printf("%s: %ld tuples, %ld skipped without a usable tail, %ld with fewer than 3 other tails in their relation",
               atomic, s.n_tuples, s.n_no_tail, s.n_few_tails);
        if (max_tokens) printf(", %ld with a question over %ld tokens", s.n_too_long, max_tokens);
        printf("\n%s/{dg,mq,tf}.json: %ld records each (seed %llu; T/F: %ld yes, %ld no)\n", out, s.n_records,
               (unsigned long long)seed, s.n_yes, s.n_records - s.n_yes);
    }
    if (!rc && model_path) rc = report(out, &m, tk, n, batch);
    if (model_path) {
        tokenizer_free(tk);
        model_free(&m);
    }
    return rc ? 1 : 0;
}
