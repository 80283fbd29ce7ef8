//! 128-bit SIMD and relaxed SIMD.
//!
//! A `v128` has no lane type in wasm; Cranelift's vectors do. Values on
//! the operand stack (and in locals, block parameters and calls) are all
//! `I8X16`; an operator bitcasts its operands to the lane type it works on
//! and its result back (bitcasts between vector types are free).
//!
//! Relaxed SIMD operators may give implementation-defined results. By
//! default Lucet gives the same results on every machine (the operator's
//! fully specified counterpart: `swizzle` for `relaxed_swizzle`, a fused
//! multiply-add for `relaxed_madd`, saturating conversions, `bitselect`,
//! NaN-propagating `min`/`max`, signed dot products); with
//! `RelaxedSimd::Native` it uses the host's instructions.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{self, types, ConstantData, InstBuilder, MemFlagsData};
use wasmparser::{MemArg, Operator};

use super::memory::heap_flags;
use super::state::{TResult, Translation};
use crate::RelaxedSimd;

use types::{F32X4, F64X2, I16, I16X8, I32, I32X4, I64, I64X2, I8, I8X16};

/// The flags of bitcasts between vector types (lane order is
/// little-endian, as in wasm).
fn lanes() -> MemFlagsData {
    MemFlagsData::new().with_endianness(ir::Endianness::Little)
}

impl Translation<'_, '_> {
    /// `v` as a vector of type `ty`.
    fn as_vector(&mut self, v: ir::Value, ty: ir::Type) -> ir::Value {
        if self.b.func.dfg.value_type(v) == ty {
            v
        } else {
            self.ins().bitcast(ty, lanes(), v)
        }
    }

    fn vpop(&mut self, ty: ir::Type) -> ir::Value {
        let v = self.pop();
        self.as_vector(v, ty)
    }

    fn vpop2(&mut self, ty: ir::Type) -> (ir::Value, ir::Value) {
        let b = self.vpop(ty);
        let a = self.vpop(ty);
        (a, b)
    }

    /// Pushes a vector result as `I8X16`.
    fn vpush(&mut self, v: ir::Value) {
        let v = self.as_vector(v, I8X16);
        self.push(v);
    }

    fn vunop(&mut self, ty: ir::Type, f: impl FnOnce(&mut Self, ir::Value) -> ir::Value) {
        let a = self.vpop(ty);
        let v = f(self, a);
        self.vpush(v);
    }

    fn vbinop(
        &mut self,
        ty: ir::Type,
        f: impl FnOnce(&mut Self, ir::Value, ir::Value) -> ir::Value,
    ) {
        let (a, b) = self.vpop2(ty);
        let v = f(self, a, b);
        self.vpush(v);
    }

    fn vicmp(&mut self, ty: ir::Type, cc: IntCC) {
        self.vbinop(ty, |t, a, b| t.ins().icmp(cc, a, b));
    }

    fn vfcmp(&mut self, ty: ir::Type, cc: FloatCC) {
        self.vbinop(ty, |t, a, b| t.ins().fcmp(cc, a, b));
    }

    /// A vector shift by a scalar count (taken modulo the lane width).
    fn vshift(
        &mut self,
        ty: ir::Type,
        f: impl FnOnce(&mut Self, ir::Value, ir::Value) -> ir::Value,
    ) {
        let count = self.pop();
        let a = self.vpop(ty);
        let v = f(self, a, count);
        self.vpush(v);
    }

    /// An `i32` result from a boolean (`i8`).
    fn push_bool(&mut self, c: ir::Value) {
        let v = self.ins().uextend(I32, c);
        self.push(v);
    }

    /// A pseudo-minimum or -maximum: `b < a ? b : a` (or `a < b ? b : a`),
    /// lane by lane, exactly as wasm's `pmin` and `pmax`.
    fn pseudo_min_max(&mut self, ty: ir::Type, max: bool) {
        let (a, b) = self.vpop2(ty);
        let cmp = if max {
            self.ins().fcmp(FloatCC::LessThan, a, b)
        } else {
            self.ins().fcmp(FloatCC::LessThan, b, a)
        };
        let cmp = self.as_vector(cmp, ty);
        let v = self.ins().bitselect(cmp, b, a);
        self.vpush(v);
    }

    fn vconst(&mut self, ty: ir::Type, bytes: &[u8; 16]) -> ir::Value {
        let c = self
            .b
            .func
            .dfg
            .constants
            .insert(ConstantData::from(bytes.to_vec()));
        self.ins().vconst(ty, c)
    }

    /// Widening pairwise dot product of signed 8-bit lanes: lane `i` of the
    /// `I16X8` result is `a[2i]*b[2i] + a[2i+1]*b[2i+1]`, wrapping.
    fn dot_i8x16_signed(&mut self, a: ir::Value, b: ir::Value) -> ir::Value {
        let a_lo = self.ins().swiden_low(a);
        let a_hi = self.ins().swiden_high(a);
        let b_lo = self.ins().swiden_low(b);
        let b_hi = self.ins().swiden_high(b);
        let lo = self.ins().imul(a_lo, b_lo);
        let hi = self.ins().imul(a_hi, b_hi);
        self.ins().iadd_pairwise(lo, hi)
    }

