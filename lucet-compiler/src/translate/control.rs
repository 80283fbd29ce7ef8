//! Structured control flow: the control stack, reachability, blocks, loops,
//! `if`/`else`, branches (`br`, `br_if`, `br_table`, `br_on_null`,
//! `br_on_non_null`), `return`, `unreachable`, `nop`, `drop`, `select`.
//!
//! Every wasm block becomes a Cranelift block for its end (the *exit*,
//! whose parameters are the block's results); a loop also gets a header
//! block (parameters: the loop's parameters) that backward branches target.
//! Blocks are sealed as soon as all their predecessors are known: an exit
//! at its `end`, a header at the loop's `end`, an `else` block at once.
//!
//! Code after an unconditional branch is unreachable until the `end` (or
//! `else`) of a block that something branched to; the translator skips it,
//! counting the blocks opened inside it.

use cranelift_codegen::ir::{self, condcodes::IntCC, InstBuilder};
use lucet_module::Builtin;
use wasmparser::{BlockType, Operator};

use super::env::{ir_type, wasm_ir_type};
use super::frames::{Frame, FrameKind};
use super::state::{block_args, TResult, Translation};
use super::traps;

impl Frame {
    /// The block a branch to this frame goes to, and how many values it
    /// carries.
    fn branch_target(&self) -> (ir::Block, usize) {
        match self.kind {
            FrameKind::Loop { header } => (header, self.num_params),
            _ => (self.exit, self.num_results),
        }
    }
}

impl Translation<'_, '_> {
    /// Parameter and result types of a block type.
    pub(super) fn block_signature(&self, ty: BlockType) -> (Vec<ir::Type>, Vec<ir::Type>) {
        match ty {
            BlockType::Empty => (Vec::new(), Vec::new()),
            BlockType::Type(t) => (Vec::new(), vec![wasm_ir_type(t)]),
            BlockType::FuncType(index) => {
                let ty = self.env.module.info.type_at(index);
                (
                    ty.params.iter().map(|t| ir_type(*t)).collect(),
                    ty.results.iter().map(|t| ir_type(*t)).collect(),
                )
            }
        }
    }

    fn new_block_with_params(&mut self, types: &[ir::Type]) -> ir::Block {
        let block = self.b.create_block();
        for t in types {
            self.b.append_block_param(block, *t);
        }
        block
    }

    /// Opens the function body's frame.
    pub(super) fn push_function_frame(&mut self, results: &[lucet_module::ValType]) {
        let types: Vec<ir::Type> = results.iter().map(|t| ir_type(*t)).collect();
        let exit = self.new_block_with_params(&types);
        self.control.push(Frame {
            kind: FrameKind::Function,
            exit,
            num_params: 0,
            num_results: types.len(),
            height: 0,
            exit_reached: false,
        });
    }

    /// Opens a block-like frame (block, if, try_table) for `ty`.
    pub(super) fn push_frame(&mut self, kind: FrameKind, ty: BlockType) -> ir::Block {
        let (params, results) = self.block_signature(ty);
        let exit = self.new_block_with_params(&results);
        let height = self.stack.len() - params.len();
        self.volume += (height + self.locals.len()) as u64;
        self.control.push(Frame {
            kind,
            exit,
            num_params: params.len(),
            num_results: results.len(),
            height,
            exit_reached: false,
        });
        exit
    }

    /// Jumps to `block` with `args` and leaves the current block.
    fn jump(&mut self, block: ir::Block, args: &[ir::Value]) {
        self.b.ins().jump(block, &block_args(args));
    }

    /// A fresh block for the straight-line code after a conditional
    /// branch.
    pub(super) fn continue_in_new_block(&mut self) -> ir::Block {
        self.b.create_block()
    }

    /// Where a branch of `depth` goes, marking it reached.
    pub(super) fn branch_target(&mut self, depth: u32) -> (ir::Block, usize) {
        let index = self.control.len() - 1 - depth as usize;
        self.branch_target_at(index)
    }

    /// Where a branch to frame `index` of the control stack goes, marking
    /// it reached.
    pub(super) fn branch_target_at(&mut self, index: usize) -> (ir::Block, usize) {
        let frame = &mut self.control[index];
        if !matches!(frame.kind, FrameKind::Loop { .. }) {
            frame.exit_reached = true;
        }
        frame.branch_target()
    }

