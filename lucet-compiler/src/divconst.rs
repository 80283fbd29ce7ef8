//! Division and remainder by a constant, as multiplications and shifts.
//!
//! A hardware divide takes 20–40 cycles on x86_64; `x / 7` as a
//! multiply-high and a few shifts takes about 5. LLVM leaves these to the
//! engine when it targets wasm (wasm has no multiply-high). Cranelift's own
//! rewrite lives in its e-graph mid-end, which Lucet runs only at
//! `--opt-level speed`; this pass works at every level. It rewrites `udiv`,
//! `urem`, `sdiv` and `srem` of `i32`/`i64` whose divisor is an `iconst`,
//! using the magic numbers of Granlund and Montgomery as libdivide computes
//! them.
//!
//! What traps stays a hardware division: a zero divisor, and signed
//! division by -1 (`MIN / -1` overflows). Results are bit-identical to the
//! division they replace.

use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::ir::{self, types, InstBuilder, InstructionData, Opcode};

/// A division by a constant, and how to compute it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// `x / 1`.
    Identity,
    /// `x >> shift` (unsigned) or the rounding-toward-zero signed shift;
    /// `negate` for a negative signed divisor.
    Shift { shift: u32, negate: bool },
    /// `mulhi(x, magic)`, then (with `add`) the Granlund–Montgomery
    /// correction, then `>> shift`. For signed division, `add` adds (or,
    /// with a negative divisor, subtracts) `x` after the multiply.
    Magic {
        magic: u64,
        add: bool,
        shift: u32,
        negative: bool,
    },
}

/// The plan for unsigned division by `d` (nonzero) of `bits`-bit values.
pub fn unsigned_plan(d: u64, bits: u32) -> Plan {
    debug_assert!(d != 0 && (bits == 64 || d >> bits == 0));
    if d == 1 {
        return Plan::Identity;
    }
    let floor_log2 = 63 - d.leading_zeros();
    if d.is_power_of_two() {
        return Plan::Shift {
            shift: floor_log2,
            negate: false,
        };
    }
    // 2^(bits + floor_log2) / d and its remainder.
    let numerator = 1u128 << (bits + floor_log2);
    let (mut m, rem) = (
        (numerator / d as u128) as u64,
        (numerator % d as u128) as u64,
    );
    let e = d - rem;
    let (add, shift) = if e < (1u64 << floor_log2) {
        (false, floor_log2)
    } else {
        // The magic needs bits + 1 bits: keep the low bits and add the
        // dividend back in after the multiply.
        m = m.wrapping_add(m);
        let twice_rem = rem.wrapping_add(rem);
        let twice_rem = twice_rem & mask(bits);
        if twice_rem >= d || twice_rem < rem {
            m = m.wrapping_add(1);
        }
        (true, floor_log2)
    };
    Plan::Magic {
        magic: m.wrapping_add(1) & mask(bits),
        add,
        shift,
        negative: false,
    }
}

/// The plan for signed division by `d` (not 0 or -1) of `bits`-bit values
/// (`d` sign-extended to 64 bits).
pub fn signed_plan(d: i64, bits: u32) -> Plan {
    debug_assert!(d != 0 && d != -1);
    if d == 1 {
        return Plan::Identity;
    }
    // (For the minimum value, |d| is 2^(bits - 1): a power of two.)
    let abs = d.unsigned_abs() & mask(bits);
    let floor_log2 = 63 - abs.leading_zeros();
    if abs.is_power_of_two() {
        return Plan::Shift {
            shift: floor_log2,
            negate: d < 0,
        };
    }
    // 2^(bits - 1 + floor_log2) / abs and its remainder.
    let numerator = 1u128 << (bits - 1 + floor_log2);
    let (mut m, rem) = (
        (numerator / abs as u128) as u64,
        (numerator % abs as u128) as u64,
    );
    let e = abs - rem;
    let (add, shift) = if e < (1u64 << floor_log2) {
        (false, floor_log2 - 1)
    } else {
        m = m.wrapping_add(m);
        let twice_rem = rem.wrapping_add(rem) & mask(bits);
        if twice_rem >= abs || twice_rem < rem {
            m = m.wrapping_add(1);
        }
        (true, floor_log2)
    };
    let m = m.wrapping_add(1) & mask(bits);
    let magic = if d < 0 {
        m.wrapping_neg() & mask(bits)
    } else {
        m
    };
    Plan::Magic {
        magic,
        add,
        shift,
        negative: d < 0,
    }
}

