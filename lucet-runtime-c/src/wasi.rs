//! `lucet_wasi_builder` and `lucet_wasi_ctx`: what a WASI program sees of
//! the world (arguments, environment, standard streams, preopened
//! directories).

use std::ffi::{c_char, c_int};
use std::os::fd::{BorrowedFd, OwnedFd};

use cap_std::fs::Dir;
use lucet_wasi::{DirAccess, Stream, WasiCtx, WasiCtxBuilder};

use crate::error::{clear_out, deref_mut, ffi, lucet_error, str_arg, write_handle, Error, Result};

/// Builds a WASI context. Each setter changes the builder in place.
#[allow(non_camel_case_types)]
pub struct lucet_wasi_builder {
    builder: WasiCtxBuilder,
}

/// A built WASI context, ready to go into one instance
/// (`lucet_instance_options.wasi`).
#[allow(non_camel_case_types)]
pub struct lucet_wasi_ctx {
    pub(crate) ctx: WasiCtx,
}

/// How a preopened directory may be used. A plain integer: an unknown value
/// is an error, not undefined behavior.
#[allow(non_camel_case_types)]
pub type lucet_dir_access = u32;

/// Read, list and open for reading; everything that changes the file
/// system is refused (`ENOTCAPABLE`), in the directory and everything
/// opened through it.
pub const LUCET_DIR_READ_ONLY: lucet_dir_access = 0;
/// Everything, confined to the directory.
pub const LUCET_DIR_READ_WRITE: lucet_dir_access = 1;

/// Creates a builder: no arguments, no environment, no directories, and the
/// process's own standard streams (descriptors 0, 1 and 2, shared, not
/// duplicated), in `*out`.
///
/// Ownership: the caller owns the builder until `lucet_wasi_builder_build`
/// (which consumes it) or `lucet_wasi_builder_free`. Thread safety: one
/// thread at a time.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_new(out: *mut *mut lucet_wasi_builder) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        let b = lucet_wasi_builder {
            builder: WasiCtxBuilder::new(),
        };
        // SAFETY: as above.
        unsafe { write_handle(out, b, "out") }
    })
}

/// Frees a builder that was not built. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_free(builder: *mut lucet_wasi_builder) {
    if !builder.is_null() {
        // SAFETY: the caller passes a builder from `lucet_wasi_builder_new`,
        // once.
        drop(unsafe { Box::from_raw(builder) });
    }
}

/// Applies `f` to the builder at `b`.
///
/// # Safety
/// `b` must be a live builder or NULL, used by no one else meanwhile.
unsafe fn with_builder(
    b: *mut lucet_wasi_builder,
    f: impl FnOnce(WasiCtxBuilder) -> WasiCtxBuilder,
) -> Result<()> {
    // SAFETY: as the caller guarantees.
    let b = unsafe { deref_mut(b, "builder") }?;
    b.builder = f(std::mem::take(&mut b.builder));
    Ok(())
}

/// Appends an argument; the first is the program's name. The string is
/// copied. Fails for a string that is not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_arg(
    builder: *mut lucet_wasi_builder,
    arg: *const c_char,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes a C string or NULL.
        let arg = unsafe { str_arg(arg, "arg") }?;
        // SAFETY: the caller passes a builder or NULL.
        unsafe { with_builder(builder, |b| b.arg(arg)) }
    })
}

/// Sets the environment variable `key` to `value` (a later setting of a
/// name replaces an earlier one). Both are copied. Fails for a key that is
/// empty or holds `=`, or strings that are not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_env(
    builder: *mut lucet_wasi_builder,
    key: *const c_char,
    value: *const c_char,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes C strings or NULLs.
        let (key, value) = unsafe { (str_arg(key, "key")?, str_arg(value, "value")?) };
        if key.is_empty() || key.contains('=') {
            return Err(Error::InvalidArgument(format!(
                "environment variable name {key:?} is empty or holds '='"
            )));
        }
        // SAFETY: the caller passes a builder or NULL.
        unsafe { with_builder(builder, |b| b.env(key, value)) }
    })
}

/// Copies the host process's environment (its UTF-8 variables) into the
/// program's.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_inherit_env(
    builder: *mut lucet_wasi_builder,
) -> lucet_error {
    // SAFETY: the caller passes a builder or NULL.
    ffi(|| unsafe { with_builder(builder, |b| b.inherit_env()) })
}

/// Most descriptors the program may have open at once, standard streams
/// and preopened directories included (default 1024).
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_max_open_files(
    builder: *mut lucet_wasi_builder,
    max: usize,
) -> lucet_error {
    // SAFETY: the caller passes a builder or NULL.
    ffi(|| unsafe { with_builder(builder, |b| b.max_open_files(max)) })
}

