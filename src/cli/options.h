/* SPDX-License-Identifier: MIT */
/*
 * options.h — the options of a `uds` command, each declared once in a table: its long and
 * short names, its value's kind and range, where the value goes in the command's struct of
 * parsed options, an example value and its help. The getopt_long() arrays, `--help`, the
 * usage errors ("uds serve: --mode: '9x9' is not an octal mode; e.g. --mode 0660") and
 * `uds CMD --list-options` (what the man-page test and completion read) all come from the
 * table, so none can drift from another. Options several commands share are declared once
 * here or in listen_opts.c. Checks on combinations of options stay with each command,
 * after cli_parse().
 */
#ifndef UDS_CLI_OPTIONS_H
#define UDS_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <udskit.h>

#include "errors.h"

/* Users or groups (uid_t and gid_t are both 32 bits on Linux). */
struct cli_ids {
    uint32_t *ids;      /* malloc'ed */
    size_t n;
};

/* Sizes from a comma-separated list ("1,64,1K"). */
#define CLI_MAX_SIZES 16
struct cli_sizes {
    size_t n;
    size_t v[CLI_MAX_SIZES];
};

/* The values of a repeatable option, one each time it is given (argv's strings). */
#define CLI_STRINGS_MAX 32
struct cli_strings {
    const char *v[CLI_STRINGS_MAX];
    size_t n;
};

/* A word that stands for a value ("none" for 0, "json" for CLI_LOG_FORMAT_JSON). */
struct cli_word {
    const char *word;
    int value;
};

/* Why a value was refused, for "--NAME: 'ITEM' is WHY; e.g. --NAME EXAMPLE". */
struct cli_bad {
    char item[256];     /* the value, or the piece of a list that is wrong */
    char why[256];      /* "not a duration in seconds" */
};

/* What an option's value is, by what it stores at CLI_AT(): bool true; int .value; a
 * const char *; int milliseconds from seconds ("2.5"); size_t bytes with K/M/G, or a
 * struct cli_sizes of them comma-separated; long; mode_t octal; uid_t or gid_t by name or
 * number; struct cli_ids of comma-separated users or groups; enum uds_socket_type; int
 * from .words; unsigned, a bit (1u << value) per word of a comma-separated list of .words;
 * what .parse makes of it; or a struct cli_strings, one string more each time the option
 * is given (listed as a "string"). */
enum cli_kind {
    CLI_KIND_FLAG, CLI_KIND_SET, CLI_KIND_STRING, CLI_KIND_DURATION, CLI_KIND_SIZE,
    CLI_KIND_SIZES, CLI_KIND_LONG, CLI_KIND_MODE, CLI_KIND_USER, CLI_KIND_GROUP,
    CLI_KIND_UIDS, CLI_KIND_GIDS, CLI_KIND_SOCKET_TYPE, CLI_KIND_WORD, CLI_KIND_WORD_SET,
    CLI_KIND_CUSTOM, CLI_KIND_HELP, CLI_KIND_STRINGS,
};

enum cli_row {
    CLI_ROW_OPT = 0,    /* an option */
    CLI_ROW_SECTION,    /* a heading of --help: .help */
    CLI_ROW_GROUP,      /* the options of .group, their values at .at within the command's */
    CLI_ROW_TEXT,       /* a line of --help that is no option: .arg, then .help */
    CLI_ROW_AGAIN,      /* the option .name shown once more (.arg, if set, for its own) */
    CLI_ROW_END,
};

/* One row of a command's table. */
struct cli_opt {
    const char *name;           /* "--mode", or NULL for a short option only */
    char letter;                /* 'm', or 0 */
    const char *arg;            /* "OCTAL": the value's name in --help; NULL: a flag */
    enum cli_kind kind;
    size_t at;                  /* CLI_AT(): where the value goes */
    size_t seen;                /* CLI_SEEN(): 0, or where name goes when given */
    long min, max;              /* the range: a duration's min (ms), a size's, a number's */
    int value;                  /* CLI_KIND_SET: what it stores */
    const struct cli_word *words;   /* words it takes besides values (or, for word kinds,
                                     * instead of them), NULL-terminated */
    const char *what;           /* instead of the kind's noun: "a number of microseconds" */
    const char *example;        /* "0660", shown as "e.g. --mode 0660" */
    const char *help;           /* its lines; those after the first are indented for it */
    /* CLI_KIND_CUSTOM: returns 0, or -1 having written bad->why unless "not" and .what
     * say it. */
    int (*parse)(const struct cli_opt *opt, const char *arg, void *dest, struct cli_bad *bad);
    enum cli_row row;
    const struct cli_opt *group;
};

/* The offset of field f (of type type) in T; a field of another type does not compile. */
#define CLI_AT(T, f, type) _Generic(((T *) 0)->f, type: offsetof(T, f))

