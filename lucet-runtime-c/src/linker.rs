//! `lucet_linker`: the host functions and globals modules may import,
//! C host functions among them.

use std::ffi::{c_char, c_void};
use std::panic::resume_unwind;

use lucet_runtime::{FuncType, Linker, Val, ValType, Vmctx};

use crate::error::{
    clear_out, deref, deref_mut, ffi, lucet_error, slice_arg, str_arg, write_handle,
};
use crate::val::{from_val, lucet_val, lucet_valtype, to_val, to_valtype};
use crate::vmctx::lucet_vmctx;

/// Host functions and globals to resolve a module's imports against.
#[allow(non_camel_case_types)]
pub struct lucet_linker {
    pub(crate) linker: Linker,
}

/// Frees a host function's `user_data` once nothing can call it any more.
#[allow(non_camel_case_types)]
pub type lucet_user_data_free = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A host function implemented in C.
///
/// Called on the thread running the instance, on the guest's stack (keep
/// frames small: the region's `stack_size` bounds guest and host frames
/// together), with `nargs` arguments of the declared parameter types and
/// `nresults` results that arrive holding zeros of the declared result
/// types, `kind` set. Write each result's value (and leave its `kind`:
/// a result of another kind ends the run, `LUCET_TERMINATION_HOST_ERROR`).
/// `args` and `results` are valid only during the call; so is `vmctx`.
///
/// The function must return normally: it must not `longjmp` out or throw a
/// C++ exception. To end the run, call `lucet_vmctx_terminate` and return.
#[allow(non_camel_case_types)]
pub type lucet_host_func = Option<
    unsafe extern "C" fn(
        vmctx: *mut lucet_vmctx,
        user_data: *mut c_void,
        args: *const lucet_val,
        nargs: usize,
        results: *mut lucet_val,
        nresults: usize,
    ),
>;

/// What the Rust side keeps of a C host function.
struct CFunc {
    func: unsafe extern "C" fn(
        *mut lucet_vmctx,
        *mut c_void,
        *const lucet_val,
        usize,
        *mut lucet_val,
        usize,
    ),
    user_data: *mut c_void,
    free: lucet_user_data_free,
    results: Vec<ValType>,
}

// SAFETY: `user_data` is opaque to the library. The header makes it the
// embedder's job that the function and its data may be used from any thread,
// concurrently (instances of one module run on many threads), and freed from
// whichever thread drops the last module or linker that holds it.
unsafe impl Send for CFunc {}
// SAFETY: as above.
unsafe impl Sync for CFunc {}

impl Drop for CFunc {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the embedder gave `free` for `user_data`; nothing can
            // call the function any more (its `HostFunc` is being dropped).
            unsafe { free(self.user_data) }
        }
    }
}

/// The run-ending payload of a host function that misbehaved (reported as
/// `LUCET_TERMINATION_HOST_ERROR` with this message).
pub(crate) struct HostError(pub String);

/// The payload of `lucet_vmctx_terminate` (reported as
/// `LUCET_TERMINATION_HOST`).
pub(crate) struct HostTermination(pub u64);

impl CFunc {
    /// Calls the C function; runs on the guest stack inside the runtime's
    /// host-call wrapper, which catches the unwinds started here (a
    /// termination, or the resumed unwind of a reset or freed instance).
    fn call(&self, ctx: &mut Vmctx, args: &[Val], results: &mut [Val]) {
        // Small signatures use no heap: a host call is on the hot path.
        const INLINE: usize = 8;
        let zero = lucet_val {
            kind: 0,
            of: crate::val::lucet_val_payload { i64: 0 },
        };
        let mut arg_buf = [zero; INLINE];
        let mut res_buf = [zero; INLINE];
        let mut arg_vec = Vec::new();
        let mut res_vec = Vec::new();
        let c_args: &mut [lucet_val] = if args.len() <= INLINE {
            &mut arg_buf[..args.len()]
        } else {
            arg_vec.resize(args.len(), zero);
            &mut arg_vec
        };
        let c_results: &mut [lucet_val] = if results.len() <= INLINE {
            &mut res_buf[..results.len()]
        } else {
            res_vec.resize(results.len(), zero);
            &mut res_vec
        };
        // The signature was checked to be numeric when it was defined, and
        // the runtime passes values of that signature.
        for (c, a) in c_args.iter_mut().zip(args) {
            *c = from_val(a).expect("host function signatures are numeric");
        }
        for (c, r) in c_results.iter_mut().zip(results.iter()) {
            *c = from_val(r).expect("host function signatures are numeric");
        }
        let mut call = lucet_vmctx::new(ctx);
        // SAFETY: the embedder registered `func` with this signature and
        // `user_data`; the arrays hold `nargs` and `nresults` values and
        // outlive the call, as does `call`.
        unsafe {
            (self.func)(
                &mut call,
                self.user_data,
                c_args.as_ptr(),
                c_args.len(),
                c_results.as_mut_ptr(),
                c_results.len(),
            )
        };
        if let Some(payload) = call.unwind.take() {
            // The instance is being reset or freed while this function was
            // yielded: let the runtime's unwind go on, now that no C frame
            // is in its way.
            resume_unwind(payload);
        }
        if let Some(code) = call.terminate {
            ctx.terminate(HostTermination(code));
        }
        for (i, ((c, r), ty)) in c_results
            .iter()
            .zip(results.iter_mut())
            .zip(&self.results)
            .enumerate()
        {
            match to_val(c) {
                Ok(v) if v.ty() == *ty => *r = v,
                _ => ctx.terminate(HostError(format!(
                    "a host function set result {i} to kind {}, not the declared {ty}",
                    c.kind
                ))),
            }
        }
    }
}

