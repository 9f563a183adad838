/* SPDX-License-Identifier: MIT */
/*
 * serve_exec.c — the process side of `uds serve ADDRESS -- PROGRAM`: finding PROGRAM, the
 * UCSPI environment, starting one process per connection with posix_spawn, and keeping
 * track of the children until they are reaped. Accepting, limits and logs are
 * cmd_serve.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "connect_exec.h"
#include "listen_opts.h"

extern char **environ;

/* Variables a child gets from us, never from the server's own environment: the UCSPI ones
 * (a server started by another UCSPI server must not pass on its own peer), and the
 * service manager's, which are meant for the server alone. */
static const char *const scrubbed[] = {
    "PROTO=", "UNIXLOCAL", "UNIXREMOTE", "LISTEN_PID=", "LISTEN_PIDFDID=", "LISTEN_FDS=",
    "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
};

/* PROTO, UNIXLOCALPATH; UNIXREMOTE{PID,EUID,EGID} and UNIXLOCAL{UID,GID}, set at each start:
 * the server may have become another user (--user) since cli_exec_new(). */
enum { N_FIXED = 2, N_PEER = 5 };

struct cli_exec {
    char *path;                 /* PROGRAM as found in PATH */
    char **argv;                /* PROGRAM ARGS as given */
    char **envp;                /* the base environment, then ours, then NULL */
    size_t n_base;
    char *fixed[N_FIXED];
    char peer_vars[N_PEER][40];
    posix_spawnattr_t attr;
    bool attr_ready;
    struct cli_child *children;
    size_t n_children;
    size_t cap_children;
};

/* A regular file the caller may execute. */
static bool is_program(const char *path) {
    struct stat st;

    if (stat(path, &st) < 0)
        return false;
    if (!S_ISREG(st.st_mode)) {
        errno = EACCES;
        return false;
    }
    return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

/* PROGRAM as execvp would find it: taken as it is when it has a '/', else the first
 * executable of that name in $PATH. Searched once, here, so that each connection costs
 * one execve, not one per PATH entry. */
char *cli_find_program(const char *name) {
    const char *path = getenv("PATH");
    int err = ENOENT;

    if (name[0] == '\0') {
        errno = ENOENT;
        return NULL;
    }
    if (strchr(name, '/'))
        return is_program(name) ? strdup(name) : NULL;
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; ) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t) (colon - p) : strlen(p);
        char *full = malloc(len + strlen(name) + 3);

        if (!full)
            return NULL;
        /* An empty entry is the current directory, as for execvp. */
        sprintf(full, "%.*s%s%s", (int) len, len ? p : ".", "/", name);
        if (is_program(full))
            return full;
        if (errno != ENOENT && errno != ENOTDIR)
            err = errno;    /* found, but not executable: worth saying */
        free(full);
        if (!colon)
            break;
        p = colon + 1;
    }
    errno = err;
    return NULL;
}

static bool is_scrubbed(const char *var) {
    for (size_t i = 0; i < sizeof(scrubbed) / sizeof(scrubbed[0]); i++)
        if (strncmp(var, scrubbed[i], strlen(scrubbed[i])) == 0)
            return true;
    return false;
}

static int build_env(struct cli_exec *x, const char *local_path) {
    size_t n = 0;

    for (char **e = environ; e && *e; e++)
        n++;
    x->envp = calloc(n + N_FIXED + N_PEER + 1, sizeof(*x->envp));
    if (!x->envp)
        return -1;
    for (char **e = environ; e && *e; e++) {
        if (is_scrubbed(*e))
            continue;
        /* Copies: nothing may change the server's environment under us later. */
        x->envp[x->n_base] = strdup(*e);
        if (!x->envp[x->n_base])
            return -1;
        x->n_base++;
    }
    if (asprintf(&x->fixed[0], "PROTO=UNIX") < 0 ||
        asprintf(&x->fixed[1], "UNIXLOCALPATH=%s", local_path) < 0)
        return -1;
    for (size_t i = 0; i < N_FIXED; i++)
        x->envp[x->n_base + i] = x->fixed[i];
    for (size_t i = 0; i < N_PEER; i++)
        x->envp[x->n_base + N_FIXED + i] = x->peer_vars[i];
    x->envp[x->n_base + N_FIXED + N_PEER] = NULL;
    return 0;
}

