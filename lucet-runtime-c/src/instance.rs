//! `lucet_instance`: a module instantiated in a region slot; runs, yields
//! and resumes, reset, fuel, and kill switches.

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use lucet_runtime::{
    InstanceHandle, KillSuccess, KillSwitch, RunResult, TerminationDetails, TrapCode, Val, ValType,
};

use crate::error::{
    c_string, clear_out, deref, ffi, lucet_error, panic_message, report, slice_arg, str_arg,
    write_handle, write_out, Error, Result,
};
use crate::linker::{HostError, HostTermination};
use crate::module::lucet_module;
use crate::region::lucet_region;
use crate::val::{check_types, from_val, lucet_val, to_val};
use crate::vmctx::{InstanceData, YieldValue};
use crate::wasi::lucet_wasi_ctx;

/// A live instance. Freeing it (`lucet_instance_free`) returns its slot.
#[allow(non_camel_case_types)]
pub struct lucet_instance {
    /// Set while a call uses the instance: a second call (from one of its
    /// own host functions, or from another thread) is refused.
    busy: AtomicBool,
    inner: UnsafeCell<Inner>,
}

struct Inner {
    /// `None` only while `lucet_instance_free` drops it.
    handle: Option<InstanceHandle>,
    /// The result types of the function whose run is yielded.
    pending: Option<Vec<ValType>>,
    /// The message of the last run's outcome (`lucet_run_result.message`).
    message: CString,
}

/// Clears `busy` when the call that set it ends (also by a panic).
struct Busy<'a>(&'a AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Takes the instance at `p` for one call.
///
/// # Safety
/// `p` must be a live instance from `lucet_instance_new`, or NULL.
unsafe fn enter<'a>(p: *mut lucet_instance) -> Result<(Busy<'a>, &'a mut Inner)> {
    // SAFETY: a shared reference is all that is made of the instance itself;
    // its mutable part sits in an `UnsafeCell`, borrowed below only by the
    // call that set `busy`.
    let inst = unsafe { deref(p as *const lucet_instance, "instance") }?;
    if inst
        .busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Err(Error::InvalidState(
            "the instance is in use by another call: a host function of its own run \
             (which cannot run, resume, reset or free it), or another thread"
                .into(),
        ));
    }
    let busy = Busy(&inst.busy);
    // SAFETY: `busy` was false and is now ours: no other reference to the
    // inner state exists until it is cleared.
    let inner = unsafe { &mut *inst.inner.get() };
    Ok((busy, inner))
}

impl Inner {
    fn handle(&mut self) -> &mut InstanceHandle {
        self.handle
            .as_mut()
            .expect("the handle is only taken when the instance is freed")
    }
}

/// How an instance is created; fill it with `lucet_instance_options_init`
/// first, so that fields added later get their defaults.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lucet_instance_options {
    /// Whether the instance starts with a fuel limit of `fuel` (its start
    /// function counts against it). Only for modules compiled with
    /// `lucetc --count-instructions`.
    pub has_fuel: bool,
    /// The fuel, if `has_fuel`.
    pub fuel: u64,
    /// A WASI context for a program that imports WASI, or NULL. Taken by
    /// `lucet_instance_new` whatever it returns: do not use or free it
    /// afterwards.
    pub wasi: *mut lucet_wasi_ctx,
    /// An opaque pointer for host functions (`lucet_vmctx_user_data`). The
    /// library never dereferences or frees it.
    pub user_data: *mut c_void,
}

/// Fills `*opts` with the defaults: no fuel limit, no WASI, no user data.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_options_init(
    opts: *mut lucet_instance_options,
) -> lucet_error {
    ffi(|| {
        let defaults = lucet_instance_options {
            has_fuel: false,
            fuel: 0,
            wasi: std::ptr::null_mut(),
            user_data: std::ptr::null_mut(),
        };
        // SAFETY: the caller passes a writable pointer or NULL.
        unsafe { write_out(opts, defaults, "opts") }
    })
}

/// The outcomes a start function can have, as errors of instantiation.
fn start_error(e: lucet_runtime::Error) -> Error {
    use lucet_runtime::Error as R;
    match e {
        R::Trap { .. } | R::Terminated(_) | R::UncaughtException(_) => Error::StartFailed(e),
        other => Error::Runtime(other),
    }
}

