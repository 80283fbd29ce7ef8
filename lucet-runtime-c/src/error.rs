//! `lucet_error`, the thread-local last-error message, and the wrapper every
//! exported function runs its body in (no panic crosses into C).

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What every fallible function of the API returns. `LUCET_OK` is zero;
/// for anything else, `lucet_error_message()` says what went wrong.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lucet_error {
    /// Success.
    LUCET_OK = 0,
    /// A required pointer argument was NULL.
    LUCET_ERROR_NULL_POINTER,
    /// An argument is invalid: a string that is not UTF-8, an unknown value
    /// type or directory access, an array pointer that is NULL with a
    /// non-zero length.
    LUCET_ERROR_INVALID_ARGUMENT,
    /// Reading a file or opening a directory failed.
    LUCET_ERROR_IO,
    /// The file is not a usable compiled module.
    LUCET_ERROR_INVALID_MODULE,
    /// The module file's bytes are not those `lucetc` sealed (its content
    /// hash does not match): the file is damaged or was changed.
    LUCET_ERROR_MODULE_DAMAGED,
    /// A signature was required and the module file has none.
    LUCET_ERROR_NOT_SIGNED,
    /// The module's signature is not valid for the given public key.
    LUCET_ERROR_BAD_SIGNATURE,
    /// A public key could not be read.
    LUCET_ERROR_BAD_KEY,
    /// The module imports something the linker does not define.
    LUCET_ERROR_UNKNOWN_IMPORT,
    /// The linker defines an import with another type than the module's.
    LUCET_ERROR_IMPORT_TYPE_MISMATCH,
    /// The module exports no function of that name.
    LUCET_ERROR_EXPORT_NOT_FOUND,
    /// The arguments do not match the function's parameters.
    LUCET_ERROR_ARGUMENT_MISMATCH,
    /// A value of the wrong type, or a write to an immutable global.
    LUCET_ERROR_TYPE_MISMATCH,
    /// The function or global uses a type the C API does not carry (v128,
    /// references).
    LUCET_ERROR_UNSUPPORTED_TYPE,
    /// The caller's results array has fewer elements than the function
    /// returns. Nothing ran.
    LUCET_ERROR_RESULTS_CAPACITY,
    /// Every slot of the region holds a live instance.
    LUCET_ERROR_REGION_FULL,
    /// The limits are inconsistent (see the message).
    LUCET_ERROR_INVALID_LIMITS,
    /// The module or the request needs more than the limits allow.
    LUCET_ERROR_LIMITS_EXCEEDED,
    /// The instance cannot do this now: it is yielded (resume or reset it),
    /// not yielded (for resume), in use by another call (a host function of
    /// its own run, or another thread), or its start function failed.
    LUCET_ERROR_INVALID_STATE,
    /// A guest memory access out of bounds.
    LUCET_ERROR_MEMORY_OUT_OF_BOUNDS,
    /// Fuel was requested for a module compiled without instruction
    /// counting (`lucetc --count-instructions`).
    LUCET_ERROR_FUEL_UNSUPPORTED,
    /// The module's start function trapped or was terminated while the
    /// instance was created or reset.
    LUCET_ERROR_START_FUNCTION_FAILED,
    /// The kill switch's run has already ended (or its instance is gone).
    LUCET_ERROR_NOT_TERMINABLE,
    /// The module was compiled without interruption checks and its code is
    /// running: it cannot be stopped.
    LUCET_ERROR_NOT_INTERRUPTIBLE,
    /// Returned by `lucet_vmctx_yield` when the yielded instance is being
    /// reset or freed instead of resumed: the host function must return at
    /// once (its results are ignored).
    LUCET_ERROR_UNWOUND,
    /// A system call failed.
    LUCET_ERROR_SYSTEM,
    /// An internal error (a bug in the runtime) was caught at the API
    /// boundary.
    LUCET_ERROR_INTERNAL,
}

use lucet_error::*;