fn mask(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Emits the quotient of `x` by the plan's divisor.
fn emit_quotient(pos: &mut FuncCursor, x: ir::Value, plan: Plan, signed: bool) -> ir::Value {
    let ty = pos.func.dfg.value_type(x);
    let bits = ty.bits();
    match plan {
        Plan::Identity => x,
        Plan::Shift { shift, negate: _ } if !signed => pos.ins().ushr_imm_u(x, shift as i64),
        Plan::Shift { shift, negate } => {
            // Round toward zero: add 2^shift - 1 to negative dividends
            // (for a shift of one, that is the sign bit itself).
            let bias = if shift == 1 {
                pos.ins().ushr_imm_u(x, (bits - 1) as i64)
            } else {
                let sign = pos.ins().sshr_imm_u(x, (bits - 1) as i64);
                pos.ins().ushr_imm_u(sign, (bits - shift) as i64)
            };
            let biased = pos.ins().iadd(x, bias);
            let q = pos.ins().sshr_imm_u(biased, shift as i64);
            if negate {
                pos.ins().ineg(q)
            } else {
                q
            }
        }
        Plan::Magic {
            magic, add, shift, ..
        } if !signed => {
            let m = pos.ins().iconst(ty, magic as i64);
            let hi = pos.ins().umulhi(x, m);
            if add {
                let diff = pos.ins().isub(x, hi);
                let half = pos.ins().ushr_imm_u(diff, 1);
                let sum = pos.ins().iadd(half, hi);
                pos.ins().ushr_imm_u(sum, shift as i64)
            } else {
                pos.ins().ushr_imm_u(hi, shift as i64)
            }
        }
        Plan::Magic {
            magic,
            add,
            shift,
            negative,
        } => {
            let m = pos.ins().iconst(ty, magic as i64);
            let mut q = pos.ins().smulhi(x, m);
            if add {
                q = if negative {
                    pos.ins().isub(q, x)
                } else {
                    pos.ins().iadd(q, x)
                };
            }
            let q = pos.ins().sshr_imm_u(q, shift as i64);
            // Add one to negative quotients (round toward zero).
            let fix = pos.ins().ushr_imm_u(q, (bits - 1) as i64);
            pos.ins().iadd(q, fix)
        }
    }
}

/// The constant a value is defined as, if any.
fn constant(func: &ir::Function, v: ir::Value) -> Option<i64> {
    let inst = func.dfg.value_def(v).inst()?;
    match func.dfg.insts[inst] {
        InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm,
        } => Some(imm.bits()),
        _ => None,
    }
}

