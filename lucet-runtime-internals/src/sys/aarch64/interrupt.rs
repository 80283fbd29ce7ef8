//! The entry of the `Interrupted` builtin, in assembly.
//!
//! Generated code calls it from the cold path of an interrupt
//! check with the `preserve_all` convention: the call clobbers no
//! register, so the hot loop keeps its values in registers across it. The
//! entry saves every register the AAPCS64 convention lets the Rust body
//! clobber (`x0`-`x18`, and all thirty-two vector registers whole: only
//! the low halves of `v8`-`v15` are callee-saved), calls the body, which
//! may yield and come back much later, and restores them.

use std::arch::global_asm;

use crate::builtins::interrupted;

global_asm!(
    ".text",
    ".globl lucet_builtin_interrupted_entry",
    ".type lucet_builtin_interrupted_entry,%function",
    ".p2align 4",
    "lucet_builtin_interrupted_entry:",
    "stp x29, x30, [sp, #-16]!",
    "mov x29, sp",
    // x0-x18 (152 bytes, 160 with padding), then q0-q31 (512 bytes).
    "sub sp, sp, #672",
    "stp x0, x1, [sp, #0]",
    "stp x2, x3, [sp, #16]",
    "stp x4, x5, [sp, #32]",
    "stp x6, x7, [sp, #48]",
    "stp x8, x9, [sp, #64]",
    "stp x10, x11, [sp, #80]",
    "stp x12, x13, [sp, #96]",
    "stp x14, x15, [sp, #112]",
    "stp x16, x17, [sp, #128]",
    "str x18, [sp, #144]",
    "stp q0, q1, [sp, #160]",
    "stp q2, q3, [sp, #192]",
    "stp q4, q5, [sp, #224]",
    "stp q6, q7, [sp, #256]",
    "stp q8, q9, [sp, #288]",
    "stp q10, q11, [sp, #320]",
    "stp q12, q13, [sp, #352]",
    "stp q14, q15, [sp, #384]",
    "stp q16, q17, [sp, #416]",
    "stp q18, q19, [sp, #448]",
    "stp q20, q21, [sp, #480]",
    "stp q22, q23, [sp, #512]",
    "stp q24, q25, [sp, #544]",
    "stp q26, q27, [sp, #576]",
    "stp q28, q29, [sp, #608]",
    "stp q30, q31, [sp, #640]",
    "bl {target}",
    "ldp q0, q1, [sp, #160]",
    "ldp q2, q3, [sp, #192]",
    "ldp q4, q5, [sp, #224]",
    "ldp q6, q7, [sp, #256]",
    "ldp q8, q9, [sp, #288]",
    "ldp q10, q11, [sp, #320]",
    "ldp q12, q13, [sp, #352]",
    "ldp q14, q15, [sp, #384]",
    "ldp q16, q17, [sp, #416]",
    "ldp q18, q19, [sp, #448]",
    "ldp q20, q21, [sp, #480]",
    "ldp q22, q23, [sp, #512]",
    "ldp q24, q25, [sp, #544]",
    "ldp q26, q27, [sp, #576]",
    "ldp q28, q29, [sp, #608]",
    "ldp q30, q31, [sp, #640]",
    "ldr x18, [sp, #144]",
    "ldp x0, x1, [sp, #0]",
    "ldp x2, x3, [sp, #16]",
    "ldp x4, x5, [sp, #32]",
    "ldp x6, x7, [sp, #48]",
    "ldp x8, x9, [sp, #64]",
    "ldp x10, x11, [sp, #80]",
    "ldp x12, x13, [sp, #96]",
    "ldp x14, x15, [sp, #112]",
    "ldp x16, x17, [sp, #128]",
    "add sp, sp, #672",
    "ldp x29, x30, [sp], #16",
    "ret",
    ".size lucet_builtin_interrupted_entry, .-lucet_builtin_interrupted_entry",
    target = sym interrupted,
);
