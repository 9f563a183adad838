/* SPDX-License-Identifier: MIT */
/* test_pathinfo.c — the facts about a path: the pure parts (a mode's kind, whose permission
 * bits apply) on made-up files, then uds_pathinfo_get() and uds_probe() on real directories,
 * files, symlinks and sockets in a per-test directory, as root and dropped to nobody (with
 * and without a group that opens the socket), and the PATH.lock rule. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

#define NOBODY 65534

/* A child's verdict: 0 when every fact matched, else the number of the first that did not. */
#define CHECK(n, cond) do { if (!(cond)) return (n); } while (0)

static void make_file(const char *path, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    close(fd);
}

/* A socket file nobody listens on. */
static void make_stale_socket(const char *path) {
    close(tu_bind_unix(path, SOCK_STREAM, 1));
}

static struct uds_pathinfo *get(const char *path, unsigned flags) {
    static struct uds_pathinfo info;

    assert_int_equal(uds_pathinfo_get(path, flags, &info), 0);
    return &info;
}

/* ---- pure: kinds and permission classes ------------------------------------------------ */

static void file_kind_of_names_every_type(void **state) {
    (void) state;
    assert_int_equal(uds_file_kind_of(S_IFSOCK | 0600), UDS_FILE_SOCKET);
    assert_int_equal(uds_file_kind_of(S_IFREG | 0644), UDS_FILE_REGULAR);
    assert_int_equal(uds_file_kind_of(S_IFDIR | 0755), UDS_FILE_DIR);
    assert_int_equal(uds_file_kind_of(S_IFLNK | 0777), UDS_FILE_SYMLINK);
    assert_int_equal(uds_file_kind_of(S_IFIFO | 0600), UDS_FILE_FIFO);
    assert_int_equal(uds_file_kind_of(S_IFCHR | 0666), UDS_FILE_CHAR);
    assert_int_equal(uds_file_kind_of(S_IFBLK | 0660), UDS_FILE_BLOCK);
    assert_int_equal(uds_file_kind_of(0644), UDS_FILE_OTHER);
}

static const struct uds_file sock_0660 = {
    .kind = UDS_FILE_SOCKET, .mode = S_IFSOCK | 0660, .uid = 1000, .gid = 2000,
};

static void perm_check_owner_bits_apply_first(void **state) {
    struct uds_file f = { .kind = UDS_FILE_SOCKET, .mode = S_IFSOCK | 0466, .uid = 1000 };
    struct uds_ids owner = { .uid = 1000, .gid = 1000 };
    enum uds_perm_class class;

    (void) state;
    /* The group and other bits would allow it; the owner's do not, and they are the ones
     * read. */
    assert_int_equal(uds_perm_check(&f, &owner, W_OK, &class), 0);
    assert_int_equal(class, UDS_PERM_OWNER);
    assert_int_equal(uds_perm_check(&f, &owner, R_OK, &class), 1);
}

static void perm_check_group_through_supplementary_groups(void **state) {
    gid_t groups[] = { 10, 2000, 30 };
    struct uds_ids member = { .uid = 1001, .gid = 1001, .groups = groups, .n_groups = 3 };
    struct uds_ids primary = { .uid = 1001, .gid = 2000 };
    struct uds_ids outsider = { .uid = 1001, .gid = 1001, .groups = groups, .n_groups = 1 };
    enum uds_perm_class class;

    (void) state;
    assert_int_equal(uds_perm_check(&sock_0660, &member, W_OK, &class), 1);
    assert_int_equal(class, UDS_PERM_GROUP);
    assert_int_equal(uds_perm_check(&sock_0660, &primary, W_OK, &class), 1);
    assert_int_equal(class, UDS_PERM_GROUP);
    assert_int_equal(uds_perm_check(&sock_0660, &outsider, W_OK, &class), 0);
    assert_int_equal(class, UDS_PERM_OTHER);
}

