//! Our translator from WebAssembly function bodies to Cranelift IR.
//!
//! A body arrives here only after the whole module has been validated
//! (`parse`), so the translator may rely on every invariant validation
//! establishes: operand types and stack heights match, indices are in
//! range, branch depths exist. It never re-checks them; nothing here can be
//! reached by malformed input.
//!
//! One [`Translation`] holds the state of one function: the Cranelift
//! `FunctionBuilder`, the operand stack of SSA values, the control stack
//! and the per-function caches of the instance layout. The operators are
//! split by concern, one file each, all as methods of `Translation`:
//!
//! - `control`: blocks, loops, `if`, branches, `return`, reachability;
//! - `variables`: locals and globals;
//! - `numeric`: integer and float arithmetic, comparisons, conversions;
//! - `memory`: loads, stores, bounds checks and the bulk memory operators;
//! - `tables`: tables and references;
//! - `calls`: direct, indirect and reference calls, tail calls;
//! - `simd`: 128-bit vectors, relaxed SIMD included;
//! - `exceptions`: `try_table`, `throw`, `throw_ref`;
//! - `casts`: `i31` references, `ref.eq`, `ref.test`, `ref.cast`,
//!   `br_on_cast`;
//! - `objects`: GC structs and arrays, and the `any`/`extern` conversions.
//!
//! `env` knows how an instance is laid out (vmctx, the instance header,
//! builtins) and `fuel` counts instructions when asked to.

mod calls;
mod casts;
mod control;
mod env;
mod exceptions;
mod fuel;
mod memory;
mod numeric;
mod objects;
mod simd;
mod tables;
pub mod traps;
mod variables;

use cranelift_codegen::ir::{self, UserFuncName};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use wasmparser::{FuncToValidate, FuncValidator, Operator, ValidatorResources};

use lucet_module::HeapSpec;

use crate::parse::{BodyToTranslate, ModuleInfo};
use crate::{Error, RelaxedSimd};

pub use env::{ir_type, native_signature, set_stack_limit, NS_BUILTIN, NS_FUNCTION};
pub use exceptions::vmctx_slot_key;

use control::Frame;
use env::FuncEnv;
use exceptions::TryScope;
use fuel::FuelCounter;

/// How functions are translated.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The heap layout code is generated for.
    pub heap: HeapSpec,
    /// Whether to check for interruption.
    pub interruptible: bool,
    /// Whether to count instructions against the instance's fuel.
    pub count_instructions: bool,
    /// How relaxed SIMD operators compute.
    pub relaxed_simd: RelaxedSimd,
}

/// What every function's translation shares: the module and the target.
#[derive(Clone, Copy)]
pub struct ModuleEnv<'a> {
    pub info: &'a ModuleInfo<'a>,
    pub isa: &'a dyn TargetIsa,
    pub settings: Settings,
}

/// Reusable buffers for translating functions one after another (one per
/// thread).
#[derive(Default)]
pub struct FuncTranslator {
    builder_ctx: FunctionBuilderContext,
}

impl FuncTranslator {
    /// A translator with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Translates the body of a defined function.
    pub fn translate(
        &mut self,
        module: ModuleEnv<'_>,
        to_translate: &BodyToTranslate<'_>,
    ) -> Result<(ir::Function, Complexity), Error> {
        let info = module.info;
        let func_index = to_translate.func_index;
        let body = &to_translate.body;
        let ty = info.func_type(func_index);
        let mut func = ir::Function::with_name_signature(
            UserFuncName::user(NS_FUNCTION, func_index),
            native_signature(ty),
        );
        set_stack_limit(&mut func);
        let mut b = FunctionBuilder::new(&mut func, &mut self.builder_ctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let vmctx = b.block_params(entry)[0];

        // Locals: parameters first, then the declared ones, zeroed. Those
        // that may hold GC objects are kept in stack maps at every call.
        let mut locals = Vec::new();
        let mut local_types = Vec::new();
        for (i, t) in ty.params.iter().enumerate() {
            let var = b.declare_var(ir_type(*t));
            if t.may_be_gc_object() {
                b.declare_var_needs_stack_map(var);
            }
            let param = b.block_params(entry)[i + 1];
            b.def_var(var, param);
            locals.push(var);
        }
        let mut reader = body.get_locals_reader()?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, t) = reader.read()?;
            local_types.push((offset, count, t));
            let gc = crate::parse::val_type(t, &info.type_kinds)?.may_be_gc_object();
            let ty = env::wasm_ir_type(t);
            for _ in 0..count {
                let var = b.declare_var(ty);
                if gc {
                    b.declare_var_needs_stack_map(var);
                }
                let zero = env::zero_value(&mut b, ty);
                b.def_var(var, zero);
                locals.push(var);
            }
        }
        let gc_refs = if info.holds_gc_refs || locals_hold_gc_refs(&local_types, info) {
            let v = &to_translate.validation;
            let mut validator = FuncToValidate {
                resources: v.resources.clone(),
                index: v.index,
                ty: v.ty,
                features: v.features,
            }
            .into_validator(Default::default());
            for (offset, count, t) in &local_types {
                validator.define_locals(*offset, *count, *t)?;
            }
            Some(validator)
        } else {
            None
        };