/// Instantiates `module` in a free slot of `region` with `opts` (defaults
/// if NULL) and runs the module's start function, storing the instance in
/// `*out`.
///
/// Errors: `LUCET_ERROR_REGION_FULL`, `LUCET_ERROR_LIMITS_EXCEEDED` (the
/// module needs more than the region's limits), `LUCET_ERROR_FUEL_UNSUPPORTED`,
/// `LUCET_ERROR_START_FUNCTION_FAILED` (it trapped, was terminated or ran
/// out of fuel; the slot is free again).
///
/// Ownership: the caller owns the instance (`lucet_instance_free`); it keeps
/// the module and the region alive. `opts->wasi` is taken in every case.
/// Thread safety: any thread, concurrently with others on the same region
/// and module. An instance may be used by one thread at a time, and may
/// move between threads between calls.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_new(
    region: *const lucet_region,
    module: *const lucet_module,
    opts: *const lucet_instance_options,
    out: *mut *mut lucet_instance,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        // SAFETY: the caller passes valid options or NULL.
        let opts = unsafe { opts.as_ref() }.copied();
        // The WASI context is taken first, so that it is freed on every
        // path.
        let wasi = opts.and_then(|o| {
            // SAFETY: a context from `lucet_wasi_builder_build` that the
            // caller gives up with this call.
            (!o.wasi.is_null()).then(|| unsafe { Box::from_raw(o.wasi) })
        });
        // SAFETY: the caller passes a region and a module, or NULLs.
        let (region, module) = unsafe { (deref(region, "region")?, deref(module, "module")?) };
        if out.is_null() {
            return Err(Error::Null("out"));
        }
        let mut builder = region.region.new_instance_builder(module.module.clone());
        if let Some(o) = opts {
            if o.has_fuel {
                builder = builder.with_fuel(o.fuel);
            }
            if !o.user_data.is_null() {
                builder = builder.with_embed_ctx(InstanceData(o.user_data));
            }
        }
        if let Some(w) = wasi {
            builder = builder.with_embed_ctx(w.ctx);
        }
        let handle = builder.build().map_err(start_error)?;
        let inst = lucet_instance {
            busy: AtomicBool::new(false),
            inner: UnsafeCell::new(Inner {
                handle: Some(handle),
                pending: None,
                message: CString::default(),
            }),
        };
        // SAFETY: as above.
        unsafe { write_handle(out, inst, "out") }
    })
}

/// Frees an instance and returns its slot to the region. A yielded
/// instance's host function is first unwound: its `lucet_vmctx_yield`
/// returns `LUCET_ERROR_UNWOUND` and it must return. NULL is a no-op.
///
/// An instance in use by another call (this is called from one of its own
/// host functions, or races with another thread) is not freed; the
/// thread's last error says so.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_free(inst: *mut lucet_instance) {
    if inst.is_null() {
        return;
    }
    // SAFETY: a live instance, as the caller guarantees.
    let entered = unsafe { enter(inst) };
    let (busy, inner) = match entered {
        Ok(e) => e,
        Err(e) => {
            report(e);
            return;
        }
    };
    // Dropping the handle may run a yielded host function to its end;
    // meanwhile the instance is still whole, and marked busy.
    let handle = inner.handle.take();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(handle))) {
        report(Error::InvalidState(format!(
            "internal error freeing an instance: {}",
            panic_message(&*payload)
        )));
    }
    drop(busy);
    // SAFETY: from `lucet_instance_new`, freed once; nothing refers to it.
    drop(unsafe { Box::from_raw(inst) });
}

/// How a run ended.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lucet_run_kind {
    /// The function returned; `results_len` results were written.
    LUCET_RUN_RETURNED,
    /// A host function yielded (`yielded_has_value`, `yielded_value`);
    /// resume or reset the instance.
    LUCET_RUN_YIELDED,
    /// The guest trapped (`trap_code`, `message`).
    LUCET_RUN_TRAPPED,
    /// The run was ended from outside the guest (`termination`,
    /// `termination_code`, `message`).
    LUCET_RUN_TERMINATED,
    /// The guest threw an exception that nothing caught (`message`).
    LUCET_RUN_EXCEPTION,
}

