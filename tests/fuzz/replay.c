/* SPDX-License-Identifier: MIT */
/*
 * replay.c — a plain main() that feeds each file named on the command line to a fuzz
 * target's LLVMFuzzerTestOneInput, so `make check` replays every corpus with gcc (and the
 * sanitizers, under SANITIZE=1) without libFuzzer. Prints one TAP line per file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f) || !buf;
    fclose(f);
    if (failed) {
        free(buf);
        fprintf(stderr, "%s: cannot read\n", path);
        return -1;
    }
    /* Copy into an exact-size allocation so ASan catches reads past the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        exact[i] = buf[i];
    free(buf);
    (void) LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    int failures = 0;

    printf("1..%d\n", argc - 1);
    for (int i = 1; i < argc; i++) {
        int r = replay_file(argv[i]);
        printf("%sok %d - %s\n", r == 0 ? "" : "not ", i, argv[i]);
        failures += r != 0;
    }
    return failures ? 1 : 0;
}