/// Gives the program the host directory `host_path` as `guest_path` (the
/// name it sees), with `access` (`LUCET_DIR_READ_ONLY` or
/// `LUCET_DIR_READ_WRITE`). The directory is opened now
/// (`LUCET_ERROR_IO` if it cannot be); nothing outside it is reachable
/// through it: not by `..`, absolute paths or symbolic links. Preopened
/// directories get descriptors 3, 4, ... in the order they are added.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_preopen_dir(
    builder: *mut lucet_wasi_builder,
    host_path: *const c_char,
    guest_path: *const c_char,
    access: lucet_dir_access,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes C strings or NULLs.
        let (host, guest) = unsafe {
            (
                str_arg(host_path, "host_path")?,
                str_arg(guest_path, "guest_path")?,
            )
        };
        let access = match access {
            LUCET_DIR_READ_ONLY => DirAccess::ReadOnly,
            LUCET_DIR_READ_WRITE => DirAccess::ReadWrite,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown directory access {other} (LUCET_DIR_READ_ONLY or LUCET_DIR_READ_WRITE)"
                )))
            }
        };
        let dir = Dir::open_ambient_dir(host, cap_std::ambient_authority())
            .map_err(|e| Error::Io(format!("cannot open directory {host}: {e}")))?;
        // SAFETY: the caller passes a builder or NULL.
        unsafe { with_builder(builder, |b| b.preopened(dir, guest, access)) }
    })
}

/// The stream for descriptor `fd` of the caller: a duplicate of it, or the
/// empty stream for -1.
fn stream(fd: c_int, what: &str) -> Result<Stream> {
    if fd == -1 {
        return Ok(Stream::Null);
    }
    if fd < 0 {
        return Err(Error::InvalidArgument(format!(
            "{what} descriptor {fd} is negative (use -1 for none)"
        )));
    }
    // SAFETY: the borrow is used only to duplicate the descriptor, now; a
    // descriptor that is not open makes the duplication fail (EBADF), which
    // is reported.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned: OwnedFd = borrowed
        .try_clone_to_owned()
        .map_err(|e| Error::Io(format!("cannot duplicate {what} descriptor {fd}: {e}")))?;
    Ok(Stream::Owned(owned))
}

/// Sets the program's standard input to the caller's open descriptor `fd`,
/// or to an empty stream (reads see end-of-file) if `fd` is -1.
///
/// Ownership: the descriptor is duplicated now (close-on-exec); the caller
/// keeps `fd` and may close it at once. The program reads through the
/// duplicate, which is closed when the WASI context goes (with its
/// instance, or by `lucet_wasi_ctx_free`).
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_stdin(
    builder: *mut lucet_wasi_builder,
    fd: c_int,
) -> lucet_error {
    ffi(|| {
        let s = stream(fd, "stdin")?;
        // SAFETY: the caller passes a builder or NULL.
        unsafe { with_builder(builder, |b| b.stdin(s)) }
    })
}

/// Sets the program's standard output to a duplicate of the caller's open
/// descriptor `fd`, or discards it if `fd` is -1. Ownership as for
/// `lucet_wasi_builder_stdin`.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_stdout(
    builder: *mut lucet_wasi_builder,
    fd: c_int,
) -> lucet_error {
    ffi(|| {
        let s = stream(fd, "stdout")?;
        // SAFETY: the caller passes a builder or NULL.
        unsafe { with_builder(builder, |b| b.stdout(s)) }
    })
}

/// Sets the program's standard error to a duplicate of the caller's open
/// descriptor `fd`, or discards it if `fd` is -1. Ownership as for
/// `lucet_wasi_builder_stdin`.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_stderr(
    builder: *mut lucet_wasi_builder,
    fd: c_int,
) -> lucet_error {
    ffi(|| {
        let s = stream(fd, "stderr")?;
        // SAFETY: the caller passes a builder or NULL.
        unsafe { with_builder(builder, |b| b.stderr(s)) }
    })
}

/// Builds the context into `*out` and frees the builder, whatever the
/// result (do not use or free `builder` afterwards).
///
/// Ownership: the caller owns the context until it passes it to
/// `lucet_instance_new` (which takes it) or frees it with
/// `lucet_wasi_ctx_free`. A context goes into one instance.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_builder_build(
    builder: *mut lucet_wasi_builder,
    out: *mut *mut lucet_wasi_ctx,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        if builder.is_null() {
            return Err(Error::Null("builder"));
        }
        // SAFETY: a builder from `lucet_wasi_builder_new`, given up by the
        // caller with this call.
        let b = unsafe { Box::from_raw(builder) };
        if out.is_null() {
            return Err(Error::Null("out"));
        }
        let ctx = lucet_wasi_ctx {
            ctx: b.builder.build(),
        };
        // SAFETY: as above.
        unsafe { write_handle(out, ctx, "out") }
    })
}

/// Frees a context that was not given to an instance. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lucet_wasi_ctx_free(ctx: *mut lucet_wasi_ctx) {
    if !ctx.is_null() {
        // SAFETY: the caller passes a context from `lucet_wasi_builder_build`,
        // once.
        drop(unsafe { Box::from_raw(ctx) });
    }
}
