#include "run/interrupt.h"

#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t received;

static void on_signal(int sig) {
    if (!received) received = sig;
    static const char term[] = "\nkedit: SIGTERM", usr1[] = "\nkedit: SIGUSR1", intr[] = "\nkedit: SIGINT";
    static const char tail[] = " received: stopping after the step in flight, saving what a resume needs\n";
    /* write(2) is async-signal-safe, stdio is not */
    ssize_t ignored = sig == SIGTERM ? write(STDERR_FILENO, term, sizeof term - 1)
                      : sig == SIGUSR1 ? write(STDERR_FILENO, usr1, sizeof usr1 - 1)
                                       : write(STDERR_FILENO, intr, sizeof intr - 1);
    ignored += write(STDERR_FILENO, tail, sizeof tail - 1);
    (void)ignored;
}

void interrupt_install(void) {
    static const int sigs[] = {SIGTERM, SIGUSR1, SIGINT};
    received = 0;
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART | (sigs[i] == SIGINT ? SA_RESETHAND : 0); /* Ctrl-C twice: at once */
        sigaction(sigs[i], &sa, NULL);
    }
}

volatile sig_atomic_t *interrupt_flag(void) { return &received; }

int interrupt_signal(void) { return received; }

const char *interrupt_signal_name(void) {
    return received == SIGTERM ? "SIGTERM" : received == SIGUSR1 ? "SIGUSR1" : received == SIGINT ? "SIGINT" : "no signal";
}
