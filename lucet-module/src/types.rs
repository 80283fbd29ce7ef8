//! WebAssembly value and function types as the compiler and runtime share them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a reference value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefType {
    /// `funcref`: a pointer to a [`crate::FuncRef`] record, or null.
    Func,
    /// `externref`: an opaque 64-bit host value, or null (0).
    Extern,
}

/// A WebAssembly value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 128-bit vector.
    V128,
    /// A reference.
    Ref(RefType),
}

impl ValType {
    /// `funcref`
    pub const FUNCREF: ValType = ValType::Ref(RefType::Func);
    /// `externref`
    pub const EXTERNREF: ValType = ValType::Ref(RefType::Extern);
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::Ref(RefType::Func) => "funcref",
            ValType::Ref(RefType::Extern) => "externref",
        })
    }
}

/// A function signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FuncType {
    /// Parameter types, in order.
    pub params: Vec<ValType>,
    /// Result types, in order.
    pub results: Vec<ValType>,
}

impl FuncType {
    /// A signature from its parameter and result types.
    pub fn new(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> Self {
        FuncType {
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
        }
    }

    /// How many 16-byte value slots an array call of this signature needs:
    /// arguments and results share one buffer.
    pub fn array_call_len(&self) -> usize {
        self.params.len().max(self.results.len())
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, tys: &[ValType], parens_for_one: bool) -> fmt::Result {
    if tys.len() == 1 && !parens_for_one {
        return write!(f, "{}", tys[0]);
    }
    f.write_str("(")?;
    for (i, t) in tys.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{t}")?;
    }
    f.write_str(")")
}

impl fmt::Display for FuncType {
    /// Formats as `(i32, i64) -> i32`, `() -> ()` or `(f32) -> (i32, i32)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_list(f, &self.params, true)?;
        f.write_str(" -> ")?;
        write_list(f, &self.results, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_display_like_error_messages() {
        let t = FuncType::new([ValType::I32], [ValType::I32]);
        assert_eq!(t.to_string(), "(i32) -> i32");
        let t = FuncType::new([], []);
        assert_eq!(t.to_string(), "() -> ()");
        let t = FuncType::new(
            [ValType::I64, ValType::F32],
            [ValType::I32, ValType::FUNCREF],
        );
        assert_eq!(t.to_string(), "(i64, f32) -> (i32, funcref)");
    }
}
