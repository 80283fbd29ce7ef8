//! `lucet_vmctx`: what a C host function sees of the instance that called
//! it, and what it may do to the run (yield, terminate).
//!
//! A `lucet_vmctx` lives on the stack of the Rust frame that calls the C
//! function (`linker.rs`) and is valid only during that call. Two things
//! the Rust `Vmctx` does by unwinding are turned into plain returns here,
//! because a Rust unwind must never pass through C frames:
//!
//! - `Vmctx::terminate` unwinds (a panic payload caught by the runtime's
//!   host-call wrapper). `lucet_vmctx_terminate` only records the request;
//!   the Rust frame around the C function terminates after it returns.
//! - A yielded host function whose instance is reset or freed is unwound
//!   from inside its yield. `lucet_vmctx_yield` catches that unwind before
//!   it reaches C, returns `LUCET_ERROR_UNWOUND`, and the Rust frame
//!   resumes the unwind once the C function has returned.
//!
//! A yield itself is a context switch (the C frames stay on the guest's
//! stack until it is resumed), which C code does not notice.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lucet_runtime::Vmctx;

use crate::error::{deref, deref_mut, ffi, lucet_error, write_out, Error, Result};
use crate::val::{from_val, lucet_val, to_val};

/// The calling instance, as a host function sees it. Borrowed: valid only
/// until the host function returns, never freed by the caller.
#[allow(non_camel_case_types)]
pub struct lucet_vmctx {
    vmctx: *mut Vmctx,
    /// The code `lucet_vmctx_terminate` asked to end the run with.
    pub(crate) terminate: Option<u64>,
    /// The unwind that reached `lucet_vmctx_yield` (the instance is being
    /// reset or freed), to be resumed once the C function has returned.
    pub(crate) unwind: Option<Box<dyn Any + Send>>,
}

impl lucet_vmctx {
    pub(crate) fn new(vmctx: &mut Vmctx) -> lucet_vmctx {
        lucet_vmctx {
            vmctx,
            terminate: None,
            unwind: None,
        }
    }

    fn vmctx(&mut self) -> &mut Vmctx {
        // SAFETY: `vmctx` comes from the `&mut Vmctx` of the host call this
        // `lucet_vmctx` lives in, which outlives it and is not used by the
        // Rust frame while the C function (the only user of `self`) runs.
        unsafe { &mut *self.vmctx }
    }

    /// Whether the run is ending, so that the host function may only return.
    fn ending(&self) -> Result<()> {
        if self.unwind.is_some() {
            return Err(Error::Unwound);
        }
        if self.terminate.is_some() {
            return Err(Error::InvalidState(
                "the host function called lucet_vmctx_terminate: it must return".into(),
            ));
        }
        Ok(())
    }
}

/// The value `lucet_instance_options.user_data` gave the instance.
pub(crate) struct InstanceData(pub *mut c_void);

// SAFETY: the pointer is opaque to the library, which only hands it back to
// host functions; the header makes it the embedder's job to make what it
// points to usable from the threads its instances run on.
unsafe impl Send for InstanceData {}

/// The value a C host function yields with.
pub(crate) struct YieldValue(pub u64);

/// Bounds-checks `len` bytes at `offset` in memory of `size` bytes, in
/// 64-bit arithmetic, returning the range.
pub(crate) fn checked_range(
    offset: u64,
    len: usize,
    size: usize,
) -> Result<std::ops::Range<usize>> {
    let oob = || Error::OutOfBounds {
        offset,
        len: len as u64,
        size: size as u64,
    };
    let end = offset.checked_add(len as u64).ok_or_else(oob)?;
    if end > size as u64 {
        return Err(oob());
    }
    // Both fit in usize: they are at most `size`.
    Ok(offset as usize..end as usize)
}

/// The calling instance's linear memory (memory 0): its first byte in
/// `*base` and its current size in bytes in `*len` (0, with a non-null
/// `*base`, for a module without memory).
///
/// The pointer stays valid until the host function returns or calls
/// `lucet_vmctx_yield`; after `lucet_vmctx_memory_grow` call this again for
/// the new size. Every offset a guest passes must be checked against `*len`
/// before use (or use `lucet_vmctx_memory_read`/`_write`, which check).
/// Thread safety: only on the thread running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_memory(
    vmctx: *mut lucet_vmctx,
    base: *mut *mut u8,
    len: *mut usize,
) -> lucet_error {
    ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        if base.is_null() {
            return Err(Error::Null("base"));
        }
        if len.is_null() {
            return Err(Error::Null("len"));
        }
        let memory = v.vmctx().memory_mut();
        let (p, n) = (memory.as_mut_ptr(), memory.len());
        // SAFETY: both checked non-null; the caller passes writable pointers.
        unsafe {
            write_out(base, p, "base")?;
            write_out(len, n, "len")
        }
    })
}

