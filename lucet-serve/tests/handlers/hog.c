/*
 * hog.c -- WAGI handler that eats memory until it runs out.
 *
 * mallocs 1 MiB blocks forever, touching every page with memset and keeping
 * every block reachable (a linked list with its head in a volatile global,
 * so the compiler cannot drop the allocations). Writes
 * "hog: allocated N MiB" to stderr every 16 MiB. When malloc returns NULL
 * it calls abort() (a trap). Nothing is ever written to stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (1024 * 1024)

static void *volatile head;

int main(void) {
    for (unsigned long mib = 1;; mib++) {
        void **block = malloc(BLOCK);
        if (!block)
            abort();
        memset(block, (int)(mib & 0xff), BLOCK);
        block[0] = head;
        head = block;
        if (mib % 16 == 0)
            fprintf(stderr, "hog: allocated %lu MiB\n", mib);
    }
}
