/* SPDX-License-Identifier: MIT */
/*
 * dgram_drops.c — what a datagram relay's sender is, and why one of its datagrams was
 * dropped, said in a log line with what to do about it. A server that is down drops every
 * datagram, so one line a second at most says it all, with the count of the others.
 * `uds proxy --type dgram` and `uds tap` in front of a datagram server speak from here.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "dgram_drops.h"

void dgram_describe_sender(const struct uds_dgram_relay_event *ev, char *buf, size_t size) {
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = ev->sender_len > off ? ev->sender_len - off : 0;
    const char *path = ev->sender->sun_path;
    char where[sizeof(ev->sender->sun_path) + 2];

    if (n == 0)
        snprintf(where, sizeof(where), "an unbound socket");
    else if (path[0] == '\0')
        snprintf(where, sizeof(where), "@%.*s", (int) (n - 1), path + 1);
    else
        snprintf(where, sizeof(where), "%.*s", (int) strnlen(path, n), path);
    snprintf(buf, size, "%s (pid %ld uid %lu gid %lu)", where, (long) ev->cred->pid,
             (unsigned long) ev->cred->uid, (unsigned long) ev->cred->gid);
}

/* Why a sender's datagram was dropped, and what to do about it. */
static void describe_drop(const struct dgram_drops *d, const struct uds_dgram_relay_event *ev,
                          char *buf, size_t size) {
    const char *t = d->target_text;
    char idle[32];

    cli_format_duration(d->idle_ms > 0 ? d->idle_ms : 30000, idle, sizeof(idle));
    switch (ev->error) {
    case ENOENT:
        snprintf(buf, size, "%s: no such socket; is the server running?", t);
        break;
    case ECONNREFUSED:
        snprintf(buf, size, "%s: nothing is bound there (stale socket file); start the server",
                 t);
        break;
    case EAGAIN:
        snprintf(buf, size, "%s: its queue is full; is the server keeping up?", t);
        break;
    case ESHUTDOWN:
        snprintf(buf, size, "%s had no room for it yet when %s stopped", t, d->who_relays);
        break;
    case EACCES:
    case EPERM:
        if (d->allow && uds_allow_is_set(d->allow) && !uds_peer_allowed(ev->cred, d->allow))
            snprintf(buf, size, "not allowed here (--allow-uid/--allow-gid)");
        else
            snprintf(buf, size, "%s: permission denied; give %s's user (uid %lu) write "
                     "access", t, d->who_relays, (unsigned long) geteuid());
        break;
    case EUSERS:
        if (d->max_option)
            snprintf(buf, size, "%ld senders already (%s); raise it, or lower "
                     "--idle-timeout", d->max_senders, d->max_option);
        else
            snprintf(buf, size, "%ld senders already; a sender quiet for %s is forgotten",
                     d->max_senders, idle);
        break;
    case EDQUOT:
        snprintf(buf, size, "uid %lu has %zu senders remembered already, its share (%s%s%zu); "
                 "a sender quiet for %s is forgotten", (unsigned long) ev->cred->uid,
                 d->per_uid, d->per_uid_option ? d->per_uid_option : "",
                 d->per_uid_option ? " " : "", d->per_uid, idle);
        break;
    default:
        snprintf(buf, size, "%s: %s", t, strerror(ev->error));
        break;
    }
}

/* Why an answer from the server was not passed back to its sender. */
static void describe_answer_drop(const struct uds_dgram_relay_event *ev, char *buf,
                                 size_t size) {
    switch (ev->error) {
    case EDESTADDRREQ:
        snprintf(buf, size, "the sender is not bound to an address: nowhere to answer (bind "
                 "it, e.g. to an abstract name)");
        break;
    case ECONNREFUSED:
    case ENOENT:
        snprintf(buf, size, "the sender has gone");
        break;
    case EAGAIN:
        snprintf(buf, size, "the sender's queue is full: it does not read its answers");
        break;
    case ELOOP:
    case EPERM:
    case ENOTSOCK:
        snprintf(buf, size, "its address no longer names its own socket; answers go only "
                 "there");
        break;
    default:
        snprintf(buf, size, "%s", strerror(ev->error));
        break;
    }
}

void dgram_drops_log(struct dgram_drops *d, const struct uds_dgram_relay_event *ev) {
    uint64_t now = cli_now_ms();
    char who[256], why[UDS_PATH_MAX + 200], more[64] = "";

    if (d->logged_ms && now - d->logged_ms < 1000) {
        d->unlogged++;
        return;
    }
    if (d->unlogged)
        snprintf(more, sizeof(more), " (and %u more since the last report)", d->unlogged);
    d->logged_ms = now;
    d->unlogged = 0;
    dgram_describe_sender(ev, who, sizeof(who));
    if (ev->from_server)
        describe_answer_drop(ev, why, sizeof(why));
    else
        describe_drop(d, ev, why, sizeof(why));
    struct cli_kv kv[] = {
        CLI_KV_STR("sender", who),
        CLI_KV_STR("reason", strerror(ev->error)),
    };
    cli_log(CLI_LOG_WARN, ev->from_server ? "answer_dropped" : "dropped", d->listen_text, kv,
            2, "%s: %s %s%s dropped: %s", d->listen_text,
            ev->from_server ? "an answer to" : "a datagram from", who, more, why);
}