/// Copies `len` bytes of the calling instance's linear memory at guest
/// address `offset` into `dst`. Fails with `LUCET_ERROR_MEMORY_OUT_OF_BOUNDS`,
/// copying nothing, if any byte is outside memory (checked in 64-bit
/// arithmetic, so hostile offsets and lengths cannot wrap).
/// `dst` may be NULL only if `len` is 0. Thread safety: only on the thread
/// running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_memory_read(
    vmctx: *mut lucet_vmctx,
    offset: u64,
    dst: *mut c_void,
    len: usize,
) -> lucet_error {
    ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        if dst.is_null() && len != 0 {
            return Err(Error::Null("dst"));
        }
        let memory = v.vmctx().memory();
        let range = checked_range(offset, len, memory.len())?;
        if len != 0 {
            // SAFETY: the source range is inside memory (checked above);
            // `dst` has room for `len` bytes as the caller guarantees; `copy`
            // allows the two to overlap.
            unsafe {
                std::ptr::copy(memory[range].as_ptr(), dst as *mut u8, len);
            }
        }
        Ok(())
    })
}

/// Copies `len` bytes from `src` into the calling instance's linear memory
/// at guest address `offset`. Bounds are checked as for
/// `lucet_vmctx_memory_read`; out of bounds, nothing is written.
/// `src` may be NULL only if `len` is 0. Thread safety: only on the thread
/// running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_memory_write(
    vmctx: *mut lucet_vmctx,
    offset: u64,
    src: *const c_void,
    len: usize,
) -> lucet_error {
    ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        if src.is_null() && len != 0 {
            return Err(Error::Null("src"));
        }
        let memory = v.vmctx().memory_mut();
        let range = checked_range(offset, len, memory.len())?;
        if len != 0 {
            // SAFETY: the destination range is inside memory (checked
            // above); `src` holds `len` bytes as the caller guarantees.
            unsafe {
                std::ptr::copy(src as *const u8, memory[range].as_mut_ptr(), len);
            }
        }
        Ok(())
    })
}

/// Grows the calling instance's memory by `pages` 64 KiB pages, writing
/// the previous size in pages to `*old_pages` (which may be NULL). Fails
/// with `LUCET_ERROR_LIMITS_EXCEEDED` if the memory cannot grow that much
/// (its maximum, or the region's heap limit). Thread safety: only on the
/// thread running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_memory_grow(
    vmctx: *mut lucet_vmctx,
    pages: u32,
    old_pages: *mut u32,
) -> lucet_error {
    ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        let old = v.vmctx().grow_memory(pages).ok_or_else(|| {
            Error::LimitsExceeded(format!("linear memory cannot grow by {pages} pages"))
        })?;
        if !old_pages.is_null() {
            // SAFETY: non-null, writable as the caller guarantees.
            unsafe { write_out(old_pages, old, "old_pages") }?;
        }
        Ok(())
    })
}

/// The value of the calling instance's global `index` (in the module's
/// global index space, imports first). Fails with
/// `LUCET_ERROR_INVALID_ARGUMENT` for an index past the globals and
/// `LUCET_ERROR_UNSUPPORTED_TYPE` for a v128 or reference global.
/// Thread safety: only on the thread running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_global_get(
    vmctx: *mut lucet_vmctx,
    index: u32,
    out: *mut lucet_val,
) -> lucet_error {
    ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        if out.is_null() {
            return Err(Error::Null("out"));
        }
        let val = v
            .vmctx()
            .global(index)
            .ok_or_else(|| Error::InvalidArgument(format!("the module has no global {index}")))?;
        let val = from_val(&val)?;
        // SAFETY: non-null, writable as the caller guarantees.
        unsafe { write_out(out, val, "out") }
    })
}

/// Sets the calling instance's mutable global `index` to `*val`, which must
/// be of the global's type (`LUCET_ERROR_TYPE_MISMATCH` otherwise, also for
/// an immutable global or an index past the globals). Thread safety: only
/// on the thread running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_global_set(
    vmctx: *mut lucet_vmctx,
    index: u32,
    val: *const lucet_val,
) -> lucet_error {
    ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        // SAFETY: the caller passes a valid value or NULL.
        let val = to_val(unsafe { deref(val, "val") }?)?;
        v.vmctx().set_global(index, val)?;
        Ok(())
    })
}