/* The signals a child must get back to SIG_DFL: every one the server ignores (SIGPIPE, and
 * SIGHUP under nohup), since exec keeps an ignored signal ignored (handled ones exec resets
 * itself); and glibc's two internal signals, which its posix_spawn sets to SIG_IGN in the
 * child unless they are in this set, and so would reach the program ignored. sigaddset()
 * refuses those two, so the set starts full and loses only what must stay as it is. */
static void signals_to_reset(sigset_t *set) {
    memset(set, 0xff, sizeof(*set));
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
            continue;
        (void) sigdelset(set, sig);     /* EINVAL for the internal ones: they stay */
    }
}

static int setup_attr(struct cli_exec *x) {
    sigset_t none, dfl;
    int r;

    sigemptyset(&none);
    signals_to_reset(&dfl);
    r = posix_spawnattr_init(&x->attr);
    if (r != 0)
        goto fail;
    x->attr_ready = true;
    /* A process group of its own: a stop signals the program and whatever it started, and
     * a Ctrl-C at the terminal reaches the server, which then stops its children in order. */
    if ((r = posix_spawnattr_setflags(&x->attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                    POSIX_SPAWN_SETPGROUP)) != 0 ||
        (r = posix_spawnattr_setsigmask(&x->attr, &none)) != 0 ||
        (r = posix_spawnattr_setsigdefault(&x->attr, &dfl)) != 0 ||
        (r = posix_spawnattr_setpgroup(&x->attr, 0)) != 0)
        goto fail;
    return 0;
fail:
    errno = r;
    return -1;
}

/* Inherited descriptors (from the shell, a supervisor, a test harness) must not reach the
 * programs: only 0, 1 and 2 do. Ours are all O_CLOEXEC already. */
static void cloexec_inherited(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;

    if (!d) {
        /* No /proc: the descriptors a process can have are bounded by its limit. */
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            (void) fcntl(fd, F_SETFD, FD_CLOEXEC);  /* EBADF for most: nothing open there */
        return;
    }
    while ((de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name);
        if (fd > 2 && fd != dirfd(d))
            (void) fcntl(fd, F_SETFD, FD_CLOEXEC);  /* cannot fail on an open fd */
    }
    closedir(d);
}

/* 0, 1 and 2 open, on /dev/null if need be: otherwise an accepted connection could land on
 * one of them and be passed as the program's stderr. */
static int fill_stdio(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int nul = open("/dev/null", O_RDWR);
        if (nul < 0)
            return -1;
        if (nul != fd) {
            /* open() takes the lowest free number, and 0..fd-1 are open by now. */
            (void) close(nul);
            errno = EBADF;
            return -1;
        }
    }
    return 0;
}

struct cli_exec *cli_exec_new(char *const argv[], const char *local_path) {
    struct cli_exec *x = calloc(1, sizeof(*x));
    size_t argc = 0;

    if (!x)
        return NULL;
    x->path = cli_find_program(argv[0]);
    if (!x->path)
        goto fail;
    while (argv[argc])
        argc++;
    x->argv = calloc(argc + 1, sizeof(*x->argv));
    if (!x->argv)
        goto fail;
    memcpy(x->argv, argv, argc * sizeof(*argv));
    if (build_env(x, local_path) < 0 || setup_attr(x) < 0 || fill_stdio() < 0)
        goto fail;
    cloexec_inherited();
    return x;
fail:
    {
        int e = errno;
        cli_exec_free(x);
        errno = e;
    }
    return NULL;
}

void cli_exec_free(struct cli_exec *x) {
    if (!x)
        return;
    if (x->attr_ready)
        posix_spawnattr_destroy(&x->attr);
    for (size_t i = 0; x->envp && i < x->n_base; i++)
        free(x->envp[i]);
    for (size_t i = 0; i < N_FIXED; i++)
        free(x->fixed[i]);
    free(x->envp);
    free(x->argv);
    free(x->path);
    free(x->children);
    free(x);
}

const char *cli_exec_path(const struct cli_exec *x) {
    return x->path;
}

/* posix_spawn() with the soft RLIMIT_NOFILE the server was started with, not the one it
 * raised for itself. posix_spawn has no attribute for limits, so the server's own goes
 * down for the call and back up after it: glibc clones the child with CLONE_VFORK, so this
 * thread waits in the call until the child has exec'ed, and the server has no other thread
 * that could open an fd meanwhile. The lower limit never refuses a descriptor the server
 * already has. Returns posix_spawn's result. */
