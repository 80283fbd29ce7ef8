//! x86_64 System V: the context switch, machine-context access and CPU
//! features.

pub mod context;
pub mod cpu;
pub mod gc;
pub mod interrupt;
pub mod trap;
pub mod unwind;
