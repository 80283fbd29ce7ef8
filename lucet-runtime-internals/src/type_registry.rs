//! Process-wide type identities: canonical types, shared by every module
//! loaded in the process, so that `call_indirect` and casts compare types
//! of any module by address, and imports are checked across modules.
//!
//! A module's types refer to each other by module-relative index, grouped
//! in recursive groups. Canonicalisation works on whole groups (the
//! specification's iso-recursive equivalence): a group's key is its types
//! with every reference outside the group replaced by that type's id and
//! every reference inside it by its position in the group. Two groups with
//! equal keys are the same group, and their types are the same types. Each
//! type gets a process-wide id (its index in the registry) and a
//! [`TypeRecord`] that generated code reads: its kind, its depth and its
//! supertype list.
//!
//! Records are never freed (like the ids, there are only as many as there
//! are distinct types in the modules loaded).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use lucet_module::{
    CompositeType, FuncType, HeapType, RefType, StructLayout, SubType, TypeKind, TypeRecord,
    ValType,
};

/// A concrete index in a group key that names a type of the same group
/// (its position in it), rather than the id of a type outside it.
const IN_GROUP: u32 = 1 << 31;

/// One canonical type.
#[repr(C)]
pub struct CanonicalType {
    /// What generated code reads (first, so that a pointer to the
    /// canonical type is a pointer to its record).
    pub record: TypeRecord,
    /// The type, its references and supertype given as ids.
    pub ty: SubType,
    /// Its id.
    pub id: u32,
}

#[derive(Default)]
struct Registry {
    /// The first id of each group, by key.
    groups: HashMap<Vec<SubType>, u32>,
    /// Every canonical type, by id.
    types: Vec<&'static CanonicalType>,
}

static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn kind_number(kind: TypeKind) -> u32 {
    match kind {
        TypeKind::Func => 0,
        TypeKind::Struct => 1,
        TypeKind::Array => 2,
    }
}

/// `record` with what the collector needs to know of objects of a type
/// whose definition is `composite`: their size and reference fields (the
/// list of a struct's lives as long as the record).
fn gc_layout(mut record: TypeRecord, composite: &CompositeType) -> TypeRecord {
    match composite {
        CompositeType::Func(_) => {}
        CompositeType::Struct(fields) => {
            let layout = StructLayout::new(fields);
            let refs: Vec<u32> = fields
                .iter()
                .zip(&layout.offsets)
                .filter(|(f, _)| f.storage.is_ref())
                .map(|(_, at)| *at)
                .collect();
            record.object_size = layout.size;
            record.ref_count = refs.len() as u32;
            record.ref_offsets = Box::leak(refs.into_boxed_slice()).as_ptr();
        }
        CompositeType::Array(elem) => {
            record.object_size = elem.storage.size();
            record.ref_count = u32::from(elem.storage.is_ref());
        }
    }
    record
}

impl Registry {
    /// The ids of the types of the group whose key is `key` (types inside
    /// it as `IN_GROUP | position`, outside it as ids), registering it if
    /// it is new.
    fn intern_group(&mut self, key: Vec<SubType>) -> u32 {
        if let Some(first) = self.groups.get(&key) {
            return *first;
        }
        let first = self.types.len() as u32;
        let resolve = |i: u32| {
            if i & IN_GROUP != 0 {
                first + (i & !IN_GROUP)
            } else {
                i
            }
        };
        for sub in &key {
            let ty = sub.map_concrete(resolve);
            let id = self.types.len() as u32;
            let parent = ty.supertype.map(|s| self.types[s as usize]);
            let depth = parent.map_or(0, |p| p.record.depth + 1);
            let canonical: &'static mut CanonicalType = Box::leak(Box::new(CanonicalType {
                record: gc_layout(
                    TypeRecord {
                        depth,
                        kind: kind_number(ty.composite.kind()),
                        supers: std::ptr::null(),
                        object_size: 0,
                        ref_count: 0,
                        ref_offsets: std::ptr::null(),
                    },
                    &ty.composite,
                ),
                ty,
                id,
            }));
            let mut supers: Vec<*const TypeRecord> = Vec::with_capacity(depth as usize + 1);
            if let Some(p) = parent {
                // SAFETY: `p.record.supers` points at `p.record.depth + 1`
                // records, written before `p` was registered.
                supers.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(p.record.supers, p.record.depth as usize + 1)
                });
            }
            supers.push(&canonical.record);
            canonical.record.supers = Box::leak(supers.into_boxed_slice()).as_ptr();
            self.types.push(canonical);
        }
        self.groups.insert(key, first);
        first
    }
}

