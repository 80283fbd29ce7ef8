//! Exception handling: `try_table`, `throw`, `throw_ref`.
//!
//! Inside a `try_table` with catch clauses, every call is a Cranelift
//! `try_call` whose exception table lists the clauses of the open
//! `try_table`s, innermost first and in order; the runtime's unwinder walks
//! the frames and takes the first entry whose tag is the exception's (tags
//! are named by index and resolved in the instance of the catching frame,
//! whose vmctx the function keeps in a stack slot for that purpose).
//!
//! A handler receives two words (Cranelift's exception payload registers):
//! the `exnref` (for `catch_ref` and `catch_all_ref`) and a pointer to the
//! payload values, 16 bytes each. Its landing block loads the values and
//! branches to the clause's label; landing blocks are shared by all calls
//! of a `try_table`.
//!
//! `throw` and `throw_ref` call runtime builtins that never return; inside
//! a `try_table` they are `try_call`s too, so that a throw caught in the
//! same function takes the same path as one from a callee. The builtins use
//! the wasm calling convention, so that handlers assume every register
//! clobbered (the unwinder restores none).

use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::ir::{self, types, InstBuilder, StackSlotData, StackSlotKey, StackSlotKind};
use cranelift_codegen::ir::{ExceptionTableData, ExceptionTableItem, ExceptionTag};
use lucet_module::{Builtin, ARRAY_CALL_VALUE_SIZE};
use wasmparser::{Catch, Operator};

use super::calls::Callee;
use super::env::ir_type;
use super::env::trusted;
use super::frames::{Clause, FrameKind, TryScope};
use super::state::{block_args, TResult, Translation};
use super::traps;

/// The key of the stack slot that holds a function's vmctx for the
/// unwinder.
pub fn vmctx_slot_key() -> StackSlotKey {
    StackSlotKey::new(0x0076_6d63_7478) // "vmctx"
}

impl Translation<'_, '_> {
    /// Whether a `try_table` with catch clauses is open.
    pub(super) fn has_handlers(&self) -> bool {
        self.try_scopes.iter().any(|s| !s.clauses.is_empty())
    }

    /// At the `end` of a `try_table`: its clauses no longer apply, and its
    /// landing blocks have all their predecessors.
    pub(super) fn end_try_table(&mut self) {
        let scope = self.try_scopes.pop().expect("a try_table scope per frame");
        for block in scope.landing.into_iter().flatten() {
            self.b.seal_block(block);
        }
    }

    /// Stores vmctx in the function's dedicated stack slot, at entry (once).
    fn ensure_vmctx_slot(&mut self) {
        if self.vmctx_slot.is_some() {
            return;
        }
        let slot = self.b.create_sized_stack_slot(StackSlotData::new_with_key(
            StackSlotKind::ExplicitSlot,
            8,
            3,
            vmctx_slot_key(),
        ));
        self.vmctx_slot = Some(slot);
        let entry = self.entry_block;
        let vmctx = self.env.vmctx;
        let mut pos = FuncCursor::new(self.b.func).at_first_insertion_point(entry);
        pos.ins().stack_store(types::I64, vmctx, slot, 0);
    }

    /// The landing block of clause `i` of scope `s`, created on first use.
    /// Returns it and whether it is new (and must be filled).
    fn landing_block(&mut self, s: usize, i: usize) -> (ir::Block, bool) {
        if let Some(block) = self.try_scopes[s].landing[i] {
            return (block, false);
        }
        let block = self.b.create_block();
        self.b.append_block_param(block, types::I64);
        self.b.append_block_param(block, types::I64);
        self.b.set_cold_block(block);
        self.try_scopes[s].landing[i] = Some(block);
        (block, true)
    }

    /// Fills the landing block of `clause`: the payload values (and the
    /// exnref), then a branch to the clause's label.
    fn fill_landing_block(&mut self, block: ir::Block, clause: Clause) {
        self.b.switch_to_block(block);
        let params = self.b.block_params(block).to_vec();
        let (exn, payload) = (params[0], params[1]);
        if let Some(fuel) = &mut self.fuel {
            // The thrower saved the count to the header.
            fuel.after_catch(&mut self.b);
        }
        let mut args = Vec::new();
        if let Some(tag) = clause.tag {
            let ty = self.env.module.info.tag_type(tag).clone();
            for (i, t) in ty.params.iter().enumerate() {
                let offset = (i as u32 * ARRAY_CALL_VALUE_SIZE) as i32;
                args.push(self.ins().load(ir_type(*t), trusted(), payload, offset));
            }
        }
        if clause.with_ref {
            args.push(exn);
        }
        let (target, _) = self.branch_target_at(clause.target);
        self.b.ins().jump(target, &block_args(&args));
    }