static void perm_check_root_may_write_but_not_execute_a_file_without_x(void **state) {
    struct uds_file none = { .kind = UDS_FILE_REGULAR, .mode = S_IFREG | 0000, .uid = 5, .gid = 5 };
    struct uds_file dir = { .kind = UDS_FILE_DIR, .mode = S_IFDIR | 0000, .uid = 5 };
    struct uds_file script = { .kind = UDS_FILE_REGULAR, .mode = S_IFREG | 0100, .uid = 5 };
    struct uds_ids root = { .uid = 0, .gid = 0 };
    enum uds_perm_class class;

    (void) state;
    assert_int_equal(uds_perm_check(&none, &root, R_OK | W_OK, &class), 1);
    assert_int_equal(class, UDS_PERM_OTHER);
    assert_int_equal(uds_perm_check(&none, &root, X_OK, NULL), 0);
    assert_int_equal(uds_perm_check(&dir, &root, X_OK, NULL), 1);
    assert_int_equal(uds_perm_check(&script, &root, X_OK, NULL), 1);
}

static void perm_check_bad_arguments_einval(void **state) {
    struct uds_ids who = { .uid = 1 };
    struct uds_ids no_list = { .uid = 1, .n_groups = 2 };

    (void) state;
    errno = 0;
    assert_int_equal(uds_perm_check(&sock_0660, &who, 8, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_perm_check(NULL, &who, W_OK, NULL), -1);
    assert_int_equal(uds_perm_check(&sock_0660, NULL, W_OK, NULL), -1);
    assert_int_equal(uds_perm_check(&sock_0660, &no_list, W_OK, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

/* ---- the lock-path rule ---------------------------------------------------------------- */

static void lock_path_appends_dot_lock(void **state) {
    char buf[32];

    (void) state;
    assert_int_equal(uds_lock_path("/run/app.sock", buf, sizeof(buf)), 18);
    assert_string_equal(buf, "/run/app.sock.lock");
    assert_int_equal(uds_lock_path("rel", buf, sizeof(buf)), 8);
    assert_string_equal(buf, "rel.lock");
}

static void lock_path_of_the_longest_path_fits_lock_path_max(void **state) {
    char *longest = malloc(UDS_PATH_MAX + 1), *lock = malloc(UDS_LOCK_PATH_MAX + 1);

    (void) state;
    assert_non_null(longest);
    assert_non_null(lock);
    memset(longest, 'a', UDS_PATH_MAX);
    longest[UDS_PATH_MAX] = '\0';
    assert_int_equal(uds_lock_path(longest, lock, UDS_LOCK_PATH_MAX + 1), UDS_LOCK_PATH_MAX);
    assert_int_equal(uds_lock_path(longest, lock, UDS_LOCK_PATH_MAX), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    free(longest);
    free(lock);
}

static void lock_path_too_small_enametoolong_empty_einval(void **state) {
    char buf[18];

    (void) state;
    assert_int_equal(uds_lock_path("/run/app.sock", buf, sizeof(buf)), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    assert_int_equal(uds_lock_path("", buf, sizeof(buf)), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_lock_path(NULL, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EINVAL);
}

static void lock_path_is_the_file_listen_holds(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_listener l;
    char lock[PATH_MAX];
    struct stat st;

    assert_true(uds_lock_path(fx->path, lock, sizeof(lock)) > 0);
    assert_true(uds_listen(fx->path, NULL, &l, NULL) >= 0);
    assert_int_equal(lstat(lock, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(uds_unlisten(&l), 0);
    assert_int_equal(lstat(lock, &st), -1);
}

/* ---- directories on the way ------------------------------------------------------------ */

static void pathinfo_missing_directory_is_named(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX];
    const struct uds_pathinfo *pi;

    snprintf(path, sizeof(path), "%s/nodir/deeper/s.sock", fx->dir);
    pi = get(path, UDS_PATHINFO_PROBE);
    assert_int_equal(pi->dir_problem, UDS_DIR_MISSING);
    assert_string_equal(pi->dir, tu_path(fx->dir, "nodir"));
    assert_int_equal(pi->dir_errno, ENOENT);
    assert_int_equal(pi->file.kind, UDS_FILE_NONE);     /* not examined */
    assert_int_equal(pi->live, UDS_LIVE_UNKNOWN);
}

static void pathinfo_parent_that_is_a_file_is_not_a_directory(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX];
    const struct uds_pathinfo *pi;

    make_file(tu_path(fx->dir, "file"), 0644);
    snprintf(path, sizeof(path), "%s/file/s.sock", fx->dir);
    pi = get(path, 0);
    assert_int_equal(pi->dir_problem, UDS_DIR_NOT_DIR);
    assert_string_equal(pi->dir, tu_path(fx->dir, "file"));
    assert_int_equal(pi->dir_file.kind, UDS_FILE_REGULAR);
}

static void pathinfo_relative_path_starts_at_dot(void **state) {
    struct tu_fixture *fx = *state;
    char cwd[PATH_MAX];
    struct uds_pathinfo pi;

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(fx->dir), 0);
    assert_int_equal(uds_pathinfo_get("nodir/s.sock", 0, &pi), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(pi.dir_problem, UDS_DIR_MISSING);
    assert_string_equal(pi.dir, "nodir");
}

static int unsearchable_as_nobody(void *arg) {
    struct tu_fixture *fx = arg;
    char path[PATH_MAX];
    struct uds_pathinfo pi;

    snprintf(path, sizeof(path), "%s/private/s.sock", fx->dir);
    CHECK(1, uds_pathinfo_get(path, UDS_PATHINFO_PROBE, &pi) == 0);
    CHECK(2, pi.dir_problem == UDS_DIR_NO_SEARCH);
    CHECK(3, strcmp(pi.dir, tu_path(fx->dir, "private")) == 0);
    CHECK(4, pi.dir_file.kind == UDS_FILE_DIR && (pi.dir_file.mode & 07777) == 0700);
    CHECK(5, pi.dir_file.uid == 0 && pi.dir_file.gid == 0);
    CHECK(6, pi.dir_file.perm == UDS_PERM_OTHER);
    CHECK(7, pi.file.kind == UDS_FILE_NONE && pi.live == UDS_LIVE_UNKNOWN);
    return 0;
}

static void pathinfo_unsearchable_directory_as_nobody(void **state) {
    struct tu_fixture *fx = *state;
    char path[PATH_MAX];
    int fd;

    if (geteuid() != 0)
        skip();
    assert_int_equal(mkdir(tu_path(fx->dir, "private"), 0700), 0);
    snprintf(path, sizeof(path), "%s/private/s.sock", fx->dir);
    fd = tu_bind_unix(path, SOCK_STREAM, 4);
    assert_int_equal(chmod(path, 0777), 0);
    assert_int_equal(tu_run_as_nobody(unsearchable_as_nobody, fx), 0);
    /* Root is not stopped. */
    assert_int_equal(get(path, 0)->dir_problem, UDS_DIR_OK);
    close(fd);
}

static int create_as_nobody(void *arg) {
    struct tu_fixture *fx = arg;
    struct uds_pathinfo pi;

    CHECK(1, uds_pathinfo_get(fx->path, 0, &pi) == 0);
    CHECK(2, pi.dir_problem == UDS_DIR_OK && pi.path_errno == ENOENT);
    CHECK(3, uds_pathinfo_get(fx->path, UDS_PATHINFO_CREATE, &pi) == 0);
    CHECK(4, pi.dir_problem == UDS_DIR_NO_WRITE);
    CHECK(5, strcmp(pi.dir, fx->dir) == 0 && pi.dir_file.kind == UDS_FILE_DIR);
    CHECK(6, pi.path_errno == ENOENT);  /* the path itself is still looked at */
    return 0;
}

static void pathinfo_create_in_a_directory_nobody_may_not_write(void **state) {
    struct tu_fixture *fx = *state;

    if (geteuid() != 0)
        skip();
    assert_int_equal(tu_run_as_nobody(create_as_nobody, fx), 0);
}

/* ---- the path itself ------------------------------------------------------------------- */

static void pathinfo_nothing_at_the_path(void **state) {
    struct tu_fixture *fx = *state;
    const struct uds_pathinfo *pi = get(fx->path, UDS_PATHINFO_PROBE);

    assert_int_equal(pi->dir_problem, UDS_DIR_OK);
    assert_int_equal(pi->path_errno, ENOENT);
    assert_int_equal(pi->file.kind, UDS_FILE_NONE);
    assert_int_equal(pi->target.kind, UDS_FILE_NONE);
    assert_int_equal(pi->live, UDS_LIVE_UNKNOWN);
}

static void pathinfo_regular_file_is_not_a_socket_and_not_probed(void **state) {
    struct tu_fixture *fx = *state;
    const struct uds_pathinfo *pi;

    make_file(fx->path, 0640);
    pi = get(fx->path, UDS_PATHINFO_PROBE);
    assert_int_equal(pi->path_errno, 0);
    assert_int_equal(pi->file.kind, UDS_FILE_REGULAR);
    assert_int_equal(pi->target.kind, UDS_FILE_REGULAR);
    assert_int_equal(pi->file.mode & 07777, 0640);
    /* connect() would say ECONNREFUSED, as for a stale socket: no probe is made. */
    assert_int_equal(pi->live, UDS_LIVE_UNKNOWN);
    assert_int_equal(pi->probe_errno, 0);
}

static void pathinfo_dangling_symlink(void **state) {
    struct tu_fixture *fx = *state;
    const char *gone = tu_path(fx->dir, "gone.sock");
    const struct uds_pathinfo *pi;

    assert_int_equal(symlink(gone, fx->path), 0);
    pi = get(fx->path, UDS_PATHINFO_PROBE);
    assert_int_equal(pi->file.kind, UDS_FILE_SYMLINK);
    assert_string_equal(pi->link, gone);
    assert_int_equal(pi->target_errno, ENOENT);
    assert_int_equal(pi->target.kind, UDS_FILE_NONE);
    assert_int_equal(pi->live, UDS_LIVE_UNKNOWN);
}

static void pathinfo_symlink_to_a_live_socket_is_followed(void **state) {
    struct tu_fixture *fx = *state;
    const char *real = tu_path(fx->dir, "real.sock");
    const struct uds_pathinfo *pi;
    struct stat st;
    int fd = tu_bind_unix(real, SOCK_STREAM, 4);

    assert_int_equal(symlink("real.sock", fx->path), 0);
    assert_int_equal(stat(real, &st), 0);
    pi = get(fx->path, UDS_PATHINFO_PROBE);
    assert_int_equal(pi->file.kind, UDS_FILE_SYMLINK);
    assert_string_equal(pi->link, "real.sock");
    assert_int_equal(pi->target_errno, 0);
    assert_int_equal(pi->target.kind, UDS_FILE_SOCKET);
    assert_true(pi->target.ino == st.st_ino && pi->target.dev == st.st_dev);
    assert_int_equal(pi->live, UDS_LIVE_LISTENING);
    close(fd);
}

/* ---- who may connect ------------------------------------------------------------------- */

static int no_write_as_nobody(void *arg) {
    struct tu_fixture *fx = arg;
    struct uds_pathinfo pi;

    CHECK(1, uds_pathinfo_get(fx->path, 0, &pi) == 0);
    CHECK(2, pi.target.kind == UDS_FILE_SOCKET && pi.target.uid == 0);
    CHECK(3, !pi.may_write);
    CHECK(4, pi.target.perm == UDS_PERM_OTHER);
    return 0;
}

static void pathinfo_socket_without_write_permission_as_nobody(void **state) {
    struct tu_fixture *fx = *state;
    int fd;

    if (geteuid() != 0)
        skip();
    fd = tu_bind_unix(fx->path, SOCK_STREAM, 4);
    assert_int_equal(chmod(fx->path, 0600), 0);
    assert_true(get(fx->path, 0)->may_write);      /* root may */
    assert_int_equal(get(fx->path, 0)->target.perm, UDS_PERM_OWNER);
    assert_int_equal(get(fx->path, 0)->target.mode & 07777, 0600);
    assert_int_equal(tu_run_as_nobody(no_write_as_nobody, fx), 0);
    close(fd);
}

static int group_write_as_nobody(void *arg) {
    struct tu_fixture *fx = arg;
    struct uds_pathinfo pi;

    CHECK(1, uds_pathinfo_get(fx->path, 0, &pi) == 0);
    CHECK(2, pi.may_write);
    CHECK(3, pi.target.perm == UDS_PERM_GROUP);
    return 0;
}

static void pathinfo_socket_writable_through_its_group_as_nobody(void **state) {
    struct tu_fixture *fx = *state;
    int fd;

    if (geteuid() != 0)
        skip();
    fd = tu_bind_unix(fx->path, SOCK_STREAM, 4);
    assert_int_equal(chown(fx->path, 0, NOBODY), 0);
    assert_int_equal(chmod(fx->path, 0660), 0);
    assert_int_equal(tu_run_as_nobody(group_write_as_nobody, fx), 0);
    close(fd);
}

/* A child as uid and gid nobody with one supplementary group, 4242. */
struct as_member {
    int (*fn)(void *arg);
    void *arg;
};

static int call_as_member(void *arg) {
    struct as_member *m = arg;
    gid_t groups[] = { 4242 };

    if (setgroups(1, groups) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
        setresuid(NOBODY, NOBODY, NOBODY) < 0)
        return 125;
    return m->fn(m->arg);
}

static void pathinfo_socket_writable_through_a_supplementary_group(void **state) {
    struct tu_fixture *fx = *state;
    struct as_member m = { .fn = group_write_as_nobody, .arg = fx };
    int fd;

    if (geteuid() != 0)
        skip();
    fd = tu_bind_unix(fx->path, SOCK_STREAM, 4);
    assert_int_equal(chown(fx->path, 0, 4242), 0);
    assert_int_equal(chmod(fx->path, 0660), 0);
    assert_int_equal(tu_run_in_child(call_as_member, &m), 0);
    /* Without the group: the other bits, none. */
    assert_int_equal(tu_run_as_nobody(no_write_as_nobody, fx), 0);
    close(fd);
}

/* ---- live or stale --------------------------------------------------------------------- */

static void pathinfo_stale_socket_is_stale(void **state) {
    struct tu_fixture *fx = *state;
    const struct uds_pathinfo *pi;

    make_stale_socket(fx->path);
    pi = get(fx->path, 0);
    assert_int_equal(pi->target.kind, UDS_FILE_SOCKET);
    assert_int_equal(pi->live, UDS_LIVE_UNKNOWN);      /* not asked */
    pi = get(fx->path, UDS_PATHINFO_PROBE);
    assert_int_equal(pi->live, UDS_LIVE_STALE);
    assert_int_equal(pi->probe_errno, 0);
    assert_int_equal(access(fx->path, F_OK), 0);        /* left where it was */
}

static void pathinfo_live_listener_of_each_type_is_listening(void **state) {
    struct tu_fixture *fx = *state;
    static const struct { int sock; enum uds_socket_type type; } types[] = {
        { SOCK_STREAM, UDS_STREAM }, { SOCK_SEQPACKET, UDS_SEQPACKET }, { SOCK_DGRAM, UDS_DGRAM },
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int fd = tu_bind_unix(fx->path, types[i].sock, types[i].sock == SOCK_DGRAM ? -1 : 4);
        const struct uds_pathinfo *pi = get(fx->path, UDS_PATHINFO_PROBE);
        assert_int_equal(pi->live, UDS_LIVE_LISTENING);
        assert_int_equal(pi->live_type, types[i].type);
        close(fd);
        assert_int_equal(unlink(fx->path), 0);
    }
}

static void probe_full_backlog_is_live(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_addr addr;
    enum uds_liveness live;
    enum uds_socket_type type;
    int fd = tu_bind_unix(fx->path, SOCK_STREAM, 0), clients[8], n = 0;

    /* Fill the backlog: non-blocking connects until the kernel says EAGAIN. */
    for (; n < 8; n++) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, fx->path);
        clients[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(clients[n] >= 0);
        if (connect(clients[n], (struct sockaddr *) &sa, sizeof(sa)) < 0) {
            assert_int_equal(errno, EAGAIN);
            close(clients[n]);
            break;
        }
    }
    assert_true(n < 8);
    assert_int_equal(uds_addr_parse(fx->path, 0, &addr), 0);
    assert_int_equal(uds_probe(&addr, &live, &type), 0);
    assert_int_equal(live, UDS_LIVE_BACKLOG_FULL);
    assert_int_equal(type, UDS_STREAM);
    while (n > 0)
        close(clients[--n]);
    close(fd);
}

static void probe_abstract_name(void **state) {
    char name[64];
    struct uds_addr addr;
    enum uds_liveness live;
    int fd;

    (void) state;
    snprintf(name, sizeof(name), "@udskit-test-pathinfo-%d", (int) getpid());
    assert_int_equal(uds_addr_parse(name, 0, &addr), 0);
    assert_int_equal(uds_probe(&addr, &live, NULL), 0);
    assert_int_equal(live, UDS_LIVE_STALE);             /* nothing bound to it */
    fd = tu_bind_unix(name, SOCK_STREAM, 4);
    assert_int_equal(uds_probe(&addr, &live, NULL), 0);
    assert_int_equal(live, UDS_LIVE_LISTENING);
    close(fd);
}

static void probe_regular_file_enotsock_missing_enoent(void **state) {
    struct tu_fixture *fx = *state;
    struct uds_addr addr;
    enum uds_liveness live = UDS_LIVE_UNKNOWN;

    assert_int_equal(uds_addr_parse(fx->path, 0, &addr), 0);
    assert_int_equal(uds_probe(&addr, &live, NULL), -1);
    assert_int_equal(errno, ENOENT);
    make_file(fx->path, 0644);
    assert_int_equal(uds_probe(&addr, &live, NULL), -1);
    assert_int_equal(errno, ENOTSOCK);
    assert_int_equal(live, UDS_LIVE_UNKNOWN);           /* untouched on failure */
}

/* ---- arguments ------------------------------------------------------------------------- */

static void pathinfo_bad_arguments(void **state) {
    struct uds_pathinfo pi = { .path_errno = 12345 };
    char *longpath = malloc(UDS_PATH_MAX + 2);

    (void) state;
    assert_non_null(longpath);
    memset(longpath, 'a', UDS_PATH_MAX + 1);
    longpath[UDS_PATH_MAX + 1] = '\0';
    assert_int_equal(uds_pathinfo_get("", 0, &pi), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_pathinfo_get(NULL, 0, &pi), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_pathinfo_get("/x", 1u << 7, &pi), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_pathinfo_get(longpath, 0, &pi), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    assert_int_equal(pi.path_errno, 12345);             /* untouched on failure */
    free(longpath);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_kind_of_names_every_type),
        cmocka_unit_test(perm_check_owner_bits_apply_first),
        cmocka_unit_test(perm_check_group_through_supplementary_groups),
        cmocka_unit_test(perm_check_root_may_write_but_not_execute_a_file_without_x),
        cmocka_unit_test(perm_check_bad_arguments_einval),
        cmocka_unit_test(lock_path_appends_dot_lock),
        cmocka_unit_test(lock_path_of_the_longest_path_fits_lock_path_max),
        cmocka_unit_test(lock_path_too_small_enametoolong_empty_einval),
        cmocka_unit_test(pathinfo_bad_arguments),
#define T(name) cmocka_unit_test_setup_teardown(name, tu_fixture_setup, tu_fixture_teardown)
        T(lock_path_is_the_file_listen_holds),
        T(pathinfo_missing_directory_is_named),
        T(pathinfo_parent_that_is_a_file_is_not_a_directory),
        T(pathinfo_relative_path_starts_at_dot),
        T(pathinfo_unsearchable_directory_as_nobody),
        T(pathinfo_create_in_a_directory_nobody_may_not_write),
        T(pathinfo_nothing_at_the_path),
        T(pathinfo_regular_file_is_not_a_socket_and_not_probed),
        T(pathinfo_dangling_symlink),
        T(pathinfo_symlink_to_a_live_socket_is_followed),
        T(pathinfo_socket_without_write_permission_as_nobody),
        T(pathinfo_socket_writable_through_its_group_as_nobody),
        T(pathinfo_socket_writable_through_a_supplementary_group),
        T(pathinfo_stale_socket_is_stale),
        T(pathinfo_live_listener_of_each_type_is_listening),
        T(probe_full_backlog_is_live),
        T(probe_regular_file_enotsock_missing_enoent),
#undef T
        cmocka_unit_test(probe_abstract_name),
    };

    return cmocka_run_group_tests_name("pathinfo", tests, NULL, NULL);
}
