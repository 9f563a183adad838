/* SPDX-License-Identifier: MIT */
/*
 * doctor_server.c — `uds doctor`'s words for the server behind a socket: which server it is
 * (php-fpm, PostgreSQL, redis, dockerd, systemd, udskit), the file and line that make the
 * socket, and the access advice in that server's own settings.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"

/* ---- the server behind the socket, in its own words --------------------------------------- */

/* Recognise the server once, from the socket that serves the address (or by its name when
 * none does). */
const struct uds_server_ident *doctor_ident(struct doctor *d, const struct uds_sockinfo *s) {
    const struct uds_procfd *p;
    size_t n;

    if (d->have_ident && (d->ident_of == s || !s))
        return &d->ident;
    n = doctor_holders(d, s, &p);
    if (uds_server_identify(&d->addr, p, n, &d->ident) < 0)
        d->ident = (struct uds_server_ident) { .kind = UDS_SERVER_UNKNOWN };
    d->have_ident = true;
    d->ident_of = s;
    return &d->ident;
}

/* The server that reads the configuration: the one systemd hands its socket to. */
enum uds_server_kind doctor_served_by(const struct uds_server_ident *id) {
    return id->kind == UDS_SERVER_SYSTEMD && id->service ? id->service : id->kind;
}

/* What doctor says of each kind of server whatever the instance. */
struct server_words {
    const char *title;      /* as a sentence names it: "PostgreSQL" */
    const char *config;     /* the file its socket is set up in, when the one this instance
                             * read is not known; NULL: none */
    const char *service;    /* systemctl start SERVICE, when no unit was found; NULL: none
                             * that does not depend on the version */
};

static const struct server_words server_words[] = {
    [UDS_SERVER_UNKNOWN] = { "an unknown server", NULL, NULL },
    [UDS_SERVER_UDSKIT] = { "a udskit listener", NULL, NULL },
    [UDS_SERVER_PHP_FPM] = { "php-fpm", "its pool file", NULL },
    [UDS_SERVER_POSTGRESQL] = { "PostgreSQL", "postgresql.conf", "postgresql" },
    [UDS_SERVER_REDIS] = { "redis", "redis.conf", "redis-server" },
    [UDS_SERVER_DOCKERD] = { "dockerd", "/etc/docker/daemon.json", "docker" },
    [UDS_SERVER_SYSTEMD] = { "systemd", NULL, NULL },
};

static const struct server_words *words_of(enum uds_server_kind kind) {
    if ((size_t) kind >= sizeof(server_words) / sizeof(server_words[0]))
        kind = UDS_SERVER_UNKNOWN;
    return &server_words[kind];
}

const char *doctor_server_title(enum uds_server_kind kind) {
    return words_of(kind)->title;
}

const char *doctor_config_file(const struct uds_server_ident *id) {
    return id->config[0] ? id->config : words_of(doctor_served_by(id))->config;
}

/* "listen.owner = nobody (line 6), listen.mode = 0660 (line 8)" for the keys that are
 * set; "" when none is. */
static void settings_text(const struct uds_server_ident *id, const char *const *keys,
                          struct text *t) {
    /* As each file writes them: "listen.mode = 0660", "SocketMode=0600", "unixsocketperm
     * 700". */
    enum uds_server_kind kind = doctor_served_by(id);
    const char *sep = id->kind == UDS_SERVER_SYSTEMD ? "="
                      : kind == UDS_SERVER_REDIS     ? " "
                                                     : " = ";
    size_t n = 0;

    for (; *keys; keys++) {
        unsigned line = 0;
        const char *v = uds_server_setting(id, *keys, &line);
        if (!v)
            continue;
        if (line)
            T_ADD(t, "%s%s%s%s (line %u)", n++ ? ", " : "", *keys, sep, v, line);
        else
            T_ADD(t, "%s%s=%s (on the command line)", n++ ? ", " : "", *keys, v);
    }
}

