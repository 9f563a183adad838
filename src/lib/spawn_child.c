/* SPDX-License-Identifier: MIT */
/*
 * spawn_child.c — a program started the way glibc's and musl's posix_spawn() start one, with
 * what posix_spawn() cannot do: an open-file limit set in the child alone.
 *
 * The child is a clone(CLONE_VM | CLONE_VFORK) on a stack of its own: it shares the
 * caller's memory, and the calling thread waits until it has exec'ed or exited, so it costs
 * no copy of the page tables, however big the caller. Changing the limit in the caller for
 * the duration of posix_spawn() would take it from the caller's other threads meanwhile
 * (an fd numbered above the lower limit: EMFILE); here every change is the child's own.
 *
 * What runs in the child shares the caller's memory, so it keeps to system calls made
 * directly (syscall(2)): no libc function with state, and none a sanitizer intercepts (its
 * records of this process's fds and signal handlers would be changed for the parent too).
 * Every signal is blocked in the calling thread around the clone, so that no handler of the
 * caller's runs in the child; the child sets the handled ones to SIG_DFL before it unblocks
 * them. A failed execve()'s errno goes back through the memory shared with the parent.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "spawn_child.h"

/* Ours, a few hundred bytes deep, and the buffer for /proc/self/fd: 64 KiB is plenty. */
enum { STACK_SIZE = 64 * 1024 };

/* Code that runs in the child: no sanitizer instrumentation (its shadow memory and
 * per-thread records are the parent's). clang's ThreadSanitizer still records entering a
 * no_sanitize("thread") function, which would leave a frame on the parent's records for
 * each child; disable_sanitizer_instrumentation drops that too. */
#if defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation)
#define UDS__NO_INSTRUMENTATION __attribute__((disable_sanitizer_instrumentation))
#endif
#endif
#ifndef UDS__NO_INSTRUMENTATION
#define UDS__NO_INSTRUMENTATION
#endif
#define CHILD __attribute__((no_sanitize("address", "thread", "undefined"))) \
    UDS__NO_INSTRUMENTATION

/* ThreadSanitizer intercepts clone() and treats the child as fork()'s: with CLONE_VM its
 * bookkeeping there (one thread left, every fd forgotten) would be the parent's. glibc
 * exports the same function as __clone too, which it leaves alone. */
#if defined(__SANITIZE_THREAD__)
#define UDS__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UDS__TSAN 1
#endif
#endif
#ifdef UDS__TSAN
extern int __clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);
#define child_clone __clone
#else
#define child_clone clone
#endif

/* The kernel's struct sigaction, for rt_sigaction(2) (libc's has a 1024-bit mask): the
 * handler first but on MIPS; rest holds the flags, restorer and mask of each layout. Its
 * sigset is 64 bits, 128 on MIPS. */
struct ksigaction {
#ifdef __mips__
    unsigned int flags;
#endif
    void (*handler)(int);
    unsigned long rest[4];
};
#ifdef __mips__
enum { KSIGSET_BYTES = 16 };
#else
enum { KSIGSET_BYTES = 8 };
#endif

struct linux_dirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

struct child {
    const struct uds__child_setup *setup;
    volatile int err;           /* written by the child when it fails */
};

void *uds__child_stack_new(void) {
    long page = sysconf(_SC_PAGESIZE);
    size_t guard = page > 0 ? (size_t) page : 4096;
    char *base = mmap(NULL, guard + STACK_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

    if (base == MAP_FAILED)
        return NULL;
    /* The lowest page is a guard: running off the stack faults instead of writing over
     * the caller's memory. */
    if (mprotect(base, guard, PROT_NONE) < 0) {
        UDS__KEEP_ERRNO((void) munmap(base, guard + STACK_SIZE));
        return NULL;
    }
    return base + guard;
}

void uds__child_stack_free(void *stack) {
    long page = sysconf(_SC_PAGESIZE);
    size_t guard = page > 0 ? (size_t) page : 4096;

    if (stack)
        (void) munmap((char *) stack - guard, guard + STACK_SIZE);
}

/* As the kernel has them: libc's sigaction() will not tell about its own internal signals,
 * and a sanitizer's may answer from its own records. */
void uds__child_ignored(uint64_t set[UDS__SIG_WORDS]) {
    for (int w = 0; w < UDS__SIG_WORDS; w++)
        set[w] = 0;
    for (int sig = 1; sig <= KSIGSET_BYTES * 8; sig++) {
        struct ksigaction old = { .handler = SIG_DFL };
        unsigned bit = (unsigned) sig - 1;

        if (syscall(SYS_rt_sigaction, sig, NULL, &old, KSIGSET_BYTES) == 0 &&
            old.handler == SIG_IGN)
            set[bit / 64] |= UINT64_C(1) << (bit % 64);
    }
}

/* ---- in the child ------------------------------------------------------------------------ */

/* A system call: its result, or -errno. */
CHILD static long sys(long nr, long a, long b, long c, long d) {
    long r = syscall(nr, a, b, c, d);

    return r < 0 ? -errno : r;
}

/* To SIG_DFL: the signals asked for, and every one the caller handles (its handler must
 * not run here; exec would reset it anyway). Others stay as they are, ignored or not. */
CHILD static void child_signals(const uint64_t reset[UDS__SIG_WORDS]) {
    for (int sig = 1; sig <= KSIGSET_BYTES * 8; sig++) {
        struct ksigaction dfl = { .handler = SIG_DFL }, old = { .handler = SIG_DFL };
        unsigned bit = (unsigned) sig - 1;

        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (!(reset[bit / 64] >> (bit % 64) & 1) &&
            (sys(SYS_rt_sigaction, sig, 0, (long) &old, KSIGSET_BYTES) < 0 ||
             old.handler == SIG_IGN || old.handler == SIG_DFL))
            continue;
        (void) sys(SYS_rt_sigaction, sig, (long) &dfl, 0, KSIGSET_BYTES);
    }
}

/* The soft RLIMIT_NOFILE to nofile, at most the hard limit; 0: as it is. */
CHILD static long child_limit(uint64_t nofile) {
    struct { uint64_t cur, max; } now, want;
    long r;

    if (nofile == 0)
        return 0;
    r = sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long) &now);
    if (r < 0 || now.cur == nofile)
        return r;
    want.cur = nofile < now.max ? nofile : now.max;
    want.max = now.max;
    return sys(SYS_prlimit64, 0, RLIMIT_NOFILE, (long) &want, 0);
}