    /// Whether relaxed operators use the target's own instructions: on
    /// x86_64 those differ from the deterministic results; elsewhere the
    /// deterministic lowering is already the native one.
    fn native_relaxed(&self) -> bool {
        // Cranelift's name of its x86_64 backend.
        self.env.module.settings.relaxed_simd == RelaxedSimd::Native
            && self.env.module.isa.name() == "x64"
    }

    fn vload(
        &mut self,
        memarg: &MemArg,
        size: u32,
        load: impl FnOnce(&mut Self, ir::Value, i32) -> ir::Value,
    ) -> TResult {
        if let Some((addr, offset)) = self.effective_address(memarg, size)? {
            let v = load(self, addr, offset);
            self.vpush(v);
        }
        Ok(())
    }

    fn load_splat(&mut self, memarg: &MemArg, scalar: ir::Type, vector: ir::Type) -> TResult {
        let size = scalar.bytes();
        self.vload(memarg, size, |t, a, o| {
            let x = t.ins().load(scalar, heap_flags(), a, o);
            t.ins().splat(vector, x)
        })
    }

    fn load_zero(&mut self, memarg: &MemArg, scalar: ir::Type, vector: ir::Type) -> TResult {
        let size = scalar.bytes();
        self.vload(memarg, size, |t, a, o| {
            let x = t.ins().load(scalar, heap_flags(), a, o);
            t.ins().scalar_to_vector(vector, x)
        })
    }

    fn load_lane(
        &mut self,
        memarg: &MemArg,
        lane: u8,
        scalar: ir::Type,
        vector: ir::Type,
    ) -> TResult {
        let v = self.vpop(vector);
        if let Some((addr, offset)) = self.effective_address(memarg, scalar.bytes())? {
            let x = self.ins().load(scalar, heap_flags(), addr, offset);
            let r = self.ins().insertlane(v, x, lane);
            self.vpush(r);
        }
        Ok(())
    }

    fn store_lane(&mut self, memarg: &MemArg, lane: u8, vector: ir::Type) -> TResult {
        let v = self.vpop(vector);
        let size = vector.lane_type().bytes();
        if let Some((addr, offset)) = self.effective_address(memarg, size)? {
            let x = self.ins().extractlane(v, lane);
            self.ins().store(heap_flags(), x, addr, offset);
        }
        Ok(())
    }

    fn splat(&mut self, vector: ir::Type) {
        let x = self.pop();
        let lane = vector.lane_type();
        let x = if self.b.func.dfg.value_type(x) != lane {
            self.ins().ireduce(lane, x)
        } else {
            x
        };
        let v = self.ins().splat(vector, x);
        self.vpush(v);
    }

    fn extract_lane(&mut self, vector: ir::Type, lane: u8, extend: Option<bool>) {
        let v = self.vpop(vector);
        let x = self.ins().extractlane(v, lane);
        let x = match extend {
            Some(true) => self.ins().sextend(I32, x),
            Some(false) => self.ins().uextend(I32, x),
            None => x,
        };
        self.push(x);
    }

    fn replace_lane(&mut self, vector: ir::Type, lane: u8) {
        let x = self.pop();
        let v = self.vpop(vector);
        let lane_ty = vector.lane_type();
        let x = if self.b.func.dfg.value_type(x) != lane_ty {
            self.ins().ireduce(lane_ty, x)
        } else {
            x
        };
        let r = self.ins().insertlane(v, x, lane);
        self.vpush(r);
    }

