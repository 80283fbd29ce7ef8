/*
 * stderr.c -- WAGI handler that logs to stderr.
 *
 * Writes two lines to stderr ("line one from the handler",
 * "line two from the handler"), then prints "Content-Type: text/plain",
 * a blank line and "ok". The server should log stderr, not send it.
 */
#include <stdio.h>

int main(void) {
    fputs("line one from the handler\nline two from the handler\n", stderr);
    fflush(stderr);
    fputs("Content-Type: text/plain\n\nok\n", stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
