/* One sequential-editing run (editing-spec §6, §10.1–10.2, §10.13): N edits with one method on one model,
 * each evaluated right after it is made, all edits so far re-evaluated at every checkpoint (the retention
 * matrix), norms and timings recorded in one HDF5 file flushed after every edit, and after it the edit's
 * resume state in the folder beside it (run/run_state.h), so a crash loses at most the edit in flight. A
 * resume verifies the digests of the run's inputs, the state files' checksums and that the replayed state
 * gives the norms the run recorded; results/README.md says what a kill at any moment loses. */
#ifndef KEDIT_RUNNER_H
#define KEDIT_RUNNER_H

#include "run/run_config.h"

#include <stdbool.h>

typedef struct run_opts {
    const char *resume;      /* a results file to continue (its own configuration and state folder are used) */
    const char *save_model;  /* write the edited model here as a Hugging Face folder at the end */
    const char *device;      /* overrides the configuration's device */
    bool quiet;
    double progress_every;   /* seconds between progress lines when not on a terminal (0: every edit; <0: 5) */
    long stop_after;         /* stop (as if killed) after this many edits in this process; 0: never */
} run_opts;

/* Returns 0 when the run completed, non-zero with a message on stderr otherwise. */
int run_execute(run_config *c, const run_opts *o);

#endif
