//! Process-wide handlers for the signals guest code raises (SIGSEGV, SIGBUS,
//! SIGILL, SIGFPE), and per-run alternate signal stacks.
//!
//! The handlers are installed once, the first time a region is created, and
//! stay installed. On a signal, the handler asks the runtime's classifier
//! whether the fault happened in guest code of the instance running on this
//! thread. If so, the classifier records the trap and names the host context
//! to return to; the handler rewrites the machine context so that, when it
//! returns, the thread continues in `lucet_context_set(host)` instead of the
//! faulting instruction. Any other fault goes to the handler that was
//! installed before ours, so host bugs crash as they would without Lucet.
//!
//! The handler runs on the slot's signal stack (SA_ONSTACK), so a guest that
//! exhausted its stack can still be handled. It does no allocation and takes
//! no locks.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Once;

use crate::sys::context;
use crate::Error;

/// Decides what a fault at `pc` means: `Some(host_context_address)` when it
/// is a guest trap that has been recorded, `None` when it is not ours.
pub type FaultClassifier = unsafe fn(signum: libc::c_int, pc: usize) -> Option<usize>;

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

struct Previous(UnsafeCell<[MaybeUninit<libc::sigaction>; 4]>);
// SAFETY: written once inside `INSTALL` before any handler can run, read-only
// afterwards.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new([MaybeUninit::uninit(); 4]));
static mut CLASSIFIER: Option<FaultClassifier> = None;
static INSTALL: Once = Once::new();
static mut INSTALL_ERROR: Option<i32> = None;

/// Installs the handlers (once per process).
pub fn install(classifier: FaultClassifier) -> Result<(), Error> {
    INSTALL.call_once(|| {
        // SAFETY: runs once, before our handlers exist, so nothing reads
        // CLASSIFIER or PREVIOUS concurrently.
        unsafe {
            CLASSIFIER = Some(classifier);
            let previous = &mut *PREVIOUS.0.get();
            for (i, sig) in SIGNALS.iter().enumerate() {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handle as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(*sig, &action, previous[i].as_mut_ptr()) != 0 {
                    INSTALL_ERROR =
                        Some(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
                    return;
                }
            }
        }
    });
    // SAFETY: written only inside `call_once`, which has completed.
    match unsafe { INSTALL_ERROR } {
        None => Ok(()),
        Some(errno) => Err(Error::System(format!(
            "installing signal handlers: {}",
            std::io::Error::from_raw_os_error(errno)
        ))),
    }
}

extern "C" fn handle(signum: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    let uc = uc as *mut libc::ucontext_t;
    // SAFETY: the kernel passes a valid ucontext; CLASSIFIER was set before
    // the handler was installed.
    unsafe {
        let pc = context::ucontext_pc(uc);
        if let Some(classify) = CLASSIFIER {
            if let Some(host) = classify(signum, pc) {
                context::ucontext_redirect(uc, context::set_routine_address(), host);
                return;
            }
        }
        chain(signum, info, uc as *mut libc::c_void);
    }
}

/// Passes a signal that is not a guest trap to the previous handler.
unsafe fn chain(signum: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    let Some(i) = SIGNALS.iter().position(|s| *s == signum) else {
        return;
    };
    // SAFETY: PREVIOUS[i] was filled by sigaction before our handler existed.
    let prev = unsafe { (*PREVIOUS.0.get())[i].assume_init_ref() };
    let handler = prev.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction
        // runs again and the process ends as it would have without us.
        // SAFETY: resetting a signal's action is always sound.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signum, &dfl, std::ptr::null_mut());
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: a handler installed with SA_SIGINFO has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(signum, info, uc);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes the signal only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(signum);
    }
}

/// The smallest signal stack the kernel accepts on this machine.
pub fn min_signal_stack_size() -> usize {
    // SAFETY: getauxval has no preconditions.
    let auxv = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
    auxv.max(libc::MINSIGSTKSZ)
}

/// The alternate signal stack that was in place before a run switched to
/// the slot's own; restored when the guest leaves the CPU.
pub struct AltStack(libc::stack_t);

/// Makes `base..base+size` this thread's alternate signal stack and returns
/// the previous one.
///
/// # Safety
/// The range must stay mapped and unused by anything else until
/// [`restore_altstack`] is called with the returned value.
pub unsafe fn set_altstack(base: *mut u8, size: usize) -> AltStack {
    let new = libc::stack_t {
        ss_sp: base as *mut libc::c_void,
        ss_flags: 0,
        ss_size: size,
    };
    // SAFETY: `old` is written by the kernel; `new` describes memory the
    // caller keeps valid.
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(&new, &mut old);
        AltStack(old)
    }
}

/// Puts back the alternate signal stack a run replaced.
pub fn restore_altstack(previous: AltStack) {
    let mut old = previous.0;
    if old.ss_flags & libc::SS_DISABLE != 0 {
        old.ss_sp = std::ptr::null_mut();
        old.ss_size = 0;
        old.ss_flags = libc::SS_DISABLE;
    }
    // SAFETY: restoring the stack that was installed before; it was valid then
    // and its owner (the thread or the runtime) still keeps it.
    unsafe { libc::sigaltstack(&old, std::ptr::null_mut()) };
}
