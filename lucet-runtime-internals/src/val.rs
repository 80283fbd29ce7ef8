//! Values passed between the host and guest code.

use std::fmt;
use std::sync::Arc;

use lucet_module::{
    HeapType, ObjectHeader, RefType, TypeKind, TypeRecord, ValRaw, ValType, HOST_REF_TAG,
    REF_TAG_MASK,
};

use crate::host_roots::{HostRoots, ObjectRoot};

/// A WebAssembly value. A reference to a GC object is a rooted handle
/// ([`GcRef`]), so values are `Clone` but not `Copy`.
#[derive(Debug, Clone, PartialEq)]
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
    /// `externref`
    ExternRef(ExternRef),
    /// `exnref`: an opaque exception reference; 0 is null.
    ExnRef(u64),
    /// `anyref` and the types below it (`eqref`, `i31ref`, ...).
    AnyRef(AnyRef),
}

/// A value the host passes to guests as a reference: any integer below
/// 2^62 (guest code keeps it in a 64-bit reference with two tag bits). 0 is
/// a value like the others, not null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostRef(u64);

impl HostRef {
    /// The largest value a host reference can carry.
    pub const MAX: u64 = (1 << 62) - 1;

    /// `value` as a host reference, if it is at most [`HostRef::MAX`].
    pub fn new(value: u64) -> Option<HostRef> {
        (value <= HostRef::MAX).then_some(HostRef(value))
    }

    /// The value.
    pub fn get(self) -> u64 {
        self.0
    }

    fn to_bits(self) -> u64 {
        self.0 << 2 | HOST_REF_TAG
    }
}

/// A reference of the `extern` hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternRef {
    /// `ref.null extern`
    Null,
    /// A value of the host.
    Host(HostRef),
    /// A reference of the `any` hierarchy made external by
    /// `extern.convert_any` (an `i31` or an object; a host value converted
    /// back and forth is [`ExternRef::Host`]).
    Any(AnyRef),
}

impl ExternRef {
    /// The host value `value` as an `externref`, if it is at most
    /// [`HostRef::MAX`].
    pub fn host(value: u64) -> Option<ExternRef> {
        HostRef::new(value).map(ExternRef::Host)
    }

    fn to_bits(&self) -> u64 {
        match self {
            ExternRef::Null => 0,
            ExternRef::Host(h) => h.to_bits(),
            ExternRef::Any(a) => a.to_bits(),
        }
    }
}

/// A reference of the `any` hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnyRef {
    /// `ref.null any` (and every type below `any`).
    Null,
    /// An `i31ref`: a 31-bit integer carried in the reference.
    I31(I31),
    /// A host value made internal by `any.convert_extern`: an `anyref`
    /// that is neither an `i31` nor an object.
    Host(HostRef),
    /// A struct or an array of an instance's GC heap.
    Object(GcRef),
}

/// A struct or an array in an instance's GC heap, as the host holds it: a
/// root of the instance's collector.
///
/// While any clone of the handle lives, the object does, and the handle
/// follows it when a collection moves it; once every clone is dropped,
/// the object is garbage unless something else refers to it. After the
/// instance is reset or dropped, and in any other instance, passing the
/// handle to a guest is refused with an error.
#[derive(Debug, Clone)]
pub struct GcRef {
    root: Arc<ObjectRoot>,
    ty: &'static TypeRecord,
}

impl PartialEq for GcRef {
    /// The same object of the same heap's contents.
    fn eq(&self, other: &GcRef) -> bool {
        self.root.epoch() == other.root.epoch() && self.bits() == other.bits()
    }
}

impl Eq for GcRef {}

impl GcRef {
    /// Whether the object is a struct (otherwise it is an array).
    pub fn is_struct(&self) -> bool {
        self.ty.kind == 1
    }