/// Why a call failed, with the code it maps to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{0} is NULL")]
    Null(&'static str),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    UnsupportedType(String),
    #[error("{0}")]
    ResultsCapacity(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    LimitsExceeded(String),
    #[error(
        "guest memory access out of bounds: {len} bytes at {offset:#x} (memory is {size} bytes)"
    )]
    OutOfBounds { offset: u64, len: u64, size: u64 },
    #[error("the start function failed: {0}")]
    StartFailed(lucet_runtime::Error),
    #[error("the yielded instance is being reset or freed: return from the host function")]
    Unwound,
    #[error(transparent)]
    Kill(#[from] lucet_runtime::KillError),
    #[error(transparent)]
    Runtime(#[from] lucet_runtime::Error),
}

impl Error {
    fn code(&self) -> lucet_error {
        use lucet_runtime::Error as R;
        match self {
            Error::Null(_) => LUCET_ERROR_NULL_POINTER,
            Error::InvalidArgument(_) => LUCET_ERROR_INVALID_ARGUMENT,
            Error::Io(_) => LUCET_ERROR_IO,
            Error::UnsupportedType(_) => LUCET_ERROR_UNSUPPORTED_TYPE,
            Error::ResultsCapacity(_) => LUCET_ERROR_RESULTS_CAPACITY,
            Error::InvalidState(_) => LUCET_ERROR_INVALID_STATE,
            Error::LimitsExceeded(_) => LUCET_ERROR_LIMITS_EXCEEDED,
            Error::OutOfBounds { .. } => LUCET_ERROR_MEMORY_OUT_OF_BOUNDS,
            Error::StartFailed(_) => LUCET_ERROR_START_FUNCTION_FAILED,
            Error::Unwound => LUCET_ERROR_UNWOUND,
            Error::Kill(lucet_runtime::KillError::NotTerminable) => LUCET_ERROR_NOT_TERMINABLE,
            Error::Kill(lucet_runtime::KillError::NotInterruptible) => {
                LUCET_ERROR_NOT_INTERRUPTIBLE
            }
            Error::Runtime(e) => match e {
                R::RegionFull(_) => LUCET_ERROR_REGION_FULL,
                R::UnknownImport(_) => LUCET_ERROR_UNKNOWN_IMPORT,
                R::ImportTypeMismatch { .. } => LUCET_ERROR_IMPORT_TYPE_MISMATCH,
                R::ExportNotFound(_) => LUCET_ERROR_EXPORT_NOT_FOUND,
                R::ArgumentMismatch { .. } => LUCET_ERROR_ARGUMENT_MISMATCH,
                R::Metadata(lucet_module::Error::Damaged(_)) => LUCET_ERROR_MODULE_DAMAGED,
                R::Metadata(lucet_module::Error::Unsigned) => LUCET_ERROR_NOT_SIGNED,
                R::Metadata(lucet_module::Error::BadSignature(_)) => LUCET_ERROR_BAD_SIGNATURE,
                R::Metadata(lucet_module::Error::BadKey(_)) => LUCET_ERROR_BAD_KEY,
                R::InvalidModule(_) | R::Metadata(_) => LUCET_ERROR_INVALID_MODULE,
                R::Io { .. } => LUCET_ERROR_IO,
                R::LimitsExceeded(_) => LUCET_ERROR_LIMITS_EXCEEDED,
                R::InvalidLimits(_) => LUCET_ERROR_INVALID_LIMITS,
                R::InvalidState(_) => LUCET_ERROR_INVALID_STATE,
                R::MemoryOutOfBounds { .. } => LUCET_ERROR_MEMORY_OUT_OF_BOUNDS,
                R::TypeMismatch(_) => LUCET_ERROR_TYPE_MISMATCH,
                R::FuelUnsupported(_) => LUCET_ERROR_FUEL_UNSUPPORTED,
                R::System(_) => LUCET_ERROR_SYSTEM,
                // Outcomes of guest code: runs report them as results, so
                // here they come from a start function.
                R::Trap { .. } | R::UncaughtException(_) | R::Terminated(_) => {
                    LUCET_ERROR_START_FUNCTION_FAILED
                }
            },
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// `text` as a C string: interior NULs (which C cannot show) become `?`.
pub(crate) fn c_string(text: String) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        for b in bytes.iter_mut().filter(|b| **b == 0) {
            *b = b'?';
        }
        CString::new(bytes).expect("no NUL is left")
    })
}

fn set_last_error(message: String) {
    let message = c_string(message);
    // During thread teardown the slot may be gone; the message is lost then,
    // not the process.
    let _ = LAST_ERROR.try_with(|m| *m.borrow_mut() = message);
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs the body of an exported function: an error becomes its code and
/// the thread's last-error message; a panic is caught here, at the
/// boundary, and becomes `LUCET_ERROR_INTERNAL`.
pub(crate) fn ffi(body: impl FnOnce() -> Result<()>) -> lucet_error {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => LUCET_OK,
        Ok(Err(e)) => {
            let code = e.code();
            set_last_error(e.to_string());
            code
        }
        Err(payload) => {
            set_last_error(format!(
                "internal error (please report it): {}",
                panic_message(&*payload)
            ));
            LUCET_ERROR_INTERNAL
        }
    }
}

/// Records an error for a function that cannot return one (a `*_free`
/// that refuses to free an instance in use).
pub(crate) fn report(e: Error) {
    set_last_error(e.to_string());
}

/// `&*p`, or an error naming `what` if `p` is NULL.
///
/// # Safety
/// A non-null `p` must point to a valid `T` for `'a`, not mutated meanwhile.
pub(crate) unsafe fn deref<'a, T>(p: *const T, what: &'static str) -> Result<&'a T> {
    // SAFETY: as the caller guarantees for non-null pointers.
    unsafe { p.as_ref() }.ok_or(Error::Null(what))
}

