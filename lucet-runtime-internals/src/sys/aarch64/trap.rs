//! The entry of the `Trap` builtin, in assembly.
//!
//! Generated code calls `lucet_builtin_trap(code)` (AAPCS64) where it
//! would otherwise execute a faulting instruction. The stub passes the
//! call's return address (in the link register) as a second argument and
//! branches to the runtime's `trap_entry`, which attributes the trap to the
//! instruction at that address and switches to the host. The branch keeps
//! the stack as the call left it (16-byte aligned, as at any call).

use std::arch::global_asm;

use crate::instance::trap_entry;

global_asm!(
    ".text",
    ".globl lucet_builtin_trap",
    ".type lucet_builtin_trap,%function",
    ".p2align 4",
    "lucet_builtin_trap:",
    "mov x1, x30",
    "b {entry}",
    ".size lucet_builtin_trap, .-lucet_builtin_trap",
    entry = sym trap_entry,
);