    /// Code after an unconditional branch, trap or return: skipped up to
    /// the `end` or `else` that makes code reachable again.
    pub(super) fn dead_operator(&mut self, op: &Operator<'_>) -> TResult {
        match op {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. } => self.dead_depth += 1,
            Operator::Else if self.dead_depth == 0 => self.translate_else(),
            Operator::End if self.dead_depth == 0 => self.translate_end(),
            Operator::End => self.dead_depth -= 1,
            _ => {}
        }
        Ok(())
    }

    pub(super) fn control_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        match op {
            Operator::Nop => {}
            Operator::Unreachable => self.trap(traps::UNREACHABLE),
            Operator::Drop => {
                self.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let (a, b, c) = self.pop3();
                let v = self.ins().select(c, a, b);
                self.push(v);
            }
            Operator::Block { blockty } => {
                self.push_frame(FrameKind::Block, *blockty);
            }
            Operator::Loop { blockty } => self.translate_loop(*blockty),
            Operator::If { blockty } => self.translate_if(*blockty),
            Operator::Else => self.translate_else(),
            Operator::End => self.translate_end(),
            Operator::Br { relative_depth } => {
                let (target, n) = self.branch_target(*relative_depth);
                let args = self.peek_n(n).to_vec();
                self.jump(target, &args);
                self.reachable = false;
            }
            Operator::BrIf { relative_depth } => {
                let cond = self.pop();
                let (target, n) = self.branch_target(*relative_depth);
                let args = block_args(self.peek_n(n));
                let next = self.continue_in_new_block();
                self.b.ins().brif(cond, target, &args, next, &[]);
                self.b.seal_block(next);
                self.b.switch_to_block(next);
            }
            Operator::BrTable { targets } => {
                let index = self.pop();
                let depths: Vec<u32> = targets
                    .targets()
                    .collect::<Result<_, _>>()
                    .expect("validated: br_table targets");
                let default = targets.default();
                let mut calls = Vec::with_capacity(depths.len());
                let (block, n) = self.branch_target(default);
                let args = block_args(self.peek_n(n));
                let default_call = self.b.func.dfg.block_call(block, &args);
                for depth in depths {
                    let (block, _) = self.branch_target(depth);
                    calls.push(self.b.func.dfg.block_call(block, &args));
                }
                let table = self
                    .b
                    .create_jump_table(ir::JumpTableData::new(default_call, &calls));
                self.b.ins().br_table(index, table);
                self.reachable = false;
            }
            Operator::Return => {
                let (exit, n) = self.branch_target(self.control.len() as u32 - 1);
                let args = self.peek_n(n).to_vec();
                self.jump(exit, &args);
                self.reachable = false;
            }
            Operator::BrOnNull { relative_depth } => {
                // Branch if null (the reference is dropped), else keep it.
                let r = *self.stack.last().expect("validated: br_on_null operand");
                let (target, n) = self.branch_target(*relative_depth);
                let len = self.stack.len();
                let args = block_args(&self.stack[len - 1 - n..len - 1]);
                let is_null = self.ins().icmp_imm_s(IntCC::Equal, r, 0);
                let next = self.continue_in_new_block();
                self.b.ins().brif(is_null, target, &args, next, &[]);
                self.b.seal_block(next);
                self.b.switch_to_block(next);
            }
            Operator::BrOnNonNull { relative_depth } => {
                // Branch with the reference if it is not null, else drop it.
                let r = self.pop();
                let (target, n) = self.branch_target(*relative_depth);
                self.push(r);
                let args = block_args(self.peek_n(n));
                self.pop();
                let next = self.continue_in_new_block();
                self.b.ins().brif(r, target, &args, next, &[]);
                self.b.seal_block(next);
                self.b.switch_to_block(next);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn translate_loop(&mut self, ty: BlockType) {
        let (params, _) = self.block_signature(ty);
        let header = self.new_block_with_params(&params);
        let args = self.peek_n(params.len()).to_vec();
        self.jump(header, &args);
        self.push_frame(FrameKind::Loop { header }, ty);
        self.b.switch_to_block(header);
        // The loop's parameters are the header's.
        let n = params.len();
        let at = self.stack.len() - n;
        self.truncate_stack(at);
        let values = self.b.block_params(header).to_vec();
        self.stack.extend(values);
        self.loop_header_checks();
    }

    /// At every loop header: fuel and interruption.
    fn loop_header_checks(&mut self) {
        if let Some(fuel) = &mut self.fuel {
            fuel.check(&mut self.b, &mut self.env);
        }
        if self.env.module.settings.interruptible {
            self.interrupt_check();
        }
    }

    /// Calls the `Interrupted` builtin when the interrupt word is set: a
    /// cold call, no trap and no signal. A killed run never comes back
    /// from it; a preempted one comes back when the host resumes it, and
    /// goes on.
    pub(super) fn interrupt_check(&mut self) {
        let word = self.env.interrupt_word(&mut self.b);
        let fuel = &mut self.fuel;
        self.env.cold_detour(&mut self.b, word, |env, b| {
            // What was spent stays readable after a kill, and the host may
            // change the fuel while the run is preempted.
            if let Some(fuel) = fuel.as_mut() {
                fuel.before_exit(b);
            }
            env.call_builtin(b, Builtin::Interrupted, &[]);
            if let Some(fuel) = fuel.as_mut() {
                fuel.after_catch(b);
            }
        });
    }

    fn translate_if(&mut self, ty: BlockType) {
        let cond = self.pop();
        let (params, _) = self.block_signature(ty);
        let params = self.peek_n(params.len()).to_vec();
        let then_block = self.b.create_block();
        let else_block = self.b.create_block();
        self.b.ins().brif(cond, then_block, &[], else_block, &[]);
        self.b.seal_block(then_block);
        self.b.seal_block(else_block);
        self.push_frame(
            FrameKind::If {
                else_block,
                else_seen: false,
                params,
            },
            ty,
        );
        self.b.switch_to_block(then_block);
    }

    fn translate_else(&mut self) {
        let reachable = self.reachable;
        let frame = self.control.last_mut().expect("validated: else in an if");
        let FrameKind::If {
            else_block,
            else_seen,
            params,
        } = &mut frame.kind
        else {
            unreachable!("validated: else outside an if");
        };
        *else_seen = true;
        let else_block = *else_block;
        let params = std::mem::take(params);
        let (exit, n, height) = (frame.exit, frame.num_results, frame.height);
        if reachable {
            frame.exit_reached = true;
            let args = self.peek_n(n).to_vec();
            self.jump(exit, &args);
        }
        self.truncate_stack(height);
        self.stack.extend(params);
        self.dead_depth = 0;
        self.reachable = true;
        self.b.switch_to_block(else_block);
    }

    fn translate_end(&mut self) {
        let mut frame = self.control.pop().expect("validated: end of a block");
        if self.reachable {
            frame.exit_reached = true;
            let args = self.peek_n(frame.num_results).to_vec();
            self.jump(frame.exit, &args);
        }
        if let FrameKind::If {
            else_block,
            else_seen: false,
            params,
        } = &frame.kind
        {
            // No else: the false edge passes the parameters through.
            frame.exit_reached = true;
            let params = params.clone();
            self.b.switch_to_block(*else_block);
            self.jump(frame.exit, &params);
        }
        if let FrameKind::Loop { header } = frame.kind {
            self.b.seal_block(header);
        }
        if matches!(frame.kind, FrameKind::TryTable) {
            self.end_try_table();
        }
        self.truncate_stack(frame.height);
        self.dead_depth = 0;
        self.b.seal_block(frame.exit);
        if !frame.exit_reached {
            // Nothing goes on after this block.
            self.reachable = false;
            return;
        }
        self.b.switch_to_block(frame.exit);
        self.reachable = true;
        let results = self.b.block_params(frame.exit).to_vec();
        if matches!(frame.kind, FrameKind::Function) {
            self.before_return();
            self.b.ins().return_(&results);
            self.reachable = false;
        } else {
            self.stack.extend(results);
        }
    }

    /// Before control leaves the function normally.
    pub(super) fn before_return(&mut self) {
        if let Some(fuel) = &mut self.fuel {
            fuel.before_exit(&mut self.b);
        }
    }
}
