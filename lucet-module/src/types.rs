//! WebAssembly types as the compiler and runtime share them.
//!
//! References carry their heap type and nullability: `funcref` is
//! `(ref null func)`, and a concrete `(ref $t)` names a type by its index in
//! the module's type section (`ModuleData::types`), together with that
//! type's kind (function, struct or array), so that every reference type
//! says which hierarchy it belongs to without a lookup.
//!
//! The type section is a list of recursive groups (`ModuleData::rec_groups`
//! holds their sizes): a type may refer to any type of an earlier group and
//! of its own group, and declares at most one supertype, which comes before
//! it. A runtime canonicalises whole groups, so that two modules' types are
//! the same type exactly when the specification says so.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The most supertypes a type may have above it (the specification's
/// implementation limit): it bounds the supertype lists a runtime keeps
/// per type for constant-time subtype checks.
pub const MAX_SUBTYPING_DEPTH: u32 = 63;

/// What a concrete type defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TypeKind {
    /// A function signature.
    Func,
    /// A struct: fields of fixed types.
    Struct,
    /// An array: elements of one type.
    Array,
}

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
    /// Any internal reference: `eq` values, and host values converted with
    /// `any.convert_extern`.
    Any,
    /// References that `ref.eq` compares: `i31`, structs and arrays.
    Eq,
    /// A 31-bit integer carried in the reference itself.
    I31,
    /// Any struct.
    Struct,
    /// Any array.
    Array,
    /// No internal reference (the bottom of `any`: only null).
    None,
    /// The module's type `index`, of kind `kind`.
    Concrete {
        /// Index in the module's type section (or, in canonical form, the
        /// runtime's type id).
        index: u32,
        /// What the type defines.
        kind: TypeKind,
    },
}

impl HeapType {
    /// The most general heap type of this one's family (`func`, `extern`,
    /// `exn`).
    pub fn top(self) -> HeapType {
        match self {
            HeapType::Func
            | HeapType::NoFunc
            | HeapType::Concrete {
                kind: TypeKind::Func,
                ..
            } => HeapType::Func,
            HeapType::Extern | HeapType::NoExtern => HeapType::Extern,
            HeapType::Exn | HeapType::NoExn => HeapType::Exn,
            HeapType::Any
            | HeapType::Eq
            | HeapType::I31
            | HeapType::Struct
            | HeapType::Array
            | HeapType::None
            | HeapType::Concrete { .. } => HeapType::Any,
        }
    }

    /// The bottom type of this one's family (`nofunc`, `noextern`, `noexn`,
    /// `none`).
    pub fn bottom(self) -> HeapType {
        match self.top() {
            HeapType::Func => HeapType::NoFunc,
            HeapType::Extern => HeapType::NoExtern,
            HeapType::Exn => HeapType::NoExn,
            _ => HeapType::None,
        }
    }

    /// Whether this is a bottom type (only null inhabits it).
    pub fn is_bottom(self) -> bool {
        matches!(
            self,
            HeapType::NoFunc | HeapType::NoExtern | HeapType::NoExn | HeapType::None
        )
    }

    /// The type index of a concrete heap type.
    pub fn concrete_index(self) -> Option<u32> {
        match self {
            HeapType::Concrete { index, .. } => Some(index),
            _ => None,
        }
    }

