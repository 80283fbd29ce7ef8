//! The entry and exit of a throw, in assembly.
//!
//! Generated code calls `lucet_builtin_throw(vmctx, tag, values)` and
//! `lucet_builtin_throw_ref(vmctx, exnref)` with Cranelift's `tail`
//! convention, which on aarch64 passes arguments from x2 up (x0 and x1 are
//! reserved); the stubs move them to AAPCS64's x0 up for Rust. Each stub:
//!
//! 1. stores the callee-saved registers x19–x28 on the stack, so that every
//!    word of guest state that can hold a reference is in memory (the
//!    exception collector scans the stack from there; d8–d15 hold no
//!    references);
//! 2. records the thrower's frame pointer (x29) and return address (x30),
//!    and the address of those saved registers, in an `UnwindState` (`sys/unwind.rs`) on its
//!    stack;
//! 3. calls the runtime's `throw`/`throw_ref` (Rust), which finds the
//!    handler and fills in where to resume, or ends the run itself when no
//!    guest frame catches;
//! 4. loads the handler's frame pointer, payload registers (x0, x1,
//!    Cranelift's exception payload registers for the `tail` convention)
//!    and stack pointer, and branches to it.
//!
//! No Rust frame is jumped over: the Rust function returns normally before
//! the stub leaves for the handler. The handler's code treats every other
//! register as clobbered.

use std::arch::global_asm;

use crate::instance::exceptions::{throw_entry, throw_ref_entry};

// The stub's frame, 128 bytes (sp stays 16-byte aligned): the state at
// [sp, #0..40], the saved x19..x28 at [sp, #48..128].
global_asm!(
    ".text",
    ".globl lucet_builtin_throw",
    ".type lucet_builtin_throw,%function",
    ".p2align 4",
    "lucet_builtin_throw:",
    "sub sp, sp, #128",
    "stp x19, x20, [sp, #48]",
    "stp x21, x22, [sp, #64]",
    "stp x23, x24, [sp, #80]",
    "stp x25, x26, [sp, #96]",
    "stp x27, x28, [sp, #112]",
    "stp x29, x30, [sp, #0]",
    "add x9, sp, #48",
    "str x9, [sp, #16]",
    "mov x0, x2",
    "mov x1, x3",
    "mov x2, x4",
    "mov x3, sp",
    "bl {throw}",
    "b 2f",
    ".size lucet_builtin_throw, .-lucet_builtin_throw",
    "",
    ".globl lucet_builtin_throw_ref",
    ".type lucet_builtin_throw_ref,%function",
    ".p2align 4",
    "lucet_builtin_throw_ref:",
    "sub sp, sp, #128",
    "stp x19, x20, [sp, #48]",
    "stp x21, x22, [sp, #64]",
    "stp x23, x24, [sp, #80]",
    "stp x25, x26, [sp, #96]",
    "stp x27, x28, [sp, #112]",
    "stp x29, x30, [sp, #0]",
    "add x9, sp, #48",
    "str x9, [sp, #16]",
    "mov x0, x2",
    "mov x1, x3",
    "mov x2, sp",
    "bl {throw_ref}",
    // Both stubs resume here, with the state filled in.
    "2:",
    "ldp x29, x9, [sp, #0]",
    "ldp x0, x1, [sp, #24]",
    "ldr x10, [sp, #16]",
    "mov sp, x10",
    "br x9",
    ".size lucet_builtin_throw_ref, .-lucet_builtin_throw_ref",
    throw = sym throw_entry,
    throw_ref = sym throw_ref_entry,
);
