/* SPDX-License-Identifier: MIT */
/*
 * log_limit.h — how many lines of one kind a peer may make the log write: a burst per
 * window for each event name, then a count of the lines held back, summarised once the
 * window has passed. Pure: the caller gives the time and does the writing.
 */
#ifndef UDS_CLI_LOG_LIMIT_H
#define UDS_CLI_LOG_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_LIMIT_BURST 10          /* lines of one event per window */
#define LOG_LIMIT_WINDOW_MS 10000
#define LOG_LIMIT_EVENTS 32         /* event names tracked; others are never held back */
#define LOG_LIMIT_ADDRESS_MAX 256

struct log_limit_entry {
    const char *event;              /* a string literal of the caller */
    uint64_t start_ms;              /* the window began */
    uint64_t last_ms;               /* the last line held back */
    unsigned written;               /* lines written in this window */
    size_t held;                    /* lines held back in it */
    int level;                      /* of the lines held back */
    char address[LOG_LIMIT_ADDRESS_MAX];    /* of the last line held back ("" for none) */
};

struct log_limit {
    struct log_limit_entry entries[LOG_LIMIT_EVENTS];
    size_t n;
};

/* Whether a line of event (about address, may be NULL) at level may be written now;
 * if not it is counted for a later summary. */
bool log_limit_admit(struct log_limit *ll, const char *event, const char *address, int level,
                     uint64_t now_ms);

/* The next entry whose lines held back are due for a summary at now_ms (its window has
 * passed; all of them when flush), or NULL. The caller writes the summary, then calls
 * log_limit_summarised() on it. */
struct log_limit_entry *log_limit_due(struct log_limit *ll, uint64_t now_ms, bool flush);
void log_limit_summarised(struct log_limit_entry *e, uint64_t now_ms);

#endif
