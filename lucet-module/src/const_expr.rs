//! Constant expressions: initial values of globals, offsets of segments and
//! items of element segments, evaluated by the runtime at instantiation.

use serde::{Deserialize, Serialize};

use crate::HeapType;

/// One instruction of a constant expression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ConstOp {
    /// `i32.const`
    I32Const(i32),
    /// `i64.const`
    I64Const(i64),
    /// `f32.const`, as bits.
    F32Const(u32),
    /// `f64.const`, as bits.
    F64Const(u64),
    /// `v128.const`
    V128Const(u128),
    /// `global.get` of an (imported) global.
    GlobalGet(u32),
    /// `ref.null`
    RefNull(HeapType),
    /// `ref.func`
    RefFunc(u32),
    /// `ref.i31`: the `i32` on the stack as an `i31ref`.
    RefI31,
    /// `i32.add` (extended constant expressions)
    I32Add,
    /// `i32.sub`
    I32Sub,
    /// `i32.mul`
    I32Mul,
    /// `i64.add`
    I64Add,
    /// `i64.sub`
    I64Sub,
    /// `i64.mul`
    I64Mul,
    /// `struct.new` of the module's type: its fields' values are on the
    /// stack, the first deepest.
    StructNew(u32),
    /// `struct.new_default`: every field zero (or null).
    StructNewDefault(u32),
    /// `array.new`: the elements' value, then the length, are on the stack.
    ArrayNew(u32),
    /// `array.new_default`: the length is on the stack.
    ArrayNewDefault(u32),
    /// `array.new_fixed` of the type (first) with the given number of
    /// elements (second), all on the stack.
    ArrayNewFixed(u32, u32),
    /// `any.convert_extern` (references of both hierarchies share one
    /// encoding, so the value is unchanged).
    AnyConvertExtern,
    /// `extern.convert_any`
    ExternConvertAny,
}

/// A constant expression: a short stack program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstExpr(pub Vec<ConstOp>);

impl ConstExpr {
    /// The expression that is just one instruction.
    pub fn single(op: ConstOp) -> Self {
        ConstExpr(vec![op])
    }

    /// Whether evaluating the expression creates GC objects (so that it
    /// must be evaluated once, not each time its value is used).
    pub fn allocates(&self) -> bool {
        self.0.iter().any(|op| {
            matches!(
                op,
                ConstOp::StructNew(_)
                    | ConstOp::StructNewDefault(_)
                    | ConstOp::ArrayNew(_)
                    | ConstOp::ArrayNewDefault(_)
                    | ConstOp::ArrayNewFixed(..)
            )
        })
    }

    /// The value of an expression without `global.get` or `ref.func`, as the
    /// low 64 bits (for offsets and integer globals).
    pub fn as_const_u64(&self) -> Option<u64> {
        let mut stack: Vec<u64> = Vec::with_capacity(2);
        for op in &self.0 {
            match *op {
                ConstOp::I32Const(v) => stack.push(v as u32 as u64),
                ConstOp::I64Const(v) => stack.push(v as u64),
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let b = stack.pop()? as u32;
                    let a = stack.pop()? as u32;
                    stack.push(match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    } as u64);
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let b = stack.pop()?;
                    let a = stack.pop()?;
                    stack.push(match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    });
                }
                _ => return None,
            }
        }
        if stack.len() == 1 {
            stack.pop()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_folding_of_offsets() {
        let e = ConstExpr(vec![
            ConstOp::I32Const(-1),
            ConstOp::I32Const(2),
            ConstOp::I32Add,
        ]);
        assert_eq!(e.as_const_u64(), Some(1));
        let e = ConstExpr::single(ConstOp::GlobalGet(0));
        assert_eq!(e.as_const_u64(), None);
        assert_eq!(ConstExpr(vec![]).as_const_u64(), None);
    }
}
