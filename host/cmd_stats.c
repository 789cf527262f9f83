/* kedit stats: the covariance statistics C = (1/#tokens)·Σ k kᵀ of the W_out input at chosen layers over
 * a text corpus, computed in one pass (resumable) and cached for the editing methods; --report adds the
 * health of each layer's keys (cov_health.h): dead inputs, small eigenvalues, effective rank, condition. */
#include "cli.h"
#include "methods/cov_health.h"
#include "methods/covariance.h"
#include "run/interrupt.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: kedit stats --model PATH --layers L[,L...] [--tokenizer PATH] [--corpus FILE] [--tokens N]\n"
            "                   [--truncate windows|document] [--precision float64|float32] [--max-len N]\n"
            "                   [--batch-tokens N] [--cache DIR] [--checkpoint-every S]\n"
            "                   [--weights f32|bf16] [--device cpu|cuda] [--report]\n\n"
            "  --model PATH           a Hugging Face model folder or a llama2.c .bin file\n"
            "  --layers L,L,...       layers whose W_out input statistics to compute (one pass for all)\n"
            "  --tokenizer PATH       tokenizer (where the model folder has none)\n"
            "  --corpus FILE          text corpus: documents separated by blank lines or WikiText headings, or\n"
            "                         a .jsonl file of records with a string field \"text\", one document a line\n"
            "                         (default ../shared/data/text/wikitext-2-raw-test.txt, or\n"
            "                         $KEDIT_DATA/text/wikitext-2-raw-test.txt)\n"
            "  --tokens N             use the first N tokens (default 0: the whole corpus)\n"
            "  --truncate RULE        windows: each document cut into consecutive windows, every token used\n"
            "                         (default); document: each document cut to its first window, the rest\n"
            "                         dropped (the references' layer_stats)\n"
            "  --precision P          float64 (default) or float32 (the references' mom2_dtype): the precision\n"
            "                         of the running sums Σ k kᵀ\n"
            "  --max-len N            tokens per window (default: the model's context length)\n"
            "  --batch-tokens N       tokens per forward pass (default 4096)\n"
            "  --cache DIR            statistics cache folder (default results/stats)\n"
            "  --checkpoint-every S   save partial sums every S seconds (default 300; negative: never)\n"
            "  --weights f32|bf16     hold the linear layers' weights in float32 (default) or bfloat16 (the\n"
            "                         statistics of a bf16 model are its own: a run with \"weights\": \"bf16\")\n"
            "  --device cpu|cuda      backend (cuda in a make GPU=1 build; default cpu)\n"
            "  --report               print the health of each layer's keys: inputs whose second moment C_ii is\n"
            "                         below 1e-6 of the largest (dead), eigenvalues of C below 1e-6 of the\n"
            "                         largest (directions the corpus never uses), the directions holding 99%% of\n"
            "                         tr C, the effective rank and the condition number; exit 4 when a layer has\n"
            "                         more than 1%% of either (closed-form edits there write weights the model\n"
            "                         never reads: choose other layers or another corpus)\n\n"
            "A run that finds its cache file loads it; an interrupted run (SIGINT, SIGTERM or SIGUSR1 save a\n"
            "checkpoint, exit status %d) resumes.\n", EXIT_INTERRUPTED);
}

/* "3,4,5" or "3-8" or a mix; non-zero (nothing allocated) on malformed input */
static int parse_layers(const char *s, int **out, int *n) {
    *n = 0;
    *out = NULL;
    bool ok = *s != 0;
    while (ok && *s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        ok = end != s && a >= 0 && a <= 100000;
        if (ok && *end == '-') {
            s = end + 1;
            b = strtol(s, &end, 10);
            ok = end != s && b >= a && b <= 100000;
        }
        if (!ok) break;
        for (long l = a; l <= b; l++) {
            *out = realloc(*out, (size_t)(*n + 1) * sizeof **out);
            (*out)[(*n)++] = (int)l;
        }
        if (*end == ',') end++;
        else if (*end) ok = false;
        s = end;
    }
    if (ok) return 0;
    free(*out);
    *out = NULL;
    return -1;
}

/* the --report table: one line per layer, then a verdict; *unhealthy counts the layers over 1% */
static int print_report(const model *m, float *const *C, const cov_info *info, int n, int *unhealthy) {
    int d = m->cfg.d_ff;
    float *host = malloc((size_t)d * d * sizeof *host);
    char err[256];
    printf("\nkey health (C of the W_out input; thresholds 1e-6 of the largest):\n"
           "%5s %6s %14s %18s %9s %10s %12s\n", "layer", "d_ff", "dead inputs", "small eigenvalues",
           "99% dirs", "eff. rank", "condition");
    for (int j = 0; j < n; j++) {
        cov_health h;
        m->be->to_host(host, C[j], (size_t)d * d * sizeof *host);
        if (cov_health_of(host, d, info[j].eps, &h, err, sizeof err)) {
            fprintf(stderr, "kedit stats: layer %d: %s\n", info[j].layer, err);
            free(host);
            return -1;
        }
        int ok = cov_health_ok(&h);
        *unhealthy += !ok;
        printf("%5d %6d %6d (%5.1f%%) %10d (%5.1f%%) %9d %10.1f %12.3g%s\n", info[j].layer, d, h.dead_inputs,
               100.0 * h.dead_inputs / d, h.small_eigenvalues, 100.0 * h.small_eigenvalues / d, h.directions_99,
               h.effective_rank, h.condition, ok ? "" : "  <- unhealthy");
    }
    free(host);
    if (*unhealthy)
        printf("%d of %d layers have more than 1%% dead inputs or small eigenvalues: a closed-form edit (ROME, "
               "MEMIT, PMET, D4S) there writes large weights into directions this corpus never uses, and "
               "‖W − W₀‖ grows with every edit.\n", *unhealthy, n);
    else
        printf("every layer: at most 1%% dead inputs and small eigenvalues\n");
    return 0;
}

