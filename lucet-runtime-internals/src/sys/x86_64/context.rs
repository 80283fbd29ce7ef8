//! The context switch between the host and guest code, in assembly, and
//! signal-context access (the rest is `sys/context.rs`).
//!
//! A [`Context`] is just a saved stack pointer: everything else a suspended
//! side needs (its callee-saved registers and the address to continue at) is
//! on its own stack. Three routines:
//!
//! - `lucet_context_swap(from, to)`: pushes the callee-saved registers
//!   (rbp, rbx, r12–r15), saves `rsp` into `from`, loads `rsp` from `to`,
//!   pops the same registers and returns into the other side.
//! - `lucet_context_set(to)`: the second half only, for leaving a context
//!   that will never be resumed (a trap, a termination, a normal return).
//! - `lucet_context_bootstrap`: the first code a fresh guest stack runs. It
//!   makes an array call `entry(vmctx, data, values, len)` with arguments
//!   parked in callee-saved registers by [`init_guest_stack`], then switches
//!   to the host context whose address it finds in `rbp`.
//!
//! Invariants: every routine keeps the System V stack alignment (rsp is
//! 16-byte aligned at each `call`); a context's saved stack holds exactly
//! six registers and a return address above its saved `rsp`.

use std::arch::global_asm;

use crate::sys::context::{ArrayCall, Context};

global_asm!(
    ".text",
    ".globl lucet_context_swap",
    ".type lucet_context_swap,@function",
    ".p2align 4",
    "lucet_context_swap:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov [rdi], rsp",
    "mov rsp, [rsi]",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size lucet_context_swap, .-lucet_context_swap",
    "",
    ".globl lucet_context_set",
    ".type lucet_context_set,@function",
    ".p2align 4",
    "lucet_context_set:",
    "mov rsp, [rdi]",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size lucet_context_set, .-lucet_context_set",
    "",
    ".globl lucet_context_bootstrap",
    ".type lucet_context_bootstrap,@function",
    ".p2align 4",
    "lucet_context_bootstrap:",
    "mov rdi, r13",
    "mov rsi, r14",
    "mov rdx, r15",
    "mov rcx, rbx",
    "call r12",
    "mov rdi, rbp",
    "jmp lucet_context_set",
    ".size lucet_context_bootstrap, .-lucet_context_bootstrap",
);

extern "C" {
    fn lucet_context_bootstrap();
}

/// Prepares a fresh guest stack so that switching to `ctx` makes `call` on
/// it and, when that returns, switches to `host`.
///
/// # Safety
/// `stack_top` must be the 16-byte-aligned top of a writable stack of at
/// least 128 bytes that nothing else uses; `host` must stay valid until the
/// guest finishes.
pub unsafe fn init_guest_stack(
    ctx: &mut Context,
    stack_top: *mut u8,
    call: ArrayCall,
    host: *const Context,
) {
    let ArrayCall {
        entry,
        vmctx,
        data,
        values,
        len,
    } = call;
    debug_assert_eq!(stack_top as usize % 16, 0);
    // Seven words popped by `lucet_context_set`/`swap` (r15, r14, r13, r12,
    // rbx, rbp, return address), then two zero words: after the `ret` into
    // the bootstrap, rsp is 16-byte aligned for its `call`.
    let words: [usize; 9] = [
        values,                                        // r15
        data,                                          // r14
        vmctx,                                         // r13
        entry,                                         // r12
        len,                                           // rbx
        host as usize,                                 // rbp
        lucet_context_bootstrap as *const () as usize, // return address
        0,
        0,
    ];
    let base = stack_top.wrapping_sub(words.len() * 8) as *mut usize;
    // SAFETY: the caller guarantees the top 72 bytes of the stack are ours.
    unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), base, words.len()) };
    ctx.sp = base as usize;
}

/// The program counter saved in a signal's machine context.
///
/// # Safety
/// `uc` must be the `ucontext_t` the kernel passed to a signal handler.
pub unsafe fn ucontext_pc(uc: *const libc::ucontext_t) -> usize {
    // SAFETY: the kernel gives the handler a valid ucontext.
    unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize }
}

/// Makes the interrupted thread continue at `pc` with `arg` as its first
/// argument when the signal handler returns.
///
/// # Safety
/// `uc` must be the `ucontext_t` the kernel passed to a signal handler, and
/// `pc` a routine that does not return to the interrupted code.
pub unsafe fn ucontext_redirect(uc: *mut libc::ucontext_t, pc: usize, arg: usize) {
    // SAFETY: the kernel gives the handler a valid, writable ucontext.
    unsafe {
        (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] = pc as i64;
        (*uc).uc_mcontext.gregs[libc::REG_RDI as usize] = arg as i64;
    }
}