    /// The canonical type of the object, identical for every module that
    /// declares an equivalent type.
    pub(crate) fn type_record(&self) -> &'static TypeRecord {
        self.ty
    }

    /// The epoch of the GC heap the object belongs to.
    pub(crate) fn epoch(&self) -> u64 {
        self.root.epoch()
    }

    /// The object's address now.
    fn bits(&self) -> u64 {
        self.root.address()
    }
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
    pub(crate) fn to_bits(&self) -> u64 {
        match self {
            AnyRef::Null => 0,
            AnyRef::I31(i) => i.to_bits(),
            AnyRef::Host(h) => h.to_bits(),
            AnyRef::Object(o) => o.bits(),
        }
    }

    /// The reference whose bits guest code holds, in the GC heap whose
    /// host roots are `roots` (an object becomes one of them).
    ///
    /// # Safety
    /// `bits` must be a reference of the `any` or `extern` hierarchy made
    /// by guest code of that heap's instance (so that an object reference
    /// is the address of a live object).
    pub(crate) unsafe fn from_bits(bits: u64, roots: &HostRoots) -> AnyRef {
        if bits == 0 {
            AnyRef::Null
        } else if bits & 1 != 0 {
            AnyRef::I31(I31::from_bits(bits))
        } else if bits & REF_TAG_MASK == HOST_REF_TAG {
            AnyRef::Host(HostRef(bits >> 2))
        } else {
            // SAFETY: an object's header holds its type's record, which
            // lives for the whole process.
            let ty = unsafe { &*(*(bits as *const ObjectHeader)).ty };
            AnyRef::Object(GcRef {
                root: roots.root(bits),
                ty,
            })
        }
    }

    /// Whether the reference belongs to heap type `heap` (of the `any`
    /// hierarchy); null only to nullable types, checked by the caller. An
    /// object's concrete type is checked by whoever knows the module.
    fn belongs_to(&self, heap: HeapType) -> bool {
        match self {
            AnyRef::Null => true,
            AnyRef::I31(_) => matches!(heap, HeapType::Any | HeapType::Eq | HeapType::I31),
            AnyRef::Host(_) => heap == HeapType::Any,
            AnyRef::Object(o) => match heap {
                HeapType::Any | HeapType::Eq => true,
                HeapType::Struct => o.is_struct(),
                HeapType::Array => !o.is_struct(),
                HeapType::Concrete { kind, .. } => {
                    (kind == TypeKind::Struct) == o.is_struct() && kind != TypeKind::Func
                }
                _ => false,
            },
        }
    }

    /// The most precise type the host can name for the reference.
    fn ty(&self) -> ValType {
        ValType::Ref(match self {
            AnyRef::Null => RefType::ANYREF,
            AnyRef::I31(_) => RefType::non_null(HeapType::I31),
            AnyRef::Host(_) => RefType::non_null(HeapType::Any),
            AnyRef::Object(o) if o.is_struct() => RefType::non_null(HeapType::Struct),
            AnyRef::Object(_) => RefType::non_null(HeapType::Array),
        })
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
            Val::ExternRef(ExternRef::Null) => ValType::EXTERNREF,
            Val::ExternRef(_) => ValType::Ref(RefType::non_null(HeapType::Extern)),
            Val::ExnRef(_) => ValType::EXNREF,
            Val::AnyRef(a) => a.ty(),
        }
    }

    /// The object the value refers to, if it is a GC object (of either
    /// hierarchy).
    pub(crate) fn object(&self) -> Option<&GcRef> {
        match self {
            Val::AnyRef(AnyRef::Object(o)) | Val::ExternRef(ExternRef::Any(AnyRef::Object(o))) => {
                Some(o)
            }
            _ => None,
        }
    }

    /// Whether the value belongs to the family of the (possibly more
    /// precise) type `ty`, null allowed only where `ty` is nullable. A
    /// function reference's or an object's concrete type is checked by
    /// whoever knows the record it points to.
    pub(crate) fn fits(&self, ty: ValType) -> bool {
        let r = match (self, ty) {
            (Val::FuncRef(v), ValType::Ref(r)) if r.heap.top() == HeapType::Func => (*v, r),
            (Val::ExternRef(e), ValType::Ref(r)) if r.heap.top() == HeapType::Extern => {
                (e.to_bits(), r)
            }
            (Val::ExnRef(v), ValType::Ref(r)) if r.heap.top() == HeapType::Exn => (*v, r),
            (Val::AnyRef(a), ValType::Ref(r)) if r.heap.top() == HeapType::Any => {
                return (*a != AnyRef::Null || r.nullable) && a.belongs_to(r.heap)
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
        match self {
            Val::I32(v) => ValRaw::from_i32(*v),
            Val::I64(v) => ValRaw::from_i64(*v),
            Val::F32(v) => ValRaw::from_f32(*v),
            Val::F64(v) => ValRaw::from_f64(*v),
            Val::V128(v) => ValRaw::from_u128(*v),
            Val::FuncRef(v) | Val::ExnRef(v) => ValRaw::from_u64(*v),
            Val::ExternRef(e) => ValRaw::from_u64(e.to_bits()),
            Val::AnyRef(a) => ValRaw::from_u64(a.to_bits()),
        }
    }

    /// Reads a value of type `ty` from the array-call representation, as
    /// guest code of the instance whose GC heap's host roots are `roots`
    /// left it (an object becomes a root).
    ///
    /// # Safety
    /// A reference of the `any` or `extern` hierarchy in `raw` must have
    /// been made by that instance's guest code (see [`AnyRef::from_bits`]).
    pub(crate) unsafe fn from_guest(raw: &ValRaw, ty: ValType, roots: &HostRoots) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw.get_i32()),
            ValType::I64 => Val::I64(raw.get_i64()),
            ValType::F32 => Val::F32(raw.get_f32()),
            ValType::F64 => Val::F64(raw.get_f64()),
            ValType::V128 => Val::V128(raw.get_u128()),
            ValType::Ref(RefType { heap, .. }) => match heap.top() {
                // SAFETY: the caller's promise.
                HeapType::Extern => match unsafe { AnyRef::from_bits(raw.get_u64(), roots) } {
                    AnyRef::Null => Val::ExternRef(ExternRef::Null),
                    AnyRef::Host(h) => Val::ExternRef(ExternRef::Host(h)),
                    a => Val::ExternRef(ExternRef::Any(a)),
                },
                HeapType::Exn => Val::ExnRef(raw.get_u64()),
                // SAFETY: the caller's promise.
                HeapType::Any => Val::AnyRef(unsafe { AnyRef::from_bits(raw.get_u64(), roots) }),
                _ => Val::FuncRef(raw.get_u64()),
            },
        }
    }

    /// The zero value of `ty` (null for references).
    pub fn zero(ty: ValType) -> Val {
        // SAFETY: zero bits are null, no object.
        unsafe { Val::from_guest(&ValRaw::default(), ty, &HostRoots::default()) }
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
            Val::FuncRef(0) | Val::ExnRef(0) => write!(f, "ref.null"),
            Val::ExternRef(ExternRef::Null) | Val::AnyRef(AnyRef::Null) => write!(f, "ref.null"),
            Val::FuncRef(_) => write!(f, "ref.func"),
            Val::ExternRef(ExternRef::Host(h)) => write!(f, "ref.extern {}", h.get()),
            Val::ExternRef(ExternRef::Any(_)) => write!(f, "ref.extern"),
            Val::ExnRef(_) => write!(f, "ref.exn"),
            Val::AnyRef(AnyRef::I31(i)) => write!(f, "ref.i31 {}", i.get_s()),
            Val::AnyRef(AnyRef::Host(h)) => write!(f, "ref.host {}", h.get()),
            Val::AnyRef(AnyRef::Object(o)) if o.is_struct() => write!(f, "ref.struct"),
            Val::AnyRef(AnyRef::Object(_)) => write!(f, "ref.array"),
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
        let host = ExternRef::host(7).unwrap();
        assert_eq!(Val::ExternRef(host).to_string(), "ref.extern 7");
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
        // SAFETY: no object.
        let back = unsafe { Val::from_guest(&v.to_raw(), i31, &HostRoots::default()) };
        assert_eq!(back, v);
        assert!(v.fits(ValType::Ref(RefType::ANYREF)));
        assert!(!v.fits(ValType::Ref(RefType::nullable(HeapType::Struct))));
        assert!(!Val::AnyRef(AnyRef::Null).fits(i31));
    }

    #[test]
    fn host_references_are_the_same_in_both_hierarchies() {
        assert_eq!(
            HostRef::new(HostRef::MAX).map(HostRef::get),
            Some(HostRef::MAX)
        );
        assert_eq!(HostRef::new(HostRef::MAX + 1), None);
        let h = ExternRef::host(0).unwrap();
        let raw = Val::ExternRef(h.clone()).to_raw();
        assert_ne!(raw.get_u64(), 0, "host value 0 is not null");
        // SAFETY: no object.
        let any =
            unsafe { Val::from_guest(&raw, ValType::Ref(RefType::ANYREF), &HostRoots::default()) };
        assert_eq!(any, Val::AnyRef(AnyRef::Host(HostRef(0))));
        assert!(any.fits(ValType::Ref(RefType::ANYREF)));
        assert!(!any.fits(ValType::Ref(RefType::nullable(HeapType::Eq))));
        // SAFETY: no object.
        let back =
            unsafe { Val::from_guest(&any.to_raw(), ValType::EXTERNREF, &HostRoots::default()) };
        assert_eq!(back, Val::ExternRef(h));
    }

    #[test]
    fn raw_round_trip_keeps_nan_bits() {
        let v = Val::F64(f64::from_bits(0x7ff4_0000_0000_0001));
        // SAFETY: not a reference.
        match unsafe { Val::from_guest(&v.to_raw(), ValType::F64, &HostRoots::default()) } {
            Val::F64(x) => assert_eq!(x.to_bits(), 0x7ff4_0000_0000_0001),
            other => panic!("{other:?}"),
        }
    }
}
