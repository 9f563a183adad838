/* SPDX-License-Identifier: MIT */
/*
 * idle_conns.c — open N connections to a Unix stream server and hold them, idle, until
 * stdin closes: what a server pays per connection that sends nothing is then read from
 * its /proc/PID/status (bench/suite.py does that).
 *
 *   idle_conns PATH N     prints "connected N" on stdout once every connect returned
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct rlimit rl;
    char c;

    if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "usage: idle_conns PATH N\n");
        return 64;
    }
    long n = atol(argv[2]);
    strcpy(sa.sun_path, argv[1]);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        /* A full backlog makes connect() sleep until the server accepts. */
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
            fprintf(stderr, "idle_conns: connection %ld: ", i + 1);
            perror(argv[1]);
            return 1;
        }
    }
    printf("connected %ld\n", n);
    fflush(stdout);
    while (read(0, &c, 1) > 0)
        continue;
    return 0;
}
