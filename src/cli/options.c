/* SPDX-License-Identifier: MIT */
/*
 * options.c — a command's option table turned into what getopt_long() takes, into --help,
 * --list-options and one wording of usage errors; and the kinds of values, each read by
 * one function. Which options go together is each command's business, not this file's.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

/* More than any command has: serve has 20. */
#define MAX_OPTS 48
/* getopt_long() codes: a short letter is its own; a long-only option is FIRST_CODE + its
 * index; --list-options is LIST_CODE. */
#define FIRST_CODE 256
#define LIST_CODE (FIRST_CODE + MAX_OPTS)

/* ---- the kinds of values --------------------------------------------------------------- */

/* The value of word in words (NULL-terminated), or -1 when it is none of them. */
static int find_word(const struct cli_word *words, const char *word, int *ret_value) {
    for (; words && words->word; words++)
        if (strcmp(words->word, word) == 0) {
            *ret_value = words->value;
            return 0;
        }
    return -1;
}

/* "1 byte", "64K", "1G", "1000 bytes": a limit as the user would type it. */
static const char *size_text(long size, char *buf, size_t len) {
    static const char suffix[] = "GMK";

    for (int i = 0; i < 3; i++) {
        long unit = 1L << (10 * (3 - i));
        if (size >= unit && size % unit == 0) {
            snprintf(buf, len, "%ld%c", size / unit, suffix[i]);
            return buf;
        }
    }
    snprintf(buf, len, "%ld byte%s", size, size == 1 ? "" : "s");
    return buf;
}

static int parse_flag(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    (void) o, (void) arg, (void) b;
    *(bool *) dest = true;
    return 0;
}

static int parse_set(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    (void) arg, (void) b;
    *(int *) dest = o->value;
    return 0;
}

static int parse_string(const struct cli_opt *o, const char *arg, void *dest,
                        struct cli_bad *b) {
    (void) o, (void) b;
    *(const char **) dest = arg;
    return 0;
}

static int parse_duration(const struct cli_opt *o, const char *arg, void *dest,
                          struct cli_bad *b) {
    int ms;

    if (find_word(o->words, arg, &ms) == 0 ||
        (cli_parse_duration_ms(arg, &ms) == 0 && ms >= o->min)) {
        *(int *) dest = ms;
        return 0;
    }
    /* Without a bad->why, take() says "not a duration in seconds". */
    if (o->min > 0)
        snprintf(b->why, sizeof(b->why), "not a duration in seconds above 0");
    return -1;
}

static bool size_in_range(const struct cli_opt *o, const char *text, size_t *ret) {
    return cli_parse_size(text, ret) == 0 && *ret >= (size_t) o->min && *ret <= (size_t) o->max;
}

/* "not a size from 1 byte to 1G", "not a list of sizes up to 64M" */
static int size_why(const struct cli_opt *o, const char *what, struct cli_bad *b) {
    char lo[32], hi[32];

    if (o->min > 0)
        snprintf(b->why, sizeof(b->why), "not %s from %s to %s", what,
                 size_text(o->min, lo, sizeof(lo)), size_text(o->max, hi, sizeof(hi)));
    else
        snprintf(b->why, sizeof(b->why), "not %s up to %s", what,
                 size_text(o->max, hi, sizeof(hi)));
    return -1;
}

static int parse_size(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    size_t v;

    if (!size_in_range(o, arg, &v))
        return size_why(o, "a size", b);
    *(size_t *) dest = v;
    return 0;
}

