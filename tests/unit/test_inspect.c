/* SPDX-License-Identifier: MIT */
/* test_inspect.c — who is behind a socket: a path however it is written (a symlinked
 * directory), what /proc says about a process, a user's ids at a new login, where a
 * socket's file is (relative names, the /proc/self/fd alias of a long path, a private mount
 * namespace), mount points, abstract names in another network namespace, and which known
 * server a socket belongs to with the file that configures it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

struct fixture {
    char *dir;
    char real[PATH_MAX];    /* dir with its symlinks resolved (/tmp may be one) */
    pid_t child;
    int ready[2];
    char cwd[PATH_MAX];
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = tu_tmpdir_new();
    assert_non_null(realpath(f->dir, f->real));
    assert_non_null(getcwd(f->cwd, sizeof(f->cwd)));
    f->ready[0] = f->ready[1] = -1;
    alarm(20);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;

    alarm(0);
    tu_kill_child(f->child);
    tu_close_pair(f->ready);
    if (chdir(f->cwd) < 0)
        abort();
    tu_tmpdir_free(f->dir);
    free(f);
    return 0;
}

/* Fork a child that runs fn (0 = ready, else its exit status), says so with one byte and
 * waits to be killed. Returns false when fn failed (the child's status in *ret_status). */
static bool spawn(struct fixture *f, int (*fn)(struct fixture *f), int *ret_status) {
    char c = 0;

    assert_int_equal(pipe2(f->ready, O_CLOEXEC), 0);
    f->child = tu_fork();
    if (f->child == 0) {
        int r;
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        r = fn(f);
        c = r == 0 ? 'r' : (char) r;
        if (write(f->ready[1], &c, 1) != 1 || r != 0)
            _exit(r ? r : 1);
        for (;;)
            pause();
    }
    close(f->ready[1]);
    f->ready[1] = -1;
    assert_int_equal(read(f->ready[0], &c, 1), 1);
    if (c == 'r')
        return true;
    *ret_status = tu_wait_child(f->child);
    f->child = 0;
    return false;
}

/* The socket of the dump whose inode is that of fd. */
static const struct uds_sockinfo *dumped(struct uds_socklist *l, int fd) {
    const struct uds_sockinfo *s;

    assert_int_equal(uds_socklist_get(l), 0);
    s = uds_socklist_find(l, tu_fd_inode(fd));
    assert_non_null(s);
    return s;
}

/* The socket of the dump bound to name (a path as the kernel keeps it). */
static const struct uds_sockinfo *dumped_by_name(struct uds_socklist *l, const char *name) {
    assert_int_equal(uds_socklist_get(l), 0);
    for (size_t i = 0; i < l->n; i++)
        if (l->socks[i].name_kind == UDS_ADDR_PATH && strcmp(l->socks[i].name, name) == 0)
            return &l->socks[i];
    fail_msg("no socket bound to %s", name);
    return NULL;
}

static void where(const struct uds_sockinfo *s, struct uds_sockwhere *w) {
    struct uds_procfd_list procs = { 0 };
    const struct uds_procfd *p;
    size_t n;

    assert_int_equal(uds_procfd_list_get(0, &procs), 0);
    n = uds_procfd_list_find(&procs, s->inode, &p);
    assert_int_equal(uds_sockinfo_where(s, p, n, w), 0);
    uds_procfd_list_done(&procs);
}

/* ---- memory ---------------------------------------------------------------------------- */

static void dump_carries_socket_memory_as_ss_m(void **state) {
    struct uds_socklist l = { 0 };
    const struct uds_sockinfo *s;
    char buf[1000] = { 0 };
    int sv[2];
    (void) state;

    tu_socketpair(SOCK_STREAM, sv);
    assert_int_equal(send(sv[0], buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t) sizeof(buf));
    s = dumped(&l, sv[0]);
    assert_true(s->has & UDS_SOCKINFO_MEM);
    /* AF_UNIX charges what is queued for the peer to the sender. */
    assert_true(s->mem.wmem_alloc >= sizeof(buf));
    assert_true(s->mem.sndbuf > 0 && s->mem.rcvbuf > 0);
    uds_socklist_done(&l);
    tu_close_pair(sv);
}