/// The canonical type with id `id` (one that a module's types were given).
pub fn canonical(id: u32) -> &'static CanonicalType {
    registry().types[id as usize]
}

/// The record generated code compares for type `id`.
pub fn record(id: u32) -> &'static TypeRecord {
    &canonical(id).record
}

/// The id of a function type whose references are already canonical (a
/// host function's): a final type without supertype, in a group of its own.
pub fn intern_func(ty: &FuncType) -> u32 {
    registry().intern_group(vec![SubType::func(ty.clone())])
}

/// The ids of a module's types (given with the sizes of its recursive
/// groups), in order. The type section is valid: loading checked every
/// index, and that supertypes come first.
pub fn intern_module_types(types: &[SubType], rec_groups: &[u32]) -> Box<[u32]> {
    let mut ids: Vec<u32> = Vec::with_capacity(types.len());
    let mut reg = registry();
    let mut first = 0u32;
    for &count in rec_groups {
        let key: Vec<SubType> = types[first as usize..(first + count) as usize]
            .iter()
            .map(|t| {
                t.map_concrete(|i| {
                    if i >= first {
                        IN_GROUP | (i - first)
                    } else {
                        ids[i as usize]
                    }
                })
            })
            .collect();
        let base = reg.intern_group(key);
        ids.extend(base..base + count);
        first += count;
    }
    ids.into_boxed_slice()
}

/// `rt` with the module's type indices replaced by their ids.
pub fn canonical_ref(rt: RefType, type_ids: &[u32]) -> RefType {
    RefType {
        nullable: rt.nullable,
        heap: rt.heap.map_concrete(|i| type_ids[i as usize]),
    }
}

/// `ty` with the module's type indices replaced by their ids.
pub fn canonical_val(ty: ValType, type_ids: &[u32]) -> ValType {
    ty.map_concrete(|i| type_ids[i as usize])
}

/// Whether canonical type `a` is `b` or one of its declared subtypes.
pub fn id_subtype(a: u32, b: u32) -> bool {
    if a == b {
        return true;
    }
    let (a, b) = {
        let reg = registry();
        (reg.types[a as usize], reg.types[b as usize])
    };
    record_subtype(&a.record, &b.record)
}

/// The supertype-list check generated code also makes.
pub fn record_subtype(a: &TypeRecord, b: &TypeRecord) -> bool {
    if std::ptr::eq(a, b) {
        return true;
    }
    if a.depth < b.depth {
        return false;
    }
    // SAFETY: `a.supers` points at `a.depth + 1` records, and
    // `b.depth <= a.depth`.
    let at = unsafe { *a.supers.add(b.depth as usize) };
    std::ptr::eq(at, b)
}

/// Whether every value of canonical heap type `a` is a value of `b`.
fn heap_subtype(a: HeapType, b: HeapType) -> bool {
    use HeapType as H;
    if a == b {
        return true;
    }
    if a.top() != b.top() {
        return false;
    }
    match (a, b) {
        (_, H::Func | H::Extern | H::Exn | H::Any) => true,
        (H::NoFunc | H::NoExtern | H::NoExn | H::None, _) => true,
        (H::I31 | H::Struct | H::Array, H::Eq) => true,
        (H::Concrete { kind, .. }, H::Eq) => kind != TypeKind::Func,
        (
            H::Concrete {
                kind: TypeKind::Struct,
                ..
            },
            H::Struct,
        ) => true,
        (
            H::Concrete {
                kind: TypeKind::Array,
                ..
            },
            H::Array,
        ) => true,
        (H::Concrete { index: a, .. }, H::Concrete { index: b, .. }) => id_subtype(a, b),
        _ => false,
    }
}

/// Whether every value of canonical reference type `a` is a value of `b`.
pub fn ref_subtype(a: RefType, b: RefType) -> bool {
    (!a.nullable || b.nullable) && heap_subtype(a.heap, b.heap)
}

