/* SPDX-License-Identifier: MIT */
/*
 * log.h — the log of a command on stderr: text lines ("uds: MESSAGE") or JSON objects
 * (--log json), gated by verbosity, with the lines a peer can cause held to a rate
 * (log_limit.h).
 */
#ifndef UDS_CLI_LOG_H
#define UDS_CLI_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum cli_level {
    CLI_LOG_ERROR = 0,
    CLI_LOG_WARN,
    CLI_LOG_INFO,
    CLI_LOG_DEBUG,  /* -v */
};

/* One extra field of a log line (text mode ignores them, JSON mode prints them). */
struct cli_kv {
    const char *key;
    const char *str;    /* string value, or NULL for num */
    long long num;
};
#define CLI_KV_STR(k, v) ((struct cli_kv){ .key = (k), .str = (v) })
#define CLI_KV_NUM(k, v) ((struct cli_kv){ .key = (k), .num = (long long) (v) })

/* verbosity: -1 quiet (errors only), 0 normal, 1 verbose. json: --log json. */
void cli_log_setup(int verbosity, bool json);
bool cli_log_enabled(enum cli_level level);

/* One log line on stderr. Text: "uds: MESSAGE". JSON: {"ts", "level", "event", "address",
 * the fields, "message"}. address may be NULL. */
void cli_log(enum cli_level level, const char *event, const char *address,
             const struct cli_kv *kv, size_t n_kv, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
