/* SPDX-License-Identifier: MIT */
/*
 * options.c — a command's option table turned into what getopt_long() takes, into --help,
 * --list-options and one wording of usage errors; and the values of each kind (durations,
 * sizes, modes, users...), read and refused in one place. Which options go together is
 * each command's business, not this file's.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "words.h"
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

static int invalid(void) {
    errno = EINVAL;
    return -1;
}

/* Seconds, decimals allowed ("0.5", "10", "10s"), or "250ms", into milliseconds (rounded
 * up, at most ~24 days): at least o->min, or one of o->words. */
static int parse_duration(const struct cli_opt *o, const char *text, int *ret_ms) {
    const char *p = text;
    long long whole = 0, frac_ms = 0, ms;
    int frac_digits = 0;
    bool any = false, round_up = false;

    if (find_word(o->words, text, ret_ms) == 0)
        return 0;
    for (; isdigit((unsigned char) *p) && whole <= 2000000; p++, any = true)
        whole = whole * 10 + (*p - '0');
    if (*p == '.')
        for (p++; isdigit((unsigned char) *p); p++, any = true, frac_digits++) {
            if (frac_digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            else if (*p != '0')
                round_up = true;
        }
    for (int i = frac_digits; i < 3; i++)
        frac_ms *= 10;
    if (strcmp(p, "ms") == 0)
        ms = whole + (frac_ms > 0 || round_up ? 1 : 0);
    else if (*p == '\0' || strcmp(p, "s") == 0)
        ms = whole * 1000 + frac_ms + (round_up ? 1 : 0);
    else
        return invalid();
    if (!any || whole > 2000000 || ms > INT_MAX || ms < o->min)
        return invalid();
    *ret_ms = (int) ms;
    return 0;
}

/* Bytes with an optional K/M/G suffix (binary: 1K = 1024), from o->min to o->max. */
static int parse_size(const struct cli_opt *o, const char *text, size_t *ret_size) {
    unsigned long long value = 0, mult = 1;
    const char *p = text;

    if (!isdigit((unsigned char) *p))
        return invalid();
    for (; isdigit((unsigned char) *p); p++)
        if ((value = value * 10 + (unsigned long long) (*p - '0')) > (1ull << 40))
            return invalid();
    switch (*p) {
    case 'k': case 'K': mult = 1ull << 10; p++; break;
    case 'm': case 'M': mult = 1ull << 20; p++; break;
    case 'g': case 'G': mult = 1ull << 30; p++; break;
    }
    if (mult > 1 && (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0))
        p += strlen(p);
    else if (mult == 1 && strcmp(p, "B") == 0)
        p++;
    /* Divided, not multiplied: "1099511627776G" must not wrap round to 0. */
    if (*p != '\0' || value > (unsigned long long) o->max / mult ||
        value * mult < (unsigned long long) o->min)
        return invalid();
    *ret_size = (size_t) (value * mult);
    return 0;
}

int cli_parse_long(const char *text, long min, long max, long *ret_value) {
    char *end;
    long v;

    if (!isdigit((unsigned char) text[0]) && !(text[0] == '-' && isdigit((unsigned char) text[1])))
        return invalid();
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return invalid();
    *ret_value = v;
    return 0;
}

/* Octal permission bits, at most 0777 ("660", "0660"). */
static int parse_mode(const char *text, mode_t *ret_mode) {
    unsigned v = 0;
    size_t n = strlen(text);

    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '7')
            return invalid();
        v = v * 8 + (unsigned) (text[i] - '0');
    }
    if (n == 0 || n > 4 || v > 0777)
        return invalid();
    *ret_mode = (mode_t) v;
    return 0;
}

_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
               "ids are 32 bits on Linux");

/* A user's (users) or group's name or number. A plain non-negative decimal is a number;
 * (uid_t) -1 is "no change" to chown, so never an id. ENOENT: no such name. */
