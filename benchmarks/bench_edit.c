/* One whole MEMIT edit (compute_z + keys + residual + solve + apply, editing-spec §2–§3) on the bundled
 * fact-world model, timed: the first N requests of its zsRE edits, in sequence, with six fixed context
 * templates (those of benchmarks/edit_torch.py, which times the same steps in PyTorch; benchmarks/edit.sh
 * runs both and prints the ratio). The covariance statistics are computed (or loaded) before timing.
 * Usage: bench_edit [N]. */
#include "methods/editor.h"
#include "model.h"
#include "test_files.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#define FW "models/factworld"

/* the fixed templates, the same strings as edit_torch.py's: "{}" and five prefixes (spec §2's groups) */
static char *TEXT[] = {"{}", "The city is large. {}", "Therefore, she left. {}", "Because of the rain. {}",
                       "I think so. {}", "You know it. {}"};
static int GROUP[] = {0, 1, 1, 1, 1, 1};

static const char *str(cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k)->valuestring; }

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 5;
    char err[2048];
    model m;
    edit_hparams hp;
    tokenizer *tok = NULL;
    cJSON *reqs = read_json(FW "/data/edits_zsre.json");
    if (model_load(FW "/gpt2", backend_cpu(), &m, err, sizeof err) || !(tok = tokenizer_load(FW "/gpt2", err, sizeof err)) ||
        hparams_load("configs/memit_factworld.json", &hp, err, sizeof err) || !reqs) {
        fprintf(stderr, "bench_edit: %s\n", reqs ? err : FW "/data/edits_zsre.json unreadable");
        return 1;
    }
    editor *e = editor_create(&m, &hp, err, sizeof err);
    ctx_templates tpl = {.n = 6, .n_groups = 2, .text = TEXT, .group = GROUP, .kind = "memit"};
    cov_opts cov = {.corpus = FW "/data/corpus.txt", .cache_dir = "results/stats"};
    editor_resources res = {.tok = tok, .templates = &tpl, .cov = &cov};
    if (!e || editor_prepare(e, &res, err, sizeof err)) {
        fprintf(stderr, "bench_edit: %s\n", err);
        return 1;
    }
    double total = 0, t_z = 0, t_keys = 0, t_solve = 0;
    int passes = 0;
    for (int i = 0; i < N; i++) {
        cJSON *r = cJSON_GetArrayItem(reqs, i);
        edit_request q = {str(r, "src"), str(r, "subject"), str(r, "alt")};
        edit_outcome o;
        if (editor_edit(e, &q, 1, &o, err, sizeof err)) {
            fprintf(stderr, "bench_edit: %s\n", err);
            return 1;
        }
        total += o.seconds;
        t_z += o.t_z, t_keys += o.t_keys, t_solve += o.t_solve;
        passes += o.z_passes;
    }
    printf("kedit edit: MEMIT on the fact-world model (layers %d-%d), %d edits: %.4f s/edit (%.1f z passes each; "
           "compute_z %.4f, keys %.4f, solve %.4f s)\n",
           hp.layers[0], hp.layers[hp.n_layers - 1], N, total / N, (double)passes / N, t_z / N, t_keys / N,
           t_solve / N);
    editor_free(e);
    tokenizer_free(tok);
    model_free(&m);
    cJSON_Delete(reqs);
    return 0;
}