/// Why a guest trapped.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lucet_trap_code {
    /// Not a trap.
    LUCET_TRAP_NONE,
    /// The guest exhausted its stack.
    LUCET_TRAP_STACK_OVERFLOW,
    /// A linear-memory access outside the accessible heap.
    LUCET_TRAP_HEAP_OUT_OF_BOUNDS,
    /// A misaligned atomic access.
    LUCET_TRAP_HEAP_MISALIGNED,
    /// A table access outside the table.
    LUCET_TRAP_TABLE_OUT_OF_BOUNDS,
    /// `call_indirect` reached a null table entry.
    LUCET_TRAP_INDIRECT_CALL_TO_NULL,
    /// `call_indirect` reached a function of another signature.
    LUCET_TRAP_BAD_SIGNATURE,
    /// Integer overflow (`i32.div_s` of `INT_MIN / -1`).
    LUCET_TRAP_INTEGER_OVERFLOW,
    /// Integer division or remainder by zero.
    LUCET_TRAP_INTEGER_DIVISION_BY_ZERO,
    /// A float that cannot be represented as the target integer.
    LUCET_TRAP_BAD_CONVERSION_TO_INTEGER,
    /// An `unreachable` instruction.
    LUCET_TRAP_UNREACHABLE,
    /// A null reference was dereferenced.
    LUCET_TRAP_NULL_REFERENCE,
    /// The instance used up its fuel.
    LUCET_TRAP_OUT_OF_FUEL,
    /// The instance's storage for live exceptions is full.
    LUCET_TRAP_EXCEPTION_STORAGE_EXHAUSTED,
    /// A fault in guest code with no trap record.
    LUCET_TRAP_UNKNOWN,
    /// `ref.cast` found a reference of another type.
    LUCET_TRAP_CAST_FAILURE,
    /// An array index or range outside the array.
    LUCET_TRAP_ARRAY_OUT_OF_BOUNDS,
    /// A GC object did not fit in the instance's GC heap.
    LUCET_TRAP_GC_HEAP_EXHAUSTED,
}

fn trap_code(code: TrapCode) -> lucet_trap_code {
    use lucet_trap_code::*;
    match code {
        TrapCode::StackOverflow => LUCET_TRAP_STACK_OVERFLOW,
        TrapCode::HeapOutOfBounds => LUCET_TRAP_HEAP_OUT_OF_BOUNDS,
        TrapCode::HeapMisaligned => LUCET_TRAP_HEAP_MISALIGNED,
        TrapCode::TableOutOfBounds => LUCET_TRAP_TABLE_OUT_OF_BOUNDS,
        TrapCode::IndirectCallToNull => LUCET_TRAP_INDIRECT_CALL_TO_NULL,
        TrapCode::BadSignature => LUCET_TRAP_BAD_SIGNATURE,
        TrapCode::IntegerOverflow => LUCET_TRAP_INTEGER_OVERFLOW,
        TrapCode::IntegerDivisionByZero => LUCET_TRAP_INTEGER_DIVISION_BY_ZERO,
        TrapCode::BadConversionToInteger => LUCET_TRAP_BAD_CONVERSION_TO_INTEGER,
        TrapCode::Unreachable => LUCET_TRAP_UNREACHABLE,
        TrapCode::NullReference => LUCET_TRAP_NULL_REFERENCE,
        TrapCode::OutOfFuel => LUCET_TRAP_OUT_OF_FUEL,
        TrapCode::ExceptionStorageExhausted => LUCET_TRAP_EXCEPTION_STORAGE_EXHAUSTED,
        TrapCode::Unknown => LUCET_TRAP_UNKNOWN,
        TrapCode::CastFailure => LUCET_TRAP_CAST_FAILURE,
        TrapCode::ArrayOutOfBounds => LUCET_TRAP_ARRAY_OUT_OF_BOUNDS,
        TrapCode::GcHeapExhausted => LUCET_TRAP_GC_HEAP_EXHAUSTED,
    }
}