static int parse_id(const char *text, bool users, uint32_t *ret_id) {
    char buf[65536];
    struct passwd pw, *user = NULL;
    struct group gr, *group = NULL;
    unsigned long v;
    char *end;
    int r;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (isdigit((unsigned char) text[0]) && errno == 0 && *end == '\0' && v < UINT32_MAX) {
        *ret_id = (uint32_t) v;
        return 0;
    }
    if (text[0] == '\0')
        return invalid();
    if (users)
        r = getpwnam_r(text, &pw, buf, sizeof(buf), &user);
    else
        r = getgrnam_r(text, &gr, buf, sizeof(buf), &group);
    if (r != 0 || (!user && !group)) {
        errno = r != 0 ? r : ENOENT;
        return -1;
    }
    *ret_id = user ? user->pw_uid : group->gr_gid;
    return 0;
}

/* A comma-separated list: sizes into a struct cli_sizes, or words into a set of bits. */
static int parse_list(const struct cli_opt *o, const char *arg, void *dest) {
    bool of_sizes = o->kind == CLI_KIND_SIZES;
    struct cli_sizes sizes = { .n = 0 };
    unsigned set = 0;
    const char *p = arg;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[64];
        int bit = 0, r;

        snprintf(item, sizeof(item), "%.*s", (int) len, p);
        if (of_sizes)
            r = sizes.n < CLI_MAX_SIZES ? parse_size(o, item, &sizes.v[sizes.n++]) : -1;
        else
            r = find_word(o->words, item, &bit);
        if (len >= sizeof(item) || r < 0)
            return -1;
        set |= 1u << bit;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    if (of_sizes)
        *(struct cli_sizes *) dest = sizes;
    else
        *(unsigned *) dest = set;
    return 0;
}

/* Comma-separated users (or groups). A list replaces the one given before it: the last one
 * counts, as for every option. The piece that is no user (group) is what the message
 * quotes. */
