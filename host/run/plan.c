#include "run/plan.h"

#include "backend_by_name.h"
#include "hf_config.h"
#include "run/plan_probe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB 1048576.0

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* the parameters of a model of this shape (the weights counted as float32 are all of them) */
static double n_params(const model_config *c) { return (double)model_weight_bytes(c, KT_F32) / 4; }

/* float32 parameters of blocks 0..top (the forward of the statistics pass), for its cost */
static double block_params(const model_config *c, int top) {
    double q = (double)c->n_head * c->head_dim, kv = (double)c->n_kv_head * c->head_dim;
    double per = c->d * (2 * q + 2 * kv) + (double)c->d * c->d_ff * (c->arch == ARCH_LLAMA ? 3 : 2);
    return per * (top + 1);
}

/* Device bytes of one transformer_forward (fwd_state: the activations of the `kept` blocks the backward
 * needs, or of one block reused by all when none is kept, their residual streams, and the logits) over B
 * sequences padded to T tokens with n_logit logit rows; loss adds the logits' gradient (transformer_loss),
 * backward one block's backward buffers. */
static double forward_bytes(const model_config *c, int B, int T, int kept, int n_logit, bool loss, bool backward) {
    double R = (double)B * T, q = (double)c->n_head * c->head_dim, kv = (double)c->n_kv_head * c->head_dim;
    double per_row = 3 * c->d + 2 * q + 2 * kv + 2 + (c->parallel_block ? 0 : 2.0 * c->d + 2) +
                     (c->arch == ARCH_LLAMA ? 3 : 2) * (double)c->d_ff; // a q k v ctx ao (h m) pre (up) key mo
    double probs = (double)B * c->n_head * T * T;                      // the attention probabilities
    double resid = (kept + 2) * R * c->d;
    double logits = (double)n_logit * (c->vocab * (loss ? 2.0 : 1.0) + 2.0 * c->d + 2);
    double bwd = backward ? R * (2.0 * c->d + 2 * c->d_ff) + probs : 0;
    return 4 * ((kept > 0 ? kept : 1) * (R * per_row + probs) + resid + logits + bwd);
}

/* the method's own state after n edits (d4s.c, ft.c, grace_codebook.c allocate it); biases left out */
static double method_bytes(const run_plan *p) {
    double d = p->cfg.d, f = p->cfg.d_ff, E = p->hp.n_layers, n = p->n_edits;
    switch (p->hp.method) {
    case METHOD_D4S: // per layer: L (and S) d_ff², N and Δ d·d_ff float64; the log: d + E·d_ff per edit
        return E * (f * f * 8 * (p->hp.d4s.keep_S ? 2 : 1) + 2 * d * f * 8) + n * (d + E * f) * 8;
    case METHOD_FT: // ft.c: W₀, Adam's two moments, the gradient on the device and on the host (and the
                    // box centre with a norm constraint), one matrix each
        return (5 + (p->hp.ft.norm_constraint > 0)) * d * f * 4;
    case METHOD_GRACE: // the codebook bound: a key and a value (d_ff or d) per edit
        return n * (d + f) * 4 * 2;
    default:
        return 0;
    }
}

static bool edits_w_out(edit_method m) { return m != METHOD_FT && m != METHOD_GRACE; }
static bool needs_cov(const edit_hparams *h) {
    return h->method == METHOD_MEMIT || h->method == METHOD_D4S || h->method == METHOD_PMET ||
           (h->method == METHOD_ROME && h->mom2_adjustment);
}

/* the largest buffers alive at once besides the resident state: a solve, the statistics pass, the z
 * optimisation's forward and backward, the evaluation's forward, the perplexity's, the loading */
