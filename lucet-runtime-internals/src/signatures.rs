//! Process-wide type identities, so that `call_indirect` can compare the
//! signature of a function from any module with one integer comparison,
//! and imports can be checked across modules.
//!
//! A module's types refer to each other by module-relative index. Each
//! type gets a process-wide id: its signature with every concrete heap type
//! replaced by that type's id (types only refer to earlier ones, so one
//! pass in order does it), interned. Two types have the same id exactly
//! when they are the same type. Types in this form are *canonical*: they
//! can be compared across modules.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use lucet_module::{FuncType, HeapType, RefType, ValType};

static REGISTRY: OnceLock<Mutex<HashMap<FuncType, u32>>> = OnceLock::new();

/// The id of a canonical signature; equal types get equal ids. Ids start at
/// 1, so that a zeroed record never matches. Ids are never reused (there
/// are only as many as there are distinct signatures in loaded modules).
pub fn intern(ty: &FuncType) -> u32 {
    let mut map = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let next = map.len() as u32 + 1;
    *map.entry(ty.clone()).or_insert(next)
}

/// The ids of a module's types, in order.
pub fn intern_module_types(types: &[FuncType]) -> Box<[u32]> {
    let mut ids: Vec<u32> = Vec::with_capacity(types.len());
    for ty in types {
        // Loading checked that types only refer to earlier ones.
        let canonical = ty.map_concrete(|i| ids[i as usize]);
        ids.push(intern(&canonical));
    }
    ids.into_boxed_slice()
}

/// `rt` with the module's type indices replaced by their ids.
pub fn canonical_ref(rt: RefType, type_ids: &[u32]) -> RefType {
    match rt.heap {
        HeapType::Concrete(i) => RefType {
            nullable: rt.nullable,
            heap: HeapType::Concrete(type_ids[i as usize]),
        },
        _ => rt,
    }
}

/// `ty` with the module's type indices replaced by their ids.
pub fn canonical_val(ty: ValType, type_ids: &[u32]) -> ValType {
    match ty {
        ValType::Ref(rt) => ValType::Ref(canonical_ref(rt, type_ids)),
        other => other,
    }
}

fn heap_subtype(a: HeapType, b: HeapType) -> bool {
    a == b
        || (a.top() == b.top()
            && matches!(
                (a, b),
                (_, HeapType::Func | HeapType::Extern | HeapType::Exn)
                    | (HeapType::NoFunc, HeapType::Concrete(_))
            ))
}

/// Whether every value of canonical type `a` is a value of canonical type
/// `b` (without GC, function types have no declared subtypes: a concrete
/// type is below only itself and `func`).
pub fn val_subtype(a: ValType, b: ValType) -> bool {
    match (a, b) {
        (ValType::Ref(a), ValType::Ref(b)) => {
            (!a.nullable || b.nullable) && heap_subtype(a.heap, b.heap)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_signatures_share_ids() {
        let a = FuncType::new([ValType::I32], [ValType::I64]);
        let b = FuncType::new([ValType::I64], [ValType::I64]);
        assert_eq!(intern(&a), intern(&a.clone()));
        assert_ne!(intern(&a), intern(&b));
        assert_ne!(intern(&a), 0);
    }

    #[test]
    fn types_referring_to_types_are_equal_across_modules() {
        let f = FuncType::new([], [ValType::I32]);
        let g = |i| FuncType::new([ValType::Ref(RefType::non_null(HeapType::Concrete(i)))], []);
        // Module A: [f, g(0)]; module B: [i64 -> (), f, g(1)].
        let a = intern_module_types(&[f.clone(), g(0)]);
        let b = intern_module_types(&[FuncType::new([ValType::I64], []), f, g(1)]);
        assert_eq!(a[1], b[2]);
        assert_eq!(a[0], b[1]);
    }

    #[test]
    fn subtyping_of_references() {
        let c = HeapType::Concrete(7);
        let r = |nullable, heap| ValType::Ref(RefType { nullable, heap });
        assert!(val_subtype(r(false, c), r(true, HeapType::Func)));
        assert!(val_subtype(r(true, HeapType::NoFunc), r(true, c)));
        assert!(!val_subtype(r(true, c), r(false, c)));
        assert!(!val_subtype(r(false, HeapType::Func), r(false, c)));
        assert!(!val_subtype(
            r(true, HeapType::NoExtern),
            r(true, HeapType::Func)
        ));
        assert!(val_subtype(ValType::I32, ValType::I32));
        assert!(!val_subtype(r(false, HeapType::Concrete(8)), r(false, c)));
    }
}