/// Who ended a terminated run.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lucet_termination {
    /// Not terminated.
    LUCET_TERMINATION_NONE,
    /// A host function called `lucet_vmctx_terminate`; its code is in
    /// `termination_code`.
    LUCET_TERMINATION_HOST,
    /// A WASI program exited (`proc_exit`, or `proc_raise` as 128 + the
    /// signal); its exit status is in `termination_code`.
    LUCET_TERMINATION_EXIT,
    /// A kill switch stopped the run.
    LUCET_TERMINATION_KILLED,
    /// A host function failed (a Rust panic, a result of the wrong kind, a
    /// WASI call without a WASI context); see `message`.
    LUCET_TERMINATION_HOST_ERROR,
}

/// The outcome of `lucet_instance_run` or `lucet_instance_resume` (when
/// they return `LUCET_OK`; an error means nothing ran).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lucet_run_result {
    /// How the run ended.
    pub kind: lucet_run_kind,
    /// For `LUCET_RUN_RETURNED`: how many results were written (the
    /// function's result count); 0 otherwise.
    pub results_len: usize,
    /// For `LUCET_RUN_YIELDED`: whether the host function yielded a value.
    pub yielded_has_value: bool,
    /// For `LUCET_RUN_YIELDED`: the value (0 if none).
    pub yielded_value: u64,
    /// For `LUCET_RUN_TRAPPED`: why; `LUCET_TRAP_NONE` otherwise.
    pub trap_code: lucet_trap_code,
    /// For `LUCET_RUN_TERMINATED`: who; `LUCET_TERMINATION_NONE` otherwise.
    pub termination: lucet_termination,
    /// For `LUCET_TERMINATION_HOST` and `_EXIT`: the code; 0 otherwise.
    pub termination_code: u64,
    /// A description of a trap, termination or exception ("" otherwise).
    /// Owned by the instance: valid until the next call on it. Never NULL.
    pub message: *const c_char,
}

/// Turns a run's outcome into the C result, writing returned values to
/// `results` (room for `types.len()` was checked).
fn finish(
    inner: &mut Inner,
    outcome: std::result::Result<RunResult, lucet_runtime::Error>,
    types: Vec<ValType>,
    results: *mut lucet_val,
    out: *mut lucet_run_result,
) -> Result<()> {
    use lucet_run_kind::*;
    use lucet_termination::*;
    let mut r = lucet_run_result {
        kind: LUCET_RUN_RETURNED,
        results_len: 0,
        yielded_has_value: false,
        yielded_value: 0,
        trap_code: lucet_trap_code::LUCET_TRAP_NONE,
        termination: LUCET_TERMINATION_NONE,
        termination_code: 0,
        message: std::ptr::null(),
    };
    let mut message = String::new();
    let mut values: Vec<Val> = Vec::new();
    match outcome {
        Ok(RunResult::Returned(v)) => {
            inner.pending = None;
            values = v;
        }
        Ok(RunResult::Yielded(y)) => {
            inner.pending = Some(types);
            r.kind = LUCET_RUN_YIELDED;
            if let Some(YieldValue(v)) = y.downcast_ref::<YieldValue>() {
                r.yielded_has_value = true;
                r.yielded_value = *v;
            }
        }
        Err(e @ lucet_runtime::Error::Trap { .. }) => {
            inner.pending = None;
            r.kind = LUCET_RUN_TRAPPED;
            r.trap_code = trap_code(e.trap_code().unwrap_or(TrapCode::Unknown));
            message = e.to_string();
        }
        Err(lucet_runtime::Error::Terminated(d)) => {
            inner.pending = None;
            r.kind = LUCET_RUN_TERMINATED;
            let (termination, code, text) = termination(&d);
            r.termination = termination;
            r.termination_code = code;
            message = text;
        }
        Err(e @ lucet_runtime::Error::UncaughtException(_)) => {
            inner.pending = None;
            r.kind = LUCET_RUN_EXCEPTION;
            message = e.to_string();
        }
        // Nothing ran: the instance is as it was.
        Err(e) => return Err(e.into()),
    }
    let converted = values
        .iter()
        .map(from_val)
        .collect::<Result<Vec<lucet_val>>>()?;
    if !converted.is_empty() {
        // SAFETY: `results` has room for the function's results (checked
        // before the run), which are these.
        unsafe { std::ptr::copy_nonoverlapping(converted.as_ptr(), results, converted.len()) };
    }
    r.results_len = converted.len();
    inner.message = c_string(message);
    r.message = inner.message.as_ptr();
    // SAFETY: checked non-null before the run; writable as the caller
    // guarantees.
    unsafe { write_out(out, r, "out") }
}

