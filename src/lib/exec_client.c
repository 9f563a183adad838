/* SPDX-License-Identifier: MIT */
/*
 * exec_client.c — the UCSPI client side (as ucspi-unix's unixclient and s6's s6-ipcclient do
 * it): a connected socket handed to a program on fds 6 and 7 with the client environment,
 * and the caller becoming that program. Connecting is the caller's; finding the program is
 * program.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

/* UCSPI: the program reads the connection on 6 and writes it on 7. */
enum { UCSPI_READ_FD = 6, UCSPI_WRITE_FD = 7 };

/* Variables from whoever started us (another UCSPI tool, say) that would describe a
 * connection that is not this one. */
static void unset_ucspi(void) {
    for (size_t i = 0; environ && environ[i]; ) {
        const char *var = environ[i];
        const char *eq = strchr(var, '=');
        char name[256];

        if (!eq || !uds__ucspi_var(var) || (size_t) (eq - var) >= sizeof(name)) {
            i++;
            continue;
        }
        snprintf(name, sizeof(name), "%.*s", (int) (eq - var), var);
        /* unsetenv() moves the next entry into slot i: look at it again. */
        if (unsetenv(name) < 0)
            i++;
    }
}

static int set_num(const char *name, unsigned long value) {
    char text[32];

    snprintf(text, sizeof(text), "%lu", value);
    return setenv(name, text, 1);
}

/* The client environment, as unixclient sets it, and UNIXREMOTEPATH (as nosh's client
 * does): the server's address. A connected dgram socket has no peer credentials, and
 * then no UNIXREMOTEPID/EUID/EGID, as unixclient leaves them out when it cannot read
 * them. */
static int set_env(int fd, const char *address) {
    struct uds_peer peer = { .pidfd = -1 };
    struct uds_addr addr;
    char canonical[UDS_PATH_MAX + 8];
    int r;

    unset_ucspi();
    if (uds_addr_parse(address, 0, &addr) < 0 ||
        uds_addr_format(&addr, canonical, sizeof(canonical)) < 0)
        snprintf(canonical, sizeof(canonical), "%s", address);
    if (setenv("PROTO", "UNIX", 1) < 0 || setenv("UNIXLOCALPATH", address, 1) < 0 ||
        set_num("UNIXLOCALUID", getuid()) < 0 || set_num("UNIXLOCALGID", getgid()) < 0 ||
        set_num("UNIXLOCALPID", (unsigned long) getpid()) < 0 ||
        setenv("UNIXREMOTEPATH", canonical, 1) < 0)
        return -1;
    if (uds_peer_get(fd, 0, &peer) < 0)
        return 0;
    r = set_num("UNIXREMOTEPID", (unsigned long) peer.pid) < 0 ||
        set_num("UNIXREMOTEEUID", peer.uid) < 0 || set_num("UNIXREMOTEEGID", peer.gid) < 0
            ? -1 : 0;
    uds_peer_done(&peer);
    return r;
}

/* fd on 6 and on 7, neither close-on-exec; fd itself closed unless it is one of them. On
 * failure fd is closed, and so is whichever of 6 and 7 was made. */
static int move_fd(int fd) {
    const int targets[] = { UCSPI_READ_FD, UCSPI_WRITE_FD };

    for (size_t i = 0; i < 2; i++) {
        int t = targets[i];
        /* dup2() onto itself would leave FD_CLOEXEC set. */
        if (fd == t ? fcntl(t, F_SETFD, 0) < 0 : dup2(fd, t) < 0) {
            for (size_t j = 0; j < i; j++)
                if (targets[j] != fd)
                    uds__close_keep_errno(targets[j]);
            uds__close_keep_errno(fd);
            return -1;
        }
    }
    if (fd != UCSPI_READ_FD && fd != UCSPI_WRITE_FD)
        (void) close(fd);   /* 6 and 7 hold it now */
    return 0;
}

UDS_API int uds_exec_client(int fd, const char *address, char *const argv[]) {
    char *path = NULL;

    if (fd < 0 || !address || !argv || !argv[0]) {
        uds__close_keep_errno(fd);
        return uds__fail(EINVAL);
    }
    path = uds_program_find(argv[0]);
    /* The program reads and writes plainly; the socket's mode is the open file's, shared. */
    if (!path || uds_set_nonblock(fd, false) < 0 || set_env(fd, address) < 0) {
        uds__close_keep_errno(fd);
        goto fail;
    }
    if (move_fd(fd) < 0)
        goto fail;
    /* A caller that ignores it for its own sockets would pass that on through exec. */
    signal(SIGPIPE, SIG_DFL);
    execv(path, argv);
    uds__close_keep_errno(UCSPI_READ_FD);
    uds__close_keep_errno(UCSPI_WRITE_FD);
fail:
    UDS__KEEP_ERRNO(free(path));
    return -1;
}