static int spawn_with_start_limit(pid_t *ret_pid, const struct cli_exec *x,
                                  const posix_spawn_file_actions_t *fa) {
    struct rlimit start, now;
    bool lowered = false;
    int r;

    if (cli_nofile_before_raise(&start) == 1 && getrlimit(RLIMIT_NOFILE, &now) == 0 &&
        now.rlim_cur != start.rlim_cur) {
        struct rlimit child = { .rlim_cur = start.rlim_cur, .rlim_max = now.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &child) < 0)
            return errno;
        lowered = true;
    }
    r = posix_spawn(ret_pid, x->path, fa, &x->attr, x->argv, x->envp);
    /* Raising the soft limit back up to the hard one is always allowed. */
    if (lowered)
        (void) setrlimit(RLIMIT_NOFILE, &now);
    return r;
}

pid_t cli_exec_spawn(struct cli_exec *x, int fd, const struct uds_peer *peer) {
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int r;

    if (x->n_children == x->cap_children) {
        size_t cap = x->cap_children ? x->cap_children * 2 : 16;
        struct cli_child *c = realloc(x->children, cap * sizeof(*c));
        if (!c)
            return -1;
        x->children = c;
        x->cap_children = cap;
    }
    snprintf(x->peer_vars[0], sizeof(x->peer_vars[0]), "UNIXREMOTEPID=%ld", (long) peer->pid);
    snprintf(x->peer_vars[1], sizeof(x->peer_vars[1]), "UNIXREMOTEEUID=%lu",
             (unsigned long) peer->uid);
    snprintf(x->peer_vars[2], sizeof(x->peer_vars[2]), "UNIXREMOTEEGID=%lu",
             (unsigned long) peer->gid);
    snprintf(x->peer_vars[3], sizeof(x->peer_vars[3]), "UNIXLOCALUID=%lu",
             (unsigned long) getuid());
    snprintf(x->peer_vars[4], sizeof(x->peer_vars[4]), "UNIXLOCALGID=%lu",
             (unsigned long) getgid());
    /* The accepted socket is non-blocking for the server's loop, and O_NONBLOCK belongs to
     * the open file, shared with the child: a program doing plain reads would get EAGAIN. */
    if (uds_set_nonblock(fd, false) < 0)
        return -1;
    r = posix_spawn_file_actions_init(&fa);
    if (r == 0 && (r = posix_spawn_file_actions_adddup2(&fa, fd, STDIN_FILENO)) == 0)
        r = posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
    /* glibc (2.24 on) reports a failed execve here, as its errno, and reaps that child. */
    if (r == 0)
        r = spawn_with_start_limit(&pid, x, &fa);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) {
        errno = r;
        return -1;
    }
    x->children[x->n_children++] = (struct cli_child){
        .pid = pid,
        .peer_pid = peer->pid,
        .uid = peer->uid,
        .gid = peer->gid,
        .started_ms = cli_now_ms(),
    };
    return pid;
}

int cli_exec_reap(struct cli_exec *x, struct cli_child *ret_child, int *ret_status) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return 0;   /* none left exited (or no children at all: ECHILD) */
        for (size_t i = 0; i < x->n_children; i++) {
            if (x->children[i].pid != pid)
                continue;
            *ret_child = x->children[i];
            *ret_status = status;
            x->children[i] = x->children[--x->n_children];
            return 1;
        }
        /* Not one of ours (nothing else forks here): reaped all the same. */
    }
}

size_t cli_exec_count(const struct cli_exec *x) {
    return x ? x->n_children : 0;
}

void cli_exec_kill(struct cli_exec *x, int sig) {
    for (size_t i = 0; i < x->n_children; i++) {
        /* The whole process group; a program that left it still gets the signal itself. */
        if (kill(-x->children[i].pid, sig) < 0)
            (void) kill(x->children[i].pid, sig);   /* already gone: reaped soon */
        /* A stopped program would hold on to SIGTERM until continued. */
        if (sig == SIGTERM && kill(-x->children[i].pid, SIGCONT) < 0)
            (void) kill(x->children[i].pid, SIGCONT);
    }
}

void cli_exec_describe_status(int status, char *buf, size_t size) {
    if (WIFEXITED(status)) {
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));
        char num[16];
        snprintf(num, sizeof(num), "%d", WTERMSIG(status));
        snprintf(buf, size, "killed by %s%s%s", name ? "SIG" : "signal ", name ? name : num,
                 WCOREDUMP(status) ? " (core dumped)" : "");
    } else {
        snprintf(buf, size, "ended (wait status 0x%x)", (unsigned) status);
    }
}
