//! The runtime functions that generated code calls (memory and table
//! instructions too large to inline, and float libcalls), and the symbol
//! table the loader resolves relocations against.
//!
//! Builtins run on the guest's stack, called from guest code. They must not
//! unwind into guest frames: each body runs under `guarded`, which turns a
//! panic into the termination of the instance.

use lucet_module::Builtin;

use crate::instance::{answer_interrupt, guarded, instance_from_vmctx, Instance};

/// The address of the runtime symbol `name`, for relocations.
pub fn runtime_symbol(name: &str) -> Option<usize> {
    if let Some(b) = Builtin::from_symbol(name) {
        return Some(match b {
            Builtin::MemoryGrow => memory_grow as *const () as usize,
            Builtin::MemoryInit => memory_init as *const () as usize,
            Builtin::DataDrop => data_drop as *const () as usize,
            Builtin::TableGrow => table_grow as *const () as usize,
            Builtin::TableFill => table_fill as *const () as usize,
            Builtin::TableCopy => table_copy as *const () as usize,
            Builtin::TableInit => table_init as *const () as usize,
            Builtin::ElemDrop => elem_drop as *const () as usize,
            Builtin::Throw => crate::sys::unwind::throw_builtin(),
            Builtin::ThrowRef => crate::sys::unwind::throw_ref_builtin(),
            Builtin::Interrupted => crate::sys::interrupt::interrupted_builtin(),
            Builtin::Trap => crate::sys::trap::trap_builtin(),
            Builtin::GcAlloc => crate::sys::gc::gc_alloc_builtin(),
            Builtin::ArrayNewData => crate::sys::gc::array_new_data_builtin(),
            Builtin::ArrayNewElem => crate::sys::gc::array_new_elem_builtin(),
            Builtin::ArrayInitData => array_init_data as *const () as usize,
            Builtin::ArrayInitElem => array_init_elem as *const () as usize,
        });
    }
    Some(match name {
        "ceilf" => ceilf as *const () as usize,
        "ceil" => ceil as *const () as usize,
        "floorf" => floorf as *const () as usize,
        "floor" => floor as *const () as usize,
        "truncf" => truncf as *const () as usize,
        "trunc" => trunc as *const () as usize,
        "nearbyintf" => nearbyintf as *const () as usize,
        "nearbyint" => nearbyint as *const () as usize,
        "fmaf" => fmaf as *const () as usize,
        "fma" => fma as *const () as usize,
        "memmove" => libc::memmove as *const () as usize,
        "memset" => libc::memset as *const () as usize,
        _ => return None,
    })
}

/// Status a checked builtin returns: generated code traps on nonzero.
const OK: u32 = 0;
const OUT_OF_BOUNDS: u32 = 1;

fn status(ok: bool) -> u32 {
    if ok {
        OK
    } else {
        OUT_OF_BOUNDS
    }
}

/// Runs `f` on the instance that owns `vmctx`, as a guarded builtin body.
fn with_instance<R>(vmctx: *mut u8, f: impl FnOnce(&mut Instance) -> R) -> R {
    guarded(|| {
        // SAFETY: generated code passes its own live vmctx; the instance runs
        // on this thread and nothing else refers to it during the builtin.
        let inst = unsafe { &mut *instance_from_vmctx(vmctx) };
        f(inst)
    })
}

extern "C" fn memory_grow(vmctx: *mut u8, mem: u32, delta: u64) -> u64 {
    with_instance(vmctx, |i| i.grow_memory_at(mem, delta).unwrap_or(u64::MAX))
}

extern "C" fn memory_init(vmctx: *mut u8, mem: u32, seg: u32, dst: u64, src: u64, len: u64) -> u32 {
    with_instance(vmctx, |i| status(i.memory_init(mem, seg, dst, src, len)))
}

extern "C" fn data_drop(vmctx: *mut u8, seg: u32) {
    with_instance(vmctx, |i| i.data_drop(seg))
}

extern "C" fn table_grow(vmctx: *mut u8, table: u32, delta: u64, init: u64) -> u64 {
    with_instance(vmctx, |i| {
        i.table_grow(table, delta, init).unwrap_or(u64::MAX)
    })
}

extern "C" fn table_fill(vmctx: *mut u8, table: u32, dst: u64, val: u64, len: u64) -> u32 {
    with_instance(vmctx, |i| status(i.table_fill(table, dst, val, len)))
}

