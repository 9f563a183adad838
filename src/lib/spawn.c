/* SPDX-License-Identifier: MIT */
/*
 * spawn.c — a program per connection, the UCSPI server side (as ucspi-unix's unixserver and
 * s6's s6-ipcserverd do it): the environment the program gets, one child per connection
 * with the socket on fds 0 and 1, and the children kept track of until they are reaped.
 * Accepting, limits and logs are the caller's; finding the program is program.c's; starting
 * it, spawn_child.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "spawn_child.h"

extern char **environ;

/* Besides the UCSPI variables (a server started by another UCSPI server must not pass on
 * its own peer), the service manager's: they are meant for the server alone. */
static const char *const manager_vars[] = {
    "LISTEN_PID=", "LISTEN_PIDFDID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
};

/* PROTO and UNIXLOCALPATH, fixed; UNIXLOCAL{UID,GID}, then UNIXREMOTE{PID,EUID,EGID}, written
 * at each start: the caller may have become another user since uds_spawner_new(), and the
 * peer's are left out when it is not known. */
enum { N_FIXED = 2, N_LOCAL = 2, N_REMOTE = 3, VAR_SIZE = 40 };

struct uds_spawner {
    char *path;                 /* the program as found */
    char **argv;                /* as given */
    char **envp;                /* base, fixed, local, remote, NULL */
    size_t n_base;
    char *fixed[N_FIXED];
    char vars[N_LOCAL + N_REMOTE][VAR_SIZE];
    uint64_t reset[UDS__SIG_WORDS];     /* the signals the programs get at SIG_DFL */
    void *stack;                /* the children's, until they exec */
    rlim_t nofile;              /* the programs' soft RLIMIT_NOFILE; 0: the caller's */
    bool stderr_closed;         /* the caller had no fd 2 when the spawner was made */
    struct uds_child *children;
    size_t n_children;
    size_t cap_children;
};

static bool is_scrubbed(const char *var) {
    if (uds__ucspi_var(var))
        return true;
    for (size_t i = 0; i < sizeof(manager_vars) / sizeof(manager_vars[0]); i++)
        if (strncmp(var, manager_vars[i], strlen(manager_vars[i])) == 0)
            return true;
    return false;
}

static int build_env(struct uds_spawner *sp, const char *local_path) {
    size_t n = 0;

    for (char **e = environ; e && *e; e++)
        n++;
    sp->envp = calloc(n + N_FIXED + N_LOCAL + N_REMOTE + 1, sizeof(*sp->envp));
    if (!sp->envp)
        return -1;
    for (char **e = environ; e && *e; e++) {
        if (is_scrubbed(*e))
            continue;
        /* Copies: nothing may change the caller's environment under us later. */
        sp->envp[sp->n_base] = strdup(*e);
        if (!sp->envp[sp->n_base])
            return -1;
        sp->n_base++;
    }
    /* asprintf() leaves its pointer undefined when it fails. */
    if (asprintf(&sp->fixed[0], "PROTO=UNIX") < 0) {
        sp->fixed[0] = NULL;
        return -1;
    }
    if (asprintf(&sp->fixed[1], "UNIXLOCALPATH=%s", local_path) < 0) {
        sp->fixed[1] = NULL;
        return -1;
    }
    for (size_t i = 0; i < N_FIXED; i++)
        sp->envp[sp->n_base + i] = sp->fixed[i];
    for (size_t i = 0; i < N_LOCAL + N_REMOTE; i++)
        sp->envp[sp->n_base + N_FIXED + i] = sp->vars[i];
    return 0;
}