static void transient(const run_config *c, const plan_shapes *s, run_plan *p) {
    const model_config *m = &p->cfg;
    double f = m->d_ff, d = m->d, E = p->hp.n_layers;
    int L = p->hp.layers[p->hp.n_layers - 1];
    struct {
        const char *what;
        double bytes;
    } t[6] = {{"the solve", edits_w_out(p->hp.method) ? f * f * 8 + 2 * d * f * 4 : 0}, {"", 0}, {"", 0}, {"", 0},
              {"", 0}, {"the loading (measured)", p->loading}};
    double corpus = p->stats_tokens > 0 ? (double)p->stats_tokens * 4 : 0; // the corpus plan's token ids
    if (p->stats_needed && p->stats_cached != 1) { // covariance.c's pass, batch by batch
        double ntok = s->cov_tokens;
        // the keys captured at every layer (and one capture's gather buffer) beside the forward; then the
        // forward freed and one layer's keys as float64 columns, twice
        double fwd = forward_bytes(m, s->cov_seqs, s->cov_len, 0, 0, false, false) + ntok * f * 4;
        double batch = ntok * f * 4 * E + fmax(fwd, ntok * f * 8 * 2);
        t[1].what = "the statistics pass"; // the float64 sums, and at the end the float64 C beside them
        t[1].bytes = corpus + E * f * f * 8 + fmax(batch, E * f * f * 8);
    } else if (p->stats_needed) { // every layer's cached C read, then each one's float64 trial factor
        t[1].what = "the statistics check";
        t[1].bytes = corpus + E * f * f * 4 + f * f * (8 + 4);
    }
    bool trains = p->hp.method == METHOD_FT || p->hp.method == METHOD_GRACE; // from the bare prompt
    t[2].what = trains ? "the training pass" : "the z optimisation";
    // compute_z runs blocks L+1… per pass (δ at L's output); PMET's δ at L's attention and the training
    // of FT and GRACE start at block L
    bool from_next = p->hp.method == METHOD_ROME || p->hp.method == METHOD_MEMIT || p->hp.method == METHOD_D4S;
    int kept = m->n_layer - L - from_next;
    t[2].bytes = forward_bytes(m, s->z_seqs, s->z_len, kept, s->z_rows, true, true) +
                 (double)s->z_rows * m->vocab * 4;
    t[3].what = "the evaluation";
    t[3].bytes = forward_bytes(m, s->eval_seqs, s->eval_len, 0, s->eval_rows, false, false) +
                 (double)s->eval_rows * m->vocab * 4;
    if (c->ppl_text) {
        int windows = (c->ppl_tokens - 2) / c->ppl_window + 1; // at most ppl_tokens tokens are scored
        int B = windows < c->eval_batch ? windows : c->eval_batch, T = c->ppl_window;
        t[4].what = "the perplexity";
        t[4].bytes = forward_bytes(m, B, T, 0, B * T, true, false);
    }
    p->transient = 0;
    p->transient_what = "none";
    for (int i = 0; i < 6; i++)
        if (t[i].bytes > p->transient) p->transient = t[i].bytes, p->transient_what = t[i].what;
}

/* the memory a run may use on be: $KEDIT_MEMORY_LIMIT when set (bytes, or with a suffix K, M, G, T: powers
 * of 1024), else what the backend has available; 0 if unknown, -1 with a message on a malformed limit */
static long long memory_limit(const backend *be, char *err, size_t errlen) {
    const char *s = getenv("KEDIT_MEMORY_LIMIT");
    if (!s || !*s) return (long long)be->mem_available();
    char *end;
    double v = strtod(s, &end);
    const char *units = "KMGT", *u = *end ? strchr(units, *end) : NULL;
    if (end == s || !(v > 0) || (*end && (!u || end[1]))) {
        snprintf(err, errlen, "KEDIT_MEMORY_LIMIT=%s: not a positive number of bytes (suffix K, M, G or T allowed)", s);
        return -1;
    }
    for (const char *k = units; u && k <= u; k++) v *= 1024;
    return (long long)v;
}

int plan_make(const run_config *c, const char *device, bool probe, double base, run_plan *p, char *err,
              size_t errlen) {
    memset(p, 0, sizeof *p);
    p->device = device ? device : c->device;
    const backend *be = backend_by_name(p->device);
    if (!be) {
        snprintf(err, errlen, "%s: no backend \"%s\"", c->source, p->device);
        return -1;
    }
    p->on_host = strcmp(be->name, "cpu") == 0;
    p->base = p->on_host ? base : 0; // a device's context is already outside its free memory
    p->pass_seconds = p->edit_seconds = NAN;
    p->stats_tokens = c->stats_tokens;
    p->stats_cached = -1;
    if (hparams_load(c->hparams_path, &p->hp, err, errlen)) return -1;
    p->stats_needed = needs_cov(&p->hp) && c->stats_corpus;
    if (!p->stats_tokens) p->stats_tokens = p->hp.mom2_n_tokens ? p->hp.mom2_n_tokens : -1;
    plan_shapes s = {0};
    if (probe) {
        if (plan_probe(c, be, &p->hp, p, &s, err, errlen)) return -1;
    } else {
        char path[1024];
        snprintf(path, sizeof path, "%s/config.json", c->model_path);
        if (!is_dir(c->model_path)) {
            snprintf(err, errlen, "%s: field model: %s is not a Hugging Face folder; its shape is read by the probe "
                                  "(drop --no-probe)", c->source, c->model_path);
            return -1;
        }
        if (hf_config_read(path, &p->cfg, err, errlen)) return -1;
        edit_dataset ds;
        if (dataset_load(c->dataset_path, &c->ds, &ds, err, errlen)) return -1;
        p->n_edits = ds.n;
        dataset_free(&ds);
        p->inputs = (double)model_weight_bytes(&p->cfg, c->weights);
        plan_shapes_guess(c, &p->cfg, &p->hp, &s);
    }
    if (hparams_check_model(&p->hp, c->hparams_path, p->cfg.n_layer, err, errlen)) return -1;
    p->n_params = n_params(&p->cfg);
    double d = p->cfg.d, f = p->cfg.d_ff, E = p->hp.n_layers;
    if (edits_w_out(p->hp.method)) p->editor = E * d * f * (4 + 8);
    if (c->weights == KT_BF16 && p->hp.method != METHOD_GRACE) // the edited (or trained) matrices widened to float32
        p->editor += E * d * f * 2;
    p->cov = needs_cov(&p->hp) ? E * f * f * 4 : 0;
    p->method = method_bytes(p);
    transient(c, &s, p);
    p->total = p->base + p->inputs + p->editor + p->cov + p->method + p->transient;
    if (p->stats_needed && p->stats_tokens > 0) {
        int top = p->hp.layers[p->hp.n_layers - 1];
        p->stats_gflop = (double)p->stats_tokens * (2 * block_params(&p->cfg, top) + E * f * f) / 1e9;
    }
    p->limit = memory_limit(be, err, errlen);
    return p->limit < 0 ? -1 : 0;
}

