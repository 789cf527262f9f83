/* A run's plan (`kedit run --dry-run`): what a configuration will hold in memory, what its statistics cost
 * and how long an edit takes, worked out before anything is computed or written, and a refusal of a run
 * that cannot fit in the device's memory. The memory is the process's resident memory measured before
 * anything is loaded (libraries, heap), the inputs (the model's weights, tokenizer and requests) measured
 * after loading them in the probe or, with no probe, the weights counted, plus what the run allocates
 * after them, counted from the sizes the code allocates (the editor's W₀ and Δ, the covariances, the
 * method's state and the largest transient, or the loading's peak, measured). The probe times one
 * forward and backward pass of the z optimisation on the real model (every pass an edit may take: an
 * upper bound). A dry run writes no file. */
#ifndef KEDIT_PLAN_H
#define KEDIT_PLAN_H

#include "methods/hparams.h"
#include "model.h"
#include "run/run_config.h"

#include <stdbool.h>
#include <stdio.h>

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

/* The plan of configuration c on device (NULL: the configuration's), with the probe when probe is set;
 * base is the process's resident memory measured at start. Non-zero with a message naming the file and
 * field in err on bad input. */
int plan_make(const run_config *c, const char *device, bool probe, double base, run_plan *p, char *err,
              size_t errlen);
/* the plan in full (one item a line) and as one line of a grid (label: the task) */
void plan_print(const run_config *c, const run_plan *p, FILE *f);
void plan_print_line(const char *label, const run_plan *p, FILE *f);
/* non-zero with a message naming what does not fit when the total exceeds the device's memory */
int plan_check_fit(const run_config *c, const run_plan *p, char *err, size_t errlen);

#endif
