//! The addresses of the builtins that may collect garbage, whose assembly
//! entries (`sys/<arch>/gc.rs`) record the calling guest frame first.

extern "C" {
    fn lucet_builtin_gc_alloc();
    fn lucet_builtin_array_new_data();
    fn lucet_builtin_array_new_elem();
}

/// The address generated code calls for `Builtin::GcAlloc`.
pub fn gc_alloc_builtin() -> usize {
    lucet_builtin_gc_alloc as *const () as usize
}

/// The address generated code calls for `Builtin::ArrayNewData`.
pub fn array_new_data_builtin() -> usize {
    lucet_builtin_array_new_data as *const () as usize
}

/// The address generated code calls for `Builtin::ArrayNewElem`.
pub fn array_new_elem_builtin() -> usize {
    lucet_builtin_array_new_elem as *const () as usize
}
