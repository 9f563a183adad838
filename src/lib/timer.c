/* SPDX-License-Identifier: MIT */
/*
 * timer.c — one-shot timers that keep their own id (struct uds_timer) over the loop's
 * id-based ones: the id is forgotten the moment the timer fires or is cancelled, so a
 * caller never cancels a stale id, which may by then name another timer.
 */
#include <errno.h>

#include "internal.h"

static void on_fired(struct uds_loop *loop, uint64_t timer_id, void *data) {
    struct uds_timer *t = data;

    (void) loop, (void) timer_id;
    t->id = 0;      /* spent: nothing to cancel any more, and fn may arm t again */
    t->fn(t->data);
}

UDS_API int uds_timer_arm(struct uds_timer *t, struct uds_loop *loop, uint64_t after_ms,
                          uds_timer_fn *fn, void *data) {
    if (!t || !loop || !fn)
        return uds__fail(EINVAL);
    uds_timer_cancel(t);
    t->loop = loop;
    t->fn = fn;
    t->data = data;
    if (uds_loop_timer_add(loop, after_ms, on_fired, t, &t->id) < 0) {
        t->id = 0;
        return -1;
    }
    return 0;
}

UDS_API void uds_timer_cancel(struct uds_timer *t) {
    if (!t || !t->id)
        return;
    uds_loop_timer_cancel(t->loop, t->id);
    t->id = 0;
}

UDS_API bool uds_timer_armed(const struct uds_timer *t) {
    return t && t->id != 0;
}
