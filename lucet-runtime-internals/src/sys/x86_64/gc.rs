//! The entries of the builtins that may collect garbage, in assembly.
//!
//! Generated code calls them as `(vmctx, ...)` (System V), so `rdi` is
//! `vmctx` and `[rsp]` the return address into the calling guest function,
//! whose frame pointer is still in `rbp`. Each entry writes those two into
//! the instance header (`exit_pc`, `exit_fp`), where the collector starts
//! its walk of the guest's frames, and jumps to the Rust builtin, which
//! returns straight to the guest.

use std::arch::global_asm;

use lucet_module::InstanceHeader;

use crate::builtins::{array_new_data, array_new_elem, gc_alloc};

macro_rules! gc_entry {
    ($name:literal, $target:ident) => {
        global_asm!(
            ".text",
            concat!(".globl ", $name),
            concat!(".type ", $name, ",@function"),
            ".p2align 4",
            concat!($name, ":"),
            "mov rax, [rsp]",
            "mov [rdi - {pc}], rax",
            "mov [rdi - {fp}], rbp",
            "jmp {target}",
            concat!(".size ", $name, ", .-", $name),
            pc = const -InstanceHeader::OFFSET_EXIT_PC,
            fp = const -InstanceHeader::OFFSET_EXIT_FP,
            target = sym $target,
        );
    };
}

gc_entry!("lucet_builtin_gc_alloc", gc_alloc);
gc_entry!("lucet_builtin_array_new_data", array_new_data);
gc_entry!("lucet_builtin_array_new_elem", array_new_elem);
