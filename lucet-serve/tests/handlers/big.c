/*
 * big.c -- WAGI handler with a large body.
 *
 * Reads stdin to EOF (and ignores it), then prints
 * "Content-Type: application/octet-stream" and a blank line, then a body of
 * N bytes, byte i being 'a' + i % 26. N comes from "bytes=N" in QUERY_STRING
 * (one of its '&'-separated parameters), 1048576 (1 MiB) by default or when
 * N is not a decimal number. The body is written in 64 KiB chunks; a failed
 * write (e.g. the client went away) exits with status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (64 * 1024)

static unsigned long long body_size(void) {
    unsigned long long n = 1048576;
    const char *q = getenv("QUERY_STRING");
    if (!q)
        return n;
    for (const char *p = q; *p;) {
        size_t plen = strcspn(p, "&");
        if (plen > 6 && strncmp(p, "bytes=", 6) == 0) {
            char *end;
            unsigned long long v = strtoull(p + 6, &end, 10);
            if (end == p + plen && p[6] >= '0' && p[6] <= '9')
                n = v;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return n;
}

int main(void) {
    static char buf[CHUNK + 26];

    while (fread(buf, 1, sizeof buf, stdin) > 0)
        ;
    if (ferror(stdin)) {
        perror("big: reading stdin");
        exit(1);
    }

    unsigned long long n = body_size();

    if (fputs("Content-Type: application/octet-stream\n\n", stdout) == EOF)
        exit(1);

    /* buf[j] = 'a' + j % 26; a chunk starting at body offset off begins at
     * buf[off % 26], so every chunk is a contiguous slice of buf. */
    for (size_t j = 0; j < sizeof buf; j++)
        buf[j] = (char)('a' + j % 26);

    for (unsigned long long off = 0; off < n;) {
        size_t len = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
        if (fwrite(buf + off % 26, 1, len, stdout) != len) {
            perror("big: writing stdout");
            exit(1);
        }
        off += len;
    }
    if (fflush(stdout) != 0) {
        perror("big: writing stdout");
        exit(1);
    }
    return 0;
}
