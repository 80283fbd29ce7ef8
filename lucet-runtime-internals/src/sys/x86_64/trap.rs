//! The entry of the `Trap` builtin, in assembly.
//!
//! Generated code calls `lucet_builtin_trap(code)` (System V) where it
//! would otherwise execute a faulting instruction. The stub adds the call's
//! return address (on top of the stack at entry) as a second argument and jumps to the runtime's `trap_entry`, which attributes the
//! trap to the instruction at that address and switches to the host. The
//! jump keeps the stack as the call left it, so `trap_entry` starts with
//! the alignment of any called function.

use std::arch::global_asm;

use crate::instance::trap_entry;

global_asm!(
    ".text",
    ".globl lucet_builtin_trap",
    ".type lucet_builtin_trap,@function",
    ".p2align 4",
    "lucet_builtin_trap:",
    "mov rsi, [rsp]",
    "jmp {entry}",
    ".size lucet_builtin_trap, .-lucet_builtin_trap",
    entry = sym trap_entry,
);
