/* SPDX-License-Identifier: MIT */
/*
 * servers.c — which known server is behind a socket, and the configuration file that makes
 * it: recognised from the processes that hold it (php-fpm, PostgreSQL, redis, dockerd,
 * systemd, udskit), from a systemd .socket unit that lists its path, or from well-known
 * names (.s.PGSQL.5432, php8.2-fpm.sock, docker.sock). It reads /proc and configuration
 * files and says what it found in fields; the words for each server are the caller's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* Where systemd looks for unit files when $SYSTEMD_UNIT_PATH does not say. */
static const char *const unit_dirs[] = {
    "/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system", "/lib/systemd/system",
};

/* ---- reading configuration files -------------------------------------------------------- */

/* " key = value ; comment" → key and value, trimmed; false for blank lines and comments. */
static bool split_setting(char *line, const char *comments, char sep, char **ret_key,
                          char **ret_value) {
    char *p = line + strspn(line, " \t"), *eq, *end;

    if (!*p || strchr(comments, *p) || *p == '\n')
        return false;
    eq = sep ? strchr(p, sep) : p + strcspn(p, " \t");
    if (!eq || eq == p || !*eq)
        return false;
    end = eq;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    *ret_key = p;
    p = eq + 1;
    p += strspn(p, " \t");
    end = p + strcspn(p, "\n");
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    /* A quoted value: "…" or '…'. */
    if (end - p >= 2 && (*p == '"' || *p == '\'') && end[-1] == *p) {
        end[-1] = '\0';
        p++;
    }
    *ret_value = p;
    return true;
}

/* Whether value names the same socket as path, however either is written. */
static bool same_path(const char *value, const char *path) {
    char a[UDS_PATH_MAX + 1], b[UDS_PATH_MAX + 1];

    if (strcmp(value, path) == 0)
        return true;
    return value[0] == '/' && uds_path_canonical(value, a, sizeof(a)) >= 0 &&
           uds_path_canonical(path, b, sizeof(b)) >= 0 && strcmp(a, b) == 0;
}

/* ---- systemd .socket units --------------------------------------------------------------- */

/* The Listen*= line of a .socket unit file that names want ("/run/x.sock" or "@name"). */
static unsigned unit_lists(const char *file, const char *want) {
    char *line = NULL, *key, *value;
    size_t cap = 0;
    unsigned n = 0, found = 0;
    bool in_socket = false;
    FILE *f = fopen(file, "re");

    if (!f)
        return 0;
    while (!found && getline(&line, &cap, f) > 0) {
        n++;
        if (line[0] == '[') {
            in_socket = strncmp(line, "[Socket]", 8) == 0;
            continue;
        }
        if (in_socket && split_setting(line, "#;", '=', &key, &value) &&
            (strcmp(key, "ListenStream") == 0 || strcmp(key, "ListenSequentialPacket") == 0 ||
             strcmp(key, "ListenDatagram") == 0) &&
            (value[0] == '@' ? strcmp(value, want) == 0 : same_path(value, want)))
            found = n;
    }
    free(line);
    (void) fclose(f);
    return found;
}

static bool search_unit_dir(const char *dir, const char *want, struct uds_server_ident *id) {
    char pattern[UDS_PATH_MAX + 16];
    glob_t g;
    bool found = false;

    if (snprintf(pattern, sizeof(pattern), "%s/*.socket", dir) >= (int) sizeof(pattern) ||
        glob(pattern, 0, NULL, &g) != 0)
        return false;
    for (size_t i = 0; i < g.gl_pathc && !found; i++) {
        unsigned line = unit_lists(g.gl_pathv[i], want);
        if (!line)
            continue;
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        (void) snprintf(id->socket_unit, sizeof(id->socket_unit), "%s", base);
        (void) snprintf(id->socket_unit_file, sizeof(id->socket_unit_file), "%s",
                        g.gl_pathv[i]);
        id->socket_unit_line = line;
        found = true;
    }
    globfree(&g);
    return found;
}

/* $SYSTEMD_UNIT_PATH, as systemd reads it: directories separated by ':', and an empty
 * last entry (a trailing ':') for the default ones after them. Calls found(dir, arg) on
 * each until it returns true. */