static void print_mib(FILE *f, const char *what, double bytes, const char *note) {
    fprintf(f, "  %-26s %10.1f MiB%s%s\n", what, bytes / MIB, note ? "  " : "", note ? note : "");
}

void plan_print(const run_config *c, const run_plan *p, FILE *f) {
    fprintf(f, "plan of %s: %s on %s (%s, weights %s), %d edits\n", c->name, method_name(p->hp.method),
            c->model_path, p->device, weight_type_name(c->weights), p->n_edits);
    fprintf(f, "model: %.3g parameters, %d layers, d %d, d_ff %d, vocabulary %d, context %d\n", p->n_params,
            p->cfg.n_layer, p->cfg.d, p->cfg.d_ff, p->cfg.vocab, p->cfg.n_ctx);
    fprintf(f, "memory on %s:\n", p->device);
    print_mib(f, "process at start", p->base, p->on_host ? "measured" : "its context is outside the free memory");
    print_mib(f, "weights and inputs", p->inputs,
              !p->inputs_measured ? "the weights"
              : p->on_host        ? "measured after loading"
                                  : "measured: the device's free memory before and after loading");
    print_mib(f, "editor's W0 and delta", p->editor, NULL);
    print_mib(f, "covariances C", p->cov, NULL);
    print_mib(f, "method's state", p->method, p->hp.method == METHOD_GRACE ? "codebook bound" : NULL);
    print_mib(f, "largest transient", p->transient, p->transient_what);
    print_mib(f, "total (peak)", p->total, NULL);
    if (p->limit > 0) print_mib(f, "available", (double)p->limit,
                                 getenv("KEDIT_MEMORY_LIMIT") ? "KEDIT_MEMORY_LIMIT" : p->on_host ? "MemAvailable" : "free");
    else fprintf(f, "  available: not known on %s\n", p->device);
    if (!p->stats_needed) fprintf(f, "statistics: none needed\n");
    else {
        fprintf(f, "statistics: %s, ", c->stats_corpus);
        if (p->stats_tokens > 0) fprintf(f, "%lld tokens, %.3g GFLOP", p->stats_tokens, p->stats_gflop);
        else fprintf(f, "the whole corpus (tokens counted by the probe)");
        fprintf(f, "; cache %s: %s\n", c->stats_cache,
                p->stats_cached == 1 ? "holds them" : p->stats_cached == 0 ? "does not hold them" : "not checked");
    }
    if (isnan(p->pass_seconds)) fprintf(f, "time: not probed\n");
    else
        fprintf(f, "time: %.3g s per forward and backward pass (measured), at most %d passes per edit: <= %.3g s per edit, "
                   "<= %.3g s for the %d edits\n",
                p->pass_seconds, p->passes_per_edit, p->edit_seconds, p->edit_seconds * p->n_edits, p->n_edits);
}

void plan_print_line(const char *label, const run_plan *p, FILE *f) {
    fprintf(f, "%s: %s, %d edits, %.3g parameters, peak %.1f MiB of %.1f MiB", label, method_name(p->hp.method),
            p->n_edits, p->n_params, p->total / MIB, p->limit > 0 ? (double)p->limit / MIB : NAN);
    if (p->stats_needed)
        fprintf(f, ", statistics %s", p->stats_cached == 1 ? "cached" : p->stats_cached == 0 ? "to compute" : "unchecked");
    if (!isnan(p->edit_seconds)) fprintf(f, ", <= %.3g s per edit", p->edit_seconds);
    fprintf(f, "%s\n", p->limit > 0 && p->total > (double)p->limit ? ": DOES NOT FIT" : "");
}

int plan_check_fit(const run_config *c, const run_plan *p, char *err, size_t errlen) {
    if (p->limit <= 0 || p->total <= (double)p->limit) return 0;
    snprintf(err, errlen,
             "%s: does not fit: the run needs %.1f MiB on %s (weights and inputs %.1f, editor %.1f, covariances %.1f, "
             "method %.1f, %s %.1f) but %.1f MiB are available%s",
             c->source, p->total / MIB, p->device, p->inputs / MIB, p->editor / MIB, p->cov / MIB, p->method / MIB,
             p->transient_what, p->transient / MIB, (double)p->limit / MIB,
             getenv("KEDIT_MEMORY_LIMIT") ? " (KEDIT_MEMORY_LIMIT)" : "");
    return 1;
}
