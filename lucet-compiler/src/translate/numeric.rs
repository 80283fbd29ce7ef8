//! Scalar integer and float operators: constants, arithmetic, bit
//! operations, comparisons and conversions.
//!
//! Cranelift's instructions already have WebAssembly's semantics where it
//! matters: shift counts are taken modulo the width, `sdiv` traps on
//! overflow, `srem` of the smallest integer by -1 is 0, `fmin`/`fmax`
//! propagate NaN and order zeros, `fcvt_to_*int` traps on NaN and overflow
//! with the codes the runtime expects.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData};
use wasmparser::Operator;

use super::state::{TResult, Translation};

impl Translation<'_, '_> {
    fn unop(&mut self, f: impl FnOnce(&mut Self, ir::Value) -> ir::Value) {
        let a = self.pop();
        let v = f(self, a);
        self.push(v);
    }

    fn binop(&mut self, f: impl FnOnce(&mut Self, ir::Value, ir::Value) -> ir::Value) {
        let (a, b) = self.pop2();
        let v = f(self, a, b);
        self.push(v);
    }

    /// A comparison: its boolean (an `i8`) as the `i32` wasm wants.
    fn compare(&mut self, f: impl FnOnce(&mut Self, ir::Value, ir::Value) -> ir::Value) {
        let (a, b) = self.pop2();
        let c = f(self, a, b);
        let v = self.ins().uextend(types::I32, c);
        self.push(v);
    }

    fn icmp(&mut self, cc: IntCC) {
        self.compare(|t, a, b| t.ins().icmp(cc, a, b));
    }

    fn fcmp(&mut self, cc: FloatCC) {
        self.compare(|t, a, b| t.ins().fcmp(cc, a, b));
    }

    fn eqz(&mut self) {
        let a = self.pop();
        let c = self.ins().icmp_imm_s(IntCC::Equal, a, 0);
        let v = self.ins().uextend(types::I32, c);
        self.push(v);
    }

    /// Sign-extends the low `from` bits of the operand to its width.
    fn extend_low(&mut self, from: ir::Type) {
        self.unop(|t, a| {
            let ty = t.b.func.dfg.value_type(a);
            let low = t.ins().ireduce(from, a);
            t.ins().sextend(ty, low)
        });
    }

    fn reinterpret(&mut self, to: ir::Type) {
        self.unop(|t, a| t.ins().bitcast(to, MemFlagsData::new(), a));
    }