static bool search_unit_path(bool (*found)(const char *dir, void *arg), void *arg) {
    const char *env = getenv("SYSTEMD_UNIT_PATH");
    bool defaults = !env || !*env;

    if (env && *env) {
        char dirs[4096], *save = NULL;
        size_t len = strlen(env);

        defaults = env[len - 1] == ':';
        (void) snprintf(dirs, sizeof(dirs), "%s", env);
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
            if (found(d, arg))
                return true;
    }
    for (size_t i = 0; defaults && i < sizeof(unit_dirs) / sizeof(unit_dirs[0]); i++)
        if (found(unit_dirs[i], arg))
            return true;
    return false;
}

struct socket_search {
    const char *want;
    struct uds_server_ident *id;
};

static bool socket_unit_in(const char *dir, void *arg) {
    struct socket_search *s = arg;
    return search_unit_dir(dir, s->want, s->id);
}

static void find_socket_unit(const char *want, struct uds_server_ident *id) {
    struct socket_search s = { want, id };
    (void) search_unit_path(socket_unit_in, &s);
}

struct unit_search {
    const char *name;           /* "redis-server.service" */
    char *file;                 /* where its file is found */
    size_t size;
};

static bool unit_file_in(const char *dir, void *arg) {
    struct unit_search *u = arg;
    struct stat st;

    return snprintf(u->file, u->size, "%s/%s", dir, u->name) < (int) u->size &&
           stat(u->file, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first argument ending in suffix on the ExecStart= line of the service unit, which
 * names a server's configuration file when the server hides its own command line. */
static bool unit_exec_argument(const char *unit, const char *suffix, char *buf, size_t size) {
    char file[UDS_PATH_MAX + 1], *line = NULL, *key, *value, *save = NULL;
    struct unit_search u = { unit, file, sizeof(file) };
    size_t cap = 0, n = strlen(suffix);
    bool found = false;
    FILE *f;

    if (!unit[0] || !search_unit_path(unit_file_in, &u) || !(f = fopen(file, "re")))
        return false;
    while (!found && getline(&line, &cap, f) > 0) {
        if (!split_setting(line, "#;", '=', &key, &value) || strcmp(key, "ExecStart") != 0)
            continue;
        for (char *w = strtok_r(value, " \t", &save); w && !found;
             w = strtok_r(NULL, " \t", &save))
            if (strlen(w) > n && strcmp(w + strlen(w) - n, suffix) == 0)
                found = snprintf(buf, size, "%s", w) < (int) size;
    }
    free(line);
    (void) fclose(f);
    return found;
}

/* ---- php-fpm ---------------------------------------------------------------------------- */

/* A pool file's "listen = PATH" for path, with php-fpm's $pool variable expanded. */
static bool pool_file_lists(const char *file, const char *path, struct uds_server_ident *id) {
    char *line = NULL, *key, *value, pool[64] = "";
    size_t cap = 0;
    unsigned n = 0;
    bool found = false;
    FILE *f = fopen(file, "re");

    if (!f)
        return false;
    while (!found && getline(&line, &cap, f) > 0) {
        char expanded[UDS_PATH_MAX + 1];
        const char *var;

        n++;
        if (sscanf(line, " [%63[^]]]", pool) == 1)
            continue;
        if (!split_setting(line, ";#", '=', &key, &value) || strcmp(key, "listen") != 0)
            continue;
        var = strstr(value, "$pool");
        if (var)
            (void) snprintf(expanded, sizeof(expanded), "%.*s%s%s", (int) (var - value), value,
                            pool, var + 5);
        else
            (void) snprintf(expanded, sizeof(expanded), "%s", value);
        if (same_path(expanded, path)) {
            (void) snprintf(id->config, sizeof(id->config), "%s", file);
            (void) snprintf(id->pool, sizeof(id->pool), "%s", pool);
            id->config_line = n;
            found = true;
        }
    }
    free(line);
    (void) fclose(f);
    return found;
}

/* The pool files a php-fpm.conf includes ("include=/etc/php/8.2/fpm/pool.d/ *.conf"), and
 * the main file itself, which may hold pools too. */
static void php_fpm_find_pool(const char *main_conf, const char *path,
                              struct uds_server_ident *id) {
    char *line = NULL, *key, *value;
    size_t cap = 0;
    FILE *f;

    (void) snprintf(id->main_config, sizeof(id->main_config), "%s", main_conf);
    if (pool_file_lists(main_conf, path, id) || !(f = fopen(main_conf, "re")))
        return;
    while (!id->config[0] && getline(&line, &cap, f) > 0) {
        glob_t g;

        if (!split_setting(line, ";#", '=', &key, &value) || strcmp(key, "include") != 0 ||
            value[0] != '/' || glob(value, 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc && !id->config[0]; i++)
            (void) pool_file_lists(g.gl_pathv[i], path, id);
        globfree(&g);
    }
    free(line);
    (void) fclose(f);
}

/* "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)", or -y/--fpm-config FILE
 * before php-fpm renames itself; else the packaged file of its version. */
static void php_fpm_main_conf(const struct uds_procinfo *p, const char *version, char *buf,
                              size_t size) {
    const char *title = uds_procinfo_arg(p, 0), *open, *arg;

    buf[0] = '\0';
    if (title && (open = strstr(title, "master process (")) != NULL) {
        open += strlen("master process (");
        (void) snprintf(buf, size, "%.*s", (int) strcspn(open, ")"), open);
        return;
    }
    for (size_t i = 1; (arg = uds_procinfo_arg(p, i)) != NULL; i++)
        if ((strcmp(arg, "-y") == 0 || strcmp(arg, "--fpm-config") == 0) &&
            uds_procinfo_arg(p, i + 1)) {
            (void) snprintf(buf, size, "%s", uds_procinfo_arg(p, i + 1));
            return;
        }
    if (version[0])
        (void) snprintf(buf, size, "/etc/php/%s/fpm/php-fpm.conf", version);
}

/* A socket nobody holds: any packaged php-fpm's pools may name it. */
static void php_fpm_search_packaged(const char *path, struct uds_server_ident *id) {
    glob_t g;

    if (glob("/etc/php/*/fpm/php-fpm.conf", 0, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc && !id->config[0]; i++) {
        php_fpm_find_pool(g.gl_pathv[i], path, id);
        if (id->config[0])
            (void) sscanf(g.gl_pathv[i], "/etc/php/%31[^/]", id->version);
        else
            id->main_config[0] = '\0';
    }
    globfree(&g);
}

/* ---- the settings that decide a socket's owner, group and mode ----------------------------- */

static bool wanted(const char *key, const char *const *keys) {
    for (; *keys; keys++)
        if (strcmp(key, *keys) == 0)
            return true;
    return false;
}

static void add_setting(struct uds_server_ident *id, const char *key, const char *value,
                        unsigned line) {
    struct uds_server_setting *s;

    /* A later line overrides an earlier one, as in the servers' own parsers. */
    for (size_t i = 0; i < id->n_settings; i++)
        if (strcmp(id->settings[i].key, key) == 0) {
            (void) snprintf(id->settings[i].value, sizeof(id->settings[i].value), "%s", value);
            id->settings[i].line = line;
            return;
        }
    if (id->n_settings == UDS_SERVER_SETTINGS_MAX)
        return;
    s = &id->settings[id->n_settings++];
    (void) snprintf(s->key, sizeof(s->key), "%s", key);
    (void) snprintf(s->value, sizeof(s->value), "%s", value);
    s->line = line;
}

/* keys of file, in [section] only when section is given; sep '=' or 0 for "key value". */
static void collect_settings(const char *file, const char *section, char sep,
                             const char *const *keys, struct uds_server_ident *id) {
    char *line = NULL, *key, *value, current[64] = "";
    size_t cap = 0;
    unsigned n = 0;
    FILE *f = fopen(file, "re");

    if (!f)
        return;
    while (getline(&line, &cap, f) > 0) {
        n++;
        if (section && sscanf(line, " [%63[^]]]", current) == 1)
            continue;
        if (section && strcmp(current, section) != 0)
            continue;
        if (split_setting(line, ";#", sep, &key, &value) && wanted(key, keys))
            add_setting(id, key, value, n);
    }
    free(line);
    (void) fclose(f);
}

/* daemon.json: "group": "docker", on a line of its own, as dockerd's documentation writes
 * it; anything fancier is left to the reader. */
static void docker_settings(const char *file, struct uds_server_ident *id) {
    char *line = NULL, group[128];
    size_t cap = 0;
    unsigned n = 0;
    FILE *f = fopen(file, "re");

    if (!f)
        return;
    while (getline(&line, &cap, f) > 0) {
        n++;
        if (sscanf(line, " \"group\" : \"%127[^\"]\"", group) == 1)
            add_setting(id, "group", group, n);
    }
    free(line);
    (void) fclose(f);
}

/* ---- PostgreSQL, redis, dockerd ------------------------------------------------------------ */

/* The line of key in a "key = value" file, 0 when it is not set there. */
static unsigned setting_line(const char *file, const char *key, char sep) {
    char *line = NULL, *k, *v;
    size_t cap = 0;
    unsigned n = 0, found = 0;
    FILE *f = fopen(file, "re");

    if (!f)
        return 0;
    while (getline(&line, &cap, f) > 0) {
        n++;
        if (split_setting(line, "#;", sep, &k, &v) && strcmp(k, key) == 0)
            found = n;
    }
    free(line);
    (void) fclose(f);
    return found;
}

/* The configuration file: config_file=, else postgresql.conf in the data directory. */
static void postgres_config_file(struct uds_server_ident *id, char *dir,
                                 const char *const *keys) {
    (void) snprintf(id->data_dir, sizeof(id->data_dir), "%s", dir);
    if (!id->config[0] && dir[0])
        (void) snprintf(id->config, sizeof(id->config), "%s/postgresql.conf", dir);
    id->config_line = setting_line(id->config, "unix_socket_directories", '=');
    collect_settings(id->config, NULL, '=', keys, id);
}

/* postgres -D DIR or -c config_file=FILE; the postmaster's working directory is its data
 * directory, which holds postgresql.conf unless config_file moves it. */
static void postgres_config(const struct uds_procinfo *p, struct uds_server_ident *id) {
    static const char *const keys[] = { "unix_socket_directories", "unix_socket_group",
                                        "unix_socket_permissions", NULL };
    char link[64], dir[UDS_PATH_MAX + 1] = "";
    const char *arg;
    ssize_t n;

    for (size_t i = 1; (arg = uds_procinfo_arg(p, i)) != NULL; i++) {
        const char *next = uds_procinfo_arg(p, i + 1);
        if (strncmp(arg, "config_file=", 12) == 0 || strncmp(arg, "--config_file=", 14) == 0 ||
            strncmp(arg, "--config-file=", 14) == 0)
            (void) snprintf(id->config, sizeof(id->config), "%s", strchr(arg, '=') + 1);
        else if (strcmp(arg, "-D") == 0 && next)
            (void) snprintf(dir, sizeof(dir), "%s", next);
    }
    (void) snprintf(link, sizeof(link), "/proc/%d/cwd", (int) p->pid);
    if (!dir[0] && (n = readlink(link, dir, sizeof(dir) - 1)) > 0)
        dir[n] = '\0';
    postgres_config_file(id, dir, keys);
    /* -c name=value on the command line overrides the file. */
    for (size_t i = 1; (arg = uds_procinfo_arg(p, i)) != NULL; i++) {
        const char *next = uds_procinfo_arg(p, i + 1);
        const char *eq = next ? strchr(next, '=') : NULL;
        char key[32];
        if (strcmp(arg, "-c") != 0 || !eq || (size_t) (eq - next) >= sizeof(key))
            continue;
        (void) snprintf(key, sizeof(key), "%.*s", (int) (eq - next), next);
        if (wanted(key, keys))
            add_setting(id, key, eq + 1, 0);
    }
}

/* PostgreSQL's own lock file, PATH.lock, holds the postmaster's pid on its first line. */
static void postgres_lock(const char *path, struct uds_server_ident *id) {
    char lock[UDS_LOCK_PATH_MAX + 1], buf[32];
    ssize_t n;
    int fd;

    if (uds_lock_path(path, lock, sizeof(lock)) < 0 ||
        (fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
        return;
    n = read(fd, buf, sizeof(buf) - 1);
    (void) close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    id->lock_pid = (pid_t) atoi(buf);
    id->has_own_lock = true;
}

/* The line of redis.conf that says "unixsocket PATH" for path, 0 none. */
static unsigned redis_lists(const char *file, const char *path) {
    struct uds_server_ident scratch = { 0 };
    static const char *const keys[] = { "unixsocket", NULL };

    collect_settings(file, NULL, 0, keys, &scratch);
    return scratch.n_settings && same_path(scratch.settings[0].value, path) ?
               scratch.settings[0].line : 0;
}

/* redis-server renames itself ("redis-server 127.0.0.1:6379"), so its configuration file
 * is an argument only until it has started; then the ExecStart= of the service it runs in
 * says (Debian's redis-server.service names /etc/redis/redis.conf); else any file in
 * /etc/redis that names path. */
static void redis_config(const struct uds_procinfo *p, const char *path,
                         struct uds_server_ident *id) {
    static const char *const keys[] = { "unixsocket", "unixsocketperm", "unixsocketgroup",
                                        NULL };
    const char *arg;
    glob_t g;

    for (size_t i = 1; p && (arg = uds_procinfo_arg(p, i)) != NULL; i++)
        if (strlen(arg) > 5 && strcmp(arg + strlen(arg) - 5, ".conf") == 0)
            (void) snprintf(id->config, sizeof(id->config), "%s", arg);
    if (!id->config[0] && p)
        (void) unit_exec_argument(p->unit, ".conf", id->config, sizeof(id->config));
    if (id->config[0])
        id->config_line = redis_lists(id->config, path);
    if (!id->config_line && glob("/etc/redis/*.conf", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc && !id->config_line; i++)
            if ((id->config_line = redis_lists(g.gl_pathv[i], path)) != 0)
                (void) snprintf(id->config, sizeof(id->config), "%s", g.gl_pathv[i]);
        globfree(&g);
    }
    if (id->config[0] && access(id->config, R_OK) != 0)
        id->config[0] = '\0';
    if (id->config[0])
        collect_settings(id->config, NULL, 0, keys, id);
}

/* dockerd -G GROUP (--group), or "group" in /etc/docker/daemon.json (or --config-file). */
static void docker_config(const struct uds_procinfo *p, struct uds_server_ident *id) {
    const char *arg, *next;

    (void) snprintf(id->config, sizeof(id->config), "/etc/docker/daemon.json");
    for (size_t i = 1; p && (arg = uds_procinfo_arg(p, i)) != NULL; i++) {
        next = uds_procinfo_arg(p, i + 1);
        if (strncmp(arg, "--config-file=", 14) == 0)
            (void) snprintf(id->config, sizeof(id->config), "%s", arg + 14);
        else if (strcmp(arg, "--config-file") == 0 && next)
            (void) snprintf(id->config, sizeof(id->config), "%s", next);
    }
    docker_settings(id->config, id);
    for (size_t i = 1; p && (arg = uds_procinfo_arg(p, i)) != NULL; i++) {
        next = uds_procinfo_arg(p, i + 1);
        if (strncmp(arg, "--group=", 8) == 0)
            add_setting(id, "--group", arg + 8, 0);
        else if ((strcmp(arg, "-G") == 0 || strcmp(arg, "--group") == 0) && next)
            add_setting(id, "--group", next, 0);
    }
}

/* ---- recognising the server ----------------------------------------------------------------- */

static enum uds_server_kind kind_of_program(const char *program) {
    if (strncmp(program, "php-fpm", 7) == 0)
        return UDS_SERVER_PHP_FPM;
    if (strcmp(program, "postgres") == 0 || strcmp(program, "postmaster") == 0)
        return UDS_SERVER_POSTGRESQL;
    if (strcmp(program, "redis-server") == 0)
        return UDS_SERVER_REDIS;
    if (strcmp(program, "dockerd") == 0)
        return UDS_SERVER_DOCKERD;
    /* pid 1 or a user's manager; systemd-socket-activate is "systemd-socket-" in comm. */
    if (strcmp(program, "systemd") == 0 || strncmp(program, "systemd-socket-", 15) == 0)
        return UDS_SERVER_SYSTEMD;
    if (strcmp(program, "uds") == 0)
        return UDS_SERVER_UDSKIT;
    return UDS_SERVER_UNKNOWN;
}

/* The program's name (from its executable when readable, else its comm) and the version
 * its path or name carries: /usr/sbin/php-fpm8.2 → 8.2, /usr/lib/postgresql/15/bin → 15. */
static void program_of(const struct uds_procinfo *p, char *name, size_t size, char *version,
                       size_t vsize) {
    const char *base = p->exe[0] ? strrchr(p->exe, '/') + 1 : p->command, *v;

    (void) snprintf(name, size, "%s", base);
    version[0] = '\0';
    if (strncmp(base, "php-fpm", 7) == 0 && base[7])
        (void) snprintf(version, vsize, "%s", base + 7);
    else if ((v = strstr(p->exe, "/postgresql/")) != NULL)
        (void) snprintf(version, vsize, "%.*s", (int) strcspn(v + 12, "/"), v + 12);
}

/* A holder that locks PATH.lock: a libudskit listener (or skalibs', which has the rule).
 * When the holders cannot be seen (another user's processes), the lock alone says it. */
static pid_t udskit_lock_holder(const char *path, const struct uds_procfd *holders, size_t n) {
    char lock[UDS_LOCK_PATH_MAX + 1];
    pid_t pid = 0;

    if (!path || uds_lock_path(path, lock, sizeof(lock)) < 0 ||
        uds_flock_holder(lock, &pid) != 1 || pid <= 0)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (holders[k].pid == pid)
            return pid;
    return n == 0 ? pid : 0;
}

/* Which holder is the server: the php-fpm master over its workers (it has the
 * configuration), systemd noted aside (it made the socket for a .socket unit). */
static void by_process(const struct uds_procfd *holders, size_t n,
                       struct uds_server_ident *id, struct uds_procinfo *ret_p,
                       pid_t *ret_systemd) {
    for (size_t k = 0; k < n; k++) {
        struct uds_procinfo p;
        enum uds_server_kind kind;
        char program[64], version[32];
        const char *title;

        if ((k > 0 && holders[k].pid == holders[k - 1].pid) ||
            uds_procinfo_get(holders[k].pid, &p) < 0)
            continue;
        program_of(&p, program, sizeof(program), version, sizeof(version));
        kind = kind_of_program(program);
        if (kind == UDS_SERVER_UNKNOWN)
            kind = kind_of_program(p.command);
        if (kind == UDS_SERVER_SYSTEMD) {
            *ret_systemd = p.pid;
            continue;
        }
        title = uds_procinfo_arg(&p, 0);
        if (kind == UDS_SERVER_UNKNOWN || (id->kind != UDS_SERVER_UNKNOWN &&
                                          !(kind == UDS_SERVER_PHP_FPM && title &&
                                            strstr(title, "master process"))))
            continue;
        id->kind = kind;
        id->found_by = UDS_SERVER_BY_PROCESS;
        id->pid = p.pid;
        (void) snprintf(id->program, sizeof(id->program), "%s", program);
        (void) snprintf(id->version, sizeof(id->version), "%s", version);
        (void) snprintf(id->unit, sizeof(id->unit), "%s", p.unit);
        *ret_p = p;
    }
}

/* Whether p, a php-fpm master, has a pool that listens on path. */
static bool php_fpm_names(const struct uds_procinfo *p, const char *path,
                          struct uds_server_ident *id) {
    char program[64], version[32], conf[UDS_PATH_MAX + 1];
    const char *title = uds_procinfo_arg(p, 0);

    if (strncmp(p->command, "php-fpm", 7) != 0 || !title || !strstr(title, "master process"))
        return false;
    program_of(p, program, sizeof(program), version, sizeof(version));
    php_fpm_main_conf(p, version, conf, sizeof(conf));
    php_fpm_find_pool(conf, path, id);
    if (!id->config[0])
        id->main_config[0] = '\0';
    return id->config[0] != '\0';
}

/* Whether p, a redis-server, reads a redis.conf (its argument, or its service's) that
 * says "unixsocket path". */
static bool redis_names(const struct uds_procinfo *p, const char *path) {
    char conf[UDS_PATH_MAX + 1] = "";
    const char *arg;

    if (strcmp(p->command, "redis-server") != 0)
        return false;
    for (size_t i = 1; (arg = uds_procinfo_arg(p, i)) != NULL; i++)
        if (strlen(arg) > 5 && strcmp(arg + strlen(arg) - 5, ".conf") == 0)
            (void) snprintf(conf, sizeof(conf), "%s", arg);
    if (!conf[0])
        (void) unit_exec_argument(p->unit, ".conf", conf, sizeof(conf));
    return conf[0] && redis_lists(conf, path) != 0;
}

/* A server the caller cannot see holding the socket (another user's) whose configuration
 * names path: command lines and cgroups, which anyone may read, lead to its files. */
static enum uds_server_kind by_running_server(const char *path, struct uds_server_ident *id,
                                              struct uds_procinfo *ret_p) {
    DIR *proc = opendir("/proc");
    struct dirent *de;
    enum uds_server_kind kind = UDS_SERVER_UNKNOWN;

    if (!proc)
        return kind;
    while (kind == UDS_SERVER_UNKNOWN && (de = readdir(proc)) != NULL) {
        struct uds_procinfo p;
        int pid = atoi(de->d_name);

        if (pid <= 0 || uds_procinfo_get(pid, &p) < 0)
            continue;
        if (php_fpm_names(&p, path, id))
            kind = UDS_SERVER_PHP_FPM;
        else if (redis_names(&p, path))
            kind = UDS_SERVER_REDIS;
        else
            continue;
        id->pid = p.pid;
        program_of(&p, id->program, sizeof(id->program), id->version, sizeof(id->version));
        (void) snprintf(id->unit, sizeof(id->unit), "%s", p.unit);
        *ret_p = p;
    }
    (void) closedir(proc);
    return kind;
}

/* A regular file PATH.lock next to the socket: a libudskit listener's, left behind. */
static bool has_lock_file(const char *path) {
    char lock[UDS_LOCK_PATH_MAX + 1];
    struct stat st;

    return uds_lock_path(path, lock, sizeof(lock)) >= 0 && lstat(lock, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* Well-known names, for a socket no process can be seen holding. */
static enum uds_server_kind by_name(const char *path) {
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

    if (fnmatch(".s.PGSQL.[0-9]*", base, 0) == 0)
        return UDS_SERVER_POSTGRESQL;
    if (fnmatch("php*fpm*.sock", base, 0) == 0 || strncmp(path, "/run/php/", 9) == 0)
        return UDS_SERVER_PHP_FPM;
    if (strcmp(base, "docker.sock") == 0)
        return UDS_SERVER_DOCKERD;
    if (fnmatch("redis*.sock", base, 0) == 0)
        return UDS_SERVER_REDIS;
    if (has_lock_file(path))
        return UDS_SERVER_UDSKIT;
    return UDS_SERVER_UNKNOWN;
}

static void socket_unit_settings(struct uds_server_ident *id) {
    static const char *const keys[] = { "SocketMode", "SocketUser", "SocketGroup", "Backlog",
                                        NULL };

    if (id->socket_unit_file[0])
        collect_settings(id->socket_unit_file, "Socket", '=', keys, id);
}

/* What each kind's configuration says about this socket. */
static void details(const char *path, const struct uds_procinfo *p,
                    struct uds_server_ident *id) {
    static const char *const fpm_keys[] = { "listen.owner", "listen.group", "listen.mode",
                                            "listen.acl_users", "listen.acl_groups",
                                            "listen.backlog", NULL };
    enum uds_server_kind kind = id->kind == UDS_SERVER_SYSTEMD ? id->service : id->kind;

    socket_unit_settings(id);
    switch (kind) {
    case UDS_SERVER_PHP_FPM: {
        char main_conf[UDS_PATH_MAX + 1];
        if (p) {
            php_fpm_main_conf(p, id->version, main_conf, sizeof(main_conf));
            if (main_conf[0] && path)
                php_fpm_find_pool(main_conf, path, id);
        } else if (path) {
            php_fpm_search_packaged(path, id);
        }
        if (id->config[0])
            collect_settings(id->config, id->pool, '=', fpm_keys, id);
        break;
    }
    case UDS_SERVER_POSTGRESQL:
        if (p)
            postgres_config(p, id);
        if (path)
            postgres_lock(path, id);
        break;
    case UDS_SERVER_REDIS:
        if (path)
            redis_config(p, path, id);
        break;
    case UDS_SERVER_DOCKERD:
        docker_config(p, id);
        break;
    default:
        break;
    }
}

UDS_API int uds_server_identify(const struct uds_addr *addr, const struct uds_procfd *holders,
                                size_t n_holders, struct uds_server_ident *ret_ident) {
    struct uds_server_ident *id;
    struct uds_procinfo p = { 0 };
    const char *path;
    char want[UDS_PATH_MAX + 2];
    pid_t systemd = 0;

    if (!addr || (addr->kind != UDS_ADDR_PATH && addr->kind != UDS_ADDR_ABSTRACT) ||
        (n_holders && !holders) || !ret_ident)
        return uds__fail(EINVAL);
    id = calloc(1, sizeof(*id));
    if (!id)
        return -1;
    path = addr->kind == UDS_ADDR_PATH ? addr->name : NULL;
    (void) snprintf(want, sizeof(want), "%s%s", path ? "" : "@", addr->name);
    find_socket_unit(want, id);
    by_process(holders, n_holders, id, &p, &systemd);
    if (systemd || (id->kind == UDS_SERVER_UNKNOWN && id->socket_unit[0])) {
        id->service = id->kind;
        id->kind = UDS_SERVER_SYSTEMD;
        id->found_by = systemd ? UDS_SERVER_BY_PROCESS : UDS_SERVER_BY_UNIT;
        id->systemd_pid = systemd;
        if (id->service == UDS_SERVER_UNKNOWN && path)
            id->service = by_name(path);
    }
    if (id->kind == UDS_SERVER_UNKNOWN &&
        (id->pid = udskit_lock_holder(path, holders, n_holders)) != 0) {
        id->kind = UDS_SERVER_UDSKIT;
        id->found_by = UDS_SERVER_BY_PROCESS;
    }
    if (id->kind == UDS_SERVER_UNKNOWN && path &&
        (id->kind = by_running_server(path, id, &p)) != UDS_SERVER_UNKNOWN)
        id->found_by = UDS_SERVER_BY_CONFIG;
    if (id->kind == UDS_SERVER_UNKNOWN && path && (id->kind = by_name(path)) != 0)
        id->found_by = UDS_SERVER_BY_PATH;
    details(path, p.pid ? &p : NULL, id);
    *ret_ident = *id;
    free(id);
    return 0;
}

UDS_API const char *uds_server_kind_name(enum uds_server_kind kind) {
    switch (kind) {
    case UDS_SERVER_UDSKIT: return "udskit";
    case UDS_SERVER_PHP_FPM: return "php-fpm";
    case UDS_SERVER_POSTGRESQL: return "postgresql";
    case UDS_SERVER_REDIS: return "redis";
    case UDS_SERVER_DOCKERD: return "dockerd";
    case UDS_SERVER_SYSTEMD: return "systemd";
    default: return "unknown";
    }
}

UDS_API const char *uds_server_setting(const struct uds_server_ident *ident, const char *key,
                                       unsigned *ret_line) {
    if (!ident || !key)
        return NULL;
    for (size_t i = 0; i < ident->n_settings; i++)
        if (strcmp(ident->settings[i].key, key) == 0) {
            if (ret_line)
                *ret_line = ident->settings[i].line;
            return ident->settings[i].value;
        }
    return NULL;
}
