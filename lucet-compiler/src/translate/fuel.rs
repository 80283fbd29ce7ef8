//! Instruction counting ("fuel"), for `CompileOptions::count_instructions`.
//!
//! The instance header's `fuel` word holds minus the fuel left: code adds
//! the cost of what it executes and traps with `OutOfFuel` when a check
//! finds the sum above zero. Inside a function the count lives in a
//! Cranelift variable; costs are added to it in bulk at the end of each
//! straight-line stretch
//! (branches, block ends, loop entries, calls), and it goes back to the
//! header before anything that leaves the function (calls, returns, tail
//! calls, `unreachable`, the out-of-fuel trap) and is reloaded after calls. The check (`fuel >
//! 0`) sits at function entries and loop headers, the only places where
//! execution can come back around, so every run is bounded: it stops at the
//! first check after its fuel is spent, having overrun by at most the
//! straight-line code since the previous check.
//!
//! Each operator costs 1, except the ones that do no work of their own
//! (`nop`, `drop`, `block`, `loop`, `else`, `end`, `return`,
//! `unreachable`), which cost 0. The count is exact for code that returns or runs
//! out of fuel; an instruction that traps for another reason may leave the
//! stretch it ends uncounted, which only matters to a host that reads the
//! fuel left after such a trap.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData};
use cranelift_frontend::{FunctionBuilder, Variable};
use lucet_module::InstanceHeader;
use wasmparser::Operator;

use super::env::FuncEnv;
use super::traps::OUT_OF_FUEL;

/// What an operator costs.
pub fn operator_cost(op: &Operator) -> i64 {
    match op {
        Operator::Nop
        | Operator::Drop
        | Operator::Block { .. }
        | Operator::Loop { .. }
        | Operator::Unreachable
        | Operator::Return
        | Operator::Else
        | Operator::End => 0,
        _ => 1,
    }
}

/// The fuel count of the function being translated.
#[derive(Debug)]
pub struct FuelCounter {
    /// Holds minus the fuel left.
    var: Variable,
    /// The function's vmctx parameter.
    vmctx: ir::Value,
    /// Cost of operators translated since `var` was last updated.
    pending: i64,
}

impl FuelCounter {
    /// At function entry: declares the counter's variable, loads the count
    /// and checks it.
    pub fn function_entry(
        builder: &mut FunctionBuilder,
        env: &mut FuncEnv,
        vmctx: ir::Value,
    ) -> Self {
        let var = builder.declare_var(types::I64);
        let mut counter = FuelCounter {
            var,
            vmctx,
            // Even a function that does nothing costs something to call.
            pending: 1,
        };
        counter.load(builder);
        counter.check(builder, env);
        counter
    }

    /// Before translating `op` (reachable code only).
    pub fn before_op(&mut self, op: &Operator, builder: &mut FunctionBuilder) {
        self.pending += operator_cost(op);
        match op {
            // Control leaves the function (or may, for a host that reads the
            // count): the header must be current.
            Operator::Unreachable
            | Operator::Throw { .. }
            | Operator::ThrowRef
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. } => {
                self.flush(builder);
                self.save(builder);
            }
            // The end of a straight-line stretch. (`return` is saved by
            // `before_return`; `block` entry is unconditional and needs
            // nothing.)
            Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. }
            | Operator::Else
            | Operator::End
            | Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. }
            | Operator::Return => self.flush(builder),
            _ => {}
        }
    }

    /// After translating `op` (reachable code only).
    pub fn after_op(&mut self, op: &Operator, builder: &mut FunctionBuilder) {
        // The callee counted on the header's word.
        if let Operator::Call { .. } | Operator::CallIndirect { .. } | Operator::CallRef { .. } = op
        {
            self.load(builder);
        }
    }

    /// At an exception handler: the thrower saved the count to the header.
    pub fn after_catch(&mut self, builder: &mut FunctionBuilder) {
        self.load(builder);
    }

    /// Before a return or an access that traps unconditionally: the header
    /// must be current.
    pub fn before_exit(&mut self, builder: &mut FunctionBuilder) {
        self.flush(builder);
        self.save(builder);
    }

    /// At a loop header (and function entry): traps with `OUT_OF_FUEL` if
    /// no fuel is left.
    pub fn check(&mut self, builder: &mut FunctionBuilder, env: &mut FuncEnv) {
        self.flush(builder);
        let fuel = builder.use_var(self.var);
        let exhausted = builder.ins().icmp_imm_s(IntCC::SignedGreaterThan, fuel, 0);
        env.cold_exit(builder, exhausted, true, |env, b| {
            // The header must say what was spent (the host reads it as none
            // left), whichever instance's code this is.
            self.save(b);
            env.trap(b, OUT_OF_FUEL);
        });
    }

    /// Adds the pending cost to the variable.
    fn flush(&mut self, builder: &mut FunctionBuilder) {
        let cost = std::mem::take(&mut self.pending);
        if cost != 0 {
            let fuel = builder.use_var(self.var);
            let fuel = builder.ins().iadd_imm_s(fuel, cost);
            builder.def_var(self.var, fuel);
        }
    }

    fn load(&mut self, builder: &mut FunctionBuilder) {
        let fuel = builder.ins().load(
            types::I64,
            MemFlagsData::trusted(),
            self.vmctx,
            InstanceHeader::OFFSET_FUEL,
        );
        builder.def_var(self.var, fuel);
    }

    fn save(&mut self, builder: &mut FunctionBuilder) {
        let fuel = builder.use_var(self.var);
        builder.ins().store(
            MemFlagsData::trusted(),
            fuel,
            self.vmctx,
            InstanceHeader::OFFSET_FUEL,
        );
    }
}
