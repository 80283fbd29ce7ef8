//! Kill switches: stopping an instance's run from any thread.
//!
//! A [`KillSwitch`] belongs to one *run* of an instance: the one in progress
//! when it was made, or the next one if none was. Terminating through it:
//!
//! - before the run starts: cancels it; `run` returns `Terminated` at once;
//! - while guest code runs: sets the instance's interrupt word, which
//!   generated code checks at every function entry and loop header; the
//!   guest stops there and `run` returns `Terminated(Remote)`;
//! - while a host function runs (or the guest is yielded): the guest stops
//!   at its first check after the host function returns;
//! - after the run ended: fails with [`KillError::NotTerminable`].
//!
//! The switch reaches the instance through shared state that the instance
//! disarms (under the same lock) before its run's end is reported and
//! before the instance is freed, so a late `terminate` never writes into a
//! slot that another instance reuses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// What a successful `terminate` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSuccess {
    /// The run had not started; it will not.
    Cancelled,
    /// The guest was asked to stop and will at its next check.
    Signalled,
}

/// Why `terminate` did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KillError {
    /// The run this switch belongs to has already ended (or the instance is
    /// gone).
    #[error("the run has already ended")]
    NotTerminable,
    /// The module was compiled without interruption checks and its code is
    /// running: it cannot be stopped before it returns.
    #[error("the module was compiled without interruption checks")]
    NotInterruptible,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The run has not started.
    Pending,
    /// The run is in progress (guest code, a host call, or a yield).
    Running,
}

#[derive(Debug)]
struct Armed {
    phase: Phase,
    /// The instance's interrupt word; `None` once disarmed.
    interrupt: Option<*const AtomicU64>,
    interruptible: bool,
    /// Set when `terminate` was called for this run.
    killed: bool,
}

/// State shared between an instance's current run and its kill switches.
#[derive(Debug)]
pub(crate) struct KillState {
    armed: Mutex<Armed>,
}

// SAFETY: the raw pointer is only dereferenced under the mutex, while the
// instance it belongs to is alive (it clears the pointer, under the same
// mutex, before it goes away).
unsafe impl Send for KillState {}
// SAFETY: as above.
unsafe impl Sync for KillState {}

impl KillState {
    /// State for a run that has not started yet (`interrupt` may be null
    /// while the instance is being created: nothing can be signalled then).
    pub(crate) fn new(interrupt: *const AtomicU64, interruptible: bool) -> Arc<KillState> {
        Arc::new(KillState {
            armed: Mutex::new(Armed {
                phase: Phase::Pending,
                interrupt: (!interrupt.is_null()).then_some(interrupt),
                interruptible,
                killed: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Armed> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the run as started; returns false if it was cancelled.
    pub(crate) fn start(&self) -> bool {
        let mut a = self.lock();
        if a.killed {
            return false;
        }
        a.phase = Phase::Running;
        true
    }

    /// Ends the run: later `terminate` calls fail. Returns whether the run
    /// was killed.
    pub(crate) fn disarm(&self) -> bool {
        let mut a = self.lock();
        a.interrupt = None;
        a.killed
    }
}

/// Stops one run of an instance, from any thread. Obtained from
/// `InstanceHandle::kill_switch`.
#[derive(Debug, Clone)]
pub struct KillSwitch {
    state: Weak<KillState>,
}

impl KillSwitch {
    pub(crate) fn new(state: &Arc<KillState>) -> KillSwitch {
        KillSwitch {
            state: Arc::downgrade(state),
        }
    }

    /// Stops the run (see the module documentation for what happens when).
    pub fn terminate(&self) -> Result<KillSuccess, KillError> {
        let state = self.state.upgrade().ok_or(KillError::NotTerminable)?;
        let mut a = state.lock();
        let Some(interrupt) = a.interrupt else {
            return Err(KillError::NotTerminable);
        };
        match a.phase {
            Phase::Pending => {
                a.killed = true;
                Ok(KillSuccess::Cancelled)
            }
            Phase::Running => {
                if !a.interruptible {
                    return Err(KillError::NotInterruptible);
                }
                a.killed = true;
                // SAFETY: the pointer is armed, so the instance is alive and
                // will not free its header before taking this lock.
                unsafe { (*interrupt).store(1, Ordering::SeqCst) };
                Ok(KillSuccess::Signalled)
            }
        }
    }
}