    /// This type with a concrete type's index replaced by `map(index)`.
    pub fn map_concrete(self, map: impl FnOnce(u32) -> u32) -> HeapType {
        match self {
            HeapType::Concrete { index, kind } => HeapType::Concrete {
                index: map(index),
                kind,
            },
            other => other,
        }
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
    /// `anyref`: `(ref null any)`.
    pub const ANYREF: RefType = RefType::nullable(HeapType::Any);

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

impl ValType {
    /// Whether values of this type may be references to GC objects, which
    /// a collection must find: the `any` and `extern` hierarchies (an
    /// `externref` may be an object converted), but not `i31` and the
    /// bottom types, which never are.
    pub fn may_be_gc_object(self) -> bool {
        match self {
            ValType::Ref(r) => {
                matches!(r.heap.top(), HeapType::Any | HeapType::Extern)
                    && r.heap != HeapType::I31
                    && !r.heap.is_bottom()
            }
            _ => false,
        }
    }

    /// The type index of a reference to a concrete type.
    pub fn concrete_index(self) -> Option<u32> {
        match self {
            ValType::Ref(r) => r.heap.concrete_index(),
            _ => None,
        }
    }

    /// This type with a concrete type's index replaced by `map(index)`.
    pub fn map_concrete(self, map: impl FnOnce(u32) -> u32) -> ValType {
        match self {
            ValType::Ref(r) => ValType::Ref(RefType {
                nullable: r.nullable,
                heap: r.heap.map_concrete(map),
            }),
            other => other,
        }
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
            HeapType::Any => f.write_str("any"),
            HeapType::Eq => f.write_str("eq"),
            HeapType::I31 => f.write_str("i31"),
            HeapType::Struct => f.write_str("struct"),
            HeapType::Array => f.write_str("array"),
            HeapType::None => f.write_str("none"),
            HeapType::Concrete { index, .. } => write!(f, "{index}"),
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
            HeapType::Any => Some("anyref"),
            HeapType::Eq => Some("eqref"),
            HeapType::I31 => Some("i31ref"),
            HeapType::Struct => Some("structref"),
            HeapType::Array => Some("arrayref"),
            HeapType::None => Some("nullref"),
            HeapType::Concrete { .. } => None,
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
        FuncType {
            params: self.params.iter().map(|t| t.map_concrete(&map)).collect(),
            results: self.results.iter().map(|t| t.map_concrete(&map)).collect(),
        }
    }

    /// The module type indices this signature refers to.
    pub fn concrete_refs(&self) -> impl Iterator<Item = u32> + '_ {
        self.params
            .iter()
            .chain(&self.results)
            .filter_map(|t| t.concrete_index())
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

/// What a struct field or array element stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StorageType {
    /// A packed 8-bit integer (read with sign or zero extension).
    I8,
    /// A packed 16-bit integer.
    I16,
    /// A value of a value type.
    Val(ValType),
}

impl StorageType {
    /// Bytes one value takes in an object.
    pub fn size(self) -> u32 {
        match self {
            StorageType::I8 => 1,
            StorageType::I16 => 2,
            StorageType::Val(ValType::I32 | ValType::F32) => 4,
            StorageType::Val(ValType::V128) => 16,
            StorageType::Val(_) => 8,
        }
    }

    /// The value type values are unpacked to.
    pub fn unpacked(self) -> ValType {
        match self {
            StorageType::I8 | StorageType::I16 => ValType::I32,
            StorageType::Val(t) => t,
        }
    }

    /// Whether the field holds a reference (which a collector traces).
    pub fn is_ref(self) -> bool {
        matches!(self, StorageType::Val(ValType::Ref(_)))
    }
}

/// A struct field or the element of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldType {
    /// What it stores.
    pub storage: StorageType,
    /// Whether `struct.set` / `array.set` may change it.
    pub mutable: bool,
}

impl FieldType {
    /// The type with a concrete type's index replaced by `map(index)`.
    pub fn map_concrete(self, map: impl FnOnce(u32) -> u32) -> FieldType {
        let storage = match self.storage {
            StorageType::Val(t) => StorageType::Val(t.map_concrete(map)),
            packed => packed,
        };
        FieldType {
            storage,
            mutable: self.mutable,
        }
    }
}

/// What a type of the type section defines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompositeType {
    /// A function signature.
    Func(FuncType),
    /// A struct's fields, in order.
    Struct(Vec<FieldType>),
    /// An array's element.
    Array(FieldType),
}

impl CompositeType {
    /// Which kind of type it is.
    pub fn kind(&self) -> TypeKind {
        match self {
            CompositeType::Func(_) => TypeKind::Func,
            CompositeType::Struct(_) => TypeKind::Struct,
            CompositeType::Array(_) => TypeKind::Array,
        }
    }

    /// The type with every concrete type index replaced by `map(index)`.
    pub fn map_concrete(&self, map: impl Fn(u32) -> u32) -> CompositeType {
        match self {
            CompositeType::Func(f) => CompositeType::Func(f.map_concrete(map)),
            CompositeType::Struct(fields) => {
                CompositeType::Struct(fields.iter().map(|f| f.map_concrete(&map)).collect())
            }
            CompositeType::Array(e) => CompositeType::Array(e.map_concrete(map)),
        }
    }

    /// The type indices it refers to.
    pub fn concrete_refs(&self) -> Vec<u32> {
        let field = |f: &FieldType| match f.storage {
            StorageType::Val(t) => t.concrete_index(),
            _ => None,
        };
        match self {
            CompositeType::Func(f) => f.concrete_refs().collect(),
            CompositeType::Struct(fields) => fields.iter().filter_map(field).collect(),
            CompositeType::Array(e) => field(e).into_iter().collect(),
        }
    }
}