/// `&mut *p`, or an error naming `what` if `p` is NULL.
///
/// # Safety
/// A non-null `p` must point to a valid `T` for `'a`, used only through the
/// result meanwhile.
pub(crate) unsafe fn deref_mut<'a, T>(p: *mut T, what: &'static str) -> Result<&'a mut T> {
    // SAFETY: as the caller guarantees for non-null pointers.
    unsafe { p.as_mut() }.ok_or(Error::Null(what))
}

/// The UTF-8 string at `p`.
///
/// # Safety
/// A non-null `p` must point to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &'static str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::Null(what));
    }
    // SAFETY: non-null, and NUL-terminated as the caller guarantees.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| Error::InvalidArgument(format!("{what} is not valid UTF-8")))
}

/// The `len` elements at `p` (NULL allowed when `len` is zero).
///
/// # Safety
/// A non-null `p` must point to `len` valid elements for `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(
    p: *const T,
    len: usize,
    what: &'static str,
) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::InvalidArgument(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    // SAFETY: non-null, with `len` elements as the caller guarantees.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Writes `value` to the out-parameter `out`.
///
/// # Safety
/// A non-null `out` must be valid for writing a `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T, what: &'static str) -> Result<()> {
    if out.is_null() {
        return Err(Error::Null(what));
    }
    // SAFETY: non-null and writable as the caller guarantees; `write` does
    // not read (or drop) what was there.
    unsafe { out.write(value) };
    Ok(())
}

/// Hands `value` to C as a new handle in `*out` (it is dropped, not
/// leaked, if `out` is NULL).
///
/// # Safety
/// A non-null `out` must be valid for writing a pointer.
pub(crate) unsafe fn write_handle<T>(out: *mut *mut T, value: T, what: &'static str) -> Result<()> {
    if out.is_null() {
        return Err(Error::Null(what));
    }
    // SAFETY: non-null and writable as the caller guarantees.
    unsafe { out.write(Box::into_raw(Box::new(value))) };
    Ok(())
}

/// Sets the handle out-parameter `out` to NULL (if it is not NULL itself),
/// so that a failed call leaves no stale pointer behind.
///
/// # Safety
/// A non-null `out` must be valid for writing a pointer.
pub(crate) unsafe fn clear_out<T>(out: *mut *mut T) {
    if !out.is_null() {
        // SAFETY: as the caller guarantees.
        unsafe { out.write(std::ptr::null_mut()) };
    }
}

