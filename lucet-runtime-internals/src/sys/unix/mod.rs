//! Unix (Linux) system interfaces.

pub mod mmap;
pub mod private_copy;
pub mod signals;
pub mod waker;
