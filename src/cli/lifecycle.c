/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.c — the stop signals of a long-running command, received on a signalfd.
 */
#include <signal.h>
#include <stddef.h>
#include <sys/signalfd.h>

#include "lifecycle.h"

int cli_signalfd(bool children) {
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (children)
        sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    /* A shell starts background jobs with SIGINT ignored, and an ignored signal is
     * discarded even while blocked: take it back so `kill -INT` stops us. SIGHUP stays
     * ignored if it was (nohup). */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

const char *cli_signal_name(uint32_t signo) {
    switch (signo) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    }
    return "a signal";
}