/* "systemctl start php8.2-fpm": how the server is started, when it is known. */
void doctor_start_command(const struct uds_server_ident *id, char *buf, size_t size) {
    enum uds_server_kind kind = doctor_served_by(id);

    buf[0] = '\0';
    if (id->socket_unit[0])
        snprintf(buf, size, "systemctl start %s", id->socket_unit);
    else if (id->unit[0] && strcmp(id->unit, "init.scope") != 0)
        snprintf(buf, size, "systemctl start %s", id->unit);
    else if (kind == UDS_SERVER_PHP_FPM && id->version[0])
        snprintf(buf, size, "systemctl start php%s-fpm", id->version);
    else if (words_of(kind)->service)
        snprintf(buf, size, "systemctl start %s", words_of(kind)->service);
}

/* "; its socket settings are read from F" and so on, for the kind that reads them. */
static void describe_config(const struct uds_server_ident *id, struct text *t) {
    switch (doctor_served_by(id)) {
    case UDS_SERVER_PHP_FPM:
        if (id->config[0])
            T_ADD(t, ", pool [%s]: listen = at line %u of %s makes this socket", id->pool,
                  id->config_line, id->config);
        else if (id->main_config[0])
            T_ADD(t, "; no pool of %s (nor of the files it includes) has listen = this path",
                  id->main_config);
        return;
    case UDS_SERVER_POSTGRESQL:
        if (id->data_dir[0])
            T_ADD(t, " (data directory %s)", id->data_dir);
        if (id->config[0])
            T_ADD(t, "; its socket settings are read from %s", id->config);
        if (id->config_line)
            T_ADD(t, " (unix_socket_directories at line %u)", id->config_line);
        return;
    case UDS_SERVER_REDIS:
        if (id->config_line)
            T_ADD(t, "; unixsocket at line %u of %s makes this socket", id->config_line,
                  id->config);
        else
            T_ADD(t, " (which redis.conf it read is not known: redis-server renames itself "
                  "once started)");
        return;
    case UDS_SERVER_DOCKERD:
        T_ADD(t, "; its socket settings are its command line and %s", doctor_config_file(id));
        return;
    case UDS_SERVER_UDSKIT:
        T_ADD(t, ", uds serve or a program built on libudskit");
        return;
    default:
        return;
    }
}

/* One sentence: which server this is, and where its socket is configured. */
static void describe_server(const struct uds_server_ident *id, struct text *t) {
    T_ADD(t, "The server is %s", doctor_server_title(id->kind));
    if (id->kind == UDS_SERVER_SYSTEMD) {
        if (id->socket_unit[0])
            T_ADD(t, ", for the socket unit %s (ListenStream= at line %u of %s)",
                  id->socket_unit, id->socket_unit_line, id->socket_unit_file);
        else if (id->systemd_pid)
            T_ADD(t, " (systemd-socket-activate or the service manager, pid %d), with no "
                  ".socket unit found that lists this address", (int) id->systemd_pid);
        if (id->service)
            T_ADD(t, "; it hands the socket to %s", doctor_server_title(id->service));
    } else if (id->version[0]) {
        T_ADD(t, " %s", id->version);
    }
    describe_config(id, t);
    if (id->found_by == UDS_SERVER_BY_PATH && id->kind == UDS_SERVER_UDSKIT)
        T_ADD(t, " (known by the lock file its listener left: no process can be seen "
              "holding the socket)");
    else if (id->found_by == UDS_SERVER_BY_PATH)
        T_ADD(t, " (known by its name: no process can be seen holding it)");
    else if (id->found_by == UDS_SERVER_BY_CONFIG)
        T_ADD(t, " (known by the configuration of %s pid %d, which is running)",
              id->program[0] ? id->program : doctor_server_title(id->kind), (int) id->pid);
    T_ADD(t, ".");
}

