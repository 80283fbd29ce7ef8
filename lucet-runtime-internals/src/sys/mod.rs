//! Platform code, in one tree: memory mappings and signals for Unix (Linux),
//! and per architecture (one folder each, with the same file names) the
//! context switch, machine-context access, the trap and throw entries and
//! CPU features: x86_64 System V and AArch64 AAPCS64.
//!
//! Nothing outside `sys/` calls `mmap`, `sigaction` or uses `target_arch`.

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("lucet-runtime-internals supports x86_64 and aarch64 Linux only");

pub mod context;
pub mod gc;
pub mod interrupt;
pub mod trap;
pub mod unix;
pub mod unwind;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
use self::aarch64 as arch;
#[cfg(target_arch = "x86_64")]
use self::x86_64 as arch;

pub use self::arch::context as arch_context;
pub use self::arch::cpu;
pub use self::unix::mmap;
pub use self::unix::private_copy;
pub use self::unix::signals;
pub use self::unix::waker;
