//! The address of the `Interrupted` builtin's assembly entry
//! (`sys/<arch>/interrupt.rs`), which saves every register around the
//! Rust body: generated code calls it with the `preserve_all` convention.

extern "C" {
    fn lucet_builtin_interrupted_entry();
}

/// The address generated code calls for `Builtin::Interrupted`.
pub fn interrupted_builtin() -> usize {
    lucet_builtin_interrupted_entry as *const () as usize
}