void doctor_note_server(struct doctor *d, const struct uds_sockinfo *s) {
    const struct uds_server_ident *id = doctor_ident(d, s);
    struct text t = { .o = 0 };

    if (id->kind == UDS_SERVER_UNKNOWN || doctor_has_finding(d, "server"))
        return;
    describe_server(id, &t);
    doctor_add(d, "server", SEV_INFO, 0, NULL, "%s", t.s);
}

/* A group the subject is in, to suggest: its primary group. */
static void subject_group(const struct doctor *d, char *buf, size_t size) {
    cli_group_name(d->who.gid, buf, size);
}

static void access_php_fpm(const struct doctor *d, const struct uds_server_ident *id,
                           struct text *t) {
    static const char *const keys[] = { "listen.owner", "listen.group", "listen.mode",
                                        "listen.acl_users", "listen.acl_groups", NULL };
    char group[256], restart[64] = "systemctl restart php-fpm";
    struct text now = { .o = 0 };

    subject_group(d, group, sizeof(group));
    if (id->version[0])
        snprintf(restart, sizeof(restart), "systemctl restart php%s-fpm", id->version);
    settings_text(id, keys, &now);
    if (id->config[0])
        T_ADD(t, "php-fpm sets this socket's owner, group and mode from listen.owner, "
              "listen.group and listen.mode in pool [%s] of %s (%s%s). ", id->pool, id->config,
              now.o ? "now " : "none is set there, so the pool's user and group and mode "
              "0660 apply", now.s);
    else
        T_ADD(t, "php-fpm sets this socket's owner, group and mode from listen.owner, "
              "listen.group and listen.mode in the pool whose listen = names it. ");
    T_ADD(t, "Set listen.group = %s (a group %s %s in) and listen.mode = 0660 there, or "
          "listen.owner = %s, then restart php-fpm (%s). If "
          "listen.acl_users or listen.acl_groups is set, it replaces owner and group: add "
          "%s there instead.", group, doctor_you(d), doctor_are(d), d->who.name, restart,
          d->who.name);
}

static void access_postgres(const struct doctor *d, const struct uds_server_ident *id,
                            struct text *t) {
    static const char *const keys[] = { "unix_socket_group", "unix_socket_permissions", NULL };
    struct text now = { .o = 0 };
    char group[256];

    subject_group(d, group, sizeof(group));
    settings_text(id, keys, &now);
    T_ADD(t, "PostgreSQL sets this socket's group and mode from unix_socket_group and "
          "unix_socket_permissions in %s (", id->config[0] ? id->config : "its postgresql.conf");
    if (now.o)
        T_ADD(t, "now %s; ", now.s);
    else if (id->config[0])
        T_ADD(t, "neither is set; ");
    T_ADD(t, "the defaults are the server's own group and 0777). Set unix_socket_group = '%s' "
          "(a group %s %s in) with unix_socket_permissions = 0770, or "
          "unix_socket_permissions = 0777 to leave it to pg_hba.conf who may log in; then "
          "restart PostgreSQL (systemctl restart postgresql", group, doctor_you(d), doctor_are(d));
    if (id->data_dir[0])
        T_ADD(t, ", or pg_ctl restart -D %s", id->data_dir);
    T_ADD(t, ").");
}

static void access_redis(const struct doctor *d, const struct uds_server_ident *id,
                         const char *sock_group, struct text *t) {
    static const char *const keys[] = { "unixsocketperm", "unixsocketgroup", NULL };
    struct text now = { .o = 0 };

    settings_text(id, keys, &now);
    T_ADD(t, "redis sets this socket's mode from unixsocketperm in %s",
          id->config_line ? id->config : "its redis.conf");
    if (id->config_line)
        T_ADD(t, " (%s%s)", now.o ? "now " : "not set there, so 0 (the umask decides)", now.s);
    T_ADD(t, "; its group is redis-server's own, %s. Set unixsocketperm 770 and add %s to "
          "group %s (usermod -aG %s %s, then a new login), or unixsocketperm 777; then "
          "restart redis-server.", sock_group, d->who.name, sock_group, sock_group,
          d->who.name);
}

