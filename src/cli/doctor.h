/* SPDX-License-Identifier: MIT */
/*
 * doctor.h — what the parts of `uds doctor` share: the findings it collects, whom the checks
 * are for (the caller, or --as USER), and the state of one run. cmd_doctor.c makes the
 * checks; doctor_subject.c answers for the subject (and runs a check with its ids);
 * doctor_server.c speaks the configuration of the server behind the socket;
 * doctor_tls.c examines a TLS service (ADDRESS tls:HOST:PORT) into the same findings;
 * doctor_findings.c records the findings and prints the report, as text or JSON.
 */
#ifndef UDS_CLI_DOCTOR_H
#define UDS_CLI_DOCTOR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <udskit.h>

#include "cli.h"
#include "tls.h"

#define MAX_FINDINGS 32
/* The test connection gives up after this long (a listener that does not accept). */
#define PROBE_TIMEOUT_MS 1000
/* Room for a path made absolute: a working directory and the path given. */
#define ABS_MAX (PATH_MAX + UDS_PATH_MAX + 2)
/* Room for an advice or a list built piece by piece. */
#define TEXT_MAX 4096

enum severity { SEV_INFO, SEV_WARNING, SEV_ERROR };

struct finding {
    const char *code;
    enum severity severity;
    int exit_code;          /* what `doctor` exits with if this is the first error */
    char *message;
    char *advice;           /* NULL for none */
};

/* Whom the checks are for: the caller, or with --as the user of a new login. */
struct subject {
    bool as;                /* --as: not the caller */
    char name[256];         /* user name, or the uid in digits */
    uid_t uid;
    gid_t gid;
    gid_t *groups;          /* malloc'ed */
    size_t n_groups;
    struct uds_login login; /* the user's groups as a new login would have them */
    bool have_login;
};

struct doctor {
    const char *address;
    struct uds_addr addr;
    bool json;
    bool no_connect;
    const char *as_user;    /* --as USER, or NULL */
    struct tls_opts tls;    /* --cert, --key, --ca, --server-name: for tls:HOST:PORT */
    bool is_tls;            /* ADDRESS is tls:HOST:PORT (doctor_tls.c) */
    struct {                /* its session, once a handshake completed; all "" before */
        char version[16];       /* "TLSv1.3" */
        char cipher[64];
        char server_id[256];    /* the server's certificate, as tls_identity() says it */
    } session;
    struct subject who;
    struct finding findings[MAX_FINDINGS];
    size_t n;
    bool blocked;           /* an error finding says the subject cannot connect */
    struct uds_pathinfo pi; /* the facts at a path address, as the subject sees them */
    struct uds_socklist socks;
    bool have_socks;
    struct uds_procfd_list procs;
    bool have_procs;
    char abs[ABS_MAX];      /* the path made absolute, as given */
    char canon[ABS_MAX];    /* ... with its directory's symlinks resolved */
    struct uds_server_ident ident;  /* the server behind the address, once looked for */
    bool have_ident;
    const struct uds_sockinfo *ident_of;    /* the socket ident was looked for with */
};

/* A text built piece by piece with cli_append. */
struct text {
    char s[TEXT_MAX];
    size_t o;
};

#define T_ADD(t, ...) cli_append((t)->s, sizeof((t)->s), &(t)->o, __VA_ARGS__)

/* ---- doctor_findings.c ---- */

/* Record a finding: its code (for --json), severity, the exit status if it is the first
 * error, advice (NULL or "" for none) and the message. An error marks the run blocked. */
__attribute__((format(printf, 6, 7)))
void doctor_add(struct doctor *d, const char *code, enum severity sev, int exit_code,
                const char *advice, const char *fmt, ...);
bool doctor_has_finding(const struct doctor *d, const char *code);

/* The processes that hold socket s (from the /proc scan); *ret points into d. */
static inline size_t doctor_holders(const struct doctor *d, const struct uds_sockinfo *s,
                                    const struct uds_procfd **ret) {
    *ret = NULL;
    return s && d->have_procs ? uds_procfd_list_find(&d->procs, s->inode, ret) : 0;
}

/* ---- doctor_subject.c ---- */

/* The caller, or USER as a new login would be; -1 and errno (ENOENT: no such user). */
int doctor_subject_self(struct subject *w);
int doctor_subject_as(struct subject *w, const char *user);
void doctor_subject_done(struct subject *w);
bool doctor_subject_in_group(const struct subject *w, gid_t gid);
/* Run fn(d, out) with the subject's ids (in a child when --as), its size bytes of out
 * copied back; fn's result, or -1 and errno. */
int doctor_as_subject(struct doctor *d, int (*fn)(struct doctor *d, void *out), void *out,
                      size_t size);
/* Words for the subject: "you"/"You"/"are" or the user's name and "is"; "uid 33 (www-data),
 * group www-data"; why a permission class applies. */
const char *doctor_you(const struct doctor *d);
const char *doctor_You(const struct doctor *d);
const char *doctor_are(const struct doctor *d);
void doctor_describe_subject(const struct doctor *d, char *buf, size_t size);
const char *doctor_perm_why(const struct doctor *d, enum uds_perm_class class);

/* ---- doctor_server.c ---- */

/* The server behind socket s, recognised once per run. */
const struct uds_server_ident *doctor_ident(struct doctor *d, const struct uds_sockinfo *s);
/* The server that serves the socket: for systemd, the one it hands the socket to. */
enum uds_server_kind doctor_served_by(const struct uds_server_ident *id);
const char *doctor_server_title(enum uds_server_kind kind);
/* The file the server reads its socket's settings from: the one it was seen to read, or the
 * usual one of its kind ("postgresql.conf"); NULL for a kind with none. */
const char *doctor_config_file(const struct uds_server_ident *id);
/* How that server is started ("systemctl start php8.2-fpm"); "" unknown. */
void doctor_start_command(const struct uds_server_ident *id, char *buf, size_t size);
/* The "server" finding: which server, and the file and line that make the socket. */
void doctor_note_server(struct doctor *d, const struct uds_sockinfo *s);
/* Advice for a subject without write permission on sock, in the server's settings. */
void doctor_access_advice(struct doctor *d, const struct uds_sockinfo *s,
                          const struct uds_file *sock, struct text *t);

/* ---- doctor_tls.c ---- */

/* The TLS options of doctor's table (CLI_INCLUDE(), at struct doctor's tls). */
extern const struct cli_opt doctor_tls_opts[];
/* The findings on the TLS service at d->address (tls:HOST:PORT, with d->tls): this side's
 * files, the connection, the server's certificate, its verdict on this side's. Returns
 * CLI_CONTINUE, or EX_USAGE having said why. */
int doctor_tls_examine(struct doctor *d);

/* The exit status of the first error finding, 0 when none. */
int doctor_first_exit(const struct doctor *d);
/* The report on stdout, as text or (--json) one JSON object. */
void doctor_print_report(const struct doctor *d, int code);

#endif