fn termination(d: &TerminationDetails) -> (lucet_termination, u64, String) {
    use lucet_termination::*;
    match d {
        TerminationDetails::Remote => (LUCET_TERMINATION_KILLED, 0, d.to_string()),
        TerminationDetails::HostPanic(_) => (LUCET_TERMINATION_HOST_ERROR, 0, d.to_string()),
        TerminationDetails::Provided(_) => {
            if let Some(HostTermination(code)) = d.provided::<HostTermination>() {
                (
                    LUCET_TERMINATION_HOST,
                    *code,
                    format!("terminated by a host function with code {code}"),
                )
            } else if let Some(lucet_runtime::ExitCode(code)) =
                d.provided::<lucet_runtime::ExitCode>()
            {
                (
                    LUCET_TERMINATION_EXIT,
                    u64::from(*code),
                    format!("the program exited with status {code}"),
                )
            } else if let Some(HostError(m)) = d.provided::<HostError>() {
                (LUCET_TERMINATION_HOST_ERROR, 0, m.clone())
            } else {
                (LUCET_TERMINATION_HOST_ERROR, 0, d.to_string())
            }
        }
    }
}

/// Checks the results array for `types` and the out-pointer.
fn check_results(
    types: &[ValType],
    results: *mut lucet_val,
    results_cap: usize,
    out: *mut lucet_run_result,
) -> Result<()> {
    if out.is_null() {
        return Err(Error::Null("out"));
    }
    if results.is_null() && results_cap != 0 {
        return Err(Error::InvalidArgument(format!(
            "results is NULL but results_cap is {results_cap}"
        )));
    }
    check_types(types, "results")?;
    if types.len() > results_cap {
        return Err(Error::ResultsCapacity(format!(
            "the function returns {} values; results has room for {results_cap}",
            types.len()
        )));
    }
    Ok(())
}

/// Runs the exported function `name` with `args[0..nargs]`, writing its
/// results to `results[0..results_cap]` and the outcome to `*out`.
///
/// Returns `LUCET_OK` whenever the function ran, however it ended (see
/// `out->kind`: returned, yielded, trapped, terminated). An error means it
/// did not run: `LUCET_ERROR_EXPORT_NOT_FOUND`,
/// `LUCET_ERROR_ARGUMENT_MISMATCH`, `LUCET_ERROR_UNSUPPORTED_TYPE` (v128 or
/// reference parameters or results), `LUCET_ERROR_RESULTS_CAPACITY`
/// (checked before running), `LUCET_ERROR_INVALID_STATE` (yielded, or in
/// use). `args` may be NULL when `nargs` is 0, `results` when
/// `results_cap` is 0.
///
/// The run happens on this thread, which gets a signal stack the first
/// time (kept for the thread's life). Thread safety: one call at a time per
/// instance.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_run(
    inst: *mut lucet_instance,
    name: *const c_char,
    args: *const lucet_val,
    nargs: usize,
    results: *mut lucet_val,
    results_cap: usize,
    out: *mut lucet_run_result,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance, a C string and an array of
        // `nargs` values (or NULLs).
        let (_busy, inner) = unsafe { enter(inst) }?;
        // SAFETY: as above.
        let (name, args) = unsafe { (str_arg(name, "name")?, slice_arg(args, nargs, "args")?) };
        let handle = inner.handle();
        let ty = handle
            .module()
            .export_func_type(name)
            .ok_or_else(|| lucet_runtime::Error::ExportNotFound(name.to_string()))?
            .clone();
        check_types(&ty.params, &format!("parameters of {name:?}"))?;
        check_results(&ty.results, results, results_cap, out)?;
        let args = args.iter().map(to_val).collect::<Result<Vec<Val>>>()?;
        let outcome = handle.run(name, &args);
        finish(inner, outcome, ty.results, results, out)
    })
}