        // The entry block is in the layout from the start: the unwinder's
        // vmctx slot may be stored at its beginning later.
        b.ensure_inserted_block();
        let mut t = Translation {
            env: FuncEnv::new(module, vmctx),
            b,
            stack: Vec::new(),
            control: Vec::new(),
            reachable: true,
            dead_depth: 0,
            locals,
            fuel: None,
            try_scopes: Vec::new(),
            vmctx_slot: None,
            entry_block: entry,
            volume: 0,
            gc_refs,
            low_water: 0,
        };
        if module.settings.count_instructions {
            t.fuel = Some(FuelCounter::function_entry(&mut t.b, &mut t.env, vmctx));
        }
        t.push_function_frame(&ty.results);

        let mut ops = body.get_operators_reader()?;
        while !ops.eof() {
            let offset = ops.original_position();
            let op = ops.read()?;
            t.low_water = t.stack.len();
            t.operator(&op)
                .and_then(|()| t.mark_gc_refs(offset, &op))
                .and_then(|()| t.check_size())
                .map_err(|e| e.at_offset(offset as usize, || info.display_name(func_index)))?;
        }
        let Translation { b, volume, .. } = t;
        b.finalize(module.isa.frontend_config());
        Ok((func, Complexity { volume }))
    }
}

/// The state of one function's translation.
pub(crate) struct Translation<'m, 'f> {
    env: FuncEnv<'m>,
    b: FunctionBuilder<'f>,
    /// The operand stack. Every `v128` on it has type `I8X16`.
    stack: Vec<ir::Value>,
    control: Vec<Frame>,
    /// Whether the code being translated can be reached.
    reachable: bool,
    /// While unreachable: how many blocks opened in the dead code are
    /// still open (their `end`s are skipped).
    dead_depth: u32,
    locals: Vec<Variable>,
    fuel: Option<FuelCounter>,
    /// The open `try_table`s, outermost first.
    try_scopes: Vec<TryScope>,
    /// The stack slot holding vmctx for the unwinder, once a `try_table`
    /// needs it.
    vmctx_slot: Option<ir::StackSlot>,
    entry_block: ir::Block,
    /// The running estimate of [`Complexity::volume`].
    volume: u64,
    /// In functions that may hold GC references: a validator run
    /// alongside, which knows the type of every operand-stack value.
    gc_refs: Option<FuncValidator<ValidatorResources>>,
    /// The lowest the operand stack got during the current operator: the
    /// values above it are the operator's results.
    low_water: usize,
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
    fn at_offset(self, offset: usize, func: impl FnOnce() -> String) -> Error {
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
    fn check_size(&self) -> TResult {
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
    fn operator(&mut self, op: &Operator<'_>) -> TResult {
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

    fn pop(&mut self) -> ir::Value {
        let v = self
            .stack
            .pop()
            .expect("validated: operand stack underflow");
        self.low_water = self.low_water.min(self.stack.len());
        v
    }

    /// Cuts the operand stack down to `height` values.
    fn truncate_stack(&mut self, height: usize) {
        self.stack.truncate(height);
        self.low_water = self.low_water.min(self.stack.len());
    }

    /// After an operator: declares its results that may be GC object
    /// references as needing stack maps, so that the frontend keeps them
    /// in the frame across every call and the collector finds them there.
    fn mark_gc_refs(&mut self, offset: u64, op: &Operator<'_>) -> TResult {
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

    fn pop2(&mut self) -> (ir::Value, ir::Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    fn pop3(&mut self) -> (ir::Value, ir::Value, ir::Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    /// Pops the top `n` values, in stack order.
    fn pop_n(&mut self, n: usize) -> Vec<ir::Value> {
        let at = self.stack.len() - n;
        self.low_water = self.low_water.min(at);
        self.stack.split_off(at)
    }

    /// The top `n` values, in stack order, left on the stack.
    fn peek_n(&self, n: usize) -> &[ir::Value] {
        &self.stack[self.stack.len() - n..]
    }

    fn push(&mut self, v: ir::Value) {
        self.stack.push(v);
    }

    fn ins(&mut self) -> cranelift_frontend::FuncInstBuilder<'_, 'f> {
        self.b.ins()
    }

    /// Emits an unconditional trap: what follows is unreachable.
    fn trap(&mut self, code: ir::TrapCode) {
        if let Some(fuel) = &mut self.fuel {
            fuel.before_exit(&mut self.b);
        }
        self.env.trap(&mut self.b, code);
        self.reachable = false;
    }

    /// Traps with `code` when `condition` is nonzero.
    fn trap_if(&mut self, condition: ir::Value, code: ir::TrapCode) {
        self.env.trap_if(&mut self.b, condition, code);
    }

    /// Traps with `code` when `condition` is zero.
    fn trap_unless(&mut self, condition: ir::Value, code: ir::TrapCode) {
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
fn locals_hold_gc_refs(locals: &[(u64, u32, wasmparser::ValType)], info: &ModuleInfo<'_>) -> bool {
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
fn block_args(values: &[ir::Value]) -> Vec<ir::BlockArg> {
    values.iter().map(|v| ir::BlockArg::Value(*v)).collect()
}
