/* SPDX-License-Identifier: MIT */
/*
 * timer.c — one-shot timers that forget their id when they fire (timer.h).
 */
#include "timer.h"

static void on_fired(struct uds_loop *loop, uint64_t timer_id, void *data) {
    struct cli_timer *t = data;

    (void) loop, (void) timer_id;
    t->id = 0;      /* spent: nothing to cancel any more, and fn may arm t again */
    t->fn(t->data);
}

int cli_timer_arm(struct cli_timer *t, struct uds_loop *loop, uint64_t after_ms,
                  cli_timer_fn *fn, void *data) {
    cli_timer_cancel(t);
    t->loop = loop;
    t->fn = fn;
    t->data = data;
    return uds_loop_timer_add(loop, after_ms, on_fired, t, &t->id);
}

void cli_timer_cancel(struct cli_timer *t) {
    if (t->id)
        uds_loop_timer_cancel(t->loop, t->id);
    t->id = 0;
}
