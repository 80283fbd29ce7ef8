//! The address of the `Trap` builtin, whose assembly entry is in
//! `sys/<arch>/trap.rs`.

extern "C" {
    fn lucet_builtin_trap();
}

/// The address generated code calls for `Builtin::Trap`.
pub fn trap_builtin() -> usize {
    lucet_builtin_trap as *const () as usize
}