int cmd_stats(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *device = NULL, *weights = NULL, *layers_text = NULL, *v;
    bool report = false;
    char corpus_default[1024];
    const char *data = getenv("KEDIT_DATA");
    snprintf(corpus_default, sizeof corpus_default, "%s/text/wikitext-2-raw-test.txt",
             data && *data ? data : "../shared/data");
    cov_opts o = {.corpus = corpus_default, .progress = true, .stop = interrupt_flag()};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = cli_value(&i, argc, argv, "--model"))) model_path = v;
        else if ((v = cli_value(&i, argc, argv, "--tokenizer"))) tok_path = v;
        else if ((v = cli_value(&i, argc, argv, "--device"))) device = v;
        else if ((v = cli_value(&i, argc, argv, "--weights"))) weights = v;
        else if ((v = cli_value(&i, argc, argv, "--layers"))) layers_text = v;
        else if ((v = cli_value(&i, argc, argv, "--corpus"))) o.corpus = v;
        else if ((v = cli_value(&i, argc, argv, "--truncate"))) {
            if (corpus_rule_parse(v, &o.truncate)) {
                fprintf(stderr, "kedit stats: --truncate '%s': expected windows or document\n", v);
                return 2;
            }
        } else if ((v = cli_value(&i, argc, argv, "--precision"))) {
            if (cov_precision_parse(v, &o.precision)) {
                fprintf(stderr, "kedit stats: --precision '%s': expected float64 or float32\n", v);
                return 2;
            }
        } else if ((v = cli_value(&i, argc, argv, "--cache"))) o.cache_dir = v;
        else if ((v = cli_value(&i, argc, argv, "--tokens"))) o.max_tokens = cli_long("--tokens", v, 0, __LONG_MAX__);
        else if ((v = cli_value(&i, argc, argv, "--max-len"))) o.max_len = (int)cli_long("--max-len", v, 2, 1 << 20);
        else if ((v = cli_value(&i, argc, argv, "--batch-tokens")))
            o.batch_tokens = (int)cli_long("--batch-tokens", v, 1, 1 << 24);
        else if (!strcmp(argv[i], "--report")) report = true;
        else if ((v = cli_value(&i, argc, argv, "--checkpoint-every")))
            o.checkpoint_seconds = cli_double("--checkpoint-every", v);
        else {
            fprintf(stderr, "kedit stats: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    int *layers, n;
    if (!model_path || !layers_text) {
        fprintf(stderr, "kedit stats: --model and --layers are required\n");
        usage(stderr);
        return 2;
    }
    if (parse_layers(layers_text, &layers, &n)) {
        fprintf(stderr, "kedit stats: --layers '%s' is not a list like 3,4,5 or 3-8\n", layers_text);
        return 2;
    }
    model m;
    tokenizer *tok;
    cli_load_model(model_path, tok_path, cli_backend(device), cli_weights(weights), &m, &tok);
    interrupt_install();
    float **C = calloc((size_t)n, sizeof *C);
    cov_info *info = calloc((size_t)n, sizeof *info);
    char err[1024];
    int rc = cov_get(&m, tok, layers, n, &o, C, info, err, sizeof err), unhealthy = 0;
    if (rc) fprintf(stderr, "kedit stats: %s\n", err);
    for (int j = 0; !rc && j < n; j++) {
        printf("layer %d: %" PRId64 " tokens in %d windows (%d documents, rule %s, %s), corpus %016" PRIx64 ", %s %s",
               info[j].layer, info[j].n_tokens, info[j].n_win, info[j].n_docs, corpus_rule_name(info[j].truncate),
               cov_precision_name(info[j].precision),
               info[j].corpus_checksum, info[j].from_cache ? "loaded from" : "written to", info[j].path);
        if (info[j].eps > 0) printf(" (not positive definite: εI added, ε = %.3g)", info[j].eps);
        printf("\n");
    }
    if (!rc && report) rc = print_report(&m, C, info, n, &unhealthy);
    for (int j = 0; j < n; j++)
        if (C[j]) m.be->free(C[j]);
    free(C), free(info), free(layers);
    tokenizer_free(tok);
    model_free(&m);
    return rc && interrupt_signal() ? EXIT_INTERRUPTED : rc ? 1 : unhealthy ? 4 : 0;
}
