//! Calls: `call`, `call_indirect`, `call_ref` and their tail-call forms.
//!
//! Every wasm function has the native signature `(vmctx, params...) ->
//! results` in the `tail` calling convention. A direct call to a defined
//! function or an import stub is a `call` resolved at layout; an indirect
//! call loads a `FuncRef` record (code, signature id, vmctx), so it may
//! enter another instance's code with that instance's vmctx. Tail calls
//! are Cranelift's `return_call`s: the callee replaces the caller's frame,
//! so any chain of them runs in constant stack space.
//!
//! Inside a `try_table`, calls become `try_call`s whose exception tables
//! lead to the active handlers (`exceptions`).

use cranelift_codegen::ir::{self, types, InstBuilder};
use lucet_module::FuncRef;
use wasmparser::Operator;

use super::env::fixed;
use super::state::{TResult, Translation};
use super::traps;

/// What a call goes to.
#[derive(Clone, Copy)]
pub(super) enum Callee {
    /// A function of this module, called directly.
    Direct(ir::FuncRef),
    /// Code at an address, with its own vmctx.
    Indirect {
        sig: ir::SigRef,
        code: ir::Value,
        vmctx: ir::Value,
    },
}

impl Translation<'_, '_> {
    /// Calls `callee` with `args`; returns its results.
    fn call(&mut self, callee: Callee, args: &[ir::Value]) -> Vec<ir::Value> {
        if self.has_handlers() {
            return self.try_call(callee, args);
        }
        let all = self.call_args(callee, args);
        let inst = match callee {
            Callee::Direct(f) => self.ins().call(f, &all),
            Callee::Indirect { sig, code, .. } => self.ins().call_indirect(sig, code, &all),
        };
        self.b.inst_results(inst).to_vec()
    }

    /// The arguments of a call of `callee`, in order: the callee's own vmctx
    /// first.
    pub(super) fn call_args(&self, callee: Callee, args: &[ir::Value]) -> Vec<ir::Value> {
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(match callee {
            Callee::Direct(_) => self.env.vmctx,
            Callee::Indirect { vmctx, .. } => vmctx,
        });
        all.extend_from_slice(args);
        all
    }

    /// Tail-calls `callee` with `args`: the function's frame is gone.
    fn return_call(&mut self, callee: Callee, args: &[ir::Value]) {
        let all = self.call_args(callee, args);
        self.before_return();
        match callee {
            Callee::Direct(f) => self.ins().return_call(f, &all),
            Callee::Indirect { sig, code, .. } => self.ins().return_call_indirect(sig, code, &all),
        };
        self.reachable = false;
    }

    /// The callee of `call_indirect type_index table_index`, with the
    /// element popped as its index: checks bounds, null and signature.
    fn indirect_callee(&mut self, type_index: u32, table: u32) -> Callee {
        let index = self.pop();
        let entry = self.table_entry_address(table, index);
        let funcref = self.ins().load(types::I64, super::env::trusted(), entry, 0);
        self.trap_unless(funcref, traps::INDIRECT_CALL_TO_NULL);
        // The signature check: the function's type must be the expected
        // one (the same record) or a declared subtype of it.
        let actual = self
            .ins()
            .load(types::I64, fixed(), funcref, FuncRef::OFFSET_TYPE);
        let fits = self.is_subtype_of(actual, type_index);
        self.trap_unless(fits, traps::BAD_SIGNATURE);
        self.funcref_callee(type_index, funcref)
    }

    /// The callee a non-null `funcref` of type `type_index` describes.
    fn funcref_callee(&mut self, type_index: u32, funcref: ir::Value) -> Callee {
        let sig = self.env.signature(&mut self.b, type_index);
        let code = self
            .ins()
            .load(types::I64, fixed(), funcref, FuncRef::OFFSET_CODE);
        let vmctx = self
            .ins()
            .load(types::I64, fixed(), funcref, FuncRef::OFFSET_VMCTX);
        Callee::Indirect { sig, code, vmctx }
    }

    /// The callee of `call_ref type_index`, the reference popped.
    fn ref_callee(&mut self, type_index: u32) -> Callee {
        let funcref = self.pop();
        self.trap_unless(funcref, traps::NULL_REFERENCE);
        self.funcref_callee(type_index, funcref)
    }

    /// The callee of a call to function `index`: the function, or an
    /// import's stub (which forwards to another instance's function with a
    /// tail call, or calls the host).
    fn direct_callee(&mut self, index: u32) -> Callee {
        Callee::Direct(self.env.function(&mut self.b, index))
    }

    fn num_params(&self, type_index: u32) -> usize {
        self.env.module.info.type_at(type_index).params.len()
    }

    pub(super) fn call_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        use Operator::*;
        match op {
            Call { function_index } => {
                let n = self.env.module.info.func_type(*function_index).params.len();
                let args = self.pop_n(n);
                let callee = self.direct_callee(*function_index);
                let results = self.call(callee, &args);
                self.stack.extend(results);
            }
            CallIndirect {
                type_index,
                table_index,
            } => {
                let callee = self.indirect_callee(*type_index, *table_index);
                let args = self.pop_n(self.num_params(*type_index));
                let results = self.call(callee, &args);
                self.stack.extend(results);
            }
            CallRef { type_index } => {
                let callee = self.ref_callee(*type_index);
                let args = self.pop_n(self.num_params(*type_index));
                let results = self.call(callee, &args);
                self.stack.extend(results);
            }
            ReturnCall { function_index } => {
                let n = self.env.module.info.func_type(*function_index).params.len();
                let args = self.pop_n(n);
                let callee = self.direct_callee(*function_index);
                self.return_call(callee, &args);
            }
            ReturnCallIndirect {
                type_index,
                table_index,
            } => {
                let callee = self.indirect_callee(*type_index, *table_index);
                let args = self.pop_n(self.num_params(*type_index));
                self.return_call(callee, &args);
            }
            ReturnCallRef { type_index } => {
                let callee = self.ref_callee(*type_index);
                let args = self.pop_n(self.num_params(*type_index));
                self.return_call(callee, &args);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