/* ---- paths ------------------------------------------------------------------------------ */

static void canonical_resolves_a_symlinked_directory(void **state) {
    struct fixture *f = *state;
    char buf[PATH_MAX], want[2 * PATH_MAX];

    assert_int_equal(mkdir(tu_path(f->dir, "run"), 0755), 0);
    assert_int_equal(symlink("run", tu_path(f->dir, "varrun")), 0);
    assert_int_equal(symlink("/nowhere", tu_path(f->dir, "run/link.sock")), 0);
    snprintf(want, sizeof(want), "%s/run/app.sock", f->real);
    assert_true(uds_path_canonical(tu_path(f->dir, "varrun/app.sock"), buf, sizeof(buf)) > 0);
    assert_string_equal(buf, want);
    /* relative, against the working directory */
    assert_int_equal(chdir(f->dir), 0);
    assert_int_equal(uds_path_canonical("./varrun/app.sock", buf, sizeof(buf)),
                     (int) strlen(want));
    assert_string_equal(buf, want);
    /* the last name is kept as written, even a symlink */
    snprintf(want, sizeof(want), "%s/run/link.sock", f->real);
    assert_true(uds_path_canonical("varrun/link.sock", buf, sizeof(buf)) > 0);
    assert_string_equal(buf, want);
    /* a directory that does not exist stays as written */
    assert_true(uds_path_canonical("/no/such/dir/x.sock", buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "/no/such/dir/x.sock");
    assert_int_equal(uds_path_canonical("/no/such/dir/x.sock", buf, 4), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    assert_int_equal(uds_path_canonical("", buf, sizeof(buf)), -1);
    assert_int_equal(errno, EINVAL);
}

/* ---- processes and logins ----------------------------------------------------------------- */

static void procinfo_of_self(void **state) {
    struct uds_procinfo p;
    char comm[32];
    FILE *fp = fopen("/proc/self/comm", "re");
    (void) state;

    assert_non_null(fp);
    assert_non_null(fgets(comm, sizeof(comm), fp));
    fclose(fp);
    comm[strcspn(comm, "\n")] = '\0';
    assert_int_equal(uds_procinfo_get(0, &p), 0);
    assert_int_equal(p.pid, getpid());
    assert_string_equal(p.command, comm);
    assert_true(p.has_ids);
    assert_int_equal(p.uid, geteuid());
    assert_int_equal(p.gid, getegid());
    assert_non_null(uds_procinfo_arg(&p, 0));
    assert_non_null(strstr(uds_procinfo_arg(&p, 0), "test_inspect"));
    assert_null(uds_procinfo_arg(&p, 50));
    assert_true(p.exe[0] == '/');
    assert_true(p.mnt_ns != 0 && p.net_ns != 0);
    assert_int_equal(uds_procinfo_get(0x3ffffff0, &p), -1);
    assert_int_equal(errno, ESRCH);
    assert_int_equal(uds_procinfo_get(-1, &p), -1);
    assert_int_equal(errno, EINVAL);
}

static void login_of_root_and_of_nobody(void **state) {
    struct uds_login l;
    (void) state;

    assert_int_equal(uds_login_get("root", &l), 0);
    assert_string_equal(l.name, "root");
    assert_int_equal(l.uid, 0);
    assert_int_equal(l.gid, 0);
    assert_true(uds_login_in_group(&l, 0));
    assert_true(l.n_groups >= 1);
    uds_login_done(&l);
    assert_null(l.groups);
    uds_login_done(NULL);
    /* by number */
    assert_int_equal(uds_login_get("65534", &l), 0);
    assert_int_equal(l.uid, 65534);
    assert_false(uds_login_in_group(&l, 0));
    uds_login_done(&l);
    assert_int_equal(uds_login_get("no-such-user-udskit", &l), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(uds_login_get("", &l), -1);
    assert_int_equal(errno, EINVAL);
}

/* ---- where a socket's file is ------------------------------------------------------------- */

static void where_an_absolute_name_is_ok_then_missing(void **state) {
    struct fixture *f = *state;
    struct uds_socklist l = { 0 };
    struct uds_sockwhere w;
    int fd = tu_bind_unix(tu_path(f->real, "s.sock"), SOCK_STREAM, 4);

    where(dumped(&l, fd), &w);
    assert_int_equal(w.status, UDS_PATH_OK);
    assert_string_equal(w.path, tu_path(f->real, "s.sock"));
    assert_string_equal(w.canon, tu_path(f->real, "s.sock"));
    uds_socklist_done(&l);
    assert_int_equal(unlink(tu_path(f->real, "s.sock")), 0);
    where(dumped(&l, fd), &w);
    assert_int_equal(w.status, UDS_PATH_MISSING);
    uds_socklist_done(&l);
    close(fd);
}

static void where_a_relative_name_is_resolved_through_the_holder(void **state) {
    struct fixture *f = *state;
    struct uds_socklist l = { 0 };
    struct uds_sockwhere w;
    int fd;

    assert_int_equal(chdir(f->real), 0);
    fd = tu_bind_unix("rel.sock", SOCK_STREAM, 4);
    where(dumped(&l, fd), &w);
    assert_int_equal(chdir(f->cwd), 0);
    assert_int_equal(w.status, UDS_PATH_OK);
    assert_string_equal(w.path, tu_path(f->real, "rel.sock"));
    uds_socklist_done(&l);
    close(fd);
    assert_int_equal(unlink(tu_path(f->real, "rel.sock")), 0);
}

/* A path over 107 bytes is bound as /proc/self/fd/N/NAME: the lock file the listener holds
 * names the real directory. */
static void where_a_long_path_alias_is_resolved_through_the_lock_file(void **state) {
    struct fixture *f = *state;
    char dir[2 * PATH_MAX], path[3 * PATH_MAX];
    struct uds_listener lis;
    struct uds_socklist l = { 0 };
    struct uds_sockwhere w;
    const struct uds_sockinfo *s;

    snprintf(dir, sizeof(dir), "%s/%0100d", f->real, 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/long.sock", dir);
    assert_true(strlen(path) > UDS_SUN_PATH_MAX);
    assert_true(uds_listen(path, NULL, &lis, NULL) >= 0);
    s = dumped(&l, lis.fd);
    assert_int_equal(strncmp(s->name, "/proc/self/fd/", 14), 0);
    where(s, &w);
    assert_int_equal(w.status, UDS_PATH_OK);
    assert_string_equal(w.path, path);
    uds_socklist_done(&l);
    assert_int_equal(uds_unlisten(&lis), 0);
}

static int bind_in_private_tmpfs(struct fixture *f) {
    char priv[2 * PATH_MAX];

    snprintf(priv, sizeof(priv), "%s/priv", f->real);
    if (unshare(CLONE_NEWNS) < 0)
        return 10;
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return 11;
    if (mount("tmpfs", priv, "tmpfs", 0, "mode=0755") < 0)
        return 12;
    snprintf(priv, sizeof(priv), "%s/priv/s.sock", f->real);
    return tu_bind_unix(priv, SOCK_STREAM, 4) >= 0 ? 0 : 13;
}

static void where_a_private_mount_namespace_is_reached_through_proc_root(void **state) {
    struct fixture *f = *state;
    struct uds_socklist l = { 0 };
    struct uds_sockwhere w;
    char want[2 * PATH_MAX];
    int status;

    if (geteuid() != 0)
        skip();
    assert_int_equal(mkdir(tu_path(f->real, "priv"), 0755), 0);
    if (!spawn(f, bind_in_private_tmpfs, &status)) {
        if (status == 10)
            skip();     /* no mount namespaces here */
        fail_msg("child failed: %d", status);
    }
    where(dumped_by_name(&l, tu_path(f->real, "priv/s.sock")), &w);
    assert_int_equal(w.status, UDS_PATH_OTHER_NS);
    assert_int_equal(w.pid, f->child);
    snprintf(want, sizeof(want), "/proc/%d/root%s/priv/s.sock", (int) f->child, f->real);
    assert_string_equal(w.reach, want);
    uds_socklist_done(&l);
}

static void mount_at_tells_mount_points(void **state) {
    struct fixture *f = *state;
    struct uds_mount m;

    assert_int_equal(uds_mount_at("/proc", &m), 1);
    assert_string_equal(m.fstype, "proc");
    assert_int_equal(uds_mount_at(f->real, &m), 0);
    assert_int_equal(uds_mount_at("relative", &m), -1);
    assert_int_equal(errno, EINVAL);
}

/* ---- abstract names in other network namespaces -------------------------------------------- */

static int bind_abstract_in_new_netns(struct fixture *f) {
    (void) f;
    if (unshare(CLONE_NEWNET) < 0)
        return 10;
    return tu_bind_unix("@udskit-test-inspect-netns", SOCK_STREAM, 4) >= 0 ? 0 : 11;
}

static void abstract_search_finds_a_name_in_another_network_namespace(void **state) {
    struct fixture *f = *state;
    struct uds_abstract_search r;
    int status;

    if (geteuid() != 0)
        skip();
    if (!spawn(f, bind_abstract_in_new_netns, &status)) {
        if (status == 10)
            skip();
        fail_msg("child failed: %d", status);
    }
    assert_int_equal(uds_abstract_search("udskit-test-inspect-netns", 25, &r), 0);
    assert_true(r.own_ns != 0);
    assert_true(r.n_searched >= 1);
    assert_int_equal(r.n_hits, 1);
    assert_true(r.hits[0].listening);
    assert_int_equal(r.hits[0].type, UDS_STREAM);
    assert_true(r.hits[0].net_ns != r.own_ns);
    assert_int_equal(uds_abstract_search("udskit-test-inspect-none", 24, &r), 0);
    assert_int_equal(r.n_hits, 0);
    assert_int_equal(uds_abstract_search("x", 0, &r), -1);
    assert_int_equal(errno, EINVAL);
}

/* ---- servers -------------------------------------------------------------------------------- */

static void identify(const char *address, const struct uds_procfd *p, size_t n,
                     struct uds_server_ident *id) {
    struct uds_addr a;

    assert_int_equal(uds_addr_parse(address, 0, &a), 0);
    assert_int_equal(uds_server_identify(&a, p, n, id), 0);
}

static void identify_postgresql_by_name_and_its_own_lock_file(void **state) {
    struct fixture *f = *state;
    struct uds_server_ident id;
    FILE *lock = fopen(tu_path(f->real, ".s.PGSQL.5432.lock"), "we");

    assert_non_null(lock);
    fputs("4242\n/var/lib/postgresql/15/main\n", lock);
    fclose(lock);
    identify(tu_path(f->real, ".s.PGSQL.5432"), NULL, 0, &id);
    assert_int_equal(id.kind, UDS_SERVER_POSTGRESQL);
    assert_int_equal(id.found_by, UDS_SERVER_BY_PATH);
    assert_true(id.has_own_lock);
    assert_int_equal(id.lock_pid, 4242);
    assert_string_equal(uds_server_kind_name(id.kind), "postgresql");
}

static void identify_well_known_names(void **state) {
    struct fixture *f = *state;
    struct uds_server_ident id;

    identify(tu_path(f->real, "docker.sock"), NULL, 0, &id);
    assert_int_equal(id.kind, UDS_SERVER_DOCKERD);
    assert_int_equal(id.found_by, UDS_SERVER_BY_PATH);
    identify(tu_path(f->real, "redis-server.sock"), NULL, 0, &id);
    assert_int_equal(id.kind, UDS_SERVER_REDIS);
    identify(tu_path(f->real, "php8.2-fpm.sock"), NULL, 0, &id);
    assert_int_equal(id.kind, UDS_SERVER_PHP_FPM);
    identify(tu_path(f->real, "app.sock"), NULL, 0, &id);
    assert_int_equal(id.kind, UDS_SERVER_UNKNOWN);
    identify("@some-abstract-name", NULL, 0, &id);
    assert_int_equal(id.kind, UDS_SERVER_UNKNOWN);
}

static void identify_a_systemd_socket_unit_and_its_settings(void **state) {
    struct fixture *f = *state;
    struct uds_server_ident id;
    unsigned line = 0;
    FILE *unit;

    assert_int_equal(mkdir(tu_path(f->real, "units"), 0755), 0);
    unit = fopen(tu_path(f->real, "units/app.socket"), "we");
    assert_non_null(unit);
    fprintf(unit, "[Unit]\nDescription=test\n[Socket]\nListenStream=%s/app.sock\n"
            "SocketMode=0600\nSocketGroup=www-data\n", f->real);
    fclose(unit);
    assert_int_equal(setenv("SYSTEMD_UNIT_PATH", tu_path(f->real, "units"), 1), 0);
    identify(tu_path(f->real, "app.sock"), NULL, 0, &id);
    unsetenv("SYSTEMD_UNIT_PATH");
    assert_int_equal(id.kind, UDS_SERVER_SYSTEMD);
    assert_int_equal(id.found_by, UDS_SERVER_BY_UNIT);
    assert_string_equal(id.socket_unit, "app.socket");
    assert_string_equal(id.socket_unit_file, tu_path(f->real, "units/app.socket"));
    assert_int_equal(id.socket_unit_line, 4);
    assert_string_equal(uds_server_setting(&id, "SocketMode", &line), "0600");
    assert_int_equal(line, 5);
    assert_string_equal(uds_server_setting(&id, "SocketGroup", NULL), "www-data");
    assert_null(uds_server_setting(&id, "SocketUser", NULL));
}

static void identify_a_udskit_listener_by_its_lock_and_an_unknown_one(void **state) {
    struct fixture *f = *state;
    struct uds_procfd_list procs = { 0 };
    struct uds_listener lis;
    struct uds_server_ident id;
    const struct uds_procfd *p;
    size_t n;
    int plain;

    assert_true(uds_listen(tu_path(f->real, "u.sock"), NULL, &lis, NULL) >= 0);
    plain = tu_bind_unix(tu_path(f->real, "plain.sock"), SOCK_STREAM, 4);
    assert_int_equal(uds_procfd_list_get(0, &procs), 0);
    n = uds_procfd_list_find(&procs, tu_fd_inode(lis.fd), &p);
    identify(tu_path(f->real, "u.sock"), p, n, &id);
    assert_int_equal(id.kind, UDS_SERVER_UDSKIT);
    assert_int_equal(id.pid, getpid());
    n = uds_procfd_list_find(&procs, tu_fd_inode(plain), &p);
    identify(tu_path(f->real, "plain.sock"), p, n, &id);
    assert_int_equal(id.kind, UDS_SERVER_UNKNOWN);
    uds_procfd_list_done(&procs);
    close(plain);
    assert_int_equal(unlink(tu_path(f->real, "plain.sock")), 0);
    assert_int_equal(uds_unlisten(&lis), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dump_carries_socket_memory_as_ss_m, setup, teardown),
        cmocka_unit_test_setup_teardown(canonical_resolves_a_symlinked_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(procinfo_of_self, setup, teardown),
        cmocka_unit_test_setup_teardown(login_of_root_and_of_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(where_an_absolute_name_is_ok_then_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(where_a_relative_name_is_resolved_through_the_holder,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            where_a_long_path_alias_is_resolved_through_the_lock_file, setup, teardown),
        cmocka_unit_test_setup_teardown(
            where_a_private_mount_namespace_is_reached_through_proc_root, setup, teardown),
        cmocka_unit_test_setup_teardown(mount_at_tells_mount_points, setup, teardown),
        cmocka_unit_test_setup_teardown(
            abstract_search_finds_a_name_in_another_network_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(identify_postgresql_by_name_and_its_own_lock_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(identify_well_known_names, setup, teardown),
        cmocka_unit_test_setup_teardown(identify_a_systemd_socket_unit_and_its_settings,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            identify_a_udskit_listener_by_its_lock_and_an_unknown_one, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
