/*
 * args.c -- checks args_sizes_get / args_get.
 *
 * Prints "argc=N", then one line "argv[i]=[VALUE]" per argument, argv[0]
 * included. The brackets make empty arguments and surrounding spaces visible.
 *
 * Run: guest argv = args hello "two words" "" --flag=1 ünï
 *      (argv[0] as the runner passes it; the expected file assumes "args").
 *      No env, no preopens, no stdin needed.
 * Expected: args.stdout.expected, empty stderr, exit 0.
 */
#include <stdio.h>

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=[%s]\n", i, argv[i]);
    return 0;
}