static int parse_ids(const struct cli_opt *o, const char *arg, void *dest, struct cli_bad *b) {
    struct cli_ids *ids = dest;
    size_t n = 1, i = 0;
    const char *p = arg;
    uint32_t *got;

    for (const char *q = arg; *q; q++)
        n += *q == ',';
    if (!(got = calloc(n, sizeof(*got))))
        return -1;
    for (;; i++) {
        size_t len = strcspn(p, ",");

        snprintf(b->item, sizeof(b->item), "%.*s", (int) len, p);
        if (len >= sizeof(b->item) || parse_id(b->item, o->kind == CLI_KIND_UIDS, &got[i]) < 0) {
            free(got);
            return -1;
        }
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    free(ids->ids);
    *ids = (struct cli_ids){ .ids = got, .n = i + 1 };
    return 0;
}

/* A repeatable option's value, one more; an empty one means nothing and is refused. */
static int add_string(const char *arg, struct cli_strings *s, struct cli_bad *b) {
    if (!*arg || s->n == CLI_STRINGS_MAX) {
        snprintf(b->why, sizeof(b->why), !*arg ? "empty" : "one too many (at most %d)",
                 CLI_STRINGS_MAX);
        return -1;
    }
    s->v[s->n++] = arg;
    return 0;
}

/* arg (NULL for a flag) into dest as o's kind says. Returns 0, or -1 (a custom kind's
 * parse may have said why in b->why). */
static int parse_value(const struct cli_opt *o, const char *arg, void *dest,
                       struct cli_bad *b) {
    switch (o->kind) {
    case CLI_KIND_FLAG: *(bool *) dest = true; return 0;
    case CLI_KIND_SET: *(int *) dest = o->value; return 0;
    case CLI_KIND_STRING: *(const char **) dest = arg; return 0;
    case CLI_KIND_DURATION: return parse_duration(o, arg, dest);
    case CLI_KIND_SIZE: return parse_size(o, arg, dest);
    case CLI_KIND_SIZES: return parse_list(o, arg, dest);
    case CLI_KIND_LONG: return cli_parse_long(arg, o->min, o->max, dest);
    case CLI_KIND_MODE: return parse_mode(arg, dest);
    case CLI_KIND_USER: return parse_id(arg, true, dest);
    case CLI_KIND_GROUP: return parse_id(arg, false, dest);
    case CLI_KIND_UIDS: return parse_ids(o, arg, dest, b);
    case CLI_KIND_GIDS: return parse_ids(o, arg, dest, b);
    case CLI_KIND_SOCKET_TYPE: return uds_socket_type_parse(arg, dest);
    case CLI_KIND_WORD: return find_word(o->words, arg, dest);
    case CLI_KIND_WORD_SET: return parse_list(o, arg, dest);
    case CLI_KIND_CUSTOM: return o->parse(o, arg, dest, b);
    case CLI_KIND_HELP: break;
    case CLI_KIND_STRINGS: return add_string(arg, dest, b);
    }
    return -1;
}

static const struct cli_word socket_types[] = {
    { "stream", UDS_STREAM }, { "seqpacket", UDS_SEQPACKET }, { "dgram", UDS_DGRAM }, { NULL, 0 },
};

/* Per kind: its name in --list-options, the noun of "'x' is not ...", an example when the
 * option gives none, and the only words it takes. */
static const struct {
    const char *name, *what, *example;
    const struct cli_word *words;
} kinds[] = {
    [CLI_KIND_FLAG] = { "flag", NULL, NULL, NULL },
    [CLI_KIND_SET] = { "flag", NULL, NULL, NULL },
    [CLI_KIND_STRING] = { "string", NULL, NULL, NULL },
    [CLI_KIND_DURATION] = { "duration", "a duration in seconds", "2.5", NULL },
    [CLI_KIND_SIZE] = { "size", "a size", "64K", NULL },
    [CLI_KIND_SIZES] = { "sizes", "a list of sizes", NULL, NULL },
    [CLI_KIND_LONG] = { "number", "a number", NULL, NULL },
    [CLI_KIND_MODE] = { "mode", "an octal mode", "0660", NULL },
    [CLI_KIND_USER] = { "user", "a user", NULL, NULL },
    [CLI_KIND_GROUP] = { "group", "a group", NULL, NULL },
    [CLI_KIND_UIDS] = { "users", "a user", NULL, NULL },
    [CLI_KIND_GIDS] = { "groups", "a group", NULL, NULL },
    [CLI_KIND_SOCKET_TYPE] = {
        "word", "a socket type", "stream, seqpacket or dgram", socket_types,
    },
    [CLI_KIND_WORD] = { "word", NULL, NULL, NULL },
    [CLI_KIND_WORD_SET] = { "words", NULL, NULL, NULL },
    [CLI_KIND_CUSTOM] = { "value", NULL, NULL, NULL },
    [CLI_KIND_HELP] = { "help", NULL, NULL, NULL },
    [CLI_KIND_STRINGS] = { "string", NULL, NULL, NULL },    /* any text, again and again */
};

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
    { "--help", 'h', NULL, .kind = CLI_KIND_HELP, .help = "show this help" },
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

static void print_rows(FILE *out, const struct cli_opt *t, const struct flat *f, int col) {
    for (; t->row != CLI_ROW_END; t++) {
        if (t->row == CLI_ROW_GROUP)
            print_rows(out, t->group, f, col);
        else if (t->row == CLI_ROW_SECTION)
            fprintf(out, "\n%s\n", t->help);    /* after a blank line */
        else
            print_row(out, t, f, col);
    }
}

static void print_help(const struct cli_command *cmd, FILE *out) {
    struct flat f;

    flatten_command(cmd, &f);
    fprintf(out, "Usage: uds %s %s\n\n%s", cmd->name, cmd->synopsis, cmd->intro);
    print_rows(out, cmd->opts, &f, cmd->help_col);
    print_row(out, help_opts, &f, cmd->help_col);
    fprintf(out, "\n%s", cmd->outro);
}

static void print_words(FILE *out, const struct cli_word *w) {
    for (; w && w->word; w++)
        fprintf(out, " %s", w->word);
}

static void print_options(const struct cli_command *cmd, FILE *out) {
    struct flat f = { .n = 0 };

    flatten_command(cmd, &f);
    for (size_t i = 0; i < f.n; i++) {
        const struct cli_opt *o = f.opt[i];
        if (o->letter)
            fprintf(out, "-%c", o->letter);
        else
            fputc('-', out);
        fprintf(out, " %s %s %s", o->name ? o->name : "-", o->arg ? o->arg : "-",
                kinds[o->kind].name);
        print_words(out, kinds[o->kind].words);
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
            longopts[n++] = (struct option){ o->name + 2, o->arg != NULL, NULL, code };
        if (o->letter) {
            shortopts[s++] = o->letter;
            if (o->arg)
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

/* What o's value must be, for "'x' is not WHAT": "a size from 1 byte to 1G", "a duration
 * in seconds above 0", "a number from 1 to 10"; a range without an end is said by the noun
 * alone ("a positive number"). */
static void say_why(const struct cli_opt *o, struct cli_bad *b) {
    const char *what = o->what ? o->what : kinds[o->kind].what;
    char lo[32], hi[32];
    size_t used = 0;

    cli_append(b->why, sizeof(b->why), &used, "not %s", what);
    if (o->kind == CLI_KIND_DURATION && o->min > 0)
        cli_append(b->why, sizeof(b->why), &used, " above 0");
    if (o->kind == CLI_KIND_LONG && o->max != LONG_MAX)
        cli_append(b->why, sizeof(b->why), &used, " from %ld to %ld", o->min, o->max);
    if ((o->kind == CLI_KIND_SIZE || o->kind == CLI_KIND_SIZES) && o->min > 0)
        cli_append(b->why, sizeof(b->why), &used, " from %s", size_text(o->min, lo, sizeof(lo)));
    if (o->kind == CLI_KIND_SIZE || o->kind == CLI_KIND_SIZES)
        cli_append(b->why, sizeof(b->why), &used, " %s %s", o->min > 0 ? "to" : "up to",
                   size_text(o->max, hi, sizeof(hi)));
}

/* --help or --list-options on stdout. */
static int answer(const struct cli_command *cmd, bool list) {
    if (list)
        print_options(cmd, stdout);
    else
        print_help(cmd, stdout);
    /* A write that failed before the flush (a long text into a full disk) is an error too. */
    return fflush(stdout) == 0 && !ferror(stdout) ? EX_OK : CLI_EXIT_FAILURE;
}

/* One option with its value (or NULL) into args. */
static int take(const struct cli_command *cmd, const struct flat *f, size_t i,
                const char *arg, char *args) {
    const struct cli_opt *o = f->opt[i];
    struct cli_bad bad = { .item = "" };
    const char *example = o->example ? o->example : kinds[o->kind].example;
    char buf[3];

    if (o->kind == CLI_KIND_HELP)
        return answer(cmd, false);
    snprintf(bad.item, sizeof(bad.item), "%s", arg ? arg : "");
    if (parse_value(o, arg, args + f->base[i] + o->at, &bad) < 0) {
        if (!bad.why[0])
            say_why(o, &bad);
        return cli_usage(cmd->name, "%s: '%s' is %s%s%s%s%s", opt_name(o, buf), bad.item,
                         bad.why, example ? "; e.g. " : "", example ? opt_name(o, buf) : "",
                         example ? " " : "", example ? example : "");
    }
    if (o->seen)
        *(const char **) (args + f->base[i] + o->seen - 1) = o->name;
    return CLI_CONTINUE;
}

/* Too few or too many operands: a usage error. Else those the table places are stored. */
static int take_operands(const struct cli_command *cmd, const struct cli_parsed *p,
                         char *args) {
    const struct cli_operands *o = &cmd->operands;
    int max = p->dashdash && o->rest_after_dashdash ? -1 : o->max;

    if (p->n_operands < o->min)
        return cli_usage(cmd->name, "missing %s; e.g. %s", o->names, o->example);
    if (max >= 0 && p->n_operands > max)
        return cli_usage(cmd->name, "%s%s only; '%s' is extra%s%s", max == 1 ? "one " : "",
                         o->names, p->operands[max], o->extra_hint ? "; " : "",
                         o->extra_hint ? o->extra_hint : "");
    for (int i = 0; i < CLI_OPERANDS_AT && i < p->n_operands; i++)
        if (o->at[i])
            *(const char **) (args + o->at[i] - 1) = p->operands[i];
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
    return take_operands(cmd, ret, args);
}