    pub(super) fn numeric_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        use types::{F32, F64, I16, I32, I64, I8};
        use Operator::*;
        match op {
            I32Const { value } => {
                let v = self.ins().iconst(I32, i64::from(*value));
                self.push(v);
            }
            I64Const { value } => {
                let v = self.ins().iconst(I64, *value);
                self.push(v);
            }
            F32Const { value } => {
                let v = self.ins().f32const(Ieee32::with_bits(value.bits()));
                self.push(v);
            }
            F64Const { value } => {
                let v = self.ins().f64const(Ieee64::with_bits(value.bits()));
                self.push(v);
            }

            I32Eqz | I64Eqz => self.eqz(),
            I32Eq | I64Eq => self.icmp(IntCC::Equal),
            I32Ne | I64Ne => self.icmp(IntCC::NotEqual),
            I32LtS | I64LtS => self.icmp(IntCC::SignedLessThan),
            I32LtU | I64LtU => self.icmp(IntCC::UnsignedLessThan),
            I32GtS | I64GtS => self.icmp(IntCC::SignedGreaterThan),
            I32GtU | I64GtU => self.icmp(IntCC::UnsignedGreaterThan),
            I32LeS | I64LeS => self.icmp(IntCC::SignedLessThanOrEqual),
            I32LeU | I64LeU => self.icmp(IntCC::UnsignedLessThanOrEqual),
            I32GeS | I64GeS => self.icmp(IntCC::SignedGreaterThanOrEqual),
            I32GeU | I64GeU => self.icmp(IntCC::UnsignedGreaterThanOrEqual),
            F32Eq | F64Eq => self.fcmp(FloatCC::Equal),
            F32Ne | F64Ne => self.fcmp(FloatCC::NotEqual),
            F32Lt | F64Lt => self.fcmp(FloatCC::LessThan),
            F32Gt | F64Gt => self.fcmp(FloatCC::GreaterThan),
            F32Le | F64Le => self.fcmp(FloatCC::LessThanOrEqual),
            F32Ge | F64Ge => self.fcmp(FloatCC::GreaterThanOrEqual),

            I32Clz | I64Clz => self.unop(|t, a| t.ins().clz(a)),
            I32Ctz | I64Ctz => self.unop(|t, a| t.ins().ctz(a)),
            I32Popcnt | I64Popcnt => self.unop(|t, a| t.ins().popcnt(a)),
            I32Add | I64Add => self.binop(|t, a, b| t.ins().iadd(a, b)),
            I32Sub | I64Sub => self.binop(|t, a, b| t.ins().isub(a, b)),
            I32Mul | I64Mul => self.binop(|t, a, b| t.ins().imul(a, b)),
            I32DivS | I64DivS => self.binop(|t, a, b| t.ins().sdiv(a, b)),
            I32DivU | I64DivU => self.binop(|t, a, b| t.ins().udiv(a, b)),
            I32RemS | I64RemS => self.binop(|t, a, b| t.ins().srem(a, b)),
            I32RemU | I64RemU => self.binop(|t, a, b| t.ins().urem(a, b)),
            I32And | I64And => self.binop(|t, a, b| t.ins().band(a, b)),
            I32Or | I64Or => self.binop(|t, a, b| t.ins().bor(a, b)),
            I32Xor | I64Xor => self.binop(|t, a, b| t.ins().bxor(a, b)),
            I32Shl | I64Shl => self.binop(|t, a, b| t.ins().ishl(a, b)),
            I32ShrS | I64ShrS => self.binop(|t, a, b| t.ins().sshr(a, b)),
            I32ShrU | I64ShrU => self.binop(|t, a, b| t.ins().ushr(a, b)),
            I32Rotl | I64Rotl => self.binop(|t, a, b| t.ins().rotl(a, b)),
            I32Rotr | I64Rotr => self.binop(|t, a, b| t.ins().rotr(a, b)),

            F32Abs | F64Abs => self.unop(|t, a| t.ins().fabs(a)),
            F32Neg | F64Neg => self.unop(|t, a| t.ins().fneg(a)),
            F32Ceil | F64Ceil => self.unop(|t, a| t.ins().ceil(a)),
            F32Floor | F64Floor => self.unop(|t, a| t.ins().floor(a)),
            F32Trunc | F64Trunc => self.unop(|t, a| t.ins().trunc(a)),
            F32Nearest | F64Nearest => self.unop(|t, a| t.ins().nearest(a)),
            F32Sqrt | F64Sqrt => self.unop(|t, a| t.ins().sqrt(a)),
            F32Add | F64Add => self.binop(|t, a, b| t.ins().fadd(a, b)),
            F32Sub | F64Sub => self.binop(|t, a, b| t.ins().fsub(a, b)),
            F32Mul | F64Mul => self.binop(|t, a, b| t.ins().fmul(a, b)),
            F32Div | F64Div => self.binop(|t, a, b| t.ins().fdiv(a, b)),
            F32Min | F64Min => self.binop(|t, a, b| t.ins().fmin(a, b)),
            F32Max | F64Max => self.binop(|t, a, b| t.ins().fmax(a, b)),
            F32Copysign | F64Copysign => self.binop(|t, a, b| t.ins().fcopysign(a, b)),

            I32WrapI64 => self.unop(|t, a| t.ins().ireduce(I32, a)),
            I64ExtendI32S => self.unop(|t, a| t.ins().sextend(I64, a)),
            I64ExtendI32U => self.unop(|t, a| t.ins().uextend(I64, a)),
            I32Extend8S | I64Extend8S => self.extend_low(I8),
            I32Extend16S | I64Extend16S => self.extend_low(I16),
            I64Extend32S => self.extend_low(I32),

            I32TruncF32S | I32TruncF64S => self.unop(|t, a| t.ins().fcvt_to_sint(I32, a)),
            I32TruncF32U | I32TruncF64U => self.unop(|t, a| t.ins().fcvt_to_uint(I32, a)),
            I64TruncF32S | I64TruncF64S => self.unop(|t, a| t.ins().fcvt_to_sint(I64, a)),
            I64TruncF32U | I64TruncF64U => self.unop(|t, a| t.ins().fcvt_to_uint(I64, a)),
            I32TruncSatF32S | I32TruncSatF64S => self.unop(|t, a| t.ins().fcvt_to_sint_sat(I32, a)),
            I32TruncSatF32U | I32TruncSatF64U => self.unop(|t, a| t.ins().fcvt_to_uint_sat(I32, a)),
            I64TruncSatF32S | I64TruncSatF64S => self.unop(|t, a| t.ins().fcvt_to_sint_sat(I64, a)),
            I64TruncSatF32U | I64TruncSatF64U => self.unop(|t, a| t.ins().fcvt_to_uint_sat(I64, a)),
            F32ConvertI32S | F32ConvertI64S => self.unop(|t, a| t.ins().fcvt_from_sint(F32, a)),
            F32ConvertI32U | F32ConvertI64U => self.unop(|t, a| t.ins().fcvt_from_uint(F32, a)),
            F64ConvertI32S | F64ConvertI64S => self.unop(|t, a| t.ins().fcvt_from_sint(F64, a)),
            F64ConvertI32U | F64ConvertI64U => self.unop(|t, a| t.ins().fcvt_from_uint(F64, a)),
            F32DemoteF64 => self.unop(|t, a| t.ins().fdemote(F32, a)),
            F64PromoteF32 => self.unop(|t, a| t.ins().fpromote(F64, a)),
            I32ReinterpretF32 => self.reinterpret(I32),
            I64ReinterpretF64 => self.reinterpret(I64),
            F32ReinterpretI32 => self.reinterpret(F32),
            F64ReinterpretI64 => self.reinterpret(F64),
            _ => return Ok(false),
        }
        Ok(true)
    }
}