    /// A call inside a `try_table`: a `try_call` to the active handlers;
    /// returns the callee's results.
    pub(super) fn try_call(&mut self, callee: Callee, args: &[ir::Value]) -> Vec<ir::Value> {
        let all = self.call_args(callee, args);
        let sig = match callee {
            Callee::Direct(f) => self.b.func.dfg.ext_funcs[f].signature,
            Callee::Indirect { sig, .. } => sig,
        };
        let returns: Vec<ir::Type> = self.b.func.dfg.signatures[sig]
            .returns
            .iter()
            .map(|r| r.value_type)
            .collect();
        let next = self.b.create_block();
        let mut rets = Vec::with_capacity(returns.len());
        for (i, t) in returns.iter().enumerate() {
            self.b.append_block_param(next, *t);
            rets.push(ir::BlockArg::TryCallRet(i as u32));
        }
        let normal = self.b.func.dfg.block_call(next, &rets);
        let mut items = Vec::new();
        let mut to_fill = Vec::new();
        for s in (0..self.try_scopes.len()).rev() {
            for i in 0..self.try_scopes[s].clauses.len() {
                let clause = self.try_scopes[s].clauses[i];
                let (block, new) = self.landing_block(s, i);
                if new {
                    to_fill.push((block, clause));
                }
                let exn = [ir::BlockArg::TryCallExn(0), ir::BlockArg::TryCallExn(1)];
                let call = self.b.func.dfg.block_call(block, &exn);
                items.push(match clause.tag {
                    Some(tag) => ExceptionTableItem::Tag(ExceptionTag::from_u32(tag), call),
                    None => ExceptionTableItem::Default(call),
                });
            }
        }
        let table = self
            .b
            .func
            .dfg
            .exception_tables
            .push(ExceptionTableData::new(sig, normal, items));
        match callee {
            Callee::Direct(f) => self.ins().try_call(f, &all, table),
            Callee::Indirect { code, .. } => self.ins().try_call_indirect(code, &all, table),
        };
        for (block, clause) in to_fill {
            self.fill_landing_block(block, clause);
        }
        self.b.seal_block(next);
        self.b.switch_to_block(next);
        self.b.block_params(next).to_vec()
    }

    /// Calls a throwing builtin (as a `try_call` inside a `try_table`);
    /// what follows is unreachable.
    fn call_throwing_builtin(&mut self, builtin: Builtin, args: &[ir::Value]) {
        let f = self.env.builtin(&mut self.b, builtin);
        if self.has_handlers() {
            self.try_call(Callee::Direct(f), args);
        } else {
            let all = self.call_args(Callee::Direct(f), args);
            self.ins().call(f, &all);
        }
        // The builtin never returns.
        self.b.ins().trap(traps::UNREACHABLE);
        self.reachable = false;
    }

    pub(super) fn exception_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        match op {
            Operator::TryTable { try_table } => {
                // Labels count from the block around the try_table.
                let outer = self.control.len() - 1;
                let clauses: Vec<Clause> = try_table
                    .catches
                    .iter()
                    .map(|c| {
                        let (tag, with_ref, label) = match *c {
                            Catch::One { tag, label } => (Some(tag), false, label),
                            Catch::OneRef { tag, label } => (Some(tag), true, label),
                            Catch::All { label } => (None, false, label),
                            Catch::AllRef { label } => (None, true, label),
                        };
                        Clause {
                            tag,
                            with_ref,
                            target: outer - label as usize,
                        }
                    })
                    .collect();
                if !clauses.is_empty() {
                    self.ensure_vmctx_slot();
                }
                self.push_frame(FrameKind::TryTable, try_table.ty);
                let n = clauses.len();
                self.try_scopes.push(TryScope {
                    clauses,
                    landing: vec![None; n],
                });
            }
            Operator::Throw { tag_index } => {
                let n = self.env.module.info.tag_type(*tag_index).params.len();
                let values = self.pop_n(n);
                let slot = self.b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    (n.max(1) as u32) * ARRAY_CALL_VALUE_SIZE,
                    4,
                ));
                for (i, v) in values.iter().enumerate() {
                    let offset = (i as u32 * ARRAY_CALL_VALUE_SIZE) as i32;
                    self.ins().stack_store(types::I64, *v, slot, offset);
                }
                let ptr = self.ins().stack_addr(types::I64, slot, 0);
                let tag = self.ins().iconst(types::I32, i64::from(*tag_index));
                self.call_throwing_builtin(Builtin::Throw, &[tag, ptr]);
            }
            Operator::ThrowRef => {
                let exn = self.pop();
                self.trap_unless(exn, traps::NULL_REFERENCE);
                self.call_throwing_builtin(Builtin::ThrowRef, &[exn]);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
