/*
 * exit_code.c -- checks proc_exit and that stdout is flushed on exit().
 *
 * Prints "exiting with N" to stdout and calls exit(N), where N is argv[1]
 * parsed as a decimal integer. exit() flushes stdio and then calls
 * proc_exit(N) -- also for N = 0, unlike returning 0 from main.
 * Without a valid argument it prints a usage line to stderr and exits 2.
 *
 * Run: guest argv = exit_code 7   (any N in 0..125 is portable)
 *      No env, no preopens, no stdin needed.
 * Expected: stdout "exiting with 7\n" (exit_code.stdout.expected),
 *           empty stderr, host exit status 7. With N=0: "exiting with 0\n", 0.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    char *end;
    long n;
    if (argc != 2 || argv[1][0] == '\0' ||
        (n = strtol(argv[1], &end, 10), *end != '\0')) {
        fprintf(stderr, "usage: exit_code N\n");
        return 2;
    }
    printf("exiting with %ld\n", n);
    exit((int)n);
}
