/*
 * setjmp/longjmp for wasm32 on the exception-handling proposal, as LLVM
 * lowers them with `-wasm-enable-sjlj`: calls to setjmp become
 * __wasm_setjmp (record where to come back), functions that call setjmp
 * catch the `__c_longjmp` tag around their calls and ask __wasm_setjmp_test
 * whether the jump is theirs, and longjmp becomes __wasm_longjmp, which
 * throws. Current wasi-libc ships this runtime and <setjmp.h>; the one
 * Debian packages predates them, so the programs here bring their own
 * (this header, and rt.c, which build.sh links in).
 */
#ifndef SJLJ_H
#define SJLJ_H

#include <stddef.h>
#include <stdint.h>

struct sjlj_arg {
    void *env;
    int val;
};

typedef struct {
    void *func_invocation_id;
    uint32_t label;
    struct sjlj_arg arg;
} jmp_buf[1];

int setjmp(jmp_buf env) __attribute__((returns_twice));
_Noreturn void longjmp(jmp_buf env, int val);

#endif