/// Resumes a yielded instance; the host function's `lucet_vmctx_yield`
/// returns with `*value` if `value` is not NULL. Results and outcome as for
/// `lucet_instance_run` (of the function whose run yielded).
/// `LUCET_ERROR_INVALID_STATE` if the instance is not yielded.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_resume(
    inst: *mut lucet_instance,
    value: *const u64,
    results: *mut lucet_val,
    results_cap: usize,
    out: *mut lucet_run_result,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance or NULL.
        let (_busy, inner) = unsafe { enter(inst) }?;
        let types = inner
            .pending
            .clone()
            .ok_or_else(|| Error::InvalidState("the instance is not yielded".into()))?;
        check_results(&types, results, results_cap, out)?;
        // SAFETY: the caller passes a readable value or NULL.
        let value = unsafe { value.as_ref() }.copied();
        let handle = inner.handle();
        let outcome = match value {
            Some(v) => handle.resume_with_val(v),
            None => handle.resume(),
        };
        finish(inner, outcome, types, results, out)
    })
}

/// Puts the instance back in its freshly instantiated state (memory,
/// globals, tables, the fuel it was created with) and runs the start
/// function again; the WASI context and user data are kept (a WASI
/// program's open files stay open). A yielded instance's host function is
/// unwound first (`LUCET_ERROR_UNWOUND` from its yield).
/// `LUCET_ERROR_START_FUNCTION_FAILED` leaves an instance that can only be
/// reset again or freed.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_reset(inst: *mut lucet_instance) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance or NULL.
        let (_busy, inner) = unsafe { enter(inst) }?;
        inner.pending = None;
        inner.handle().reset().map_err(start_error)
    })
}

/// Limits the instance's further execution to `fuel` units (about one per
/// WebAssembly instruction); a run that uses them up traps with
/// `LUCET_TRAP_OUT_OF_FUEL`. Fuel carries over from run to run; reset
/// restores what the instance was created with.
/// `LUCET_ERROR_FUEL_UNSUPPORTED` for a module compiled without
/// `--count-instructions`.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_set_fuel(
    inst: *mut lucet_instance,
    fuel: u64,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance or NULL.
        let (_busy, inner) = unsafe { enter(inst) }?;
        inner.handle().set_fuel(fuel)?;
        Ok(())
    })
}

/// Lifts the instance's fuel limit.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_remove_fuel_limit(
    inst: *mut lucet_instance,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance or NULL.
        let (_busy, inner) = unsafe { enter(inst) }?;
        inner.handle().remove_fuel_limit();
        Ok(())
    })
}

/// The fuel left in `*fuel` (0 once used up) and in `*limited` whether the
/// instance has a limit at all (`*fuel` is 0 if not). Either may be NULL.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_fuel(
    inst: *mut lucet_instance,
    fuel: *mut u64,
    limited: *mut bool,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance or NULL.
        let (_busy, inner) = unsafe { enter(inst) }?;
        let left = inner.handle().fuel();
        // SAFETY: the caller passes writable pointers or NULLs.
        unsafe {
            if !fuel.is_null() {
                write_out(fuel, left.unwrap_or(0), "fuel")?;
            }
            if !limited.is_null() {
                write_out(limited, left.is_some(), "limited")?;
            }
        }
        Ok(())
    })
}

/// The instance's linear memory (memory 0): its first byte in `*base`, its
/// size in bytes in `*len`, for the host to read or write between runs.
/// Valid until the next call that runs guest code on the instance (run,
/// resume, reset) or frees it.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_memory(
    inst: *mut lucet_instance,
    base: *mut *mut u8,
    len: *mut usize,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance or NULL.
        let (_busy, inner) = unsafe { enter(inst) }?;
        if base.is_null() {
            return Err(Error::Null("base"));
        }
        let memory = inner.handle().heap_mut();
        let (p, n) = (memory.as_mut_ptr(), memory.len());
        // SAFETY: the caller passes writable pointers (checked non-null).
        unsafe {
            write_out(base, p, "base")?;
            write_out(len, n, "len")
        }
    })
}

