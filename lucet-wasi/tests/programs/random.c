/*
 * random.c -- checks random_get.
 *
 * Fills two 64-byte buffers with getentropy() (one random_get call each) and
 * a third with arc4random_buf(); checks that the two getentropy buffers
 * differ and that no buffer is all zero. Prints "random ok" and exits 0, or
 * prints what failed to stderr and exits 1.
 *
 * Run: guest argv = random. No env, no preopens, no stdin needed.
 * Expected: stdout "random ok\n" (random.stdout.expected), empty stderr, exit 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int main(void) {
    unsigned char a[64], b[64], c[64];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    memset(c, 0, sizeof c);
    if (getentropy(a, sizeof a) != 0 || getentropy(b, sizeof b) != 0) {
        fprintf(stderr, "random: getentropy failed: %s\n", strerror(errno));
        return 1;
    }
    arc4random_buf(c, sizeof c);
    if (all_zero(a, sizeof a) || all_zero(b, sizeof b) || all_zero(c, sizeof c)) {
        fprintf(stderr, "random: a buffer is all zero\n");
        return 1;
    }
    if (memcmp(a, b, sizeof a) == 0) {
        fprintf(stderr, "random: two getentropy buffers are identical\n");
        return 1;
    }
    puts("random ok");
    return 0;
}
