//! The glue between guest code and host functions: calling a host
//! function body so that a panic (or `Vmctx::terminate`) ends the run
//! instead of unwinding into guest frames, yielding from a host function,
//! and ending a killed run.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use lucet_module::InstanceHeader;

use super::kill::Interruption;
use super::{Exit, Instance, Interrupt, Vmctx, CURRENT_INSTANCE};
use crate::sys::context;
use crate::TerminationDetails;

/// The panic payload `Vmctx::terminate` unwinds with.
pub(crate) struct TerminationSignal(pub Box<dyn Any + Send + Sync>);

/// The panic payload that unwinds a yielded host function when its instance
/// is reset or dropped.
pub(crate) struct ForcedUnwind;

impl Instance {
    /// The [`Interrupt`] of the run on this thread (`caller`'s if none is
    /// recorded), for a host function called with `caller`'s vmctx.
    pub(crate) fn current_interrupt<'a>(caller: *mut Instance) -> Interrupt<'a> {
        let current = CURRENT_INSTANCE.with(|c| c.get());
        let inst = if current.is_null() { caller } else { current };
        // SAFETY: the running instance (or the caller) lives for the host
        // call, and its kill state for as long as the instance.
        Interrupt::new(unsafe { &*Arc::as_ptr(&(*inst).kill) })
    }

    /// Yields from a host function to the host (called through `Vmctx`):
    /// the run that is suspended is this thread's running instance's, which
    /// may not be the caller's own when linked instances call each other.
    ///
    /// # Safety
    /// Must be called by a host function running on a guest stack.
    pub(crate) unsafe fn yield_from_host(
        val: Option<Box<dyn Any + Send>>,
    ) -> Option<Box<dyn Any + Send>> {
        let inst = CURRENT_INSTANCE.with(|c| c.get());
        assert!(!inst.is_null(), "yield outside of a guest call");
        // SAFETY: we are on the guest stack of the running instance; the host
        // side holds no reference to it while we switch.
        unsafe {
            (*inst).exit = Some(Exit::Yield(val));
            context::swap(
                ptr::addr_of_mut!((*inst).guest_ctx),
                ptr::addr_of!((*inst).host_ctx),
            );
            if (*inst).unwind_requested {
                std::panic::resume_unwind(Box::new(ForcedUnwind));
            }
            (*inst).resume_val.take()
        }
    }
}

/// Ends the current run from a host function or builtin whose panic (or
/// termination request) was caught. Never returns: switches to the host.
///
/// # Safety
/// Must be called on the guest stack of this thread's running instance, with
/// no live frames between here and guest code that need destructors.
unsafe fn terminate_from_host(payload: Box<dyn Any + Send>) -> ! {
    let details = match payload.downcast::<TerminationSignal>() {
        Ok(signal) => TerminationDetails::Provided(signal.0),
        Err(payload) => {
            if payload.is::<Killed>() {
                TerminationDetails::Remote
            } else if payload.is::<ForcedUnwind>() {
                TerminationDetails::HostPanic("unwound by reset or drop".into())
            } else if let Some(s) = payload.downcast_ref::<&str>() {
                TerminationDetails::HostPanic(s.to_string())
            } else if let Some(s) = payload.downcast_ref::<String>() {
                TerminationDetails::HostPanic(s.clone())
            } else {
                TerminationDetails::HostPanic("non-string panic payload".into())
            }
        }
    };
    let inst = CURRENT_INSTANCE.with(|c| c.get());
    if inst.is_null() {
        // A host function called outside of any run cannot unwind anywhere.
        std::process::abort();
    }
    // SAFETY: the running instance is live; every owned value has been moved
    // into it before we leave this stack for good.
    unsafe {
        (*inst).exit = Some(Exit::Terminated(details));
        context::set(ptr::addr_of!((*inst).host_ctx))
    }
}

/// Calls a host function body with the caller's `Vmctx`; a panic ends the
/// run instead of unwinding into guest frames.
///
/// # Safety
/// `vmctx` must be the vmctx of the running instance that called.
#[inline]
pub(crate) unsafe fn call_host(vmctx: *mut u8, f: impl FnOnce(&mut Vmctx)) {
    let result = {
        // SAFETY: the caller passes the running instance's vmctx.
        let mut ctx = unsafe { Vmctx::from_raw(vmctx) };
        catch_unwind(AssertUnwindSafe(|| f(&mut ctx)))
    };
    if let Err(payload) = result {
        // SAFETY: we are on the guest stack; nothing above us needs dropping.
        unsafe { terminate_from_host(payload) }
    }
    // A kill that landed during the call ends the run now, before any more
    // guest code runs (the guest might otherwise finish as if in time); a
    // preemption yields now.
    // SAFETY: `vmctx` is the caller's, whose header carries the interrupt
    // state of the run on this CPU; read atomically as kill switches write.
    if unsafe { interrupt_requested(vmctx) } {
        // SAFETY: as above; nothing of the host function is left to drop,
        // and a forced unwind of a preemption's yield ends the run through
        // `guarded`.
        guarded(|| unsafe { answer_interrupt() })
    }
}

/// What a run is yielded with when it was preempted
/// ([`KillSwitch::preempt`](crate::KillSwitch::preempt)): resuming it
/// continues the guest where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preempted;

/// Answers a set interrupt word found by guest code of this thread's run
/// (the `Interrupted` builtin at an interrupt check) or after a host call:
/// ends a killed run, yields a preempted one (returning when it is
/// resumed), and returns at once otherwise.
///
/// # Safety
/// Must be called on the guest stack of this thread's running instance,
/// with no live frames between here and guest code that need destructors.
pub(crate) unsafe fn answer_interrupt() {
    let inst = CURRENT_INSTANCE.with(|c| c.get());
    if inst.is_null() {
        return;
    }
    // SAFETY: the running instance is live; we are on its stack.
    unsafe {
        match (*inst).kill.take_interrupt() {
            Some(Interruption::Kill) => terminate_from_host(Box::new(Killed)),
            Some(Interruption::Preempt) => {
                // Its frames are not where a collection could walk them
                // (no exit record): the host may not collect meanwhile.
                (*inst).preempted = true;
                let _ = Instance::yield_from_host(Some(Box::new(Preempted)));
                (*inst).preempted = false;
            }
            None => {}
        }
    }
}

/// The payload that ends a killed run.
struct Killed;

/// Whether the interrupt word of the header below `vmctx` is set.
///
/// # Safety
/// `vmctx` must be a live instance's.
#[inline]
unsafe fn interrupt_requested(vmctx: *mut u8) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    // SAFETY: the header sits right below vmctx; its `interrupt` field has
    // the layout of an AtomicU64 and is written atomically by kill switches.
    unsafe {
        let header = vmctx.sub(InstanceHeader::SIZE as usize) as *const InstanceHeader;
        (*(ptr::addr_of!((*header).interrupt) as *const AtomicU64)).load(Ordering::Relaxed) != 0
    }
}

/// Runs a builtin's body; a panic ends the run instead of unwinding into
/// guest frames.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        // SAFETY: builtins are called by guest code on the guest stack.
        Err(payload) => unsafe { terminate_from_host(payload) },
    }
}
