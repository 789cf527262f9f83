/* One sequential-editing run (editing-spec §6, §10.1–10.2, §10.13): N edits with one method on one model,
 * each evaluated right after it is made, all edits so far re-evaluated at every checkpoint (the retention
 * matrix), norms and timings recorded, everything written to one HDF5 file that is flushed after every
 * edit together with the state a resumed run needs, so a crash loses at most the edit in flight. */
#ifndef KEDIT_RUNNER_H
#define KEDIT_RUNNER_H

#include "run/run_config.h"

#include <stdbool.h>

typedef struct run_opts {
    const char *resume;      /* a results file to continue (its own configuration is used) */
    const char *save_model;  /* write the edited model here as a Hugging Face folder at the end */
    const char *device;      /* overrides the configuration's device */
    bool quiet;
    double progress_every;   /* seconds between progress lines when not on a terminal (0: every edit; <0: 5) */
    long stop_after;         /* stop (as if killed) after this many edits in this process; 0: never */
} run_opts;

/* Returns 0 when the run completed, non-zero with a message on stderr otherwise. */
int run_execute(run_config *c, const run_opts *o);

#endif
