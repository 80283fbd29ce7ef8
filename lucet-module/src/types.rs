//! WebAssembly value and function types as the compiler and runtime share them.
//!
//! References carry their heap type and nullability (typed function
//! references): `funcref` is `(ref null func)`, and a concrete
//! `(ref $t)` names a function type by its index in the module's type
//! section (`ModuleData::types`). Types only refer to earlier types (the
//! compiler refuses recursive types, which need GC), so a runtime can give
//! every type a process-wide identity in one pass over the section.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a reference points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HeapType {
    /// Any function: a pointer to a [`crate::FuncRef`] record.
    Func,
    /// An opaque host value.
    Extern,
    /// An exception.
    Exn,
    /// No function (the bottom of the function types: only null).
    NoFunc,
    /// No host value (only null).
    NoExtern,
    /// No exception (only null).
    NoExn,
    /// A function of the module's type `index`.
    Concrete(u32),
}

impl HeapType {
    /// The most general heap type of this one's family (`func`, `extern`,
    /// `exn`).
    pub fn top(self) -> HeapType {
        match self {
            HeapType::Func | HeapType::NoFunc | HeapType::Concrete(_) => HeapType::Func,
            HeapType::Extern | HeapType::NoExtern => HeapType::Extern,
            HeapType::Exn | HeapType::NoExn => HeapType::Exn,
        }
    }

    /// Whether this is a bottom type (only null inhabits it).
    pub fn is_bottom(self) -> bool {
        matches!(
            self,
            HeapType::NoFunc | HeapType::NoExtern | HeapType::NoExn
        )
    }
}

/// The type of a reference value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RefType {
    /// Whether null is a value of the type.
    pub nullable: bool,
    /// What the reference points to.
    pub heap: HeapType,
}

impl RefType {
    /// `funcref`: `(ref null func)`.
    pub const FUNCREF: RefType = RefType::nullable(HeapType::Func);
    /// `externref`: `(ref null extern)`.
    pub const EXTERNREF: RefType = RefType::nullable(HeapType::Extern);
    /// `exnref`: `(ref null exn)`.
    pub const EXNREF: RefType = RefType::nullable(HeapType::Exn);

    /// `(ref null heap)`.
    pub const fn nullable(heap: HeapType) -> RefType {
        RefType {
            nullable: true,
            heap,
        }
    }

    /// `(ref heap)`.
    pub const fn non_null(heap: HeapType) -> RefType {
        RefType {
            nullable: false,
            heap,
        }
    }
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
    pub const FUNCREF: ValType = ValType::Ref(RefType::FUNCREF);
    /// `externref`
    pub const EXTERNREF: ValType = ValType::Ref(RefType::EXTERNREF);
    /// `exnref`
    pub const EXNREF: ValType = ValType::Ref(RefType::EXNREF);

    /// Whether a value of this type can be zero (null for references):
    /// only non-nullable references cannot.
    pub fn defaultable(self) -> bool {
        !matches!(
            self,
            ValType::Ref(RefType {
                nullable: false,
                ..
            })
        )
    }
}

impl fmt::Display for HeapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeapType::Func => f.write_str("func"),
            HeapType::Extern => f.write_str("extern"),
            HeapType::Exn => f.write_str("exn"),
            HeapType::NoFunc => f.write_str("nofunc"),
            HeapType::NoExtern => f.write_str("noextern"),
            HeapType::NoExn => f.write_str("noexn"),
            HeapType::Concrete(i) => write!(f, "{i}"),
        }
    }
}

impl fmt::Display for RefType {
    /// The text format's names: `funcref`, `(ref func)`, `(ref null 3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = match self.heap {
            HeapType::Func => Some("funcref"),
            HeapType::Extern => Some("externref"),
            HeapType::Exn => Some("exnref"),
            HeapType::NoFunc => Some("nullfuncref"),
            HeapType::NoExtern => Some("nullexternref"),
            HeapType::NoExn => Some("nullexnref"),
            HeapType::Concrete(_) => None,
        };
        match (self.nullable, short) {
            (true, Some(name)) => f.write_str(name),
            (true, None) => write!(f, "(ref null {})", self.heap),
            (false, _) => write!(f, "(ref {})", self.heap),
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValType::I32 => f.write_str("i32"),
            ValType::I64 => f.write_str("i64"),
            ValType::F32 => f.write_str("f32"),
            ValType::F64 => f.write_str("f64"),
            ValType::V128 => f.write_str("v128"),
            ValType::Ref(r) => write!(f, "{r}"),
        }
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

    /// The signature with every concrete heap type `i` replaced by
    /// `map(i)`: how a runtime turns module-relative type indices into
    /// identities that hold across modules.
    pub fn map_concrete(&self, map: impl Fn(u32) -> u32) -> FuncType {
        let convert = |t: &ValType| match *t {
            ValType::Ref(RefType {
                nullable,
                heap: HeapType::Concrete(i),
            }) => ValType::Ref(RefType {
                nullable,
                heap: HeapType::Concrete(map(i)),
            }),
            other => other,
        };
        FuncType {
            params: self.params.iter().map(convert).collect(),
            results: self.results.iter().map(convert).collect(),
        }
    }

    /// The module type indices this signature refers to.
    pub fn concrete_refs(&self) -> impl Iterator<Item = u32> + '_ {
        self.params
            .iter()
            .chain(&self.results)
            .filter_map(|t| match t {
                ValType::Ref(RefType {
                    heap: HeapType::Concrete(i),
                    ..
                }) => Some(*i),
                _ => None,
            })
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

    #[test]
    fn references_display_in_the_text_format() {
        assert_eq!(RefType::EXNREF.to_string(), "exnref");
        assert_eq!(RefType::non_null(HeapType::Func).to_string(), "(ref func)");
        assert_eq!(
            RefType::nullable(HeapType::Concrete(3)).to_string(),
            "(ref null 3)"
        );
        assert_eq!(
            RefType::nullable(HeapType::NoExtern).to_string(),
            "nullexternref"
        );
        assert!(!ValType::Ref(RefType::non_null(HeapType::Extern)).defaultable());
        assert!(ValType::EXTERNREF.defaultable());
    }

    #[test]
    fn concrete_types_are_remapped() {
        let t = FuncType::new(
            [ValType::Ref(RefType::non_null(HeapType::Concrete(0)))],
            [ValType::I32],
        );
        let mapped = t.map_concrete(|i| i + 10);
        assert_eq!(mapped.concrete_refs().collect::<Vec<_>>(), vec![10]);
    }
}
