//! x86_64 System V: the context switch and machine-context access.

pub mod context;
pub mod trap;
pub mod unwind;
