//! Process-wide signature ids, so that `call_indirect` can compare the
//! signature of a function from any module with one integer comparison.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use lucet_module::FuncType;

static REGISTRY: OnceLock<Mutex<HashMap<FuncType, u32>>> = OnceLock::new();

/// The id of `ty`; equal types get equal ids. Ids start at 1, so that a
/// zeroed record never matches. Ids are never reused (there are only as
/// many as there are distinct signatures in loaded modules).
pub fn intern(ty: &FuncType) -> u32 {
    let mut map = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let next = map.len() as u32 + 1;
    *map.entry(ty.clone()).or_insert(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucet_module::ValType;

    #[test]
    fn equal_signatures_share_ids() {
        let a = FuncType::new([ValType::I32], [ValType::I64]);
        let b = FuncType::new([ValType::I64], [ValType::I64]);
        assert_eq!(intern(&a), intern(&a.clone()));
        assert_ne!(intern(&a), intern(&b));
        assert_ne!(intern(&a), 0);
    }
}
