/* The setjmp/longjmp runtime that sjlj.h describes. It must be its own
 * translation unit: LLVM declares these functions itself in every unit it
 * lowers setjmp in. */
#include "sjlj.h"

void __wasm_setjmp(void *env, uint32_t label, void *func_invocation_id) {
    jmp_buf *jb = env;
    if (label == 0 || func_invocation_id == NULL)
        __builtin_trap();
    (*jb)->func_invocation_id = func_invocation_id;
    (*jb)->label = label;
}

uint32_t __wasm_setjmp_test(void *env, void *func_invocation_id) {
    jmp_buf *jb = env;
    if ((*jb)->label == 0)
        __builtin_trap();
    return (*jb)->func_invocation_id == func_invocation_id ? (*jb)->label : 0;
}

void __wasm_longjmp(void *env, int val) {
    jmp_buf *jb = env;
    (*jb)->arg.env = env;
    (*jb)->arg.val = val == 0 ? 1 : val;
    __builtin_wasm_throw(1, &(*jb)->arg);
}

/* The tag longjmp throws: one i32, the address of its sjlj_arg. */
__asm__(".globl __c_longjmp\n.tagtype __c_longjmp i32\n__c_longjmp:\n");

