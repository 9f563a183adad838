/* SPDX-License-Identifier: MIT */
/*
 * uv_echo.c — the libuv peer: an echo server on a Unix socket (uv_pipe_t), written the way
 * libuv's own benchmark echo server is (test/echo-server.c: a buffer allocated per read, a
 * uv_write request per read, freed in its callback), or with --try-write the way a
 * performance-minded libuv user would write it (one static read buffer, uv_try_write first,
 * a copy only of what the socket did not take).
 *
 *   uv_echo PATH [--try-write]
 *
 * Prints "listening" on stdout once ready; SIGTERM/SIGINT stop it and remove PATH.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#define READ_SIZE (64 * 1024)

struct wreq {
    uv_write_t req;
    uv_buf_t buf;
};

static uv_loop_t *loop;
static uv_pipe_t server;
static uv_signal_t sig_term, sig_int;
static int try_write;
static char static_buf[READ_SIZE];

static void on_close(uv_handle_t *h) {
    free(h);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void) h;
    if (try_write) {
        *buf = uv_buf_init(static_buf, sizeof(static_buf));
        return;
    }
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_written(uv_write_t *req, int status) {
    struct wreq *w = (struct wreq *) req;

    (void) status;
    free(w->buf.base);
    free(w);
}

/* Queue len bytes at p (owned: freed by on_written). */
static void queue_write(uv_stream_t *s, char *p, size_t len) {
    struct wreq *w = malloc(sizeof(*w));

    if (!w) {
        free(p);
        uv_close((uv_handle_t *) s, on_close);
        return;
    }
    w->buf = uv_buf_init(p, (unsigned) len);
    if (uv_write(&w->req, s, &w->buf, 1, on_written) != 0) {
        free(p);
        free(w);
        uv_close((uv_handle_t *) s, on_close);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    if (nread <= 0) {
        if (!try_write)
            free(buf->base);
        if (nread < 0)
            uv_close((uv_handle_t *) s, on_close);
        return;
    }
    if (!try_write) {
        queue_write(s, buf->base, (size_t) nread);
        return;
    }
    uv_buf_t b = uv_buf_init(buf->base, (unsigned) nread);
    int n = uv_try_write(s, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0) {
        uv_close((uv_handle_t *) s, on_close);
        return;
    }
    if (n < nread) {
        size_t rest = (size_t) (nread - n);
        char *copy = malloc(rest);
        if (!copy) {
            uv_close((uv_handle_t *) s, on_close);
            return;
        }
        memcpy(copy, buf->base + n, rest);
        queue_write(s, copy, rest);
    }
}

static void on_connection(uv_stream_t *srv, int status) {
    if (status < 0)
        return;
    uv_pipe_t *client = malloc(sizeof(*client));
    if (!client)
        return;
    uv_pipe_init(loop, client, 0);
    if (uv_accept(srv, (uv_stream_t *) client) != 0) {
        uv_close((uv_handle_t *) client, on_close);
        return;
    }
    uv_read_start((uv_stream_t *) client, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum) {
    (void) h, (void) signum;
    uv_stop(loop);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--try-write") != 0)) {
        fprintf(stderr, "usage: uv_echo PATH [--try-write]\n");
        return 64;
    }
    try_write = argc == 3;
    signal(SIGPIPE, SIG_IGN);   /* libuv writes with write(): a gone client must be EPIPE */
    loop = uv_default_loop();
    unlink(argv[1]);
    uv_pipe_init(loop, &server, 0);
    int r = uv_pipe_bind(&server, argv[1]);
    if (r == 0)
        r = uv_listen((uv_stream_t *) &server, SOMAXCONN, on_connection);
    if (r != 0) {
        fprintf(stderr, "uv_echo: %s: %s\n", argv[1], uv_strerror(r));
        return 1;
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    printf("listening\n");
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    unlink(argv[1]);
    return 0;
}
