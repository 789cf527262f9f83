/* Wall time of the phases of one edit call (editor.h's edit_outcome t_z, t_keys, t_solve, t_apply): a
 * method marks the end of each stretch of work with its phase, and the time since the previous mark (or
 * the start) is charged to that phase. Time after the last mark is charged to none, so the phases sum to
 * at most the call's wall time. A NULL clock ignores marks. */
#ifndef KEDIT_PHASE_CLOCK_H
#define KEDIT_PHASE_CLOCK_H

#include "progress.h"

typedef enum {
    PHASE_Z = 0,  /* z/δ optimisation, FT and GRACE training steps */
    PHASE_KEYS,   /* forwards for keys and residuals */
    PHASE_SOLVE,  /* the normal equations / rank-one solve */
    PHASE_APPLY,  /* writing the weights */
    PHASE_COUNT
} edit_phase;

typedef struct phase_clock {
    double seconds[PHASE_COUNT];
    double last; /* time of the previous mark */
} phase_clock;

static inline void phase_start(phase_clock *c) {
    for (int i = 0; i < PHASE_COUNT; i++) c->seconds[i] = 0;
    c->last = progress_now();
}

static inline void phase_mark(phase_clock *c, edit_phase ph) {
    if (!c) return;
    double t = progress_now();
    c->seconds[ph] += t - c->last;
    c->last = t;
}

#endif
