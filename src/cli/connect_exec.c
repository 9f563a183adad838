/* SPDX-License-Identifier: MIT */
/*
 * connect_exec.c — `uds connect ADDRESS -- PROGRAM`: hands a connected socket to PROGRAM
 * the UCSPI way (fds 6 and 7, the client environment) and becomes it. Connecting, and
 * finding PROGRAM before that, are cmd_connect.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "connect_exec.h"

extern char **environ;

/* UCSPI: the program reads the connection on 6 and writes it on 7. */
enum { UCSPI_READ_FD = 6, UCSPI_WRITE_FD = 7 };

/* Variables from whoever started us (another UCSPI tool, say) that would describe a
 * connection that is not this one. */
static const char *const ucspi_prefixes[] = { "PROTO=", "UNIXLOCAL", "UNIXREMOTE" };

static void unset_ucspi(void) {
    for (size_t i = 0; environ && environ[i]; ) {
        const char *var = environ[i];
        bool ours = false;

        for (size_t p = 0; p < sizeof(ucspi_prefixes) / sizeof(ucspi_prefixes[0]); p++)
            ours = ours || strncmp(var, ucspi_prefixes[p], strlen(ucspi_prefixes[p])) == 0;
        const char *eq = strchr(var, '=');
        if (!ours || !eq) {
            i++;
            continue;
        }
        char name[256];
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
    int r = set_num("UNIXREMOTEPID", (unsigned long) peer.pid) < 0 ||
            set_num("UNIXREMOTEEUID", peer.uid) < 0 || set_num("UNIXREMOTEEGID", peer.gid) < 0
                ? -1 : 0;
    uds_peer_done(&peer);
    return r;
}

/* fd on 6 and on 7, neither close-on-exec; fd itself closed unless it is one of them. */
static int move_fd(int fd) {
    const int targets[] = { UCSPI_READ_FD, UCSPI_WRITE_FD };

    for (size_t i = 0; i < 2; i++) {
        int t = targets[i];
        /* dup2() onto itself would leave FD_CLOEXEC set. */
        if (fd == t ? fcntl(t, F_SETFD, 0) < 0 : dup2(fd, t) < 0)
            return -1;
    }
    if (fd != UCSPI_READ_FD && fd != UCSPI_WRITE_FD)
        (void) close(fd);   /* 6 and 7 hold it now */
    return 0;
}

int cli_connect_exec(int fd, const char *address, const char *path, char *const argv[]) {
    int e;

    /* The program reads and writes plainly; the socket's mode is the open file's, shared. */
    if (uds_set_nonblock(fd, false) < 0 || set_env(fd, address) < 0 || move_fd(fd) < 0) {
        e = errno;
        (void) close(fd);
        return cli_fail(CLI_OP_ANY, address, e, NULL);
    }
    /* Ignored for our own sake (main()); exec would keep it ignored for the program. */
    signal(SIGPIPE, SIG_DFL);
    execv(path, argv);
    e = errno;
    cli_error(path, "check the program", "cannot run it: %s", strerror(e));
    return e == ENOENT || e == EACCES ? EX_USAGE : CLI_EXIT_FAILURE;
}
