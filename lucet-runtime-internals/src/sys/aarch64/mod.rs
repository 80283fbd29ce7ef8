//! AArch64 (AAPCS64): the context switch, machine-context access and CPU
//! features.

pub mod context;
pub mod cpu;
pub mod gc;
pub mod interrupt;
pub mod trap;
pub mod unwind;
