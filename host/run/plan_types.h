/* What a run's plan holds (run/plan.h makes and prints it; run/plan_probe.h measures part of it): the
 * model's shape, the memory by part, the statistics' cost and the time per edit. */
#ifndef KEDIT_PLAN_TYPES_H
#define KEDIT_PLAN_TYPES_H

#include "methods/hparams.h"
#include "model.h"

#include <stdbool.h>

typedef struct run_plan {
    model_config cfg;
    double n_params;
    edit_hparams hp;
    int n_edits;
    const char *device;     /* "cpu" or "cuda" */
    bool on_host;           /* the CPU backend: the memory counted is the process's */
    /* memory, bytes */
    double base;            /* the process before loading anything (measured; 0 on a device) */
    double inputs;          /* weights, tokenizer, requests: measured by the probe (on a device: its
                             * free memory before and after), else the weights */
    bool inputs_measured;
    double loading;         /* the loading's peak above what the inputs hold after it (measured on the CPU by
                             * the probe, else 0) */
    double editor;          /* W₀ (float32) and the last Δ (float64) of each edited layer; with bf16 weights the
                             * edited (FT: trained) matrices widened to float32 */
    double cov;             /* C of each edited layer (float32) */
    double method;          /* D4S's factors, sums and log; FT's W₀, moments and gradients; GRACE's codebook */
    double transient;       /* the largest buffer set alive at once besides the above */
    const char *transient_what;
    double total;
    long long limit;        /* KEDIT_MEMORY_LIMIT, else the memory the backend has available (0: unknown) */
    /* statistics */
    bool stats_needed;
    long long stats_tokens; /* -1: the whole corpus, not counted without the probe */
    double stats_gflop;     /* forwards up to the top edited layer and the Σ k kᵀ updates */
    int stats_cached;       /* 1 every layer's cache file present, 0 not, -1 not checked (no probe) */
    /* time */
    double pass_seconds;    /* one measured forward + backward of the z optimisation (NaN: no probe) */
    int passes_per_edit;
    double edit_seconds;    /* passes_per_edit · pass_seconds */
} run_plan;

#endif
