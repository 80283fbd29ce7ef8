//! The context switch between the host and guest code, in assembly, and
//! signal-context access (the rest is `sys/context.rs`).
//!
//! A [`Context`] is just a saved stack pointer: everything else a suspended
//! side needs (its callee-saved registers and the address to continue at) is
//! on its own stack, in a 160-byte frame. Three routines:
//!
//! - `lucet_context_swap(from, to)`: stores the callee-saved registers
//!   (x19–x28, the frame pointer x29, the link register x30 and d8–d15) in
//!   a frame below `sp`, saves `sp` into `from`, loads `sp` from `to`,
//!   restores the same registers from there and returns (to x30) into the
//!   other side.
//! - `lucet_context_set(to)`: the second half only, for leaving a context
//!   that will never be resumed (a trap, a termination, a normal return).
//! - `lucet_context_bootstrap`: the first code a fresh guest stack runs. It
//!   makes an array call `entry(vmctx, data, values, len)` with arguments
//!   parked in callee-saved registers by [`init_guest_stack`], then switches
//!   to the host context whose address it finds in x24.
//!
//! Invariants: `sp` is 16-byte aligned everywhere (AAPCS64 requires it at
//! every access); a context's saved stack holds exactly one 160-byte frame
//! above its saved `sp`: x19..x28, x29, x30, d8..d15, in that order.

use std::arch::global_asm;

use crate::sys::context::{ArrayCall, Context};

global_asm!(
    ".text",
    ".globl lucet_context_swap",
    ".type lucet_context_swap,%function",
    ".p2align 4",
    "lucet_context_swap:",
    "sub sp, sp, #160",
    "stp x19, x20, [sp, #0]",
    "stp x21, x22, [sp, #16]",
    "stp x23, x24, [sp, #32]",
    "stp x25, x26, [sp, #48]",
    "stp x27, x28, [sp, #64]",
    "stp x29, x30, [sp, #80]",
    "stp d8, d9, [sp, #96]",
    "stp d10, d11, [sp, #112]",
    "stp d12, d13, [sp, #128]",
    "stp d14, d15, [sp, #144]",
    "mov x9, sp",
    "str x9, [x0]",
    "mov x0, x1",
    // Falls through into `lucet_context_set(to)`.
    ".globl lucet_context_set",
    ".type lucet_context_set,%function",
    "lucet_context_set:",
    "ldr x9, [x0]",
    "mov sp, x9",
    "ldp x19, x20, [sp, #0]",
    "ldp x21, x22, [sp, #16]",
    "ldp x23, x24, [sp, #32]",
    "ldp x25, x26, [sp, #48]",
    "ldp x27, x28, [sp, #64]",
    "ldp x29, x30, [sp, #80]",
    "ldp d8, d9, [sp, #96]",
    "ldp d10, d11, [sp, #112]",
    "ldp d12, d13, [sp, #128]",
    "ldp d14, d15, [sp, #144]",
    "add sp, sp, #160",
    "ret",
    ".size lucet_context_set, .-lucet_context_set",
    ".size lucet_context_swap, .-lucet_context_swap",
    "",
    ".globl lucet_context_bootstrap",
    ".type lucet_context_bootstrap,%function",
    ".p2align 4",
    "lucet_context_bootstrap:",
    "mov x0, x20",
    "mov x1, x21",
    "mov x2, x22",
    "mov x3, x23",
    "blr x19",
    "mov x0, x24",
    "b lucet_context_set",
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
/// least 160 bytes that nothing else uses; `host` must stay valid until the
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
    // The frame `lucet_context_set`/`swap` restore: x19..x28, x29 (zero:
    // the guest's frame-pointer chain ends here), x30 (the bootstrap, where
    // their `ret` goes), d8..d15.
    let mut words = [0usize; 20];
    words[..6].copy_from_slice(&[entry, vmctx, data, values, len, host as usize]);
    words[11] = lucet_context_bootstrap as *const () as usize;
    let base = stack_top.wrapping_sub(words.len() * 8) as *mut usize;
    // SAFETY: the caller guarantees the top 160 bytes of the stack are ours.
    unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), base, words.len()) };
    ctx.sp = base as usize;
}

/// The program counter saved in a signal's machine context.
///
/// # Safety
/// `uc` must be the `ucontext_t` the kernel passed to a signal handler.
pub unsafe fn ucontext_pc(uc: *const libc::ucontext_t) -> usize {
    // SAFETY: the kernel gives the handler a valid ucontext.
    unsafe { (*uc).uc_mcontext.pc as usize }
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
        (*uc).uc_mcontext.pc = pc as u64;
        (*uc).uc_mcontext.regs[0] = arg as u64;
    }
}
