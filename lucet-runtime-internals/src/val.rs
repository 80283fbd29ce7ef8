//! Values passed between the host and guest code.

use std::fmt;

use lucet_module::{HeapType, RefType, ValRaw, ValType};

/// A WebAssembly value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32` (NaN payloads are kept bit-exact)
    F32(f32),
    /// `f64` (NaN payloads are kept bit-exact)
    F64(f64),
    /// `v128`
    V128(u128),
    /// `funcref`: an opaque function reference; 0 is null.
    FuncRef(u64),
    /// `externref`: an opaque host value; 0 is null.
    ExternRef(u64),
    /// `exnref`: an opaque exception reference; 0 is null.
    ExnRef(u64),
    /// `anyref` and the types below it (`eqref`, `i31ref`, ...).
    AnyRef(AnyRef),
}

/// A reference of the `any` hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnyRef {
    /// `ref.null any` (and every type below `any`).
    Null,
    /// An `i31ref`: a 31-bit integer carried in the reference.
    I31(I31),
}

/// The 31-bit integer of an `i31ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct I31(u32);

impl I31 {
    /// The low 31 bits of `value` (what `ref.i31` keeps).
    pub fn wrapping(value: i32) -> I31 {
        I31(value as u32 & 0x7fff_ffff)
    }

    /// The value sign-extended from 31 bits (`i31.get_s`).
    pub fn get_s(self) -> i32 {
        ((self.0 << 1) as i32) >> 1
    }

    /// The value zero-extended (`i31.get_u`).
    pub fn get_u(self) -> u32 {
        self.0
    }

    /// The reference's bits in guest code: the value shifted left by one,
    /// with the low bit set (object references are aligned, so their low
    /// bit is clear, and null is zero).
    pub(crate) fn to_bits(self) -> u64 {
        u64::from(self.0 << 1 | 1)
    }

    /// The integer of a reference whose bits have the low bit set.
    pub(crate) fn from_bits(bits: u64) -> I31 {
        I31((bits as u32) >> 1)
    }
}

impl AnyRef {
    /// The reference's bits in guest code.
    pub(crate) fn to_bits(self) -> u64 {
        match self {
            AnyRef::Null => 0,
            AnyRef::I31(i) => i.to_bits(),
        }
    }

    /// The reference whose bits guest code holds. Guest code creates no
    /// objects yet (struct and array instructions are refused by the
    /// compiler), so every non-null reference is an `i31`.
    pub(crate) fn from_bits(bits: u64) -> AnyRef {
        match bits {
            0 => AnyRef::Null,
            b => AnyRef::I31(I31::from_bits(b)),
        }
    }

    /// Whether the reference belongs to heap type `heap` (of the `any`
    /// hierarchy); null only to nullable types, checked by the caller.
    fn belongs_to(self, heap: HeapType) -> bool {
        match self {
            AnyRef::Null => true,
            AnyRef::I31(_) => matches!(heap, HeapType::Any | HeapType::Eq | HeapType::I31),
        }
    }
}

impl Val {
    /// The value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FUNCREF,
            Val::ExternRef(_) => ValType::EXTERNREF,
            Val::ExnRef(_) => ValType::EXNREF,
            Val::AnyRef(AnyRef::Null) => ValType::Ref(RefType::ANYREF),
            Val::AnyRef(AnyRef::I31(_)) => ValType::Ref(RefType::non_null(HeapType::I31)),
        }
    }

    /// Whether the value belongs to the family of the (possibly more
    /// precise) type `ty`, null allowed only where `ty` is nullable. A
    /// function reference's concrete type is checked by whoever knows the
    /// record it points to.
    pub(crate) fn fits(&self, ty: ValType) -> bool {
        let r = match (*self, ty) {
            (Val::FuncRef(v), ValType::Ref(r)) if r.heap.top() == HeapType::Func => (v, r),
            (Val::ExternRef(v), ValType::Ref(r)) if r.heap.top() == HeapType::Extern => (v, r),
            (Val::ExnRef(v), ValType::Ref(r)) if r.heap.top() == HeapType::Exn => (v, r),
            (Val::AnyRef(a), ValType::Ref(r)) if r.heap.top() == HeapType::Any => {
                return (a != AnyRef::Null || r.nullable) && a.belongs_to(r.heap)
            }
            (v, t) => return v.ty() == t,
        };
        match r {
            (0, rt) => rt.nullable,
            (_, rt) => !rt.heap.is_bottom(),
        }
    }

    /// The value in the array-call representation.
    pub fn to_raw(&self) -> ValRaw {
        match *self {
            Val::I32(v) => ValRaw::from_i32(v),
            Val::I64(v) => ValRaw::from_i64(v),
            Val::F32(v) => ValRaw::from_f32(v),
            Val::F64(v) => ValRaw::from_f64(v),
            Val::V128(v) => ValRaw::from_u128(v),
            Val::FuncRef(v) | Val::ExternRef(v) | Val::ExnRef(v) => ValRaw::from_u64(v),
            Val::AnyRef(a) => ValRaw::from_u64(a.to_bits()),
        }
    }

    /// Reads a value of type `ty` from the array-call representation.
    pub fn from_raw(raw: &ValRaw, ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw.get_i32()),
            ValType::I64 => Val::I64(raw.get_i64()),
            ValType::F32 => Val::F32(raw.get_f32()),
            ValType::F64 => Val::F64(raw.get_f64()),
            ValType::V128 => Val::V128(raw.get_u128()),
            ValType::Ref(RefType { heap, .. }) => match heap.top() {
                HeapType::Extern => Val::ExternRef(raw.get_u64()),
                HeapType::Exn => Val::ExnRef(raw.get_u64()),
                HeapType::Any => Val::AnyRef(AnyRef::from_bits(raw.get_u64())),
                _ => Val::FuncRef(raw.get_u64()),
            },
        }
    }

    /// The zero value of `ty` (null for references).
    pub fn zero(ty: ValType) -> Val {
        Val::from_raw(&ValRaw::default(), ty)
    }

    /// The value as an `i32`, if it is one.
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Val::I32(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as an `i64`, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// Parses `text` as a value of type `ty` (decimal, or `0x` hex for
    /// integers; `nan`, `inf` and decimal for floats).
    pub fn parse(text: &str, ty: ValType) -> Result<Val, String> {
        let bad = || format!("invalid {ty} argument {text:?}");
        let int = |t: &str| -> Option<i128> {
            let (neg, t) = match t.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, t),
            };
            let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => i128::from_str_radix(hex, 16).ok()?,
                None => t.parse::<i128>().ok()?,
            };
            Some(if neg { -v } else { v })
        };
        Ok(match ty {
            ValType::I32 => {
                let v = int(text).ok_or_else(bad)?;
                if !(i32::MIN as i128..=u32::MAX as i128).contains(&v) {
                    return Err(bad());
                }
                Val::I32(v as i32)
            }
            ValType::I64 => {
                let v = int(text).ok_or_else(bad)?;
                if !(i64::MIN as i128..=u64::MAX as i128).contains(&v) {
                    return Err(bad());
                }
                Val::I64(v as i64)
            }
            ValType::F32 => Val::F32(text.parse().map_err(|_| bad())?),
            ValType::F64 => Val::F64(text.parse().map_err(|_| bad())?),
            ValType::V128 => Val::V128(int(text).ok_or_else(bad)? as u128),
            ValType::Ref(_) => return Err(format!("{ty} arguments cannot be given as text")),
        })
    }
}