/// The message of the last failed call on the calling thread, or an empty
/// string if none has failed yet. Never NULL.
///
/// Ownership: the string belongs to the library; it stays valid until the
/// next `lucet_*` call on this thread. Copy it to keep it.
/// Thread safety: per thread; each thread sees its own last error.
#[no_mangle]
pub extern "C" fn lucet_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|m| m.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The name of an error code (`"LUCET_ERROR_NULL_POINTER"`), or
/// `"LUCET_ERROR_UNKNOWN"` for a value that is not one. A static string:
/// never freed, valid forever. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn lucet_error_name(error: u32) -> *const c_char {
    const NAMES: [&CStr; 28] = [
        c"LUCET_OK",
        c"LUCET_ERROR_NULL_POINTER",
        c"LUCET_ERROR_INVALID_ARGUMENT",
        c"LUCET_ERROR_IO",
        c"LUCET_ERROR_INVALID_MODULE",
        c"LUCET_ERROR_MODULE_DAMAGED",
        c"LUCET_ERROR_NOT_SIGNED",
        c"LUCET_ERROR_BAD_SIGNATURE",
        c"LUCET_ERROR_BAD_KEY",
        c"LUCET_ERROR_UNKNOWN_IMPORT",
        c"LUCET_ERROR_IMPORT_TYPE_MISMATCH",
        c"LUCET_ERROR_EXPORT_NOT_FOUND",
        c"LUCET_ERROR_ARGUMENT_MISMATCH",
        c"LUCET_ERROR_TYPE_MISMATCH",
        c"LUCET_ERROR_UNSUPPORTED_TYPE",
        c"LUCET_ERROR_RESULTS_CAPACITY",
        c"LUCET_ERROR_REGION_FULL",
        c"LUCET_ERROR_INVALID_LIMITS",
        c"LUCET_ERROR_LIMITS_EXCEEDED",
        c"LUCET_ERROR_INVALID_STATE",
        c"LUCET_ERROR_MEMORY_OUT_OF_BOUNDS",
        c"LUCET_ERROR_FUEL_UNSUPPORTED",
        c"LUCET_ERROR_START_FUNCTION_FAILED",
        c"LUCET_ERROR_NOT_TERMINABLE",
        c"LUCET_ERROR_NOT_INTERRUPTIBLE",
        c"LUCET_ERROR_UNWOUND",
        c"LUCET_ERROR_SYSTEM",
        c"LUCET_ERROR_INTERNAL",
    ];
    NAMES
        .get(error as usize)
        .map_or(c"LUCET_ERROR_UNKNOWN".as_ptr(), |n| n.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_enum() {
        let name = |e: lucet_error| {
            // SAFETY: `lucet_error_name` returns static C strings.
            unsafe { CStr::from_ptr(lucet_error_name(e as u32)) }
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(name(LUCET_OK), "LUCET_OK");
        assert_eq!(name(LUCET_ERROR_INTERNAL), "LUCET_ERROR_INTERNAL");
        assert_eq!(name(LUCET_ERROR_UNWOUND), "LUCET_ERROR_UNWOUND");
        assert_eq!(format!("{:?}", LUCET_ERROR_IO), name(LUCET_ERROR_IO));
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(lucet_error_name(9999)) };
        assert_eq!(unknown.to_str().unwrap(), "LUCET_ERROR_UNKNOWN");
    }

    #[test]
    fn errors_set_the_message_and_panics_are_caught() {
        assert_eq!(
            ffi(|| Err(Error::Null("the module"))),
            LUCET_ERROR_NULL_POINTER
        );
        // SAFETY: the message is a valid C string until the next call.
        let m = unsafe { CStr::from_ptr(lucet_error_message()) };
        assert_eq!(m.to_str().unwrap(), "the module is NULL");
        assert_eq!(ffi(|| panic!("boom")), LUCET_ERROR_INTERNAL);
        // SAFETY: as above.
        let m = unsafe { CStr::from_ptr(lucet_error_message()) };
        assert!(m.to_str().unwrap().contains("boom"));
        assert_eq!(ffi(|| Ok(())), LUCET_OK);
    }

    #[test]
    fn interior_nuls_do_not_lose_the_message() {
        assert_eq!(c_string("a\0b".into()).to_str().unwrap(), "a?b");
    }
}