/// Suspends the run: `lucet_instance_run` (or `_resume`) returns
/// `LUCET_RUN_YIELDED`, with `*value` as the yielded value if `value` is
/// not NULL (an opaque 64-bit value; a pointer fits through `uintptr_t`).
/// This call returns when the instance is resumed: with `LUCET_OK`, and
/// the value passed to `lucet_instance_resume` in `*resume_value` and
/// `*resumed_with_value` set to whether there was one (either may be NULL).
///
/// If the instance is reset or freed instead of resumed, this returns
/// `LUCET_ERROR_UNWOUND`: the host function must then return at once,
/// without calling `lucet_vmctx_*` functions other than to read or write
/// memory; its results are ignored.
///
/// The host function's C frames stay on the guest's stack while it is
/// suspended; the instance may be resumed on another thread, so a host
/// function that yields must not keep thread-local state across the call.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_yield(
    vmctx: *mut lucet_vmctx,
    value: *const u64,
    resume_value: *mut u64,
    resumed_with_value: *mut bool,
) -> lucet_error {
    ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        v.ending()?;
        // SAFETY: the caller passes a readable value or NULL.
        let value = unsafe { value.as_ref() }.copied();
        let vm = v.vmctx();
        // A reset or free of the yielded instance unwinds out of the yield:
        // stop that unwind here, before it reaches the C frames above.
        let resumed = catch_unwind(AssertUnwindSafe(|| match value {
            Some(x) => vm.yield_val(YieldValue(x)),
            None => vm.yield_(),
        }));
        let resumed = match resumed {
            Ok(r) => r,
            Err(payload) => {
                v.unwind = Some(payload);
                return Err(Error::Unwound);
            }
        };
        let got = resumed.and_then(|b| b.downcast::<u64>().ok()).map(|b| *b);
        if !resume_value.is_null() {
            // SAFETY: non-null, writable as the caller guarantees.
            unsafe { write_out(resume_value, got.unwrap_or(0), "resume_value") }?;
        }
        if !resumed_with_value.is_null() {
            // SAFETY: as above.
            unsafe { write_out(resumed_with_value, got.is_some(), "resumed_with_value") }?;
        }
        Ok(())
    })
}

/// Ends the run with `code`: `lucet_instance_run` returns
/// `LUCET_RUN_TERMINATED` with `termination` `LUCET_TERMINATION_HOST` and
/// `code` in `termination_code`.
///
/// Unlike the Rust API's `Vmctx::terminate`, this returns (`LUCET_OK`): the
/// host function must then return, and the run ends as soon as it does,
/// before any more guest code runs; its results are ignored, and
/// `lucet_vmctx_yield` fails after it. Nothing is unwound through C frames.
/// A second call keeps the first code. Thread safety: only on the thread
/// running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_terminate(vmctx: *mut lucet_vmctx, code: u64) -> lucet_error {
    ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        v.terminate.get_or_insert(code);
        Ok(())
    })
}

/// The `user_data` the instance was created with
/// (`lucet_instance_options.user_data`), or NULL if none (or if `vmctx` is
/// NULL). Thread safety: only on the thread running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_user_data(vmctx: *mut lucet_vmctx) -> *mut c_void {
    let mut data = std::ptr::null_mut();
    let _ = ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        data = v
            .vmctx()
            .embed_ctx::<InstanceData>()
            .map_or(std::ptr::null_mut(), |d| d.0);
        Ok(())
    });
    data
}

/// Whether the run has been asked to stop (a kill switch fired): a host
/// function that works long or waits should return soon once this is
/// true; the run ends when it returns. False if `vmctx` is NULL. Thread
/// safety: only on the thread running the host function.
#[no_mangle]
pub unsafe extern "C" fn lucet_vmctx_interrupted(vmctx: *mut lucet_vmctx) -> bool {
    let mut requested = false;
    let _ = ffi(|| {
        // SAFETY: a `lucet_vmctx` handed to the running host function.
        let v = unsafe { deref_mut(vmctx, "vmctx") }?;
        requested = v.vmctx().interrupt().requested();
        Ok(())
    });
    requested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_without_wrapping() {
        assert_eq!(checked_range(0, 0, 0).unwrap(), 0..0);
        assert_eq!(checked_range(10, 6, 16).unwrap(), 10..16);
        assert!(checked_range(10, 7, 16).is_err());
        assert!(checked_range(16, 0, 16).is_ok());
        assert!(checked_range(17, 0, 16).is_err());
        assert!(checked_range(u64::MAX, 1, 16).is_err());
        assert!(checked_range(u64::MAX, usize::MAX, usize::MAX).is_err());
        assert!(checked_range(1 << 32, 1, 1 << 20).is_err());
    }
}
