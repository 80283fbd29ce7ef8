//! Our translator from WebAssembly function bodies to Cranelift IR.
//!
//! A body arrives here only after the whole module has been validated
//! (`parse`), so the translator may rely on every invariant validation
//! establishes: operand types and stack heights match, indices are in
//! range, branch depths exist. It never re-checks them; nothing here can be
//! reached by malformed input.
//!
//! One `Translation` (`state.rs`) holds the state of one function: the
//! Cranelift `FunctionBuilder`, the operand stack of SSA values, the control
//! stack (`frames.rs`) and the per-function caches of the instance layout;
//! it dispatches each operator to the file of its concern. The operators
//! are split by concern, one file each, all as methods of `Translation`:
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
//! builtins) and `fuel` counts instructions when asked to. The files import
//! each other without circles: the operators' files import the state, the
//! state imports only the environment, the control stack and fuel, and this
//! file drives a function's translation through the state.

mod calls;
mod casts;
mod control;
mod env;
mod exceptions;
mod frames;
mod fuel;
mod memory;
mod numeric;
mod objects;
mod simd;
mod state;
mod tables;
pub mod traps;
mod variables;

use cranelift_codegen::ir::{self, UserFuncName};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use wasmparser::FuncToValidate;

use crate::parse::BodyToTranslate;
use crate::Error;

pub use env::{
    ir_type, native_signature, set_stack_limit, ModuleEnv, Settings, NS_BUILTIN, NS_FUNCTION,
};
pub use exceptions::vmctx_slot_key;
pub use state::{Complexity, MAX_FUNCTION_VALUES, MAX_FUNCTION_VOLUME};

use env::FuncEnv;
use fuel::FuelCounter;
use state::{locals_hold_gc_refs, Translation};

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
        let defined = (func_index - info.num_imported_funcs) as usize;
        if module.settings.interruptible && info.recurring.get(defined).copied().unwrap_or(true) {
            // Recursion reaches no loop header: functions that can recur
            // check at entry.
            t.interrupt_check();
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
