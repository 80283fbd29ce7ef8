//! What a compilation is asked for: the options, with their defaults and
//! their checks.

use std::collections::HashSet;

use lucet_module::Arch;

use crate::budget::CompileBudget;
use crate::Error;

/// How hard Cranelift optimizes.
///
/// Every level lowers with Cranelift's instruction selection (address
/// modes, fused operations) and register allocator, after Lucet's own
/// rewrites (division by constants). The levels differ in Cranelift's
/// e-graph mid-end (GVN, LICM, algebraic rewrites). On wasm that a
/// toolchain has already optimized, the mid-end does not pay for itself:
/// over the sightglass programs and our real programs its code is as fast
/// on average (faster on some, slower on loop nests and unrolled hashes)
/// and compiles 26% slower, so it is off by default. See ARCHITECTURE.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptLevel {
    /// No Cranelift mid-end (the default).
    #[default]
    None,
    /// The mid-end, guarded: a function it grows by more than 10% is
    /// compiled without it.
    Speed,
    /// As `Speed`, also optimizing for size.
    SpeedAndSize,
}

/// How relaxed SIMD operators compute (their results may differ between
/// machines by design).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelaxedSimd {
    /// The same result on every machine: each operator computes what its
    /// fully specified counterpart does (the default).
    #[default]
    Deterministic,
    /// Whatever this machine's fastest instructions give.
    Native,
}

/// The version of the WebAssembly standard modules are validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Standard {
    /// WebAssembly 2.0: what came after it is invalid.
    Wasm2,
    /// WebAssembly 3.0 (the default). Modules that need GC objects are
    /// refused.
    #[default]
    Wasm3,
}

/// The imports a module may have: `(module, name)` pairs. With bindings set,
/// a function import outside them is a compile error.
pub type Bindings = HashSet<(String, String)>;

/// Options for compilation.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Optimization level.
    pub opt_level: OptLevel,
    /// Address space reserved for linear memory. At 4 GiB or more, 32-bit
    /// accesses need no bounds checks; below, code checks bounds explicitly.
    pub reserved_size: u64,
    /// Inaccessible address space after the reservation.
    pub guard_size: u64,
    /// The imports the module may use, if restricted.
    pub bindings: Option<Bindings>,
    /// Check for interruption at loop headers, so that kill switches and
    /// timeouts can stop running code (on by default; function entries are
    /// interrupted through the stack limit check every function has).
    pub interruptible: bool,
    /// Count executed instructions against the instance's fuel, so that an
    /// embedder can bound a run's work (`InstanceHandle::set_fuel`); off by
    /// default.
    pub count_instructions: bool,
    /// How relaxed SIMD operators compute.
    pub relaxed_simd: RelaxedSimd,
    /// The standard modules are validated against.
    pub standard: Standard,
    /// How long compiling may take (no limit by default).
    pub budget: CompileBudget,
    /// The CPU the code may use the features of (this machine's by
    /// default); the runtime refuses a file whose features the machine
    /// loading it lacks.
    pub cpu: TargetCpu,
    /// The instruction set to compile for (this machine's by default).
    pub target: Arch,
}

/// The CPU code is compiled for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TargetCpu {
    /// This machine: every feature it has, when compiling for its own
    /// architecture; for another one, that architecture's baseline.
    #[default]
    Native,
    /// `baseline` (on x86_64 no extension beyond SSE2, on aarch64 none
    /// beyond ARMv8.0-A), or on x86_64 a CPU by the name Cranelift gives its
    /// feature set: `nehalem` (SSE4.2, POPCNT), `haswell` (AVX2, BMI, FMA),
    /// `skylake-avx512`, ...
    Named(String),
}

/// 4 GiB: the default reservation.
pub const DEFAULT_RESERVED_SIZE: u64 = 4 << 30;
/// 4 GiB: the default guard.
pub const DEFAULT_GUARD_SIZE: u64 = 4 << 30;

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            opt_level: OptLevel::None,
            reserved_size: DEFAULT_RESERVED_SIZE,
            guard_size: DEFAULT_GUARD_SIZE,
            bindings: None,
            interruptible: true,
            count_instructions: false,
            relaxed_simd: RelaxedSimd::Deterministic,
            standard: Standard::Wasm3,
            budget: CompileBudget::default(),
            cpu: TargetCpu::Native,
            target: Arch::host().unwrap_or(Arch::X86_64),
        }
    }
}

impl CompileOptions {
    pub(crate) fn check(&self) -> Result<(), Error> {
        let wasm_page = lucet_module::WASM_PAGE_SIZE;
        if self.reserved_size == 0 || self.reserved_size % wasm_page != 0 {
            return Err(Error::Options(format!(
                "reserved size {} is not a positive multiple of the 64 KiB wasm page",
                self.reserved_size
            )));
        }
        if self.reserved_size > 1 << 40 {
            return Err(Error::Options(format!(
                "reserved size {} is larger than 1 TiB",
                self.reserved_size
            )));
        }
        if self.guard_size % lucet_module::PAGE_SIZE != 0 || self.guard_size > 1 << 40 {
            return Err(Error::Options(format!(
                "guard size {} is not a multiple of 4 KiB up to 1 TiB",
                self.guard_size
            )));
        }
        Ok(())
    }
}