#define CLI_KIND(k, T, f, type) .kind = CLI_KIND_##k, .at = CLI_AT(T, f, type)
#define CLI_FLAG(T, f) CLI_KIND(FLAG, T, f, bool)
#define CLI_SET(T, f, v) CLI_KIND(SET, T, f, int), .value = (v)
#define CLI_STRING(T, f) CLI_KIND(STRING, T, f, const char *)
#define CLI_STRINGS(T, f) CLI_KIND(STRINGS, T, f, struct cli_strings)
#define CLI_DURATION(T, f, lo) CLI_KIND(DURATION, T, f, int), .min = (lo)
#define CLI_SIZE(T, f, lo, hi) CLI_KIND(SIZE, T, f, size_t), .min = (lo), .max = (hi)
#define CLI_SIZES(T, f, lo, hi) CLI_KIND(SIZES, T, f, struct cli_sizes), .min = (lo), .max = (hi)
#define CLI_LONG(T, f, lo, hi) CLI_KIND(LONG, T, f, long), .min = (lo), .max = (hi)
#define CLI_MODE(T, f) CLI_KIND(MODE, T, f, mode_t)
#define CLI_USER(T, f) CLI_KIND(USER, T, f, uid_t)
#define CLI_GROUP_ID(T, f) CLI_KIND(GROUP, T, f, gid_t)
#define CLI_UIDS(T, f) CLI_KIND(UIDS, T, f, struct cli_ids)
#define CLI_GIDS(T, f) CLI_KIND(GIDS, T, f, struct cli_ids)
#define CLI_SOCKET_TYPE(T, f) CLI_KIND(SOCKET_TYPE, T, f, enum uds_socket_type)
#define CLI_WORD(T, f, w) CLI_KIND(WORD, T, f, int), .words = (w)
#define CLI_WORD_SET(T, f, w) CLI_KIND(WORD_SET, T, f, unsigned), .words = (w)
#define CLI_CUSTOM(fn, T, f, type) CLI_KIND(CUSTOM, T, f, type), .parse = (fn)
/* The option's name goes to field f (a const char *) when it is given, for the checks of
 * combinations to name it. */
#define CLI_SEEN(T, f) .seen = CLI_AT(T, f, const char *) + 1

#define CLI_SECTION(title) { .row = CLI_ROW_SECTION, .help = (title) }
#define CLI_INCLUDE(g, T, f, type) \
    { .row = CLI_ROW_GROUP, .group = (g), .at = CLI_AT(T, f, type) }
#define CLI_TEXT(label, text) { .row = CLI_ROW_TEXT, .arg = (label), .help = (text) }
#define CLI_AGAIN(long_name, own_arg, text) \
    { .row = CLI_ROW_AGAIN, .name = (long_name), .arg = (own_arg), .help = (text) }
#define CLI_END { .row = CLI_ROW_END }

/* ---- options several commands share ---------------------------------------------------- */

/* Every command takes -h, --help, after the options of its table. The options below are
 * shared by some: their help says what they mean to the command, and more fields may
 * follow it (CLI_SEEN()). */
#define CLI_OPT_TYPE(T, f, text, ...) \
    { "--type", 0, "TYPE", CLI_SOCKET_TYPE(T, f), .help = (text), __VA_ARGS__ }
/* A client's deadline, above 0; and how long to wait for a server to appear. */
#define CLI_OPT_TIMEOUT(T, f, text, ...) \
    { "--timeout", 0, "SECONDS", CLI_DURATION(T, f, 1), .help = (text), __VA_ARGS__ }
#define CLI_OPT_WAIT(T, f) \
    { "--wait", 0, "SECONDS", CLI_DURATION(T, f, 0), .example = "5", \
      .help = "wait up to SECONDS for the server to appear" }
/* A client's --type, --timeout and --wait, into its struct uds_connect_opts f (connect and
 * send); the first two with the command's own help. */
#define CLI_OPTS_CONNECT(T, f, type_text, timeout_text)                                      \
    CLI_OPT_TYPE(T, f.type, type_text), CLI_OPT_TIMEOUT(T, f.timeout_ms, timeout_text),     \
        CLI_OPT_WAIT(T, f.wait_ms)
/* -q into an int verbosity (-1), as cli_log_setup() takes it. */
#define CLI_OPT_QUIET(T, f, text) { "--quiet", 'q', NULL, CLI_SET(T, f, -1), .help = (text) }

/* ---- a command -------------------------------------------------------------------------- */

/* The operands after the options, named in messages ("ADDRESS", "LISTEN and TARGET"): at
 * least min, at most max (-1: any number); after a "--", any number when
 * rest_after_dashdash (serve's -- PROGRAM ARGS). The first ones given go where .at says
 * (CLI_OPERAND()), the rest are the command's to take from struct cli_parsed. */
#define CLI_OPERANDS_AT 2
struct cli_operands {
    const char *names;
    int min, max;
    const char *example;        /* "uds serve /run/app.sock", for a missing operand */
    const char *extra_hint;     /* after "'x' is extra; " */
    bool rest_after_dashdash;
    size_t at[CLI_OPERANDS_AT]; /* CLI_OPERAND() each, or 0: not stored */
};
/* Operand into field f (a const char *) of T. */
#define CLI_OPERAND(T, f) (CLI_AT(T, f, const char *) + 1)

struct cli_command {
    const char *name;           /* "serve" */
    const char *synopsis;       /* "[OPTIONS] ADDRESS [-- PROGRAM [ARG...]]" */
    int help_col;               /* the column where the options' help begins */
    struct cli_operands operands;
    const char *intro;          /* --help: the paragraphs before the options */
    const char *outro;          /* --help: the paragraphs after them */
    const struct cli_opt *opts;
};

/* What cli_parse() leaves besides the options. */
struct cli_parsed {
    char **operands;
    int n_operands;
    bool dashdash;              /* a "--" came before the operands */
};

/* Parse argv (argv[0] the command's name) into args, the command's struct (zeroed or
 * holding its defaults). Answers --help, and --list-options (a line per option: "SHORT LONG
 * ARG KIND [WORD...]", "-" for what it has not), on stdout (EX_OK, or CLI_EXIT_FAILURE
 * when stdout fails); prints a usage error and returns EX_USAGE for an
 * unknown option, a bad value or operands too few or too many; else returns CLI_CONTINUE
 * with the operands in *ret, the first ones also in args where cmd->operands.at says. */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, void *args,
              struct cli_parsed *ret);

/* A decimal integer in [min, max]: 0, or -1 (EINVAL) leaving *ret_value untouched. */
int cli_parse_long(const char *text, long min, long max, long *ret_value);

#endif /* UDS_CLI_OPTIONS_H */