/// One entry of the type section: a composite type, whether it may have
/// subtypes, and its declared supertype.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubType {
    /// Whether no type may declare this one as its supertype.
    pub is_final: bool,
    /// The declared supertype (an earlier type index).
    pub supertype: Option<u32>,
    /// What it defines.
    pub composite: CompositeType,
}

impl SubType {
    /// A final function type without a supertype (what a type section
    /// without GC holds).
    pub fn func(ty: FuncType) -> SubType {
        SubType {
            is_final: true,
            supertype: None,
            composite: CompositeType::Func(ty),
        }
    }

    /// The signature, if it is a function type.
    pub fn as_func(&self) -> Option<&FuncType> {
        match &self.composite {
            CompositeType::Func(f) => Some(f),
            _ => None,
        }
    }

    /// The fields, if it is a struct type.
    pub fn as_struct(&self) -> Option<&[FieldType]> {
        match &self.composite {
            CompositeType::Struct(f) => Some(f),
            _ => None,
        }
    }

    /// The element, if it is an array type.
    pub fn as_array(&self) -> Option<FieldType> {
        match &self.composite {
            CompositeType::Array(e) => Some(*e),
            _ => None,
        }
    }

    /// The type with every concrete type index (the supertype's too)
    /// replaced by `map(index)`.
    pub fn map_concrete(&self, map: impl Fn(u32) -> u32) -> SubType {
        SubType {
            is_final: self.is_final,
            supertype: self.supertype.map(&map),
            composite: self.composite.map_concrete(map),
        }
    }
}

impl fmt::Display for StorageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageType::I8 => f.write_str("i8"),
            StorageType::I16 => f.write_str("i16"),
            StorageType::Val(t) => write!(f, "{t}"),
        }
    }
}

impl fmt::Display for FieldType {
    /// `i32`, or `(mut i8)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mutable {
            write!(f, "(mut {})", self.storage)
        } else {
            write!(f, "{}", self.storage)
        }
    }
}

impl fmt::Display for SubType {
    /// `(i32) -> i32`, `struct (i32, (mut f64))`, `array (mut i8)`, with
    /// `sub N` / `sub final N` in front when the type is open or has a
    /// supertype.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_final, self.supertype) {
            (true, None) => {}
            (true, Some(s)) => write!(f, "sub final {s}: ")?,
            (false, None) => f.write_str("sub: ")?,
            (false, Some(s)) => write!(f, "sub {s}: ")?,
        }
        match &self.composite {
            CompositeType::Func(t) => write!(f, "{t}"),
            CompositeType::Struct(fields) => {
                f.write_str("struct (")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{field}")?;
                }
                f.write_str(")")
            }
            CompositeType::Array(e) => write!(f, "array {e}"),
        }
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
            RefType::nullable(HeapType::Concrete {
                index: 3,
                kind: TypeKind::Struct
            })
            .to_string(),
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
    fn type_section_entries_display() {
        let point = SubType {
            is_final: false,
            supertype: Some(2),
            composite: CompositeType::Struct(vec![
                FieldType {
                    storage: StorageType::Val(ValType::I32),
                    mutable: false,
                },
                FieldType {
                    storage: StorageType::I8,
                    mutable: true,
                },
            ]),
        };
        assert_eq!(point.to_string(), "sub 2: struct (i32, (mut i8))");
        let bytes = SubType {
            is_final: true,
            supertype: None,
            composite: CompositeType::Array(FieldType {
                storage: StorageType::I8,
                mutable: true,
            }),
        };
        assert_eq!(bytes.to_string(), "array (mut i8)");
        assert_eq!(RefType::nullable(HeapType::I31).to_string(), "i31ref");
        assert_eq!(HeapType::Struct.top(), HeapType::Any);
        assert_eq!(HeapType::I31.bottom(), HeapType::None);
    }

    #[test]
    fn concrete_types_are_remapped() {
        let t = FuncType::new(
            [ValType::Ref(RefType::non_null(HeapType::Concrete {
                index: 0,
                kind: TypeKind::Func,
            }))],
            [ValType::I32],
        );
        let mapped = t.map_concrete(|i| i + 10);
        assert_eq!(mapped.concrete_refs().collect::<Vec<_>>(), vec![10]);
    }
}
