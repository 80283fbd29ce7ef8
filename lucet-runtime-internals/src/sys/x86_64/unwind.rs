//! The entry and exit of a throw, in assembly.
//!
//! Generated code calls `lucet_builtin_throw(vmctx, tag, values)` and
//! `lucet_builtin_throw_ref(vmctx, exnref)` (with Cranelift's `tail`
//! convention, whose argument registers are System V's). Each stub:
//!
//! 1. pushes the callee-saved registers, so that every word of guest state
//!    that can hold a reference is in memory (the exception collector scans
//!    the stack from there);
//! 2. records the thrower's frame pointer and return address, and that
//!    stack pointer, in an `UnwindState` (`sys/unwind.rs`) on its stack;
//! 3. calls the runtime's `throw`/`throw_ref` (Rust), which finds the
//!    handler and fills in where to resume, or ends the run itself when no
//!    guest frame catches;
//! 4. loads the handler's frame pointer, payload registers (`rax`, `rdx`,
//!    Cranelift's exception payload registers for the `tail` convention)
//!    and stack pointer, and jumps to it.
//!
//! No Rust frame is jumped over: the Rust function returns normally before
//! the stub leaves for the handler. The handler's code treats every other
//! register as clobbered.

use std::arch::global_asm;

use crate::instance::exceptions::{throw_entry, throw_ref_entry};

global_asm!(
    ".text",
    ".globl lucet_builtin_throw",
    ".type lucet_builtin_throw,@function",
    ".p2align 4",
    "lucet_builtin_throw:",
    // Entry: rsp = 8 mod 16. Five pushes and 48 bytes: 0 mod 16 at the call.
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 48",
    "mov [rsp], rbp",
    "mov rax, [rsp + 88]",
    "mov [rsp + 8], rax",
    "lea rax, [rsp + 48]",
    "mov [rsp + 16], rax",
    "mov rcx, rsp",
    "call {throw}",
    "jmp 2f",
    ".size lucet_builtin_throw, .-lucet_builtin_throw",
    "",
    ".globl lucet_builtin_throw_ref",
    ".type lucet_builtin_throw_ref,@function",
    ".p2align 4",
    "lucet_builtin_throw_ref:",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 48",
    "mov [rsp], rbp",
    "mov rax, [rsp + 88]",
    "mov [rsp + 8], rax",
    "lea rax, [rsp + 48]",
    "mov [rsp + 16], rax",
    "mov rdx, rsp",
    "call {throw_ref}",
    // Both stubs resume here, with the state filled in.
    "2:",
    "mov rbp, [rsp]",
    "mov rcx, [rsp + 8]",
    "mov rax, [rsp + 24]",
    "mov rdx, [rsp + 32]",
    "mov rsp, [rsp + 16]",
    "jmp rcx",
    ".size lucet_builtin_throw_ref, .-lucet_builtin_throw_ref",
    throw = sym throw_entry,
    throw_ref = sym throw_ref_entry,
);
