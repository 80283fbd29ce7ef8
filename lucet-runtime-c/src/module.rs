//! `lucet_module`: a compiled module, loaded once and instantiated any
//! number of times.

use std::ffi::c_char;
use std::sync::Arc;

use lucet_runtime::Module;

use crate::error::{clear_out, deref, ffi, lucet_error, slice_arg, str_arg, write_handle};
use crate::linker::lucet_linker;

/// A loaded module: code mapped read+execute, imports resolved.
#[allow(non_camel_case_types)]
pub struct lucet_module {
    pub(crate) module: Arc<Module>,
}

/// Loads the compiled module file at `path` (the output of `lucetc`) and
/// resolves its imports against `linker`, storing the module in `*out`.
///
/// Errors: `LUCET_ERROR_IO` (the file cannot be read),
/// `LUCET_ERROR_INVALID_MODULE` (not a compiled module, or compiled for
/// another machine), `LUCET_ERROR_UNKNOWN_IMPORT`,
/// `LUCET_ERROR_IMPORT_TYPE_MISMATCH`; `*out` is then NULL.
///
/// Ownership: the caller owns the module (`lucet_module_free`); `linker`
/// stays the caller's and may be freed at once. Instances keep their module
/// alive, so it may be freed while they live. Thread safety: a module may
/// be used from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn lucet_module_load(
    path: *const c_char,
    linker: *const lucet_linker,
    out: *mut *mut lucet_module,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        if out.is_null() {
            return Err(crate::error::Error::Null("out"));
        }
        // SAFETY: the caller passes a C string and a linker, or NULLs.
        let (path, linker) = unsafe { (str_arg(path, "path")?, deref(linker, "linker")?) };
        let module = Module::load(path, &linker.linker)?;
        let module = lucet_module { module };
        // SAFETY: as above.
        unsafe { write_handle(out, module, "out") }
    })
}

// Verified loading (`lucet_module_load_verified(path, public_key, linker,
// &out)`, checking a minisign signature with the given public key) goes
// here once the runtime has `Module::load_verified`. It is not offered
// before then: an API that claims to verify must verify.

/// Loads a compiled module from the `len` bytes at `bytes` (copied; the
/// caller keeps its buffer), naming it `name` in messages. Otherwise as
/// `lucet_module_load`.
#[no_mangle]
pub unsafe extern "C" fn lucet_module_load_bytes(
    bytes: *const u8,
    len: usize,
    name: *const c_char,
    linker: *const lucet_linker,
    out: *mut *mut lucet_module,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        if out.is_null() {
            return Err(crate::error::Error::Null("out"));
        }
        if bytes.is_null() {
            return Err(crate::error::Error::Null("bytes"));
        }
        // SAFETY: the caller passes `len` readable bytes, a C string and a
        // linker.
        let (bytes, name, linker) = unsafe {
            (
                slice_arg(bytes, len, "bytes")?,
                str_arg(name, "name")?,
                deref(linker, "linker")?,
            )
        };
        let module = Module::from_bytes(bytes, name, &linker.linker)?;
        let module = lucet_module { module };
        // SAFETY: as above.
        unsafe { write_handle(out, module, "out") }
    })
}

/// Frees the caller's reference to a module; instances made from it keep
/// it alive until they are freed. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lucet_module_free(module: *mut lucet_module) {
    if !module.is_null() {
        // SAFETY: the caller passes a module from `lucet_module_load*`, once.
        drop(unsafe { Box::from_raw(module) });
    }
}
