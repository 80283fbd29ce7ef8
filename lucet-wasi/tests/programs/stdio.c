/*
 * stdio.c -- checks fd_read on stdin and fd_write on stdout and stderr.
 *
 * Reads all of stdin (in small chunks, so several fd_read calls are made for
 * inputs over 64 bytes), writes it to stdout with ASCII letters uppercased
 * and every other byte unchanged, then writes "done\n" to stderr.
 *
 * Run: guest argv = stdio; stdin = the contents of stdio.stdin.
 *      No env, no preopens.
 * Expected: stdio.stdout.expected on stdout, "done\n" on stderr
 *           (stdio.stderr.expected), exit 0. Empty stdin gives empty stdout.
 */
#include <stdio.h>

int main(void) {
    unsigned char buf[64];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        for (size_t i = 0; i < n; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z')
                buf[i] -= 'a' - 'A';
        if (fwrite(buf, 1, n, stdout) != n) {
            perror("stdio: write stdout");
            return 1;
        }
    }
    if (ferror(stdin)) {
        perror("stdio: read stdin");
        return 1;
    }
    if (fflush(stdout) != 0) {
        perror("stdio: flush stdout");
        return 1;
    }
    fputs("done\n", stderr);
    return 0;
}
