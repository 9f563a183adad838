/* SPDX-License-Identifier: MIT */
/*
 * log.c — the log on stderr: a text or JSON line per event, gated by verbosity, the lines
 * a peer can cause held to a rate and summarised (log_limit.c decides, this file writes).
 * Worker threads log too: the rate limit's state and the writing are under one mutex, so
 * lines never interleave and counts are exact.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "escape.h"
#include "log.h"
#include "log_limit.h"

static int log_verbosity;
static bool log_json;
static struct log_limit log_limits;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;   /* log_limits, the writing */

static void log_limit_flush(void);

void cli_log_setup(int verbosity, bool json) {
    static bool flush_at_exit;

    log_verbosity = verbosity;
    log_json = json;
    /* Lines held back by the rate limit are summarised at the latest when the command
     * exits. */
    if (!flush_at_exit)
        flush_at_exit = atexit(log_limit_flush) == 0;
}

bool cli_log_enabled(enum cli_level level) {
    switch (level) {
    case CLI_LOG_ERROR: return true;
    case CLI_LOG_WARN:
    case CLI_LOG_INFO: return log_verbosity >= 0;
    case CLI_LOG_DEBUG: return log_verbosity >= 1;
    }
    return false;
}

/* A growing line buffer; output past its end is dropped (lines are short). */
struct line {
    char buf[8192];
    size_t len;
};

static void line_add(struct line *l, const char *s, size_t n) {
    size_t room = sizeof(l->buf) - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_puts(struct line *l, const char *s) {
    line_add(l, s, strlen(s));
}

static void line_emit(void *ctx, const char *s, size_t n) {
    line_add(ctx, s, n);
}

static void line_json_string(struct line *l, const char *s) {
    cli_json_escape(s, strlen(s), line_emit, l);
}

static void line_json_key(struct line *l, const char *key) {
    line_add(l, ",", 1);
    line_json_string(l, key);
    line_add(l, ":", 1);
}

static const char *level_name(enum cli_level level) {
    static const char *const names[] = { "error", "warning", "info", "debug" };
    return names[level];
}

static void write_line(enum cli_level level, const char *event, const char *address,
                       const struct cli_kv *kv, size_t n_kv, const char *msg) {
    struct line l = { .len = 0 };

    if (!log_json) {
        /* Messages carry what peers chose (names, paths): a terminal sees no control. */
        line_puts(&l, "uds: ");
        cli_text_escape(msg, strlen(msg), line_emit, &l);
    } else {
        struct timespec ts;
        struct tm tm;
        char stamp[64], num[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%03ldZ",
                 ts.tv_nsec / 1000000);
        line_puts(&l, "{\"ts\":");
        line_json_string(&l, stamp);
        line_json_key(&l, "level");
        line_json_string(&l, level_name(level));
        line_json_key(&l, "event");
        line_json_string(&l, event);
        if (address) {
            line_json_key(&l, "address");
            line_json_string(&l, address);
        }
        for (size_t i = 0; i < n_kv; i++) {
            line_json_key(&l, kv[i].key);
            if (kv[i].str) {
                line_json_string(&l, kv[i].str);
            } else {
                snprintf(num, sizeof(num), "%lld", kv[i].num);
                line_puts(&l, num);
            }
        }
        line_json_key(&l, "message");
        line_json_string(&l, msg);
        line_puts(&l, "}");
    }
    l.buf[l.len++] = '\n';    /* line_add() always leaves room for it */
    /* One write per line, so lines from concurrent writers never interleave. */
    if (write(STDERR_FILENO, l.buf, l.len) < 0) {
        /* Nowhere left to report that stderr failed. */
    }
}

/* The lines of one event held back by the rate limit, in one line. */
static void write_summary(struct log_limit_entry *e, uint64_t now) {
    char msg[512], secs[32];
    uint64_t span = (e->last_ms > e->start_ms ? e->last_ms - e->start_ms : 0) + 999;
    struct cli_kv kv[] = {
        CLI_KV_STR("of", e->event),
        CLI_KV_NUM("count", e->held),
        CLI_KV_NUM("seconds", span / 1000),
    };

    snprintf(secs, sizeof(secs), "%llu s", (unsigned long long) (span / 1000));
    snprintf(msg, sizeof(msg), "%s%s… and %zu more \"%s\" line%s like it in %s, not written "
             "one by one (at most %d in %d s)", e->address, e->address[0] ? ": " : "",
             e->held, e->event, e->held == 1 ? "" : "s", secs, LOG_LIMIT_BURST,
             LOG_LIMIT_WINDOW_MS / 1000);
    write_line((enum cli_level) e->level, "suppressed", e->address[0] ? e->address : NULL, kv,
               sizeof(kv) / sizeof(kv[0]), msg);
    log_limit_summarised(e, now);
}

static void log_limit_flush(void) {
    struct log_limit_entry *e;
    uint64_t now = cli_now_ms();

    pthread_mutex_lock(&log_lock);
    while ((e = log_limit_due(&log_limits, now, true)))
        write_summary(e, now);
    pthread_mutex_unlock(&log_lock);
}

__attribute__((format(printf, 6, 0)))
static void vlog(enum cli_level level, const char *event, const char *address,
                 const struct cli_kv *kv, size_t n_kv, const char *fmt, va_list ap) {
    char msg[4096];

    if (!cli_log_enabled(level))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    pthread_mutex_lock(&log_lock);
    /* What peers cause (refusals, oversized messages, unanswerable datagrams) comes at their
     * pace: warnings and notices are rate-limited per event. Errors are ours and rare;
     * debug lines were asked for one by one (-v). */
    if (level == CLI_LOG_WARN || level == CLI_LOG_INFO) {
        uint64_t now = cli_now_ms();
        struct log_limit_entry *e;
        while ((e = log_limit_due(&log_limits, now, false)))
            write_summary(e, now);
        if (!log_limit_admit(&log_limits, event, address, (int) level, now)) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
    }
    write_line(level, event, address, kv, n_kv, msg);
    pthread_mutex_unlock(&log_lock);
}

void cli_log(enum cli_level level, const char *event, const char *address,
             const struct cli_kv *kv, size_t n_kv, const char *fmt, ...) {
    va_list ap;

    va_start(ap, fmt);
    vlog(level, event, address, kv, n_kv, fmt, ap);
    va_end(ap);
}
