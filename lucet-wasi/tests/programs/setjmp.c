/*
 * setjmp/longjmp as C programs use them for error handling (the Lua
 * interpreter's protected calls work this way): jumps out of deep
 * recursion, nested protected calls that rethrow outwards, jumps out of
 * loops, longjmp(env, 0) arriving as 1, locals that survive the jump, and
 * a hundred thousand jumps in a row (each is an exception object the
 * runtime must free again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sjlj/sjlj.h"

static jmp_buf *handler;

static _Noreturn void raise_error(int code) {
    longjmp(*handler, code);
}

/* Runs f(arg) with its own error handler, restoring the outer one. */
static int protected_call(int (*f)(int), int arg, int *result) {
    jmp_buf here;
    jmp_buf *outer = handler;
    handler = &here;
    int code = setjmp(here);
    if (code == 0) {
        *result = f(arg);
    }
    handler = outer;
    return code;
}

static int depth_reached;

static int recurse(int n) {
    volatile char frame[64];
    memset((char *)frame, n & 0xff, sizeof frame);
    depth_reached = n;
    if (n == 0)
        raise_error(42);
    return recurse(n - 1) + frame[0];
}

static int fails_if_odd(int n) {
    if (n % 2)
        raise_error(n);
    return n * 10;
}

/* A protected call inside a protected call; the inner error is rethrown
 * with a new code to the outer handler. */
static int inner_rethrows(int n) {
    int r;
    int code = protected_call(fails_if_odd, n, &r);
    if (code != 0)
        raise_error(1000 + code);
    return r;
}

static int zero_code(int n) {
    (void)n;
    longjmp(*handler, 0);
}

int main(void) {
    int r = 0;

    int code = protected_call(recurse, 200, &r);
    printf("deep: code %d after reaching depth %d\n", code, depth_reached);

    code = protected_call(fails_if_odd, 4, &r);
    printf("no error: code %d, result %d\n", code, r);

    for (int n = 6; n <= 7; n++) {
        code = protected_call(inner_rethrows, n, &r);
        if (code == 0)
            printf("nested %d: result %d\n", n, r);
        else
            printf("nested %d: code %d\n", n, code);
    }

    code = protected_call(zero_code, 0, &r);
    printf("longjmp with 0 arrives as %d\n", code);

    /* A local changed between setjmp and longjmp keeps its new value when
     * it is volatile. */
    jmp_buf env;
    volatile int iterations = 0;
    if (setjmp(env) < 5) {
        iterations++;
        longjmp(env, iterations);
    }
    printf("loop by longjmp: %d iterations\n", iterations);

    long long sum = 0;
    for (int i = 0; i < 100000; i++) {
        code = protected_call(fails_if_odd, 2 * i + 1, &r);
        sum += code;
    }
    printf("100000 jumps: sum of codes %lld\n", sum);
    return 0;
}