impl fmt::Display for Val {
    /// Integers as signed decimal, floats as decimal, references by kind
    /// (`ref.null`, `ref.func`, `ref.extern`, `ref.exn`): a reference's
    /// value is a host address, which is never printed
    /// (`InstanceHandle::funcref_index` names the function).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::I32(v) => write!(f, "{v}"),
            Val::I64(v) => write!(f, "{v}"),
            Val::F32(v) => write!(f, "{v}"),
            Val::F64(v) => write!(f, "{v}"),
            Val::V128(v) => write!(f, "{v:#034x}"),
            Val::FuncRef(0) | Val::ExternRef(0) | Val::ExnRef(0) => write!(f, "ref.null"),
            Val::FuncRef(_) => write!(f, "ref.func"),
            Val::ExternRef(_) => write!(f, "ref.extern"),
            Val::ExnRef(_) => write!(f, "ref.exn"),
            Val::AnyRef(AnyRef::Null) => write!(f, "ref.null"),
            Val::AnyRef(AnyRef::I31(i)) => write!(f, "ref.i31 {}", i.get_s()),
        }
    }
}

macro_rules! from_prim {
    ($($t:ty => $v:ident $(as $cast:ty)?;)*) => {$(
        impl From<$t> for Val {
            fn from(x: $t) -> Val {
                Val::$v(x $(as $cast)?)
            }
        }
    )*};
}

from_prim! {
    i32 => I32;
    u32 => I32 as i32;
    i64 => I64;
    u64 => I64 as i64;
    f32 => F32;
    f64 => F64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(Val::parse("-5", ValType::I32), Ok(Val::I32(-5)));
        assert_eq!(Val::parse("0xffffffff", ValType::I32), Ok(Val::I32(-1)));
        assert_eq!(Val::parse("4294967295", ValType::I32), Ok(Val::I32(-1)));
        assert!(Val::parse("4294967296", ValType::I32).is_err());
        assert!(Val::parse("ten", ValType::I64).is_err());
        assert_eq!(Val::parse("1.5", ValType::F64), Ok(Val::F64(1.5)));
        assert_eq!(Val::I32(-7).to_string(), "-7");
        assert_eq!(Val::F32(0.5).to_string(), "0.5");
        // References never show their host address.
        assert_eq!(Val::FuncRef(0x7f00_dead_b000).to_string(), "ref.func");
        assert_eq!(Val::ExternRef(0x7f00_dead_b000).to_string(), "ref.extern");
        assert_eq!(Val::ExnRef(0x7f00_dead_b000).to_string(), "ref.exn");
        assert_eq!(Val::FuncRef(0).to_string(), "ref.null");
        assert_eq!(
            Val::AnyRef(AnyRef::I31(I31::wrapping(-3))).to_string(),
            "ref.i31 -3"
        );
    }

    #[test]
    fn i31_references_keep_31_bits() {
        let i = I31::wrapping(i32::MIN + 5);
        assert_eq!(i.get_u(), 5);
        let neg = I31::wrapping(-1);
        assert_eq!(neg.get_s(), -1);
        assert_eq!(neg.get_u(), 0x7fff_ffff);
        let i31 = ValType::Ref(RefType::non_null(HeapType::I31));
        let v = Val::AnyRef(AnyRef::I31(neg));
        assert_eq!(Val::from_raw(&v.to_raw(), i31), v);
        assert!(v.fits(ValType::Ref(RefType::ANYREF)));
        assert!(!v.fits(ValType::Ref(RefType::nullable(HeapType::Struct))));
        assert!(!Val::AnyRef(AnyRef::Null).fits(i31));
    }

    #[test]
    fn raw_round_trip_keeps_nan_bits() {
        let v = Val::F64(f64::from_bits(0x7ff4_0000_0000_0001));
        match Val::from_raw(&v.to_raw(), ValType::F64) {
            Val::F64(x) => assert_eq!(x.to_bits(), 0x7ff4_0000_0000_0001),
            other => panic!("{other:?}"),
        }
    }
}