UDS_API struct uds_spawner *uds_spawner_new(char *const argv[], const char *local_path,
                                            const struct uds_spawner_opts *opts) {
    struct uds_spawner *sp;
    struct rlimit rl;
    size_t argc = 0;

    if (!argv || !argv[0] || !local_path) {
        errno = EINVAL;
        return NULL;
    }
    sp = calloc(1, sizeof(*sp));
    if (!sp)
        return NULL;
    sp->path = uds_program_find(argv[0]);
    if (!sp->path)
        goto fail;
    while (argv[argc])
        argc++;
    sp->argv = calloc(argc + 1, sizeof(*sp->argv));
    if (!sp->argv)
        goto fail;
    memcpy(sp->argv, argv, argc * sizeof(*argv));
    if (build_env(sp, local_path) < 0)
        goto fail;
    sp->stack = uds__child_stack_new();
    if (!sp->stack)
        goto fail;
    /* The signals a child must get back to SIG_DFL: every one the caller ignores (SIGPIPE,
     * and SIGHUP under nohup), since exec keeps an ignored signal ignored; glibc's internal
     * ones too (a process started by glibc's posix_spawn(), make's say, has them ignored).
     * The handled ones the child sets to SIG_DFL itself. */
    uds__child_ignored(sp->reset);
    sp->stderr_closed = fcntl(STDERR_FILENO, F_GETFD) < 0;
    if (opts && opts->nofile)
        sp->nofile = (rlim_t) opts->nofile;
    else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        sp->nofile = rl.rlim_cur;
    return sp;
fail:
    UDS__KEEP_ERRNO(uds_spawner_free(sp));
    return NULL;
}

UDS_API void uds_spawner_free(struct uds_spawner *sp) {
    if (!sp)
        return;
    uds__child_stack_free(sp->stack);
    for (size_t i = 0; sp->envp && i < sp->n_base; i++)
        free(sp->envp[i]);
    for (size_t i = 0; i < N_FIXED; i++)
        free(sp->fixed[i]);
    free(sp->envp);
    free(sp->argv);
    free(sp->path);
    free(sp->children);
    free(sp);
}

UDS_API const char *uds_spawner_path(const struct uds_spawner *sp) {
    return sp ? sp->path : NULL;
}

UDS_API size_t uds_spawner_count(const struct uds_spawner *sp) {
    return sp ? sp->n_children : 0;
}

/* The per-start variables; the remote ones ended early (a NULL) without a peer. */
static void set_vars(struct uds_spawner *sp, const struct uds_peer *peer) {
    char **local = sp->envp + sp->n_base + N_FIXED;

    snprintf(sp->vars[0], VAR_SIZE, "UNIXLOCALUID=%lu", (unsigned long) getuid());
    snprintf(sp->vars[1], VAR_SIZE, "UNIXLOCALGID=%lu", (unsigned long) getgid());
    local[N_LOCAL] = peer ? sp->vars[N_LOCAL] : NULL;
    if (!peer)
        return;
    snprintf(sp->vars[2], VAR_SIZE, "UNIXREMOTEPID=%ld", (long) peer->pid);
    snprintf(sp->vars[3], VAR_SIZE, "UNIXREMOTEEUID=%lu", (unsigned long) peer->uid);
    snprintf(sp->vars[4], VAR_SIZE, "UNIXREMOTEEGID=%lu", (unsigned long) peer->gid);
}

/* Whether the programs get /dev/null on fd 2 rather than the caller's: a caller started
 * without a stderr may have given its number to a socket since (another client's, say),
 * and one that had a stderr may have closed it since, its number taken by an fd of its
 * own, close-on-exec, that the program would find closed, so that its first open() took
 * fd 2 and its error messages went into that file. */
static bool stderr_to_null(const struct uds_spawner *sp) {
    int flags;

    UDS__KEEP_ERRNO(flags = fcntl(STDERR_FILENO, F_GETFD));    /* EBADF is an answer here */
    return sp->stderr_closed || flags < 0 || (flags & FD_CLOEXEC);
}

/* fd on 0 and 1, /dev/null on 2 if need be, and nothing above 2: descriptors the caller
 * inherited (from a shell, a supervisor) or made without O_CLOEXEC must not reach the
 * programs. A process group of its own: a stop signals the
 * program and whatever it started, and a Ctrl-C at the terminal reaches the server, which
 * then stops its children in order. The open-file limit is set in the child alone: the
 * caller's own, and so its other threads', never changes. Returns 0 or an errno value (a
 * failed execve()'s too: that child is reaped). */
