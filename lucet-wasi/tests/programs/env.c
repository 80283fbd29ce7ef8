/*
 * env.c -- checks environ_sizes_get / environ_get.
 *
 * For every command-line argument NAME, prints "NAME=VALUE" if the variable
 * is set (VALUE may be empty) or "NAME unset" if not. Then prints the total
 * number of environment variables as "count=N".
 *
 * Run: guest argv = env FOO EMPTY EQ MISSING
 *      guest environment = exactly FOO=bar, EMPTY= (empty value), EQ=a=b
 *      (in that order; nothing inherited from the host).
 *      No preopens, no stdin needed.
 * Expected: env.stdout.expected, empty stderr, exit 0.
 */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *v = getenv(argv[i]);
        if (v)
            printf("%s=%s\n", argv[i], v);
        else
            printf("%s unset\n", argv[i]);
    }
    int n = 0;
    if (environ)
        while (environ[n])
            n++;
    printf("count=%d\n", n);
    return 0;
}
