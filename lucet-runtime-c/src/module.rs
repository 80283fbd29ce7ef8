//! `lucet_module`: a compiled module, loaded once and instantiated any
//! number of times.

use std::ffi::c_char;
use std::sync::Arc;

use lucet_runtime::{Module, PublicKey};

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

/// A minisign public key, which module signatures are checked against.
#[allow(non_camel_case_types)]
pub struct lucet_public_key {
    key: PublicKey,
}

/// Reads a minisign public key from the text `text`: a `.pub` file's
/// contents (comment line and key line) or the base64 key line alone.
///
/// Errors: `LUCET_ERROR_BAD_KEY`; `*out` is then NULL. Ownership: the
/// caller owns the key (`lucet_public_key_free`); `text` stays the
/// caller's. Thread safety: a key may be used from any thread.
#[no_mangle]
pub unsafe extern "C" fn lucet_public_key_decode(
    text: *const c_char,
    out: *mut *mut lucet_public_key,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        if out.is_null() {
            return Err(crate::error::Error::Null("out"));
        }
        // SAFETY: the caller passes a C string or NULL.
        let text = unsafe { str_arg(text, "text")? };
        let key = PublicKey::decode(text).map_err(lucet_runtime::Error::from)?;
        // SAFETY: as above.
        unsafe { write_handle(out, lucet_public_key { key }, "out") }
    })
}

/// Reads a minisign public key from the `.pub` file at `path`. Otherwise
/// as `lucet_public_key_decode`.
#[no_mangle]
pub unsafe extern "C" fn lucet_public_key_from_file(
    path: *const c_char,
    out: *mut *mut lucet_public_key,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        if out.is_null() {
            return Err(crate::error::Error::Null("out"));
        }
        // SAFETY: the caller passes a C string or NULL.
        let path = unsafe { str_arg(path, "path")? };
        let key = PublicKey::from_file(path).map_err(lucet_runtime::Error::from)?;
        // SAFETY: as above.
        unsafe { write_handle(out, lucet_public_key { key }, "out") }
    })
}

/// Frees a public key. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lucet_public_key_free(key: *mut lucet_public_key) {
    if !key.is_null() {
        // SAFETY: the caller passes a key from `lucet_public_key_*`, once.
        drop(unsafe { Box::from_raw(key) });
    }
}

/// Loads the compiled module file at `path` as `lucet_module_load` does,
/// and refuses it unless it carries a valid signature of its content hash
/// by `key` (`lucetc --sign`).
///
/// Errors: as `lucet_module_load`, and `LUCET_ERROR_NOT_SIGNED`,
/// `LUCET_ERROR_BAD_SIGNATURE` (another key's, or changed);
/// `*out` is then NULL. Ownership and thread safety: as
/// `lucet_module_load`; `key` stays the caller's.
#[no_mangle]
pub unsafe extern "C" fn lucet_module_load_verified(
    path: *const c_char,
    key: *const lucet_public_key,
    linker: *const lucet_linker,
    out: *mut *mut lucet_module,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        if out.is_null() {
            return Err(crate::error::Error::Null("out"));
        }
        // SAFETY: the caller passes a C string, a key and a linker, or NULLs.
        let (path, key, linker) = unsafe {
            (
                str_arg(path, "path")?,
                deref(key, "key")?,
                deref(linker, "linker")?,
            )
        };
        let module = Module::load_verified(path, &key.key, &linker.linker)?;
        // SAFETY: as above.
        unsafe { write_handle(out, lucet_module { module }, "out") }
    })
}

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