extern "C" fn table_copy(
    vmctx: *mut u8,
    dst_table: u32,
    src_table: u32,
    dst: u64,
    src: u64,
    len: u64,
) -> u32 {
    with_instance(vmctx, |i| {
        status(i.table_copy(dst_table, src_table, dst, src, len))
    })
}

extern "C" fn table_init(
    vmctx: *mut u8,
    table: u32,
    seg: u32,
    dst: u64,
    src: u64,
    len: u64,
) -> u32 {
    with_instance(vmctx, |i| status(i.table_init(table, seg, dst, src, len)))
}

extern "C" fn elem_drop(vmctx: *mut u8, seg: u32) {
    with_instance(vmctx, |i| i.elem_drop(seg))
}

/// The slow path of inline allocation (entered through `sys::gc`, which
/// recorded the calling guest frame): collects garbage and allocates; 0
/// when even then the object does not fit (generated code traps with
/// `GcHeapExhausted`).
pub(crate) extern "C" fn gc_alloc(vmctx: *mut u8, type_index: u32, size: u64) -> u64 {
    with_instance(vmctx, |i| {
        i.allocate_collecting(type_index, size)
            .map_or(0, |object| object as u64)
    })
}

/// `array.new_data` (entered through `sys::gc`).
pub(crate) extern "C" fn array_new_data(
    vmctx: *mut u8,
    ty: u32,
    seg: u32,
    offset: u64,
    len: u64,
) -> u64 {
    with_instance(vmctx, |i| i.array_new_data(ty, seg, offset, len))
}

/// `array.new_elem` (entered through `sys::gc`).
pub(crate) extern "C" fn array_new_elem(
    vmctx: *mut u8,
    ty: u32,
    seg: u32,
    offset: u64,
    len: u64,
) -> u64 {
    with_instance(vmctx, |i| i.array_new_elem(ty, seg, offset, len))
}

extern "C" fn array_init_data(vmctx: *mut u8, seg: u32, dst: u64, offset: u64, bytes: u64) -> u32 {
    with_instance(vmctx, |i| {
        status(i.array_init_data(seg, dst, offset, bytes))
    })
}

extern "C" fn array_init_elem(vmctx: *mut u8, seg: u32, dst: u64, offset: u64, len: u64) -> u32 {
    with_instance(vmctx, |i| status(i.array_init_elem(seg, dst, offset, len)))
}

/// An interrupt check (a loop header, or the entry of a function that can
/// recur) found the interrupt word set: the run ends (killed) or
/// yields (preempted), and the guest goes on once it is resumed. Called
/// through the entry in `sys/<arch>/interrupt.rs`, which saves every
/// register around it.
pub(crate) extern "C" fn interrupted() {
    // SAFETY: generated code calls this builtin from an interrupt check of the
    // running instance, on its stack; a forced unwind of the yield (the
    // instance dropped while preempted) ends the run through `guarded`.
    guarded(|| unsafe { answer_interrupt() })
}

extern "C" fn ceilf(x: f32) -> f32 {
    x.ceil()
}
extern "C" fn ceil(x: f64) -> f64 {
    x.ceil()
}
extern "C" fn floorf(x: f32) -> f32 {
    x.floor()
}
extern "C" fn floor(x: f64) -> f64 {
    x.floor()
}
extern "C" fn truncf(x: f32) -> f32 {
    x.trunc()
}
extern "C" fn trunc(x: f64) -> f64 {
    x.trunc()
}
extern "C" fn nearbyintf(x: f32) -> f32 {
    x.round_ties_even()
}
extern "C" fn nearbyint(x: f64) -> f64 {
    x.round_ties_even()
}
extern "C" fn fmaf(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}
extern "C" fn fma(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_and_libcall_resolves() {
        for b in Builtin::ALL {
            assert!(runtime_symbol(b.symbol()).is_some(), "{}", b.symbol());
        }
        for name in ["floorf", "nearbyint", "fma"] {
            assert!(runtime_symbol(name).is_some());
        }
        assert!(runtime_symbol("system").is_none());
        assert_eq!(nearbyintf(2.5), 2.0);
        assert_eq!(nearbyint(-3.5), -4.0);
    }
}
