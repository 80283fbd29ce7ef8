//! The state of one function's translation, [`Translation`]: the
//! Cranelift `FunctionBuilder`, the operand stack of SSA values, the control
//! stack and the per-function caches of the instance layout; the operand
//! stack's helpers, the size limits, and the dispatch of each operator to
//! the file of its concern (each adds methods to `Translation`).

use cranelift_codegen::ir;
use cranelift_frontend::{FunctionBuilder, Variable};
use wasmparser::{FuncValidator, Operator, ValidatorResources};

use super::env::FuncEnv;
use super::frames::{Frame, TryScope};
use super::fuel::FuelCounter;
use crate::parse::ModuleInfo;
use crate::Error;

/// The state of one function's translation.
pub(crate) struct Translation<'m, 'f> {
    pub(super) env: FuncEnv<'m>,
    pub(super) b: FunctionBuilder<'f>,
    /// The operand stack. Every `v128` on it has type `I8X16`.
    pub(super) stack: Vec<ir::Value>,
    pub(super) control: Vec<Frame>,
    /// Whether the code being translated can be reached.
    pub(super) reachable: bool,
    /// While unreachable: how many blocks opened in the dead code are
    /// still open (their `end`s are skipped).
    pub(super) dead_depth: u32,
    pub(super) locals: Vec<Variable>,
    pub(super) fuel: Option<FuelCounter>,
    /// The open `try_table`s, outermost first.
    pub(super) try_scopes: Vec<TryScope>,
    /// The stack slot holding vmctx for the unwinder, once a `try_table`
    /// needs it.
    pub(super) vmctx_slot: Option<ir::StackSlot>,
    pub(super) entry_block: ir::Block,
    /// The running estimate of [`Complexity::volume`].
    pub(super) volume: u64,
    /// In functions that may hold GC references: a validator run
    /// alongside, which knows the type of every operand-stack value.
    pub(super) gc_refs: Option<FuncValidator<ValidatorResources>>,
    /// The lowest the operand stack got during the current operator: the
    /// values above it are the operator's results.
    pub(super) low_water: usize,
}

/// How hard a translated function is for the register allocator.
#[derive(Debug, Clone, Copy, Default)]
pub struct Complexity {
    /// An upper bound of the values live across the function's control
    /// constructs, summed over the constructs: at each, the operand stack
    /// below it and every local. The register allocator's work grows with
    /// it (the backtracking allocator faster than linearly).
    pub volume: u64,
}

/// Functions whose translation would hold more SSA values than this are
/// refused: about 30 times the largest function of the real programs
/// measured (wasm-tools, a Lua-style interpreter, regex), and a bound on
/// the compiler's memory (SSA construction can make a small body large:
/// locals live across deeply nested loops become block parameters at
/// every loop header).
pub const MAX_FUNCTION_VALUES: usize = 3_000_000;

/// Functions whose [`Complexity::volume`] exceeds this are refused: above
/// it, even the single-pass register allocator takes seconds. The largest
/// real function measured is at 0.4 million.
pub const MAX_FUNCTION_VOLUME: u64 = 100_000_000;

/// An error of the translator, before the operator's offset is known.
#[derive(Debug)]
pub(crate) enum TranslateError {
    /// A feature Lucet does not implement.
    Unsupported(String),
    /// Past one of the function size limits.
    TooComplex(String),
}

impl TranslateError {
    pub(super) fn at_offset(self, offset: usize, func: impl FnOnce() -> String) -> Error {
        match self {
            TranslateError::TooComplex(why) => Error::TooComplex {
                func: func(),
                reason: format!("{why} (at byte offset {offset:#x})"),
            },
            TranslateError::Unsupported(what) => {
                Error::Unsupported(format!("{what} (at byte offset {offset:#x})"))
            }
        }
    }
}

pub(crate) type TResult<T = ()> = Result<T, TranslateError>;