/// Creates an empty linker in `*out`.
///
/// Ownership: the caller owns the linker and frees it with
/// `lucet_linker_free`. Modules loaded with it keep what they need, so it
/// may be freed while they live. Thread safety: a linker may be used by one
/// thread at a time.
#[no_mangle]
pub unsafe extern "C" fn lucet_linker_new(out: *mut *mut lucet_linker) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        let linker = lucet_linker {
            linker: Linker::new(),
        };
        // SAFETY: as above.
        unsafe { write_handle(out, linker, "out") }
    })
}

/// Frees a linker. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lucet_linker_free(linker: *mut lucet_linker) {
    if !linker.is_null() {
        // SAFETY: the caller passes a linker from `lucet_linker_new`, once.
        drop(unsafe { Box::from_raw(linker) });
    }
}

/// Defines the import `module`.`name` as the C function `func` with
/// parameters `params[0..nparams]` and results `results[0..nresults]`
/// (`LUCET_VALTYPE_*`; an array may be NULL when its length is 0). A
/// definition of the same name replaces the earlier one for modules loaded
/// afterwards.
///
/// `func` receives `user_data` on every call. On success the linker owns
/// `user_data`: `free_user_data` (if not NULL) is called once, when the
/// linker and every module loaded with it are gone, on the thread that
/// frees the last of them. On failure nothing is kept and the caller still
/// owns `user_data`.
///
/// Thread safety: `func` may be called from any thread that runs an
/// instance, on several threads at once: `user_data` must allow that.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lucet_linker_define_func(
    linker: *mut lucet_linker,
    module: *const c_char,
    name: *const c_char,
    params: *const lucet_valtype,
    nparams: usize,
    results: *const lucet_valtype,
    nresults: usize,
    func: lucet_host_func,
    user_data: *mut c_void,
    free_user_data: lucet_user_data_free,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes a linker from `lucet_linker_new` or NULL,
        // strings, and arrays of the given lengths.
        let (linker, module, name, params, results) = unsafe {
            (
                deref_mut(linker, "linker")?,
                str_arg(module, "module")?,
                str_arg(name, "name")?,
                slice_arg(params, nparams, "params")?,
                slice_arg(results, nresults, "results")?,
            )
        };
        let func = func.ok_or(crate::error::Error::Null("func"))?;
        let params = params
            .iter()
            .map(|t| to_valtype(*t))
            .collect::<Result<Vec<_>, _>>()?;
        let results = results
            .iter()
            .map(|t| to_valtype(*t))
            .collect::<Result<Vec<_>, _>>()?;
        let c = CFunc {
            func,
            user_data,
            free: free_user_data,
            results: results.clone(),
        };
        linker.linker.func_dynamic(
            module,
            name,
            FuncType::new(params, results),
            move |ctx: &mut Vmctx, args: &[Val], res: &mut [Val]| c.call(ctx, args, res),
        );
        Ok(())
    })
}

/// Defines the import `module`.`name` as a global with initial value
/// `*value` (and its type), mutable by guests if `is_mutable` is true. Every
/// instance that imports it gets its own copy.
/// Thread safety: one thread at a time per linker.
#[no_mangle]
pub unsafe extern "C" fn lucet_linker_define_global(
    linker: *mut lucet_linker,
    module: *const c_char,
    name: *const c_char,
    value: *const lucet_val,
    is_mutable: bool,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes a linker or NULL, strings and a value.
        let (linker, module, name, value) = unsafe {
            (
                deref_mut(linker, "linker")?,
                str_arg(module, "module")?,
                str_arg(name, "name")?,
                deref(value, "value")?,
            )
        };
        let value = to_val(value)?;
        linker.linker.global(module, name, value, is_mutable);
        Ok(())
    })
}

/// Defines every `wasi_snapshot_preview1` function in the linker. An
/// instance of a module that imports them needs a WASI context
/// (`lucet_instance_options.wasi`); without one, the first WASI call ends
/// the run (`LUCET_TERMINATION_HOST_ERROR`). Thread safety: one thread at a time per linker.
#[no_mangle]
pub unsafe extern "C" fn lucet_linker_add_wasi(linker: *mut lucet_linker) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes a linker from `lucet_linker_new` or NULL.
        let linker = unsafe { deref_mut(linker, "linker") }?;
        lucet_wasi::add_to_linker(&mut linker.linker);
        Ok(())
    })
}