/* from as to, kept across exec: dup3(2) refuses from == to, and then only the flag goes.
 * 0 or -errno. */
CHILD static long onto(long from, long to) {
    long r = from == to ? sys(SYS_fcntl, to, F_SETFD, 0, 0) : sys(SYS_dup3, from, to, 0, 0);

    return r < 0 ? r : 0;
}

CHILD static long child_fds(const struct uds__child_setup *setup) {
    long r, null;

    if ((r = onto(setup->fd, STDIN_FILENO)) < 0 || (r = onto(setup->fd, STDOUT_FILENO)) < 0)
        return r;
    if (!setup->null_stderr)
        return 0;
    /* 2 first (a socket of the caller's, say): free, it is the number the open takes, even
     * with every other one taken. Without O_CLOEXEC, as it should stay open. */
    (void) sys(SYS_close, STDERR_FILENO, 0, 0, 0);
    null = sys(SYS_openat, AT_FDCWD, (long) "/dev/null", O_WRONLY, 0);
    if (null < 0 || null == STDERR_FILENO)
        return null < 0 ? null : 0;
    r = onto(null, STDERR_FILENO);
    (void) sys(SYS_close, null, 0, 0, 0);
    return r;
}

/* The fd named name in /proc/self/fd, -1 for "." and "..". */
CHILD static long fd_named(const char *name) {
    long fd = 0;

    if (*name < '0' || *name > '9')
        return -1;
    for (; *name >= '0' && *name <= '9'; name++)
        fd = fd * 10 + (*name - '0');
    return fd;
}

/* Close every fd from 3 by reading /proc/self/fd (kernels before 5.9, without
 * close_range()), until a reading finds none left. */
CHILD static long close_listed(void) {
    char buf[2048] __attribute__((aligned(8)));
    bool again = true;

    while (again) {
        long dir = sys(SYS_openat, AT_FDCWD, (long) "/proc/self/fd",
                       O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        long n;

        if (dir < 0)
            return dir;
        again = false;
        while ((n = sys(SYS_getdents64, dir, (long) buf, sizeof(buf), 0)) > 0)
            for (long off = 0; off < n;) {
                struct linux_dirent64 *d = (struct linux_dirent64 *) (void *) (buf + off);
                long fd = fd_named(d->name);

                if (fd > STDERR_FILENO && fd != dir) {
                    (void) sys(SYS_close, fd, 0, 0, 0);
                    again = true;
                }
                off += d->reclen;
            }
        (void) sys(SYS_close, dir, 0, 0, 0);
        if (n < 0)
            return n;
    }
    return 0;
}

CHILD static long close_above_stderr(void) {
#ifdef SYS_close_range
    long r = sys(SYS_close_range, STDERR_FILENO + 1, ~0U, 0, 0);

    if (r != -ENOSYS)
        return r;
#endif
    return close_listed();
}

/* The child: each step in turn, then the program; it returns only by exiting. */
CHILD static int child_main(void *arg) {
    struct child *c = arg;
    const struct uds__child_setup *setup = c->setup;
    const unsigned long empty[KSIGSET_BYTES / sizeof(unsigned long)] = { 0 };
    long r;

    child_signals(setup->reset);
    /* The limit last, when only 0, 1 and 2 are open: no step before it is held to it. */
    if ((r = sys(SYS_setpgid, 0, 0, 0, 0)) == 0 && (r = child_fds(setup)) == 0 &&
        (r = close_above_stderr()) == 0 && (r = child_limit(setup->nofile)) == 0 &&
        (r = sys(SYS_rt_sigprocmask, SIG_SETMASK, (long) empty, 0, KSIGSET_BYTES)) == 0)
        r = sys(SYS_execve, (long) setup->path, (long) setup->argv, (long) setup->envp, 0);
    c->err = r < 0 ? (int) -r : EINVAL;
    (void) sys(SYS_exit_group, 127, 0, 0, 0);
    return 127;                 /* not reached; clone() would exit with it */
}

/* ---- in the caller ----------------------------------------------------------------------- */

int uds__child_spawn(const struct uds__child_setup *setup, pid_t *ret_pid) {
    struct child c = { .setup = setup, .err = 0 };
    sigset_t all, old;
    int cancel, err, caller_errno = errno;
    pid_t pid;

    /* The calling thread is not to be cancelled with a child to reap. */
    (void) pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    sigfillset(&all);
    (void) pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = child_clone(child_main, (char *) setup->stack + STACK_SIZE,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    /* Here the child has exec'ed or exited: what it wrote is there. */
    err = pid < 0 ? errno : c.err;
    if (pid > 0 && err != 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            continue;
    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
    (void) pthread_setcancelstate(cancel, NULL);
    if (err == 0) {
        /* The child's syscall() set errno where it failed (closing an fd 2 there is none
         * of, say): that is this thread's errno, which a success leaves as it was. */
        errno = caller_errno;
        *ret_pid = pid;
    }
    return err;
}