impl<'f> Translation<'_, 'f> {
    /// Fails once the function is past a size limit.
    pub(super) fn check_size(&self) -> TResult {
        let values = self.b.func.dfg.num_values();
        if values > MAX_FUNCTION_VALUES {
            return Err(TranslateError::TooComplex(format!(
                "more than {MAX_FUNCTION_VALUES} SSA values"
            )));
        }
        if self.volume > MAX_FUNCTION_VOLUME {
            return Err(TranslateError::TooComplex(format!(
                "more than {MAX_FUNCTION_VOLUME} values live across its blocks, loops and ifs"
            )));
        }
        Ok(())
    }

    /// Translates one operator.
    pub(super) fn operator(&mut self, op: &Operator<'_>) -> TResult {
        if !self.reachable {
            return self.dead_operator(op);
        }
        if let Some(fuel) = &mut self.fuel {
            fuel.before_op(op, &mut self.b);
        }
        let handled = self.control_operator(op)?
            || self.variable_operator(op)?
            || self.numeric_operator(op)?
            || self.memory_operator(op)?
            || self.table_operator(op)?
            || self.call_operator(op)?
            || self.simd_operator(op)?
            || self.exception_operator(op)?
            || self.cast_operator(op)?
            || self.object_operator(op)?;
        if !handled {
            return Err(unsupported_operator(op));
        }
        if self.reachable {
            if let Some(fuel) = &mut self.fuel {
                fuel.after_op(op, &mut self.b);
            }
        }
        Ok(())
    }

    pub(super) fn pop(&mut self) -> ir::Value {
        let v = self
            .stack
            .pop()
            .expect("validated: operand stack underflow");
        self.low_water = self.low_water.min(self.stack.len());
        v
    }

    /// Cuts the operand stack down to `height` values.
    pub(super) fn truncate_stack(&mut self, height: usize) {
        self.stack.truncate(height);
        self.low_water = self.low_water.min(self.stack.len());
    }

    /// After an operator: declares its results that may be GC object
    /// references as needing stack maps, so that the frontend keeps them
    /// in the frame across every call and the collector finds them there.
    pub(super) fn mark_gc_refs(&mut self, offset: u64, op: &Operator<'_>) -> TResult {
        let Some(validator) = &mut self.gc_refs else {
            return Ok(());
        };
        validator
            .op(offset, op)
            .map_err(|e| TranslateError::Unsupported(format!("revalidation failed: {e}")))?;
        if !self.reachable {
            return Ok(());
        }
        let len = self.stack.len();
        if validator.operand_stack_height() as usize != len {
            return Err(TranslateError::Unsupported(format!(
                "internal error: {len} operands where validation has {}",
                validator.operand_stack_height()
            )));
        }
        for i in self.low_water.min(len)..len {
            let Some(Some(wasmparser::ValType::Ref(rt))) = validator.get_operand_type(len - 1 - i)
            else {
                continue;
            };
            if validated_ref_may_be_gc_object(rt, validator, &self.env.module.info.type_kinds) {
                self.b.declare_value_needs_stack_map(self.stack[i]);
            }
        }
        Ok(())
    }

    pub(super) fn pop2(&mut self) -> (ir::Value, ir::Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    pub(super) fn pop3(&mut self) -> (ir::Value, ir::Value, ir::Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    /// Pops the top `n` values, in stack order.
    pub(super) fn pop_n(&mut self, n: usize) -> Vec<ir::Value> {
        let at = self.stack.len() - n;
        self.low_water = self.low_water.min(at);
        self.stack.split_off(at)
    }

    /// The top `n` values, in stack order, left on the stack.
    pub(super) fn peek_n(&self, n: usize) -> &[ir::Value] {
        &self.stack[self.stack.len() - n..]
    }

    pub(super) fn push(&mut self, v: ir::Value) {
        self.stack.push(v);
    }

    pub(super) fn ins(&mut self) -> cranelift_frontend::FuncInstBuilder<'_, 'f> {
        self.b.ins()
    }

    /// Emits an unconditional trap: what follows is unreachable.
    pub(super) fn trap(&mut self, code: ir::TrapCode) {
        if let Some(fuel) = &mut self.fuel {
            fuel.before_exit(&mut self.b);
        }
        self.env.trap(&mut self.b, code);
        self.reachable = false;
    }

    /// Traps with `code` when `condition` is nonzero.
    pub(super) fn trap_if(&mut self, condition: ir::Value, code: ir::TrapCode) {
        self.env.trap_if(&mut self.b, condition, code);
    }

    /// Traps with `code` when `condition` is zero.
    pub(super) fn trap_unless(&mut self, condition: ir::Value, code: ir::TrapCode) {
        self.env.trap_unless(&mut self.b, condition, code);
    }
}

/// Whether a value of the validator's reference type `rt` may be a GC
/// object (as `ValType::may_be_gc_object`). Validation gives concrete types
/// of operands as canonical type ids, not module indices: their kind comes
/// from the validator's types.
fn validated_ref_may_be_gc_object(
    rt: wasmparser::RefType,
    validator: &FuncValidator<ValidatorResources>,
    kinds: &[lucet_module::TypeKind],
) -> bool {
    use wasmparser::{AbstractHeapType as A, CompositeInnerType as C, HeapType as H};
    use wasmparser::{UnpackedIndex as U, WasmModuleResources};
    match rt.heap_type() {
        H::Abstract { ty, .. } => matches!(ty, A::Any | A::Eq | A::Struct | A::Array | A::Extern),
        H::Concrete(index) | H::Exact(index) => match index {
            U::Module(i) => kinds
                .get(i as usize)
                .is_some_and(|k| *k != lucet_module::TypeKind::Func),
            U::Id(id) => !matches!(
                validator
                    .resources()
                    .sub_type_at_id(id)
                    .composite_type
                    .inner,
                C::Func(_)
            ),
            // Not seen after validation; tracing a function reference
            // would only cost a spill (the collector ignores addresses
            // outside its heap).
            U::RecGroup(_) => true,
        },
    }
}

/// Whether a function's declared locals may hold GC object references.
pub(super) fn locals_hold_gc_refs(
    locals: &[(u64, u32, wasmparser::ValType)],
    info: &ModuleInfo<'_>,
) -> bool {
    locals.iter().any(|(_, _, t)| {
        crate::parse::val_type(*t, &info.type_kinds).is_ok_and(|t| t.may_be_gc_object())
    })
}

/// The error for an operator no part of the translator handles.
fn unsupported_operator(op: &Operator<'_>) -> TranslateError {
    let name = format!("{op:?}");
    let name = name
        .split([' ', '{', '('])
        .next()
        .unwrap_or("?")
        .to_string();
    TranslateError::Unsupported(format!("the instruction {name} is not supported"))
}

/// A block argument list from values.
pub(super) fn block_args(values: &[ir::Value]) -> Vec<ir::BlockArg> {
    values.iter().map(|v| ir::BlockArg::Value(*v)).collect()
}
