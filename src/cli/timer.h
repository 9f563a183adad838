/* SPDX-License-Identifier: MIT */
/*
 * timer.h — a one-shot timer on a uds_loop that keeps its own id: armed, it is there to
 * cancel; once it has fired or been cancelled it is not, and no caller clears an id by hand.
 * Its callback takes only its data.
 */
#ifndef UDS_CLI_TIMER_H
#define UDS_CLI_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include <udskit.h>

typedef void cli_timer_fn(void *data);

/* Zero-initialised: not armed. Must stay where it is while armed (the loop holds its
 * address). */
struct cli_timer {
    struct uds_loop *loop;
    uint64_t id;            /* the loop's timer id; 0: not armed */
    cli_timer_fn *fn;
    void *data;
};

/* Call fn(data) once, after_ms milliseconds from now, unless cancelled first; a timer
 * still armed is cancelled first. Returns 0, or -1 with the errno of uds_loop_timer_add()
 * (t then not armed). */
int cli_timer_arm(struct cli_timer *t, struct uds_loop *loop, uint64_t after_ms,
                  cli_timer_fn *fn, void *data);

/* Cancel t if it is armed. */
void cli_timer_cancel(struct cli_timer *t);

static inline bool cli_timer_armed(const struct cli_timer *t) {
    return t->id != 0;
}

#endif