static int start(struct uds_spawner *sp, int fd, pid_t *ret_pid) {
    struct uds__child_setup setup = {
        .path = sp->path,
        .argv = sp->argv,
        .envp = sp->envp,
        .fd = fd,
        .null_stderr = stderr_to_null(sp),
        .nofile = sp->nofile == RLIM_INFINITY ? UINT64_MAX : (uint64_t) sp->nofile,
        .stack = sp->stack,
    };

    memcpy(setup.reset, sp->reset, sizeof(setup.reset));
    return uds__child_spawn(&setup, ret_pid);
}

UDS_API pid_t uds_spawner_spawn(struct uds_spawner *sp, int fd, const struct uds_peer *peer) {
    struct uds_peer own = { .pidfd = -1 };
    pid_t pid;
    int r;

    if (!sp || fd < 0)
        return uds__fail(EINVAL);
    if (sp->n_children == sp->cap_children) {
        size_t cap = sp->cap_children ? sp->cap_children * 2 : 16;
        struct uds_child *c = realloc(sp->children, cap * sizeof(*c));
        if (!c)
            return -1;
        sp->children = c;
        sp->cap_children = cap;
    }
    /* The accepted socket is non-blocking for the caller's loop, and O_NONBLOCK belongs to
     * the open file, shared with the child: a program doing plain reads would get EAGAIN. */
    if (uds_set_nonblock(fd, false) < 0)
        return -1;
    if (!peer && uds_peer_get(fd, 0, &own) == 0)
        peer = &own;
    set_vars(sp, peer);
    r = start(sp, fd, &pid);
    if (r != 0) {
        uds_peer_done(&own);
        return uds__fail(r);
    }
    sp->children[sp->n_children++] = (struct uds_child){
        .pid = pid,
        .peer_pid = peer ? peer->pid : 0,
        .peer_uid = peer ? peer->uid : (uid_t) -1,
        .peer_gid = peer ? peer->gid : (gid_t) -1,
        .started_ms = uds__now_ms(),
    };
    uds_peer_done(&own);
    return pid;
}

/* Child i, reaped with status: its record out, its slot given to the last one. */
static int collect(struct uds_spawner *sp, size_t i, int status, struct uds_child *ret_child,
                   int *ret_status) {
    if (ret_child)
        *ret_child = sp->children[i];
    if (ret_status)
        *ret_status = status;
    sp->children[i] = sp->children[--sp->n_children];
    return 1;
}

/* Each child asked in turn: for when the process has exited children that are not ours,
 * which the quick way would keep finding first. */
static int reap_each(struct uds_spawner *sp, struct uds_child *ret_child, int *ret_status) {
    for (size_t i = 0; i < sp->n_children; i++) {
        int status;

        if (waitpid(sp->children[i].pid, &status, WNOHANG) == sp->children[i].pid)
            return collect(sp, i, status, ret_child, ret_status);
    }
    return 0;
}

UDS_API int uds_spawner_reap(struct uds_spawner *sp, struct uds_child *ret_child,
                             int *ret_status) {
    siginfo_t si;

    if (!sp)
        return uds__fail(EINVAL);
    /* Which child has exited, without reaping it (WNOWAIT): a child of the caller's that is
     * not ours stays for the caller to reap. */
    for (;;) {
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
            break;
        if (errno == ECHILD)
            return 0;
        if (errno != EINTR)
            return -1;
    }
    if (si.si_pid == 0)
        return 0;
    for (size_t i = 0; i < sp->n_children; i++) {
        int status;

        if (sp->children[i].pid != si.si_pid)
            continue;
        /* It has exited: this returns at once. */
        while (waitpid(si.si_pid, &status, 0) < 0)
            if (errno != EINTR)
                return -1;
        return collect(sp, i, status, ret_child, ret_status);
    }
    return reap_each(sp, ret_child, ret_status);
}

UDS_API void uds_spawner_kill(struct uds_spawner *sp, int sig) {
    for (size_t i = 0; sp && i < sp->n_children; i++) {
        pid_t pid = sp->children[i].pid;

        /* The whole process group; a program that left it still gets the signal itself. */
        if (kill(-pid, sig) < 0)
            (void) kill(pid, sig);      /* already gone: reaped soon */
        /* A stopped program would hold on to SIGTERM until continued. */
        if (sig == SIGTERM && kill(-pid, SIGCONT) < 0)
            (void) kill(pid, SIGCONT);
    }
}
