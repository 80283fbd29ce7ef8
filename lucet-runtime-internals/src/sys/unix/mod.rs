//! Unix (Linux) system interfaces.

pub mod mmap;
pub mod signals;
pub mod waker;