/// Whether every value of canonical type `a` is a value of canonical type
/// `b`.
pub fn val_subtype(a: ValType, b: ValType) -> bool {
    match (a, b) {
        (ValType::Ref(a), ValType::Ref(b)) => ref_subtype(a, b),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucet_module::{CompositeType, FieldType, StorageType};

    fn func_ref(nullable: bool, index: u32) -> ValType {
        ValType::Ref(RefType {
            nullable,
            heap: HeapType::Concrete {
                index,
                kind: TypeKind::Func,
            },
        })
    }

    #[test]
    fn equal_signatures_share_ids() {
        let a = FuncType::new([ValType::I32], [ValType::I64]);
        let b = FuncType::new([ValType::I64], [ValType::I64]);
        assert_eq!(intern_func(&a), intern_func(&a.clone()));
        assert_ne!(intern_func(&a), intern_func(&b));
    }

    #[test]
    fn types_referring_to_types_are_equal_across_modules() {
        let f = SubType::func(FuncType::new([], [ValType::I32]));
        let g = |i| SubType::func(FuncType::new([func_ref(false, i)], []));
        let i64_to_nothing = SubType::func(FuncType::new([ValType::I64], []));
        let a = intern_module_types(&[f.clone(), g(0)], &[1, 1]);
        let b = intern_module_types(&[i64_to_nothing, f, g(1)], &[1, 1, 1]);
        assert_eq!(a[1], b[2]);
        assert_eq!(a[0], b[1]);
    }

    #[test]
    fn recursive_groups_are_equal_only_as_whole_groups() {
        // (rec (type $a (struct (field (ref null $b)))) (type $b (struct (field i32))))
        let field = |t| FieldType {
            storage: StorageType::Val(t),
            mutable: false,
        };
        let sref = |i| {
            ValType::Ref(RefType::nullable(HeapType::Concrete {
                index: i,
                kind: TypeKind::Struct,
            }))
        };
        let st = |fields: Vec<FieldType>| SubType {
            is_final: true,
            supertype: None,
            composite: CompositeType::Struct(fields),
        };
        let group = vec![st(vec![field(sref(1))]), st(vec![field(ValType::I32)])];
        let a = intern_module_types(&group, &[2]);
        let b = intern_module_types(&group, &[2]);
        assert_eq!(a, b);
        // The same two types as separate groups are other types.
        let c = intern_module_types(
            &[st(vec![field(ValType::I32)]), st(vec![field(sref(0))])],
            &[1, 1],
        );
        assert_ne!(c[0], a[1]);
        assert_ne!(c[1], a[0]);
    }

    #[test]
    fn declared_subtypes_are_found_in_constant_time() {
        let open = |sup| SubType {
            is_final: false,
            supertype: sup,
            composite: CompositeType::Func(FuncType::new([], [])),
        };
        let mut unrelated = open(None);
        unrelated.composite = CompositeType::Func(FuncType::new([ValType::I32], []));
        let ids = intern_module_types(
            &[
                open(None),
                open(Some(0)),
                open(Some(1)),
                unrelated,
                open(None),
            ],
            &[1, 1, 1, 1, 1],
        );
        // The same type twice in a module is one type.
        assert_eq!(ids[4], ids[0]);
        assert!(id_subtype(ids[2], ids[0]));
        assert!(id_subtype(ids[2], ids[1]));
        assert!(!id_subtype(ids[0], ids[2]));
        assert!(!id_subtype(ids[3], ids[0]));
        assert_eq!(record(ids[2]).depth, 2);
        assert!(val_subtype(func_ref(false, ids[2]), func_ref(true, ids[0])));
        assert!(!val_subtype(
            func_ref(true, ids[2]),
            func_ref(false, ids[0])
        ));
    }

    #[test]
    fn subtyping_of_abstract_references() {
        let r = |nullable, heap| ValType::Ref(RefType { nullable, heap });
        let c = HeapType::Concrete {
            index: intern_func(&FuncType::new([ValType::F32], [])),
            kind: TypeKind::Func,
        };
        assert!(val_subtype(r(false, c), r(true, HeapType::Func)));
        assert!(val_subtype(r(true, HeapType::NoFunc), r(true, c)));
        assert!(!val_subtype(r(false, HeapType::Func), r(false, c)));
        assert!(!val_subtype(
            r(true, HeapType::NoExtern),
            r(true, HeapType::Func)
        ));
        assert!(val_subtype(r(false, HeapType::I31), r(true, HeapType::Eq)));
        assert!(val_subtype(r(true, HeapType::None), r(true, HeapType::I31)));
        assert!(!val_subtype(r(true, HeapType::Eq), r(true, HeapType::I31)));
        assert!(!val_subtype(
            r(true, HeapType::Any),
            r(true, HeapType::Extern)
        ));
        assert!(!val_subtype(r(false, c), r(true, HeapType::Eq)));
    }
}
