//! Cranelift's mid-end (the e-graph pass: GVN, LICM, rewrites), applied
//! with a guard.
//!
//! On wasm that a toolchain has already optimized the pass does not pay
//! for itself on average, and it can hurt: on the sightglass programs and
//! our real programs (`lucet-bench execute --opt-level speed`, Cranelift
//! 0.135) it made loop nests and unrolled hash code slower (matrix 0.73 ->
//! 0.98 of Wasmtime's time, keccak 0.87 -> 0.99, minicsv 0.82 -> 0.91, the
//! switch dispatcher 1.06 -> 1.17) and others faster (base64 1.09 -> 1.04,
//! the interpreter 0.88 -> 0.85), for a geometric mean within 1% of the
//! code without it and 26% more compile time. Its worst case is long
//! straight-line code with shared subexpressions, where elaboration can
//! duplicate work: Cranelift 0.112 grew keccak's core by 63% that way.
//!
//! So each function is optimized, and if the pass grew it by more than
//! [`GROWTH_LIMIT`], the unoptimized function is compiled instead. Lowering
//! and register allocation then run with an ISA whose `opt_level` is
//! `none` (`opt_level` only gates the e-graph pass), so the pass never
//! runs twice.

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir;
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::Context;

/// The most the e-graph pass may grow a function (in CLIF instructions)
/// and still be kept.
pub const GROWTH_LIMIT: f64 = 1.10;

/// Below this many instructions a function is always kept optimized: the
/// pass cannot blow it up, and small counts make ratios noisy.
const SMALL: usize = 64;

/// How a function was optimized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The e-graph pass ran and its result is used.
    Optimized,
    /// The pass grew the function past the limit; the unoptimized function
    /// is used.
    Rejected,
}

/// Instructions that compute something: constants are left out (they
/// become immediates, and the pass both merges and rematerializes them).
fn instruction_count(func: &ir::Function) -> usize {
    func.layout
        .blocks()
        .flat_map(|b| func.layout.block_insts(b))
        .filter(|&inst| {
            !matches!(
                func.dfg.insts[inst].opcode(),
                ir::Opcode::Iconst
                    | ir::Opcode::F32const
                    | ir::Opcode::F64const
                    | ir::Opcode::Vconst
            )
        })
        .count()
}

/// Runs the e-graph pass of `optimizing` (an ISA with `opt_level` other than
/// `none`) on `func`, and returns the context to compile: the optimized
/// function, or — if the pass grew it past [`GROWTH_LIMIT`] — the original.
pub fn optimize(
    optimizing: &dyn TargetIsa,
    func: ir::Function,
) -> cranelift_codegen::CodegenResult<(Context, Outcome)> {
    let mut ctx = Context::for_function(func);
    let before = instruction_count(&ctx.func);
    let original = (before >= SMALL).then(|| ctx.func.clone());
    ctx.optimize(optimizing, &mut ControlPlane::default())?;
    let after = instruction_count(&ctx.func);
    match original {
        Some(original) if after as f64 > before as f64 * GROWTH_LIMIT => {
            Ok((Context::for_function(original), Outcome::Rejected))
        }
        _ => Ok((ctx, Outcome::Optimized)),
    }
}