/// The value of the exported global `name` in `*out`
/// (`LUCET_ERROR_EXPORT_NOT_FOUND` if there is none,
/// `LUCET_ERROR_UNSUPPORTED_TYPE` for v128 and references).
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_global_get(
    inst: *mut lucet_instance,
    name: *const c_char,
    out: *mut lucet_val,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance and a C string, or NULLs.
        let (_busy, inner) = unsafe { enter(inst) }?;
        // SAFETY: as above.
        let name = unsafe { str_arg(name, "name") }?;
        if out.is_null() {
            return Err(Error::Null("out"));
        }
        let v = from_val(&inner.handle().get_global(name)?)?;
        // SAFETY: non-null, writable as the caller guarantees.
        unsafe { write_out(out, v, "out") }
    })
}

/// Sets the exported mutable global `name` to `*val`, which must be of its
/// type (`LUCET_ERROR_TYPE_MISMATCH` otherwise, or if it is immutable).
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_global_set(
    inst: *mut lucet_instance,
    name: *const c_char,
    val: *const lucet_val,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes an instance, a C string and a value, or
        // NULLs.
        let (_busy, inner) = unsafe { enter(inst) }?;
        // SAFETY: as above.
        let (name, val) = unsafe { (str_arg(name, "name")?, deref(val, "val")?) };
        let val = to_val(val)?;
        inner.handle().set_global(name, val)?;
        Ok(())
    })
}

/// Stops one run of an instance from any thread.
#[allow(non_camel_case_types)]
pub struct lucet_kill_switch {
    switch: KillSwitch,
}

/// What `lucet_kill_switch_terminate` did.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lucet_kill_outcome {
    /// The run had not started: it will not (`lucet_instance_run` returns
    /// `LUCET_RUN_TERMINATED`, `LUCET_TERMINATION_KILLED`, at once).
    LUCET_KILL_CANCELLED,
    /// The run was asked to stop: guest code stops at its next loop header
    /// or function entry, a host function when it returns, a yielded run
    /// when it is resumed.
    LUCET_KILL_SIGNALLED,
}

/// A kill switch for the instance's current run, or its next run if none
/// is in progress, in `*out`. A switch belongs to that one run: once it has
/// ended, terminating fails with `LUCET_ERROR_NOT_TERMINABLE`; take a new
/// switch for each run, before starting it (while the instance runs, this
/// call is refused like any other on it).
///
/// Ownership: the caller owns the switch (`lucet_kill_switch_free`); it
/// does not keep the instance alive, and may outlive it. Thread safety: the
/// switch may be used from any thread, by several at once.
#[no_mangle]
pub unsafe extern "C" fn lucet_instance_kill_switch(
    inst: *mut lucet_instance,
    out: *mut *mut lucet_kill_switch,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        // SAFETY: the caller passes an instance or NULL.
        let (_busy, inner) = unsafe { enter(inst) }?;
        if out.is_null() {
            return Err(Error::Null("out"));
        }
        let switch = lucet_kill_switch {
            switch: inner.handle().kill_switch(),
        };
        // SAFETY: as above.
        unsafe { write_handle(out, switch, "out") }
    })
}

/// Stops the switch's run (see `lucet_kill_outcome`), writing what happened
/// to `*outcome` (which may be NULL). Errors: `LUCET_ERROR_NOT_TERMINABLE`
/// (the run has ended, or the instance is gone),
/// `LUCET_ERROR_NOT_INTERRUPTIBLE` (compiled without interruption checks,
/// and running). Thread safety: any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn lucet_kill_switch_terminate(
    kill_switch: *const lucet_kill_switch,
    outcome: *mut lucet_kill_outcome,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes a switch or NULL.
        let switch = unsafe { deref(kill_switch, "kill_switch") }?;
        let done = match switch.switch.terminate()? {
            KillSuccess::Cancelled => lucet_kill_outcome::LUCET_KILL_CANCELLED,
            KillSuccess::Signalled => lucet_kill_outcome::LUCET_KILL_SIGNALLED,
        };
        if !outcome.is_null() {
            // SAFETY: non-null, writable as the caller guarantees.
            unsafe { write_out(outcome, done, "outcome") }?;
        }
        Ok(())
    })
}

/// Frees a kill switch (no other thread may be using it). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lucet_kill_switch_free(kill_switch: *mut lucet_kill_switch) {
    if !kill_switch.is_null() {
        // SAFETY: the caller passes a switch from `lucet_instance_kill_switch`,
        // once.
        drop(unsafe { Box::from_raw(kill_switch) });
    }
}
