//! A throw's state, shared by the assembly entries of the throw builtins
//! (`sys/<arch>/unwind.rs`, which say how they use it) and the runtime.

/// Where a throw came from, and where it resumes.
#[repr(C)]
#[derive(Debug, Default)]
pub struct UnwindState {
    /// In: the thrower's frame pointer. Out: the handler's.
    pub fp: usize,
    /// In: the return address into the thrower. Out: the handler's address.
    pub pc: usize,
    /// In: the lowest address of guest state on the stack (the saved
    /// registers). Out: the handler's stack pointer.
    pub sp: usize,
    /// Out: the exception payload registers (Cranelift's for the `tail`
    /// convention: `rax`, `rdx` on x86_64; x0, x1 on aarch64).
    pub payload: [usize; 2],
}

const _: () = assert!(std::mem::size_of::<UnwindState>() == 40);

extern "C" {
    fn lucet_builtin_throw();
    fn lucet_builtin_throw_ref();
}

/// The address generated code calls for `Builtin::Throw`.
pub fn throw_builtin() -> usize {
    lucet_builtin_throw as *const () as usize
}

/// The address generated code calls for `Builtin::ThrowRef`.
pub fn throw_ref_builtin() -> usize {
    lucet_builtin_throw_ref as *const () as usize
}
