/* Stopping a long command cleanly on a signal: SIGTERM (Slurm's preemption, requeue, cancel and time
 * limit; kill), SIGUSR1 (Slurm's warning before the time limit, `#SBATCH --signal=B:USR1@S` in the sweep's
 * script) and SIGINT (Ctrl-C) set a flag that kedit run's edit loop (between edits and between its long
 * phases) and the covariance pass poll; the command then saves what a resume needs, closes its files and
 * exits with EXIT_INTERRUPTED. Further SIGTERMs and SIGUSR1s only set the flag again (Slurm may send
 * SIGTERM to every process of the job as well as through the script); a second SIGINT ends the process at
 * once. */
#ifndef KEDIT_INTERRUPT_H
#define KEDIT_INTERRUPT_H

#include <signal.h>

/* the exit code of a command stopped by a signal with everything needed to resume it saved */
#define EXIT_INTERRUPTED 3

/* installs the handlers (sigaction, system calls restarted) */
void interrupt_install(void);

/* the flag: 0, or the number of the first signal received since interrupt_install */
volatile sig_atomic_t *interrupt_flag(void);

/* the first signal received (0: none) and its name ("SIGTERM") */
int interrupt_signal(void);
const char *interrupt_signal_name(void);

#endif
