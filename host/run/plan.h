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

#include "run/plan_types.h"
#include "run/run_config.h"

#include <stdbool.h>
#include <stdio.h>


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
