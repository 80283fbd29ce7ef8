//! Cranelift's mid-end (the e-graph pass: GVN, LICM, rewrites), applied
//! with a guard.
//!
//! Cranelift 0.112 costs an e-graph node as the *sum* of its operands'
//! costs, as if the expression were a tree. In long straight-line code with
//! shared subexpressions (unrolled hashes and ciphers, giant `switch`
//! dispatchers) those sums saturate, every alternative looks equally
//! expensive, and elaboration duplicates work: on the sightglass programs
//! the pass grows keccak's core by 63% in computing instructions (twice the
//! xors) and it runs 3.8x slower than without the pass; blake3's compression
//! function grows by 83% and runs 2.2x slower. Elsewhere the pass keeps a
//! function within 8% of its size or shrinks it.
//!
//! So each function is optimized, and if the pass grew it by more than
//! [`GROWTH_LIMIT`], the unoptimized function is compiled instead. Lowering
//! and register allocation then run with an ISA whose `opt_level` is
//! `none` (in 0.112 `opt_level` only gates the e-graph pass), so the pass
//! never runs twice.

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
