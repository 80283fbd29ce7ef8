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
//! The handler runs on the thread's alternate signal stack (SA_ONSTACK),
//! which every thread that runs guests is given once
//! ([`ensure_thread_altstack`]), so a guest that exhausted its stack can
//! still be handled and switching into guest code needs no system call. The
//! handler does no allocation and takes no locks.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::Once;

use crate::sys::{arch_context, context};
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
        let pc = arch_context::ucontext_pc(uc);
        if let Some(classify) = CLASSIFIER {
            if let Some(host) = classify(signum, pc) {
                arch_context::ucontext_redirect(uc, context::set_routine_address(), host);
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

thread_local! {
    /// Size of the alternate signal stack known to be installed on this
    /// thread (0: not checked yet).
    static ALTSTACK_SIZE: Cell<usize> = const { Cell::new(0) };
    /// The alternate signal stack this runtime installed on this thread.
    static OWNED_ALTSTACK: RefCell<Option<OwnedAltStack>> = const { RefCell::new(None) };
}

/// A signal stack mapped for one thread, with a guard page below it.
struct OwnedAltStack {
    mapping: *mut u8,
    mapped_len: usize,
    stack: libc::stack_t,
}

impl Drop for OwnedAltStack {
    fn drop(&mut self) {
        // SAFETY: disable the alternate stack only if it is still ours, then
        // unmap it: no signal handler can be running on it while this thread
        // runs its thread-local destructors.
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(std::ptr::null(), &mut current);
            if current.ss_sp == self.stack.ss_sp {
                let disable = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&disable, std::ptr::null_mut());
            }
            libc::munmap(self.mapping as *mut libc::c_void, self.mapped_len);
        }
    }
}

/// Makes sure this thread has an alternate signal stack of at least `min`
/// bytes, so that a guest that exhausted its stack can still be handled.
///
/// A thread keeps the stack it has when it is large enough (Rust's runtime
/// gives threads one); otherwise it gets its own, once, freed when the
/// thread exits. Afterwards the check is a thread-local read: switching into
/// guest code makes no system call.
pub fn ensure_thread_altstack(min: usize) -> Result<(), Error> {
    if ALTSTACK_SIZE.with(Cell::get) >= min {
        return Ok(());
    }
    // SAFETY: querying the current alternate stack writes only `current`.
    let current = unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(std::ptr::null(), &mut current);
        current
    };
    if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= min {
        ALTSTACK_SIZE.with(|s| s.set(current.ss_size));
        return Ok(());
    }
    let page = crate::sys::mmap::page_size();
    let size = min.next_multiple_of(page);
    let mapped_len = size + page;
    let mapping = crate::sys::mmap::map_anonymous(mapped_len)?;
    let stack = libc::stack_t {
        ss_sp: mapping.wrapping_add(page) as *mut libc::c_void,
        ss_flags: 0,
        ss_size: size,
    };
    let owned = OwnedAltStack {
        mapping,
        mapped_len,
        stack,
    };
    // SAFETY: the guard page and the stack lie in the mapping we just made;
    // the stack stays mapped until this thread's `OwnedAltStack` is dropped,
    // which first uninstalls it.
    unsafe {
        crate::sys::mmap::protect(mapping, page, crate::sys::mmap::Protection::None)?;
        if libc::sigaltstack(&owned.stack, std::ptr::null_mut()) != 0 {
            return Err(Error::System(format!(
                "installing a signal stack: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    OWNED_ALTSTACK.with(|o| *o.borrow_mut() = Some(owned));
    ALTSTACK_SIZE.with(|s| s.set(size));
    Ok(())
}