    pub(super) fn simd_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        use Operator::*;
        let f = heap_flags();
        match op {
            V128Load { memarg } => {
                self.vload(memarg, 16, |t, a, o| t.ins().load(I8X16, f, a, o))?
            }
            V128Load8x8S { memarg } => {
                self.vload(memarg, 8, |t, a, o| t.ins().sload8x8(f, a, o))?
            }
            V128Load8x8U { memarg } => {
                self.vload(memarg, 8, |t, a, o| t.ins().uload8x8(f, a, o))?
            }
            V128Load16x4S { memarg } => {
                self.vload(memarg, 8, |t, a, o| t.ins().sload16x4(f, a, o))?
            }
            V128Load16x4U { memarg } => {
                self.vload(memarg, 8, |t, a, o| t.ins().uload16x4(f, a, o))?
            }
            V128Load32x2S { memarg } => {
                self.vload(memarg, 8, |t, a, o| t.ins().sload32x2(f, a, o))?
            }
            V128Load32x2U { memarg } => {
                self.vload(memarg, 8, |t, a, o| t.ins().uload32x2(f, a, o))?
            }
            V128Load8Splat { memarg } => self.load_splat(memarg, I8, I8X16)?,
            V128Load16Splat { memarg } => self.load_splat(memarg, I16, I16X8)?,
            V128Load32Splat { memarg } => self.load_splat(memarg, I32, I32X4)?,
            V128Load64Splat { memarg } => self.load_splat(memarg, I64, I64X2)?,
            V128Load32Zero { memarg } => self.load_zero(memarg, I32, I32X4)?,
            V128Load64Zero { memarg } => self.load_zero(memarg, I64, I64X2)?,
            V128Store { memarg } => {
                let v = self.pop();
                if let Some((addr, offset)) = self.effective_address(memarg, 16)? {
                    self.ins().store(f, v, addr, offset);
                }
            }
            V128Load8Lane { memarg, lane } => self.load_lane(memarg, *lane, I8, I8X16)?,
            V128Load16Lane { memarg, lane } => self.load_lane(memarg, *lane, I16, I16X8)?,
            V128Load32Lane { memarg, lane } => self.load_lane(memarg, *lane, I32, I32X4)?,
            V128Load64Lane { memarg, lane } => self.load_lane(memarg, *lane, I64, I64X2)?,
            V128Store8Lane { memarg, lane } => self.store_lane(memarg, *lane, I8X16)?,
            V128Store16Lane { memarg, lane } => self.store_lane(memarg, *lane, I16X8)?,
            V128Store32Lane { memarg, lane } => self.store_lane(memarg, *lane, I32X4)?,
            V128Store64Lane { memarg, lane } => self.store_lane(memarg, *lane, I64X2)?,
            V128Const { value } => {
                let v = self.vconst(I8X16, value.bytes());
                self.push(v);
            }
            I8x16Shuffle { lanes } => {
                let (a, b) = self.vpop2(I8X16);
                let mask = self
                    .b
                    .func
                    .dfg
                    .immediates
                    .push(ConstantData::from(lanes.to_vec()));
                let v = self.ins().shuffle(a, b, mask);
                self.vpush(v);
            }
            I8x16ExtractLaneS { lane } => self.extract_lane(I8X16, *lane, Some(true)),
            I8x16ExtractLaneU { lane } => self.extract_lane(I8X16, *lane, Some(false)),
            I16x8ExtractLaneS { lane } => self.extract_lane(I16X8, *lane, Some(true)),
            I16x8ExtractLaneU { lane } => self.extract_lane(I16X8, *lane, Some(false)),
            I32x4ExtractLane { lane } => self.extract_lane(I32X4, *lane, None),
            I64x2ExtractLane { lane } => self.extract_lane(I64X2, *lane, None),
            F32x4ExtractLane { lane } => self.extract_lane(F32X4, *lane, None),
            F64x2ExtractLane { lane } => self.extract_lane(F64X2, *lane, None),
            I8x16ReplaceLane { lane } => self.replace_lane(I8X16, *lane),
            I16x8ReplaceLane { lane } => self.replace_lane(I16X8, *lane),
            I32x4ReplaceLane { lane } => self.replace_lane(I32X4, *lane),
            I64x2ReplaceLane { lane } => self.replace_lane(I64X2, *lane),
            F32x4ReplaceLane { lane } => self.replace_lane(F32X4, *lane),
            F64x2ReplaceLane { lane } => self.replace_lane(F64X2, *lane),
            I8x16Swizzle => self.vbinop(I8X16, |t, a, b| t.ins().swizzle(a, b)),
            I8x16Splat => self.splat(I8X16),
            I16x8Splat => self.splat(I16X8),
            I32x4Splat => self.splat(I32X4),
            I64x2Splat => self.splat(I64X2),
            F32x4Splat => self.splat(F32X4),
            F64x2Splat => self.splat(F64X2),

            I8x16Eq => self.vicmp(I8X16, IntCC::Equal),
            I8x16Ne => self.vicmp(I8X16, IntCC::NotEqual),
            I8x16LtS => self.vicmp(I8X16, IntCC::SignedLessThan),
            I8x16LtU => self.vicmp(I8X16, IntCC::UnsignedLessThan),
            I8x16GtS => self.vicmp(I8X16, IntCC::SignedGreaterThan),
            I8x16GtU => self.vicmp(I8X16, IntCC::UnsignedGreaterThan),
            I8x16LeS => self.vicmp(I8X16, IntCC::SignedLessThanOrEqual),
            I8x16LeU => self.vicmp(I8X16, IntCC::UnsignedLessThanOrEqual),
            I8x16GeS => self.vicmp(I8X16, IntCC::SignedGreaterThanOrEqual),
            I8x16GeU => self.vicmp(I8X16, IntCC::UnsignedGreaterThanOrEqual),
            I16x8Eq => self.vicmp(I16X8, IntCC::Equal),
            I16x8Ne => self.vicmp(I16X8, IntCC::NotEqual),
            I16x8LtS => self.vicmp(I16X8, IntCC::SignedLessThan),
            I16x8LtU => self.vicmp(I16X8, IntCC::UnsignedLessThan),
            I16x8GtS => self.vicmp(I16X8, IntCC::SignedGreaterThan),
            I16x8GtU => self.vicmp(I16X8, IntCC::UnsignedGreaterThan),
            I16x8LeS => self.vicmp(I16X8, IntCC::SignedLessThanOrEqual),
            I16x8LeU => self.vicmp(I16X8, IntCC::UnsignedLessThanOrEqual),
            I16x8GeS => self.vicmp(I16X8, IntCC::SignedGreaterThanOrEqual),
            I16x8GeU => self.vicmp(I16X8, IntCC::UnsignedGreaterThanOrEqual),
            I32x4Eq => self.vicmp(I32X4, IntCC::Equal),
            I32x4Ne => self.vicmp(I32X4, IntCC::NotEqual),
            I32x4LtS => self.vicmp(I32X4, IntCC::SignedLessThan),
            I32x4LtU => self.vicmp(I32X4, IntCC::UnsignedLessThan),
            I32x4GtS => self.vicmp(I32X4, IntCC::SignedGreaterThan),
            I32x4GtU => self.vicmp(I32X4, IntCC::UnsignedGreaterThan),
            I32x4LeS => self.vicmp(I32X4, IntCC::SignedLessThanOrEqual),
            I32x4LeU => self.vicmp(I32X4, IntCC::UnsignedLessThanOrEqual),
            I32x4GeS => self.vicmp(I32X4, IntCC::SignedGreaterThanOrEqual),
            I32x4GeU => self.vicmp(I32X4, IntCC::UnsignedGreaterThanOrEqual),
            I64x2Eq => self.vicmp(I64X2, IntCC::Equal),
            I64x2Ne => self.vicmp(I64X2, IntCC::NotEqual),
            I64x2LtS => self.vicmp(I64X2, IntCC::SignedLessThan),
            I64x2GtS => self.vicmp(I64X2, IntCC::SignedGreaterThan),
            I64x2LeS => self.vicmp(I64X2, IntCC::SignedLessThanOrEqual),
            I64x2GeS => self.vicmp(I64X2, IntCC::SignedGreaterThanOrEqual),
            F32x4Eq => self.vfcmp(F32X4, FloatCC::Equal),
            F32x4Ne => self.vfcmp(F32X4, FloatCC::NotEqual),
            F32x4Lt => self.vfcmp(F32X4, FloatCC::LessThan),
            F32x4Gt => self.vfcmp(F32X4, FloatCC::GreaterThan),
            F32x4Le => self.vfcmp(F32X4, FloatCC::LessThanOrEqual),
            F32x4Ge => self.vfcmp(F32X4, FloatCC::GreaterThanOrEqual),
            F64x2Eq => self.vfcmp(F64X2, FloatCC::Equal),
            F64x2Ne => self.vfcmp(F64X2, FloatCC::NotEqual),
            F64x2Lt => self.vfcmp(F64X2, FloatCC::LessThan),
            F64x2Gt => self.vfcmp(F64X2, FloatCC::GreaterThan),
            F64x2Le => self.vfcmp(F64X2, FloatCC::LessThanOrEqual),
            F64x2Ge => self.vfcmp(F64X2, FloatCC::GreaterThanOrEqual),

            V128Not => self.vunop(I8X16, |t, a| t.ins().bnot(a)),
            V128And => self.vbinop(I8X16, |t, a, b| t.ins().band(a, b)),
            V128AndNot => self.vbinop(I8X16, |t, a, b| t.ins().band_not(a, b)),
            V128Or => self.vbinop(I8X16, |t, a, b| t.ins().bor(a, b)),
            V128Xor => self.vbinop(I8X16, |t, a, b| t.ins().bxor(a, b)),
            V128Bitselect => {
                let c = self.vpop(I8X16);
                let (a, b) = self.vpop2(I8X16);
                let v = self.ins().bitselect(c, a, b);
                self.vpush(v);
            }
            V128AnyTrue => {
                let a = self.vpop(I8X16);
                let c = self.ins().vany_true(a);
                self.push_bool(c);
            }
            I8x16AllTrue | I16x8AllTrue | I32x4AllTrue | I64x2AllTrue => {
                let ty = match op {
                    I8x16AllTrue => I8X16,
                    I16x8AllTrue => I16X8,
                    I32x4AllTrue => I32X4,
                    _ => I64X2,
                };
                let a = self.vpop(ty);
                let c = self.ins().vall_true(a);
                self.push_bool(c);
            }
            I8x16Bitmask | I16x8Bitmask | I32x4Bitmask | I64x2Bitmask => {
                let ty = match op {
                    I8x16Bitmask => I8X16,
                    I16x8Bitmask => I16X8,
                    I32x4Bitmask => I32X4,
                    _ => I64X2,
                };
                let a = self.vpop(ty);
                let v = self.ins().vhigh_bits(I32, a);
                self.push(v);
            }

            I8x16Abs => self.vunop(I8X16, |t, a| t.ins().iabs(a)),
            I16x8Abs => self.vunop(I16X8, |t, a| t.ins().iabs(a)),
            I32x4Abs => self.vunop(I32X4, |t, a| t.ins().iabs(a)),
            I64x2Abs => self.vunop(I64X2, |t, a| t.ins().iabs(a)),
            I8x16Neg => self.vunop(I8X16, |t, a| t.ins().ineg(a)),
            I16x8Neg => self.vunop(I16X8, |t, a| t.ins().ineg(a)),
            I32x4Neg => self.vunop(I32X4, |t, a| t.ins().ineg(a)),
            I64x2Neg => self.vunop(I64X2, |t, a| t.ins().ineg(a)),
            I8x16Popcnt => self.vunop(I8X16, |t, a| t.ins().popcnt(a)),
            I8x16NarrowI16x8S => self.vbinop(I16X8, |t, a, b| t.ins().snarrow(a, b)),
            I8x16NarrowI16x8U => self.vbinop(I16X8, |t, a, b| t.ins().unarrow(a, b)),
            I16x8NarrowI32x4S => self.vbinop(I32X4, |t, a, b| t.ins().snarrow(a, b)),
            I16x8NarrowI32x4U => self.vbinop(I32X4, |t, a, b| t.ins().unarrow(a, b)),
            I8x16Shl => self.vshift(I8X16, |t, a, c| t.ins().ishl(a, c)),
            I16x8Shl => self.vshift(I16X8, |t, a, c| t.ins().ishl(a, c)),
            I32x4Shl => self.vshift(I32X4, |t, a, c| t.ins().ishl(a, c)),
            I64x2Shl => self.vshift(I64X2, |t, a, c| t.ins().ishl(a, c)),
            I8x16ShrS => self.vshift(I8X16, |t, a, c| t.ins().sshr(a, c)),
            I16x8ShrS => self.vshift(I16X8, |t, a, c| t.ins().sshr(a, c)),
            I32x4ShrS => self.vshift(I32X4, |t, a, c| t.ins().sshr(a, c)),
            I64x2ShrS => self.vshift(I64X2, |t, a, c| t.ins().sshr(a, c)),
            I8x16ShrU => self.vshift(I8X16, |t, a, c| t.ins().ushr(a, c)),
            I16x8ShrU => self.vshift(I16X8, |t, a, c| t.ins().ushr(a, c)),
            I32x4ShrU => self.vshift(I32X4, |t, a, c| t.ins().ushr(a, c)),
            I64x2ShrU => self.vshift(I64X2, |t, a, c| t.ins().ushr(a, c)),
            I8x16Add => self.vbinop(I8X16, |t, a, b| t.ins().iadd(a, b)),
            I16x8Add => self.vbinop(I16X8, |t, a, b| t.ins().iadd(a, b)),
            I32x4Add => self.vbinop(I32X4, |t, a, b| t.ins().iadd(a, b)),
            I64x2Add => self.vbinop(I64X2, |t, a, b| t.ins().iadd(a, b)),
            I8x16Sub => self.vbinop(I8X16, |t, a, b| t.ins().isub(a, b)),
            I16x8Sub => self.vbinop(I16X8, |t, a, b| t.ins().isub(a, b)),
            I32x4Sub => self.vbinop(I32X4, |t, a, b| t.ins().isub(a, b)),
            I64x2Sub => self.vbinop(I64X2, |t, a, b| t.ins().isub(a, b)),
            I16x8Mul => self.vbinop(I16X8, |t, a, b| t.ins().imul(a, b)),
            I32x4Mul => self.vbinop(I32X4, |t, a, b| t.ins().imul(a, b)),
            I64x2Mul => self.vbinop(I64X2, |t, a, b| t.ins().imul(a, b)),
            I8x16AddSatS => self.vbinop(I8X16, |t, a, b| t.ins().sadd_sat(a, b)),
            I16x8AddSatS => self.vbinop(I16X8, |t, a, b| t.ins().sadd_sat(a, b)),
            I8x16AddSatU => self.vbinop(I8X16, |t, a, b| t.ins().uadd_sat(a, b)),
            I16x8AddSatU => self.vbinop(I16X8, |t, a, b| t.ins().uadd_sat(a, b)),
            I8x16SubSatS => self.vbinop(I8X16, |t, a, b| t.ins().ssub_sat(a, b)),
            I16x8SubSatS => self.vbinop(I16X8, |t, a, b| t.ins().ssub_sat(a, b)),
            I8x16SubSatU => self.vbinop(I8X16, |t, a, b| t.ins().usub_sat(a, b)),
            I16x8SubSatU => self.vbinop(I16X8, |t, a, b| t.ins().usub_sat(a, b)),
            I8x16MinS => self.vbinop(I8X16, |t, a, b| t.ins().smin(a, b)),
            I16x8MinS => self.vbinop(I16X8, |t, a, b| t.ins().smin(a, b)),
            I32x4MinS => self.vbinop(I32X4, |t, a, b| t.ins().smin(a, b)),
            I8x16MinU => self.vbinop(I8X16, |t, a, b| t.ins().umin(a, b)),
            I16x8MinU => self.vbinop(I16X8, |t, a, b| t.ins().umin(a, b)),
            I32x4MinU => self.vbinop(I32X4, |t, a, b| t.ins().umin(a, b)),
            I8x16MaxS => self.vbinop(I8X16, |t, a, b| t.ins().smax(a, b)),
            I16x8MaxS => self.vbinop(I16X8, |t, a, b| t.ins().smax(a, b)),
            I32x4MaxS => self.vbinop(I32X4, |t, a, b| t.ins().smax(a, b)),
            I8x16MaxU => self.vbinop(I8X16, |t, a, b| t.ins().umax(a, b)),
            I16x8MaxU => self.vbinop(I16X8, |t, a, b| t.ins().umax(a, b)),
            I32x4MaxU => self.vbinop(I32X4, |t, a, b| t.ins().umax(a, b)),
            I8x16AvgrU => self.vbinop(I8X16, |t, a, b| t.ins().avg_round(a, b)),
            I16x8AvgrU => self.vbinop(I16X8, |t, a, b| t.ins().avg_round(a, b)),
            I16x8Q15MulrSatS => self.vbinop(I16X8, |t, a, b| t.ins().sqmul_round_sat(a, b)),

            I16x8ExtAddPairwiseI8x16S | I32x4ExtAddPairwiseI16x8S => {
                let ty = if matches!(op, I16x8ExtAddPairwiseI8x16S) {
                    I8X16
                } else {
                    I16X8
                };
                self.vunop(ty, |t, a| {
                    let lo = t.ins().swiden_low(a);
                    let hi = t.ins().swiden_high(a);
                    t.ins().iadd_pairwise(lo, hi)
                })
            }
            I16x8ExtAddPairwiseI8x16U | I32x4ExtAddPairwiseI16x8U => {
                let ty = if matches!(op, I16x8ExtAddPairwiseI8x16U) {
                    I8X16
                } else {
                    I16X8
                };
                self.vunop(ty, |t, a| {
                    let lo = t.ins().uwiden_low(a);
                    let hi = t.ins().uwiden_high(a);
                    t.ins().iadd_pairwise(lo, hi)
                })
            }
            I16x8ExtendLowI8x16S => self.vunop(I8X16, |t, a| t.ins().swiden_low(a)),
            I16x8ExtendHighI8x16S => self.vunop(I8X16, |t, a| t.ins().swiden_high(a)),
            I16x8ExtendLowI8x16U => self.vunop(I8X16, |t, a| t.ins().uwiden_low(a)),
            I16x8ExtendHighI8x16U => self.vunop(I8X16, |t, a| t.ins().uwiden_high(a)),
            I32x4ExtendLowI16x8S => self.vunop(I16X8, |t, a| t.ins().swiden_low(a)),
            I32x4ExtendHighI16x8S => self.vunop(I16X8, |t, a| t.ins().swiden_high(a)),
            I32x4ExtendLowI16x8U => self.vunop(I16X8, |t, a| t.ins().uwiden_low(a)),
            I32x4ExtendHighI16x8U => self.vunop(I16X8, |t, a| t.ins().uwiden_high(a)),
            I64x2ExtendLowI32x4S => self.vunop(I32X4, |t, a| t.ins().swiden_low(a)),
            I64x2ExtendHighI32x4S => self.vunop(I32X4, |t, a| t.ins().swiden_high(a)),
            I64x2ExtendLowI32x4U => self.vunop(I32X4, |t, a| t.ins().uwiden_low(a)),
            I64x2ExtendHighI32x4U => self.vunop(I32X4, |t, a| t.ins().uwiden_high(a)),
            I16x8ExtMulLowI8x16S | I32x4ExtMulLowI16x8S | I64x2ExtMulLowI32x4S => {
                let ty = match op {
                    I16x8ExtMulLowI8x16S => I8X16,
                    I32x4ExtMulLowI16x8S => I16X8,
                    _ => I32X4,
                };
                self.vbinop(ty, |t, a, b| {
                    let a = t.ins().swiden_low(a);
                    let b = t.ins().swiden_low(b);
                    t.ins().imul(a, b)
                })
            }
            I16x8ExtMulHighI8x16S | I32x4ExtMulHighI16x8S | I64x2ExtMulHighI32x4S => {
                let ty = match op {
                    I16x8ExtMulHighI8x16S => I8X16,
                    I32x4ExtMulHighI16x8S => I16X8,
                    _ => I32X4,
                };
                self.vbinop(ty, |t, a, b| {
                    let a = t.ins().swiden_high(a);
                    let b = t.ins().swiden_high(b);
                    t.ins().imul(a, b)
                })
            }
            I16x8ExtMulLowI8x16U | I32x4ExtMulLowI16x8U | I64x2ExtMulLowI32x4U => {
                let ty = match op {
                    I16x8ExtMulLowI8x16U => I8X16,
                    I32x4ExtMulLowI16x8U => I16X8,
                    _ => I32X4,
                };
                self.vbinop(ty, |t, a, b| {
                    let a = t.ins().uwiden_low(a);
                    let b = t.ins().uwiden_low(b);
                    t.ins().imul(a, b)
                })
            }
            I16x8ExtMulHighI8x16U | I32x4ExtMulHighI16x8U | I64x2ExtMulHighI32x4U => {
                let ty = match op {
                    I16x8ExtMulHighI8x16U => I8X16,
                    I32x4ExtMulHighI16x8U => I16X8,
                    _ => I32X4,
                };
                self.vbinop(ty, |t, a, b| {
                    let a = t.ins().uwiden_high(a);
                    let b = t.ins().uwiden_high(b);
                    t.ins().imul(a, b)
                })
            }
            I32x4DotI16x8S => self.vbinop(I16X8, |t, a, b| {
                let a_lo = t.ins().swiden_low(a);
                let a_hi = t.ins().swiden_high(a);
                let b_lo = t.ins().swiden_low(b);
                let b_hi = t.ins().swiden_high(b);
                let lo = t.ins().imul(a_lo, b_lo);
                let hi = t.ins().imul(a_hi, b_hi);
                t.ins().iadd_pairwise(lo, hi)
            }),

            F32x4Ceil => self.vunop(F32X4, |t, a| t.ins().ceil(a)),
            F64x2Ceil => self.vunop(F64X2, |t, a| t.ins().ceil(a)),
            F32x4Floor => self.vunop(F32X4, |t, a| t.ins().floor(a)),
            F64x2Floor => self.vunop(F64X2, |t, a| t.ins().floor(a)),
            F32x4Trunc => self.vunop(F32X4, |t, a| t.ins().trunc(a)),
            F64x2Trunc => self.vunop(F64X2, |t, a| t.ins().trunc(a)),
            F32x4Nearest => self.vunop(F32X4, |t, a| t.ins().nearest(a)),
            F64x2Nearest => self.vunop(F64X2, |t, a| t.ins().nearest(a)),
            F32x4Abs => self.vunop(F32X4, |t, a| t.ins().fabs(a)),
            F64x2Abs => self.vunop(F64X2, |t, a| t.ins().fabs(a)),
            F32x4Neg => self.vunop(F32X4, |t, a| t.ins().fneg(a)),
            F64x2Neg => self.vunop(F64X2, |t, a| t.ins().fneg(a)),
            F32x4Sqrt => self.vunop(F32X4, |t, a| t.ins().sqrt(a)),
            F64x2Sqrt => self.vunop(F64X2, |t, a| t.ins().sqrt(a)),
            F32x4Add => self.vbinop(F32X4, |t, a, b| t.ins().fadd(a, b)),
            F64x2Add => self.vbinop(F64X2, |t, a, b| t.ins().fadd(a, b)),
            F32x4Sub => self.vbinop(F32X4, |t, a, b| t.ins().fsub(a, b)),
            F64x2Sub => self.vbinop(F64X2, |t, a, b| t.ins().fsub(a, b)),
            F32x4Mul => self.vbinop(F32X4, |t, a, b| t.ins().fmul(a, b)),
            F64x2Mul => self.vbinop(F64X2, |t, a, b| t.ins().fmul(a, b)),
            F32x4Div => self.vbinop(F32X4, |t, a, b| t.ins().fdiv(a, b)),
            F64x2Div => self.vbinop(F64X2, |t, a, b| t.ins().fdiv(a, b)),
            F32x4Min => self.vbinop(F32X4, |t, a, b| t.ins().fmin(a, b)),
            F64x2Min => self.vbinop(F64X2, |t, a, b| t.ins().fmin(a, b)),
            F32x4Max => self.vbinop(F32X4, |t, a, b| t.ins().fmax(a, b)),
            F64x2Max => self.vbinop(F64X2, |t, a, b| t.ins().fmax(a, b)),
            F32x4PMin => self.pseudo_min_max(F32X4, false),
            F64x2PMin => self.pseudo_min_max(F64X2, false),
            F32x4PMax => self.pseudo_min_max(F32X4, true),
            F64x2PMax => self.pseudo_min_max(F64X2, true),

            I32x4TruncSatF32x4S => self.vunop(F32X4, |t, a| t.ins().fcvt_to_sint_sat(I32X4, a)),
            I32x4TruncSatF32x4U => self.vunop(F32X4, |t, a| t.ins().fcvt_to_uint_sat(I32X4, a)),
            F32x4ConvertI32x4S => self.vunop(I32X4, |t, a| t.ins().fcvt_from_sint(F32X4, a)),
            F32x4ConvertI32x4U => self.vunop(I32X4, |t, a| t.ins().fcvt_from_uint(F32X4, a)),
            I32x4TruncSatF64x2SZero => self.vunop(F64X2, |t, a| t.trunc_sat_f64x2_zero(a, true)),
            I32x4TruncSatF64x2UZero => self.vunop(F64X2, |t, a| t.trunc_sat_f64x2_zero(a, false)),
            F64x2ConvertLowI32x4S => self.vunop(I32X4, |t, a| {
                let wide = t.ins().swiden_low(a);
                t.ins().fcvt_from_sint(F64X2, wide)
            }),
            F64x2ConvertLowI32x4U => self.vunop(I32X4, |t, a| {
                let wide = t.ins().uwiden_low(a);
                t.ins().fcvt_from_uint(F64X2, wide)
            }),
            F32x4DemoteF64x2Zero => self.vunop(F64X2, |t, a| t.ins().fvdemote(a)),
            F64x2PromoteLowF32x4 => self.vunop(F32X4, |t, a| t.ins().fvpromote_low(a)),

            // Relaxed SIMD.
            I8x16RelaxedSwizzle => {
                let native = self.native_relaxed();
                self.vbinop(I8X16, |t, a, b| {
                    if native {
                        t.ins().x86_pshufb(a, b)
                    } else {
                        t.ins().swizzle(a, b)
                    }
                })
            }
            I32x4RelaxedTruncF32x4S => {
                let native = self.native_relaxed();
                self.vunop(F32X4, |t, a| {
                    if native {
                        t.ins().x86_cvtt2dq(I32X4, a)
                    } else {
                        t.ins().fcvt_to_sint_sat(I32X4, a)
                    }
                })
            }
            I32x4RelaxedTruncF32x4U => self.vunop(F32X4, |t, a| t.ins().fcvt_to_uint_sat(I32X4, a)),
            I32x4RelaxedTruncF64x2SZero => {
                self.vunop(F64X2, |t, a| t.trunc_sat_f64x2_zero(a, true))
            }
            I32x4RelaxedTruncF64x2UZero => {
                self.vunop(F64X2, |t, a| t.trunc_sat_f64x2_zero(a, false))
            }
            F32x4RelaxedMadd | F64x2RelaxedMadd | F32x4RelaxedNmadd | F64x2RelaxedNmadd => {
                let ty = if matches!(op, F32x4RelaxedMadd | F32x4RelaxedNmadd) {
                    F32X4
                } else {
                    F64X2
                };
                let negate = matches!(op, F32x4RelaxedNmadd | F64x2RelaxedNmadd);
                let c = self.vpop(ty);
                let (a, b) = self.vpop2(ty);
                let a = if negate { self.ins().fneg(a) } else { a };
                let v = if self.native_relaxed() && !self.env.module.isa.has_native_fma() {
                    let p = self.ins().fmul(a, b);
                    self.ins().fadd(p, c)
                } else {
                    self.ins().fma(a, b, c)
                };
                self.vpush(v);
            }
            I8x16RelaxedLaneselect
            | I16x8RelaxedLaneselect
            | I32x4RelaxedLaneselect
            | I64x2RelaxedLaneselect => {
                let ty = match op {
                    I8x16RelaxedLaneselect => I8X16,
                    I16x8RelaxedLaneselect => I16X8,
                    I32x4RelaxedLaneselect => I32X4,
                    _ => I64X2,
                };
                let c = self.vpop(ty);
                let (a, b) = self.vpop2(ty);
                // `blendv` looks at each lane's top bit only: a lane of 16
                // bits has two.
                let v = if self.native_relaxed() && ty != I16X8 {
                    self.ins().blendv(c, a, b)
                } else {
                    self.ins().bitselect(c, a, b)
                };
                self.vpush(v);
            }
            F32x4RelaxedMin | F64x2RelaxedMin | F32x4RelaxedMax | F64x2RelaxedMax => {
                let ty = if matches!(op, F32x4RelaxedMin | F32x4RelaxedMax) {
                    F32X4
                } else {
                    F64X2
                };
                let max = matches!(op, F32x4RelaxedMax | F64x2RelaxedMax);
                if self.native_relaxed() {
                    self.pseudo_min_max(ty, max);
                } else if max {
                    self.vbinop(ty, |t, a, b| t.ins().fmax(a, b));
                } else {
                    self.vbinop(ty, |t, a, b| t.ins().fmin(a, b));
                }
            }
            I16x8RelaxedQ15mulrS => {
                let native = self.native_relaxed();
                self.vbinop(I16X8, |t, a, b| {
                    if native {
                        t.ins().x86_pmulhrsw(a, b)
                    } else {
                        t.ins().sqmul_round_sat(a, b)
                    }
                })
            }
            I16x8RelaxedDotI8x16I7x16S => {
                let native = self.native_relaxed();
                self.vbinop(I8X16, |t, a, b| {
                    if native {
                        t.ins().x86_pmaddubsw(b, a)
                    } else {
                        t.dot_i8x16_signed(a, b)
                    }
                })
            }
            I32x4RelaxedDotI8x16I7x16AddS => {
                let c = self.vpop(I32X4);
                let (a, b) = self.vpop2(I8X16);
                let dot = if self.native_relaxed() {
                    self.ins().x86_pmaddubsw(b, a)
                } else {
                    self.dot_i8x16_signed(a, b)
                };
                let lo = self.ins().swiden_low(dot);
                let hi = self.ins().swiden_high(dot);
                let sum = self.ins().iadd_pairwise(lo, hi);
                let v = self.ins().iadd(sum, c);
                self.vpush(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `i32x4.trunc_sat_f64x2_{s,u}_zero`: two saturated lanes and two
    /// zero lanes. (The x64 backend lowers exactly this pattern: a
    /// narrowing of the conversion with a zero constant.)
    fn trunc_sat_f64x2_zero(&mut self, a: ir::Value, signed: bool) -> ir::Value {
        let zero = self.vconst(I64X2, &[0; 16]);
        if signed {
            let wide = self.ins().fcvt_to_sint_sat(I64X2, a);
            self.ins().snarrow(wide, zero)
        } else {
            let wide = self.ins().fcvt_to_uint_sat(I64X2, a);
            self.ins().uunarrow(wide, zero)
        }
    }
}
