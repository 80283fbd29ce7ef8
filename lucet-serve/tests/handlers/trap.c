/*
 * trap.c -- WAGI handler that traps after starting its response.
 *
 * Prints "Content-Type: text/plain", a blank line and "partial" (flushed),
 * then executes `unreachable` via __builtin_trap(). The server must turn
 * the trap into an error response (or cut the response off), not crash.
 */
#include <stdio.h>

int main(void) {
    fputs("Content-Type: text/plain\n\npartial", stdout);
    fflush(stdout);
    __builtin_trap();
}
