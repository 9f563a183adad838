/* SPDX-License-Identifier: MIT */
/*
 * log_limit.c — a burst of lines per event name and window, then a count (log_limit.h).
 * A peer that is refused 20,000 times in a third of a second must not write 20,000 lines:
 * the log would drown what matters and fill the disk. No I/O, no clock, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "log_limit.h"

static struct log_limit_entry *find(struct log_limit *ll, const char *event) {
    for (size_t i = 0; i < ll->n; i++)
        if (strcmp(ll->entries[i].event, event) == 0)
            return &ll->entries[i];
    if (ll->n == LOG_LIMIT_EVENTS)
        return NULL;
    struct log_limit_entry *e = &ll->entries[ll->n++];
    *e = (struct log_limit_entry) { .event = event };
    return e;
}

bool log_limit_admit(struct log_limit *ll, const char *event, const char *address, int level,
                     uint64_t now_ms) {
    struct log_limit_entry *e = find(ll, event);

    if (!e)
        return true;
    /* A window with lines held back ends only through its summary (log_limit_due). */
    if (e->held == 0 && now_ms - e->start_ms >= LOG_LIMIT_WINDOW_MS) {
        e->start_ms = now_ms;
        e->written = 0;
    }
    if (e->written < LOG_LIMIT_BURST && e->held == 0) {
        e->written++;
        return true;
    }
    e->held++;
    e->last_ms = now_ms;
    e->level = level;
    snprintf(e->address, sizeof(e->address), "%s", address ? address : "");
    return false;
}

struct log_limit_entry *log_limit_due(struct log_limit *ll, uint64_t now_ms, bool flush) {
    for (size_t i = 0; i < ll->n; i++) {
        struct log_limit_entry *e = &ll->entries[i];
        if (e->held > 0 && (flush || now_ms - e->start_ms >= LOG_LIMIT_WINDOW_MS))
            return e;
    }
    return NULL;
}

void log_limit_summarised(struct log_limit_entry *e, uint64_t now_ms) {
    e->start_ms = now_ms;
    e->written = 0;
    e->held = 0;
    e->address[0] = '\0';
}