static int parse_sizes(const struct cli_opt *o, const char *arg, void *dest,
                       struct cli_bad *b) {
    struct cli_sizes sizes = { .n = 0 };
    const char *p = arg;

    for (;;) {
        size_t len = strcspn(p, ",");
        char item[64];

        snprintf(item, sizeof(item), "%.*s", (int) len, p);
        if (len >= sizeof(item) || sizes.n == CLI_MAX_SIZES ||
            !size_in_range(o, item, &sizes.v[sizes.n++]))
            return size_why(o, "a list of sizes", b);
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *(struct cli_sizes *) dest = sizes;
    return 0;
}

static int parse_long(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    if (cli_parse_long(arg, o->min, o->max, dest) == 0)
        return 0;
    /* A range without an end is said by the noun alone ("a positive number"). */
    if (o->max != LONG_MAX)
        snprintf(b->why, sizeof(b->why), "not %s from %ld to %ld", o->what ? o->what :
                 "a number", o->min, o->max);
    return -1;
}

/* Those below leave bad->why to take(): "not " and the option's or the kind's noun. */

static int parse_mode(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    (void) o, (void) b;
    return cli_parse_mode(arg, dest);
}

static int parse_user(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    (void) o, (void) b;
    return cli_parse_user(arg, dest);
}

static int parse_group(const struct cli_opt *o, const char *arg, void *dest,
                       struct cli_bad *b) {
    (void) o, (void) b;
    return cli_parse_group(arg, dest);
}

static int parse_socket_type(const struct cli_opt *o, const char *arg, void *dest,
                             struct cli_bad *b) {
    (void) o, (void) b;
    return uds_socket_type_parse(arg, dest);
}

static int parse_word(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    (void) b;
    return find_word(o->words, arg, dest);
}

/* A list replaces the one given before it: the last one counts, as for every option. The
 * piece that is no user (group) is what the message quotes. */
static int parse_ids(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    struct cli_ids *ids = dest, parsed;

    if (cli_parse_ids(arg, o->kind == &cli_kind_uids, &parsed, b->item, sizeof(b->item)) < 0)
        return -1;
    free(ids->ids);
    *ids = parsed;
    return 0;
}

static int parse_word_set(const struct cli_opt *o, const char *arg, void *dest,
                          struct cli_bad *b) {
    const char *p = arg;
    unsigned set = 0;

    (void) b;

    for (;;) {
        size_t len = strcspn(p, ",");
        char word[64];
        int bit;

        snprintf(word, sizeof(word), "%.*s", (int) len, p);
        if (len >= sizeof(word) || find_word(o->words, word, &bit) < 0)
            return -1;
        set |= 1u << bit;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *(unsigned *) dest = set;
    return 0;
}

static const struct cli_word socket_types[] = {
    { "stream", UDS_STREAM }, { "seqpacket", UDS_SEQPACKET }, { "dgram", UDS_DGRAM }, { NULL, 0 },
};

/* name, has_arg, the noun of "is not ...", example, words, parse */
const struct cli_kind cli_kind_flag = { "flag", false, NULL, NULL, NULL, parse_flag };
const struct cli_kind cli_kind_set = { "flag", false, NULL, NULL, NULL, parse_set };
const struct cli_kind cli_kind_help = { "help", false, NULL, NULL, NULL, NULL };
const struct cli_kind cli_kind_string = { "string", true, NULL, NULL, NULL, parse_string };
const struct cli_kind cli_kind_duration = {
    "duration", true, "a duration in seconds", "2.5", NULL, parse_duration,
};
const struct cli_kind cli_kind_size = { "size", true, NULL, "64K", NULL, parse_size };
const struct cli_kind cli_kind_sizes = { "sizes", true, NULL, NULL, NULL, parse_sizes };
const struct cli_kind cli_kind_long = { "number", true, "a number", NULL, NULL, parse_long };
const struct cli_kind cli_kind_mode = { "mode", true, "an octal mode", "0660", NULL, parse_mode };
const struct cli_kind cli_kind_user = { "user", true, "a user", NULL, NULL, parse_user };
const struct cli_kind cli_kind_group = { "group", true, "a group", NULL, NULL, parse_group };
const struct cli_kind cli_kind_uids = { "users", true, "a user", NULL, NULL, parse_ids };
const struct cli_kind cli_kind_gids = { "groups", true, "a group", NULL, NULL, parse_ids };
const struct cli_kind cli_kind_socket_type = {
    "word", true, "a socket type", "stream, seqpacket or dgram", socket_types, parse_socket_type,
};
const struct cli_kind cli_kind_word = { "word", true, NULL, NULL, NULL, parse_word };
const struct cli_kind cli_kind_word_set = { "words", true, NULL, NULL, NULL, parse_word_set };

/* ---- the table, flattened -------------------------------------------------------------- */

/* A command's options in the order of its table, groups opened, each with the offset of
 * its value in the command's struct. */
struct flat {
    const struct cli_opt *opt[MAX_OPTS];
    size_t base[MAX_OPTS];
    size_t n;
};

/* -h, --help: every command's last option. */
static const struct cli_opt help_opts[] = {
    { "--help", 'h', NULL, .kind = &cli_kind_help, .help = "show this help" },
    CLI_END,
};

static void flatten(const struct cli_opt *t, size_t base, struct flat *f) {
    for (; t->row != CLI_ROW_END; t++) {
        if (t->row == CLI_ROW_GROUP) {
            flatten(t->group, base + t->at, f);
        } else if (t->row == CLI_ROW_OPT) {
            if (f->n == MAX_OPTS)
                abort();    /* a table too long for MAX_OPTS: a bug caught by any test */
            f->opt[f->n] = t;
            f->base[f->n++] = base;
        }
    }
}

/* The command's options, and -h last. */
static void flatten_command(const struct cli_command *cmd, struct flat *f) {
    f->n = 0;
    flatten(cmd->opts, 0, f);
    flatten(help_opts, 0, f);
}

static const struct cli_opt *find_long(const struct flat *f, const char *name, size_t len) {
    for (size_t i = 0; i < f->n; i++)
        if (f->opt[i]->name && strlen(f->opt[i]->name + 2) == len &&
            strncmp(f->opt[i]->name + 2, name, len) == 0)
            return f->opt[i];
    return NULL;
}

/* "--mode", or "-n" for a short option only. */
static const char *opt_name(const struct cli_opt *o, char buf[3]) {
    if (o->name)
        return o->name;
    buf[0] = '-';
    buf[1] = o->letter;
    buf[2] = '\0';
    return buf;
}

/* ---- --help and --list-options -------------------------------------------------------- */

/* "  -m, --mode OCTAL", "      --framed", "  -n" */
static int print_label(FILE *out, const struct cli_opt *o, const char *arg) {
    int len = 0;

    if (o->letter)
        len += fprintf(out, "  -%c%s", o->letter, o->name ? ", " : "");
    else
        len += fprintf(out, "      ");
    if (o->name)
        len += fprintf(out, "%s", o->name);
    if (arg)
        len += fprintf(out, " %s", arg);
    return len;
}

/* The help after a label len wide: at the column, or two spaces on when the label reaches
 * it; each line after the first indented to the column. */
static void print_help_text(FILE *out, int len, int col, const char *text) {
    fprintf(out, "%*s", len < col ? col - len : 2, "");
    for (const char *p = text; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fprintf(out, "%*s", col, "");
    }
    fputc('\n', out);
}

static void print_row(FILE *out, const struct cli_opt *t, const struct flat *f, int col) {
    const struct cli_opt *o = t;
    int len;

    switch (t->row) {
    case CLI_ROW_SECTION:
        fprintf(out, "%s\n", t->help);
        return;
    case CLI_ROW_TEXT:
        len = fprintf(out, "  %s", t->arg);
        break;
    case CLI_ROW_AGAIN:
        o = find_long(f, t->name + 2, strlen(t->name + 2));
        len = print_label(out, o, t->arg ? t->arg : o->arg);
        break;
    default:
        len = print_label(out, o, o->arg);
        break;
    }
    print_help_text(out, len, col, t->help);
}

static void print_rows(FILE *out, const struct cli_opt *t, const struct flat *f, int col,
                       bool *first) {
    for (; t->row != CLI_ROW_END; t++) {
        if (t->row == CLI_ROW_GROUP) {
            print_rows(out, t->group, f, col, first);
            continue;
        }
        /* A blank line before each section but the first. */
        if (t->row == CLI_ROW_SECTION && !*first)
            fputc('\n', out);
        *first = false;
        print_row(out, t, f, col);
    }
}

void cli_print_help(const struct cli_command *cmd, FILE *out) {
    struct flat f = { .n = 0 };
    bool first = true;

    flatten_command(cmd, &f);
    fprintf(out, "Usage: uds %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->intro);
    print_rows(out, cmd->opts, &f, cmd->help_col, &first);
    print_row(out, help_opts, &f, cmd->help_col);
    fprintf(out, "\n%s", cmd->outro);
}

static void print_words(FILE *out, const struct cli_word *w) {
    for (; w && w->word; w++)
        fprintf(out, " %s", w->word);
}

void cli_print_options(const struct cli_command *cmd, FILE *out) {
    struct flat f = { .n = 0 };

    flatten_command(cmd, &f);
    for (size_t i = 0; i < f.n; i++) {
        const struct cli_opt *o = f.opt[i];
        if (o->letter)
            fprintf(out, "-%c", o->letter);
        else
            fputc('-', out);
        fprintf(out, " %s %s %s", o->name ? o->name : "-", o->arg ? o->arg : "-",
                o->kind->name);
        print_words(out, o->kind->words);
        print_words(out, o->words);
        fputc('\n', out);
    }
}

/* ---- parsing --------------------------------------------------------------------------- */

/* The getopt_long() arrays for f: a short option's code is its letter, a long-only one's
 * FIRST_CODE + its index. */
static void getopt_tables(const struct flat *f, struct option *longopts, char *shortopts) {
    size_t n = 0, s = 0;

    shortopts[s++] = ':';   /* errors are ours to word */
    for (size_t i = 0; i < f->n; i++) {
        const struct cli_opt *o = f->opt[i];
        int code = o->letter ? o->letter : FIRST_CODE + (int) i;
        if (o->name)
            longopts[n++] = (struct option){ o->name + 2, o->kind->has_arg, NULL, code };
        if (o->letter) {
            shortopts[s++] = o->letter;
            if (o->kind->has_arg)
                shortopts[s++] = ':';
        }
    }
    longopts[n++] = (struct option){ "list-options", no_argument, NULL, LIST_CODE };
    longopts[n] = (struct option){ NULL, 0, NULL, 0 };
    shortopts[s] = '\0';
}

/* The index of the option behind getopt_long()'s code, or f->n for none (an error). */
static size_t find_code(const struct flat *f, int code) {
    if (code >= FIRST_CODE)
        return (size_t) (code - FIRST_CODE);
    for (size_t i = 0; i < f->n; i++)
        if (f->opt[i]->letter == code)
            return i;
    return f->n;
}

/* A getopt_long() result of '?' or ':' as a usage error. */
static int getopt_error(const char *cmd, const struct flat *f, int c, char **argv) {
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    bool is_long = strncmp(arg, "--", 2) == 0;
    char shortopt[3] = { '-', (char) optopt, '\0' }, which[512];
    const char *name = is_long || optopt == 0 ? arg : shortopt;
    const char *eq = is_long ? strchr(arg, '=') : NULL;
    size_t len = eq ? (size_t) (eq - arg) : strlen(arg), used = 0, matches = 0;

    if (c == ':')
        return cli_usage(cmd, "option '%s' needs a value", name);
    if (eq && find_long(f, arg + 2, len - 2))
        return cli_usage(cmd, "option '%.*s' takes no value", (int) len, arg);
    /* getopt_long() takes the start of one option's name: of several, say which. */
    for (size_t i = 0; is_long && i < f->n; i++)
        if (f->opt[i]->name && strncmp(f->opt[i]->name, arg, len) == 0)
            cli_append(which, sizeof(which), &used, "%s%s", matches++ ? ", " : "",
                       f->opt[i]->name);
    if (matches > 1)
        return cli_usage(cmd, "option '%.*s' is ambiguous: %s", (int) len, arg, which);
    return cli_usage(cmd, "unknown option '%s'", name);
}

/* --help or --list-options on stdout. */
static int answer(const struct cli_command *cmd, bool list) {
    if (list)
        cli_print_options(cmd, stdout);
    else
        cli_print_help(cmd, stdout);
    return fflush(stdout) == 0 ? EX_OK : CLI_EXIT_FAILURE;
}

/* One option with its value (or NULL) into args. */
static int take(const struct cli_command *cmd, const struct flat *f, size_t i,
                const char *arg, char *args) {
    const struct cli_opt *o = f->opt[i];
    struct cli_bad bad = { .item = "" };
    const char *example = o->example ? o->example : o->kind->example;
    char buf[3];

    if (o->kind == &cli_kind_help)
        return answer(cmd, false);
    snprintf(bad.item, sizeof(bad.item), "%s", arg ? arg : "");
    if (o->kind->parse(o, arg, args + f->base[i] + o->at, &bad) < 0) {
        if (!bad.why[0])
            snprintf(bad.why, sizeof(bad.why), "not %s", o->what ? o->what : o->kind->what);
        return cli_usage(cmd->name, "%s: '%s' is %s%s%s%s%s", opt_name(o, buf), bad.item,
                         bad.why, example ? "; e.g. " : "", example ? opt_name(o, buf) : "",
                         example ? " " : "", example ? example : "");
    }
    if (o->seen)
        *(const char **) (args + f->base[i] + o->seen - 1) = o->name;
    return CLI_CONTINUE;
}

/* Too few or too many operands: a usage error. */
static int check_operands(const struct cli_command *cmd, const struct cli_parsed *p) {
    const struct cli_operands *o = &cmd->operands;
    int max = p->dashdash && o->rest_after_dashdash ? -1 : o->max;

    if (p->n_operands < o->min)
        return cli_usage(cmd->name, "missing %s; e.g. %s", o->names, o->example);
    if (max >= 0 && p->n_operands > max)
        return cli_usage(cmd->name, "%s%s only; '%s' is extra%s%s", max == 1 ? "one " : "",
                         o->names, p->operands[max], o->extra_hint ? "; " : "",
                         o->extra_hint ? o->extra_hint : "");
    return CLI_CONTINUE;
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, void *args,
              struct cli_parsed *ret) {
    struct flat f = { .n = 0 };
    struct option longopts[MAX_OPTS + 2];
    char shortopts[2 * MAX_OPTS + 2];
    const char *dash_value = NULL;  /* an option's value that happens to be "--" */
    int c;

    flatten_command(cmd, &f);
    getopt_tables(&f, longopts, shortopts);
    optind = 1;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        size_t i = find_code(&f, c);
        if (c == LIST_CODE)
            return answer(cmd, true);
        if (i == f.n)
            return getopt_error(cmd->name, &f, c, argv);
        if (optarg && strcmp(optarg, "--") == 0)
            dash_value = optarg;
        int code = take(cmd, &f, i, optarg, args);
        if (code != CLI_CONTINUE)
            return code;
    }
    /* getopt_long() moves a "--" in front of the operands. */
    *ret = (struct cli_parsed){
        .operands = argv + optind,
        .n_operands = argc - optind,
        .dashdash = optind > 1 && strcmp(argv[optind - 1], "--") == 0 &&
                    argv[optind - 1] != dash_value,
    };
    return check_operands(cmd, ret);
}
