//! Platform code, in one tree: memory mappings and signals for Unix (Linux),
//! the context switch and machine-context access for x86_64 System V.
//!
//! Nothing outside `sys/` calls `mmap`, `sigaction` or uses `target_arch`.

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("lucet-runtime-internals supports x86_64 Linux only");

pub mod unix;
pub mod x86_64;

pub use self::unix::mmap;
pub use self::unix::signals;
pub use self::unix::waker;
pub use self::x86_64::context;
pub use self::x86_64::cpu;
pub use self::x86_64::trap;
pub use self::x86_64::unwind;
