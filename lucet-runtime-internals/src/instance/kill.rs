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
//! The switch reaches the instance through state that belongs to the slot
//! (made once with the region, so creating instances and ending runs
//! allocates nothing). Each run has a generation number; a switch holds the
//! generation of its run, and the instance advances the generation (under
//! the same lock) before a run's end is reported and before its slot is
//! reused, so a late `terminate` never touches a later run or instance.

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
    /// The run this state is for; switches of other generations are spent.
    generation: u64,
    phase: Phase,
    /// The slot's interrupt word; `None` while no instance is in the slot.
    interrupt: Option<*const AtomicU64>,
    interruptible: bool,
    /// Set when `terminate` was called for this run.
    killed: bool,
}

/// A slot's kill state, shared with the kill switches of its runs.
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
    /// The state of an empty slot.
    pub(crate) fn new() -> Arc<KillState> {
        Arc::new(KillState {
            armed: Mutex::new(Armed {
                generation: 0,
                phase: Phase::Pending,
                interrupt: None,
                interruptible: false,
                killed: false,
            }),
        })
    }

    /// Arms the state for an instance whose interrupt word is `interrupt`:
    /// a new generation, its first run pending.
    pub(crate) fn arm(&self, interrupt: *const AtomicU64, interruptible: bool) {
        let mut a = self.lock();
        a.generation += 1;
        a.phase = Phase::Pending;
        a.interrupt = Some(interrupt);
        a.interruptible = interruptible;
        a.killed = false;
    }

    /// The generation switches made now belong to.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
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

    /// Ends the run: its switches are spent, and the next run gets a new
    /// generation. Returns whether the ended run was killed.
    pub(crate) fn end_run(&self) -> bool {
        let mut a = self.lock();
        let killed = a.killed;
        a.generation += 1;
        a.phase = Phase::Pending;
        a.killed = false;
        killed
    }

    /// The instance leaves the slot: every switch is spent.
    pub(crate) fn disarm(&self) {
        let mut a = self.lock();
        a.generation += 1;
        a.interrupt = None;
        a.killed = false;
    }
}

/// Stops one run of an instance, from any thread. Obtained from
/// `InstanceHandle::kill_switch`.
#[derive(Debug, Clone)]
pub struct KillSwitch {
    state: Weak<KillState>,
    generation: u64,
}

impl KillSwitch {
    pub(crate) fn new(state: &Arc<KillState>) -> KillSwitch {
        KillSwitch {
            state: Arc::downgrade(state),
            generation: state.generation(),
        }
    }

    /// Stops the run (see the module documentation for what happens when).
    pub fn terminate(&self) -> Result<KillSuccess, KillError> {
        let state = self.state.upgrade().ok_or(KillError::NotTerminable)?;
        let mut a = state.lock();
        if a.generation != self.generation {
            return Err(KillError::NotTerminable);
        }
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
                // SAFETY: the pointer is armed for this generation, so the
                // instance is alive and will not leave the slot before
                // taking this lock.
                unsafe { (*interrupt).store(1, Ordering::SeqCst) };
                Ok(KillSuccess::Signalled)
            }
        }
    }
}