/// Rewrites every division and remainder by a constant in `func`.
pub fn rewrite(func: &mut ir::Function) {
    let mut pos = FuncCursor::new(func);
    while pos.next_block().is_some() {
        while let Some(inst) = pos.next_inst() {
            let (opcode, x, y) = match pos.func.dfg.insts[inst] {
                InstructionData::Binary { opcode, args }
                    if matches!(
                        opcode,
                        Opcode::Udiv | Opcode::Urem | Opcode::Sdiv | Opcode::Srem
                    ) =>
                {
                    (opcode, args[0], args[1])
                }
                _ => continue,
            };
            let ty = pos.func.dfg.value_type(x);
            if ty != types::I32 && ty != types::I64 {
                continue;
            }
            let Some(raw) = constant(pos.func, y) else {
                continue;
            };
            let bits = ty.bits();
            let signed = matches!(opcode, Opcode::Sdiv | Opcode::Srem);
            let plan = if signed {
                // Sign-extend the immediate from the type's width.
                let d = if bits == 32 { raw as i32 as i64 } else { raw };
                if d == 0 || d == -1 {
                    continue;
                }
                signed_plan(d, bits)
            } else {
                let d = raw as u64 & mask(bits);
                if d == 0 {
                    continue;
                }
                unsigned_plan(d, bits)
            };
            let q = emit_quotient(&mut pos, x, plan, signed);
            let is_div = matches!(opcode, Opcode::Udiv | Opcode::Sdiv);
            if is_div {
                // The division's result becomes an alias of the quotient.
                let result = pos.func.dfg.first_result(inst);
                pos.func.dfg.clear_results(inst);
                pos.func.dfg.change_to_alias(result, q);
                pos.remove_inst_and_step_back();
            } else {
                // x - q * d, in place of the remainder instruction.
                let product = pos.ins().imul(q, y);
                pos.func.replace(inst).isub(x, product);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan, evaluated in Rust the way the emitted code computes it.
    fn eval_u(plan: Plan, x: u64, bits: u32) -> u64 {
        let m = mask(bits);
        match plan {
            Plan::Identity => x,
            Plan::Shift { shift, .. } => x >> shift,
            Plan::Magic {
                magic, add, shift, ..
            } => {
                let hi = ((x as u128 * magic as u128) >> bits) as u64 & m;
                if add {
                    ((((x.wrapping_sub(hi) & m) >> 1) + hi) & m) >> shift
                } else {
                    hi >> shift
                }
            }
        }
    }

    fn eval_s(plan: Plan, x: i64, bits: u32) -> i64 {
        let wrap = |v: i64| -> i64 {
            if bits == 64 {
                v
            } else {
                v as i32 as i64
            }
        };
        match plan {
            Plan::Identity => x,
            Plan::Shift { shift, negate } => {
                let sign = x >> (bits - 1);
                let bias = ((sign as u64 & mask(bits)) >> (bits - shift)) as i64;
                let q = wrap(x.wrapping_add(bias)) >> shift;
                if negate {
                    wrap(q.wrapping_neg())
                } else {
                    q
                }
            }
            Plan::Magic {
                magic,
                add,
                shift,
                negative,
            } => {
                let magic = if bits == 32 {
                    magic as u32 as i32 as i64
                } else {
                    magic as i64
                };
                let mut q = ((x as i128 * magic as i128) >> bits) as i64;
                if add {
                    q = wrap(if negative {
                        q.wrapping_sub(x)
                    } else {
                        q.wrapping_add(x)
                    });
                }
                let q = q >> shift;
                let fix = ((q as u64 & mask(bits)) >> (bits - 1)) as i64;
                wrap(q + fix)
            }
        }
    }

    fn dividends_u(bits: u32) -> Vec<u64> {
        let m = mask(bits);
        let mut v: Vec<u64> = (0..1000).collect();
        v.extend((0..1000).map(|i| m - i));
        v.extend([m / 2, m / 2 + 1, m / 3, m / 7, 1 << (bits - 1)]);
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v.push(s & m);
        }
        v
    }

    fn divisors_u(bits: u32) -> Vec<u64> {
        let m = mask(bits);
        let mut d: Vec<u64> = (1..300).collect();
        for k in 1..bits {
            d.extend([(1 << k) - 1, 1 << k, (1 << k) + 1]);
        }
        d.extend([
            m,
            m - 1,
            m / 2,
            m / 3,
            139_968,
            1_000_000_007,
            641,
            6_700_417,
        ]);
        d.retain(|&x| x != 0 && x & m == x);
        d
    }

    #[test]
    fn unsigned_division_matches_for_32_and_64_bits() {
        for bits in [32, 64] {
            let xs = dividends_u(bits);
            for d in divisors_u(bits) {
                let plan = unsigned_plan(d, bits);
                for &x in &xs {
                    assert_eq!(eval_u(plan, x, bits), x / d, "{x} / {d} ({bits} bits)");
                }
            }
        }
    }

    #[test]
    fn signed_division_matches_for_32_and_64_bits() {
        for bits in [32, 64] {
            let to_signed = |v: u64| {
                if bits == 32 {
                    v as u32 as i32 as i64
                } else {
                    v as i64
                }
            };
            let xs: Vec<i64> = dividends_u(bits).into_iter().map(to_signed).collect();
            let mut ds: Vec<i64> = divisors_u(bits).into_iter().map(to_signed).collect();
            let negated: Vec<i64> = ds
                .iter()
                .map(|d| to_signed(d.wrapping_neg() as u64 & mask(bits)))
                .collect();
            ds.extend(negated);
            ds.retain(|&d| d != 0 && d != -1);
            for d in ds {
                let plan = signed_plan(d, bits);
                for &x in &xs {
                    let expected = if bits == 32 {
                        (x as i32).wrapping_div(d as i32) as i64
                    } else {
                        x.wrapping_div(d)
                    };
                    assert_eq!(eval_s(plan, x, bits), expected, "{x} / {d} ({bits} bits)");
                }
            }
        }
    }
}