static void access_docker(const struct doctor *d, const struct uds_server_ident *id,
                          const char *sock_group, struct text *t) {
    static const char *const keys[] = { "group", "--group", NULL };
    struct text now = { .o = 0 };

    settings_text(id, keys, &now);
    T_ADD(t, "dockerd gives its socket the group docker unless its -G/--group option or "
          "\"group\" in %s says otherwise (%s%s), and mode 0660. Add %s to group %s: "
          "usermod -aG %s %s, then log in again. Mind that this group is worth root: "
          "whoever may use the docker socket controls this host.",
          doctor_config_file(id), now.o ? "now " : "not set", now.s, d->who.name, sock_group,
          sock_group, d->who.name);
}

static void access_systemd(const struct doctor *d, const struct uds_server_ident *id,
                           struct text *t) {
    static const char *const keys[] = { "SocketMode", "SocketUser", "SocketGroup", NULL };
    struct text now = { .o = 0 };
    char group[256];

    subject_group(d, group, sizeof(group));
    settings_text(id, keys, &now);
    if (!id->socket_unit[0]) {
        T_ADD(t, "This socket was made by systemd-socket-activate (or a service manager) "
              "with no .socket unit found for it; systemd-socket-activate has no option for "
              "the mode, so the socket has what its umask gave. In a .socket unit, "
              "SocketGroup=%s and SocketMode=0660 in [Socket] let %s in.", group,
              d->who.name);
        return;
    }
    T_ADD(t, "systemd makes this socket for %s (%s) with SocketMode= (default 0666), "
          "SocketUser= and SocketGroup= of its [Socket] section (%s%s). Set SocketGroup=%s "
          "(a group %s %s in) and SocketMode=0660 there (systemctl edit %s), then "
          "systemctl daemon-reload and systemctl restart %s.", id->socket_unit,
          id->socket_unit_file, now.o ? "now " : "none is set", now.s, group, doctor_you(d),
          doctor_are(d), id->socket_unit, id->socket_unit);
}

/* What to do when the socket's mode shuts the subject out, in the server's own terms. */
void doctor_access_advice(struct doctor *d, const struct uds_sockinfo *s,
                          const struct uds_file *sock, struct text *t) {
    const struct uds_server_ident *id = doctor_ident(d, s);
    char group[256], owner[256];

    cli_group_name(sock->gid, group, sizeof(group));
    cli_user_name(sock->uid, owner, sizeof(owner));
    if (id->kind == UDS_SERVER_SYSTEMD && id->socket_unit[0]) {
        access_systemd(d, id, t);
        return;
    }
    switch (doctor_served_by(id)) {
    case UDS_SERVER_PHP_FPM: access_php_fpm(d, id, t); return;
    case UDS_SERVER_POSTGRESQL: access_postgres(d, id, t); return;
    case UDS_SERVER_REDIS: access_redis(d, id, group, t); return;
    case UDS_SERVER_DOCKERD: access_docker(d, id, group, t); return;
    case UDS_SERVER_SYSTEMD: access_systemd(d, id, t); return;
    case UDS_SERVER_UDSKIT:
        T_ADD(t, "Ask for access: the server can give its socket a group %s %s in and mode "
              "0660 (uds serve --group %s --mode 0660, and add %s to %s), or mode 0666 for "
              "everyone; or run as the socket's owner or root.", doctor_you(d), doctor_are(d),
              sock->gid == 0 ? "GROUP" : group, d->who.as ? d->who.name : "yourself",
              sock->gid == 0 ? "GROUP" : group);
        return;
    default:
        T_ADD(t, "Ask for access: the server's own configuration decides its socket's owner, "
              "group and mode. Have it give the socket a group %s %s in and mode 0660 (or "
              "0666 for everyone), or run as the socket's owner (%s) or root.", doctor_you(d),
              doctor_are(d), owner);
        return;
    }
}
