/* SPDX-License-Identifier: MIT */
/*
 * loop_thread.c — a uds_loop on a thread of its own, fed through a mailbox: a list of
 * (function, argument) under a mutex and an eventfd in the loop to say it is not empty.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop_thread.h"

struct call {
    void (*fn)(void *arg);
    void *arg;
    struct call *next;
};

struct cli_loop_thread {
    struct uds_loop *loop;
    pthread_t thread;
    bool started;
    bool joined;
    bool leaving;               /* the thread's own: set by a posted call */
    int efd;
    pthread_mutex_t lock;
    struct call *head;          /* under lock, oldest first */
    struct call *tail;
    struct call leave_call;     /* posted by cli_loop_thread_join(): needs no memory */
};

static void mailbox_io(struct uds_loop *loop, int fd, unsigned events, void *arg) {
    struct cli_loop_thread *t = arg;
    uint64_t n;
    struct call *c;

    (void) loop, (void) events;
    if (read(fd, &n, sizeof(n)) < 0) {
        /* EAGAIN: an earlier wakeup took the calls already. */
    }
    pthread_mutex_lock(&t->lock);
    c = t->head;
    t->head = t->tail = NULL;
    pthread_mutex_unlock(&t->lock);
    while (c) {
        struct call *next = c->next;
        c->fn(c->arg);
        if (c != &t->leave_call)
            free(c);
        c = next;
    }
}

static void *thread_main(void *arg) {
    struct cli_loop_thread *t = arg;

    while (!t->leaving)
        if (uds_loop_run_once(t->loop, -1) < 0 && errno != EINTR)
            break;
    return NULL;
}

struct cli_loop_thread *cli_loop_thread_new(void) {
    struct cli_loop_thread *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->loop = uds_loop_new();
    if (t->efd < 0 || !t->loop || uds_loop_add(t->loop, t->efd, UDS_EV_READ, mailbox_io, t) < 0) {
        int e = errno;
        cli_loop_thread_free(t);
        errno = e;
        return NULL;
    }
    return t;
}

int cli_loop_thread_start(struct cli_loop_thread *t, const char *name) {
    sigset_t every, old;
    int r;

    sigfillset(&every);
    pthread_sigmask(SIG_SETMASK, &every, &old);
    r = pthread_create(&t->thread, NULL, thread_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        errno = r;
        return -1;
    }
    t->started = true;
    (void) pthread_setname_np(t->thread, name);
    return 0;
}

struct uds_loop *cli_loop_thread_loop(const struct cli_loop_thread *t) {
    return t->loop;
}

static void enqueue(struct cli_loop_thread *t, struct call *c) {
    uint64_t one = 1;

    pthread_mutex_lock(&t->lock);
    if (t->tail)
        t->tail->next = c;
    else
        t->head = c;
    t->tail = c;
    pthread_mutex_unlock(&t->lock);
    if (write(t->efd, &one, sizeof(one)) < 0) {
        /* Only full after 2^64-2 unread wakeups: the thread is woken either way. */
    }
}

int cli_loop_thread_post(struct cli_loop_thread *t, void (*fn)(void *arg), void *arg) {
    struct call *c = malloc(sizeof(*c));

    if (!c)
        return -1;
    *c = (struct call) { .fn = fn, .arg = arg };
    enqueue(t, c);
    return 0;
}

static void leave(void *arg) {
    ((struct cli_loop_thread *) arg)->leaving = true;
}

void cli_loop_thread_join(struct cli_loop_thread *t) {
    if (!t->started || t->joined)
        return;
    t->leave_call = (struct call) { .fn = leave, .arg = t };
    enqueue(t, &t->leave_call);
    (void) pthread_join(t->thread, NULL);
    t->joined = true;
}

void cli_loop_thread_free(struct cli_loop_thread *t) {
    if (!t)
        return;
    cli_loop_thread_join(t);
    /* Calls posted after the thread left: dropped, their arguments are the poster's. */
    while (t->head) {
        struct call *next = t->head->next;
        if (t->head != &t->leave_call)
            free(t->head);
        t->head = next;
    }
    uds_loop_free(t->loop);
    if (t->efd >= 0)
        (void) close(t->efd);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
