//! Kill switches: stopping an instance's run from any thread.
//!
//! A [`KillSwitch`] belongs to one *run* of an instance: the one in progress
//! when it was made, or the next one if none was. Terminating through it:
//!
//! - before the run starts: cancels it; `run` returns `Terminated` at once;
//! - while guest code runs: interrupts it (below); the guest stops at its
//!   next function entry or loop header and `run` returns
//!   `Terminated(Remote)`;
//! - while a host function runs (or the guest is yielded): the run ends
//!   when the host function returns, before any more guest code runs; a
//!   host function that waits (through [`Interrupt`]) returns at once;
//! - after the run ended: fails with [`KillError::NotTerminable`].
//!
//! Interrupting writes two words of the instance header: the interrupt word,
//! which generated code checks at loop headers and at the entry of
//! functions that can recur, and the stack limit, which
//! every function with a frame checks in its prologue; raised out of reach
//! ([`POISONED_STACK_LIMIT`]), it makes the next function entry trap, and
//! the trap of a killed run is reported as its termination. Function
//! entries so cost nothing beyond the stack check they already have. The
//! run's start (and, for linked instances, every switch onto the guest)
//! writes them back.
//!
//! A switch can also *preempt* a run ([`KillSwitch::preempt`]): the
//! interrupt word alone is set, and the guest, at its next loop header or
//! entry into a function that can recur (one on a cycle of direct calls,
//! or one that tables, references or exports can reach), yields to the host instead of ending; the word is cleared and the run
//! goes on when resumed. A host function that returns while a preemption
//! is pending yields the same way, before any more guest code runs.
//!
//! Code of linked instances runs on the stack of the run that called it,
//! so a run of a link-group member is interrupted through the group: every
//! member's header, while the killed run is the group's innermost one on
//! the CPU (see `LinkGroup`).
//!
//! The switch reaches the instance through state that belongs to the slot
//! (made once with the region, so creating instances and ending runs
//! allocates nothing). Each run has a generation number; a switch holds the
//! generation of its run, and the instance advances the generation (under
//! the same lock) before a run's end is reported and before its slot is
//! reused, so a late `terminate` never touches a later run or instance.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use lucet_module::InstanceHeader;

use super::link::LinkGroup;
use super::Instance;

/// A stack limit no stack pointer reaches: above every user-space address,
/// and far enough below `usize::MAX` that adding a frame size (under 2 GiB)
/// cannot wrap.
pub(crate) const POISONED_STACK_LIMIT: usize = usize::MAX / 2;

/// Writes an instance header's interrupt word and stack limit.
///
/// # Safety
/// `header` must be the live header of an instance; the words are read by
/// generated code on the instance's thread, and written with atomic stores
/// here (they have the layout of the atomics used).
pub(crate) unsafe fn set_interrupt_words(
    header: *mut InstanceHeader,
    interrupt: bool,
    stack_limit: usize,
) {
    // SAFETY: as the caller guarantees; `u64`/`usize` fields have the
    // layout of `AtomicU64`/`AtomicUsize`.
    unsafe {
        (*(std::ptr::addr_of!((*header).interrupt) as *const AtomicU64))
            .store(interrupt as u64, Ordering::SeqCst);
        (*(std::ptr::addr_of!((*header).stack_limit) as *const AtomicUsize))
            .store(stack_limit, Ordering::SeqCst);
    }
}

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
    /// Where an interruption lands; `None` while no instance is in the slot.
    target: Option<Target>,
    interruptible: bool,
    /// Set when `terminate` was called for this run.
    killed: bool,
    /// Set when `preempt` asked this run to yield, until it does.
    preempt: bool,
    /// The waker of the thread whose host call is waiting for this run,
    /// if one is (`terminate` wakes it).
    waiting: Option<std::os::fd::RawFd>,
}

/// Where an interruption of a run lands.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The header of an instance that is not linked.
    Header(*mut InstanceHeader),
    /// A member of a link group.
    Group {
        group: Weak<LinkGroup>,
        instance: *mut Instance,
    },
}

/// A slot's kill state, shared with the kill switches of its runs.
#[derive(Debug)]
pub(crate) struct KillState {
    armed: Mutex<Armed>,
}

// SAFETY: the raw pointers are only dereferenced while the run they were
// armed for is in progress (checked under the mutex, or under the group's
// lock for group members), so the instance is alive.
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
                target: None,
                interruptible: false,
                killed: false,
                preempt: false,
                waiting: None,
            }),
        })
    }

    /// Arms the state for an instance interrupted through `target`: a new
    /// generation, its first run pending.
    pub(crate) fn arm(&self, target: Target, interruptible: bool) {
        let mut a = self.lock();
        a.generation += 1;
        a.phase = Phase::Pending;
        a.target = Some(target);
        a.interruptible = interruptible;
        a.killed = false;
        a.preempt = false;
    }

    /// The generation switches made now belong to.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Armed> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the run in progress was killed.
    pub(crate) fn killed(&self) -> bool {
        self.lock().killed
    }

    /// A host call of the run starts waiting, woken through `waker` when
    /// the run is killed. Returns false (and registers nothing) if it was
    /// killed already.
    pub(crate) fn begin_wait(&self, waker: std::os::fd::RawFd) -> bool {
        let mut a = self.lock();
        if a.killed {
            return false;
        }
        a.waiting = Some(waker);
        true
    }

    /// The wait is over; returns whether the run was killed meanwhile.
    pub(crate) fn end_wait(&self) -> bool {
        let mut a = self.lock();
        a.waiting = None;
        a.killed
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
        a.preempt = false;
        killed
    }

    /// The instance leaves the slot: every switch is spent.
    pub(crate) fn disarm(&self) {
        let mut a = self.lock();
        a.generation += 1;
        a.target = None;
        a.killed = false;
        a.preempt = false;
    }

    /// What the interrupt word the guest found set asks of the run on the
    /// CPU: to end (killed), or to yield (preempted; the word is cleared,
    /// so the guest goes on once resumed); `None` if neither.
    pub(crate) fn take_interrupt(&self) -> Option<Interruption> {
        let mut a = self.lock();
        if a.killed {
            return Some(Interruption::Kill);
        }
        if !a.preempt {
            return None;
        }
        a.preempt = false;
        if let Some(Target::Header(header)) = a.target {
            // SAFETY: armed for the run on the CPU, whose instance is
            // alive; a kill after this lock sets the words again.
            unsafe {
                (*(std::ptr::addr_of!((*header).interrupt) as *const AtomicU64))
                    .store(0, Ordering::SeqCst)
            };
        }
        Some(Interruption::Preempt)
    }
}

/// What a set interrupt word asks of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruption {
    /// End it: its kill switch was used.
    Kill,
    /// Yield to the host, to be resumed later (`KillSwitch::preempt`).
    Preempt,
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
        let (group, instance) = {
            let mut a = state.lock();
            if a.generation != self.generation {
                return Err(KillError::NotTerminable);
            }
            let Some(target) = a.target.clone() else {
                return Err(KillError::NotTerminable);
            };
            match a.phase {
                Phase::Pending => {
                    a.killed = true;
                    return Ok(KillSuccess::Cancelled);
                }
                Phase::Running if !a.interruptible => return Err(KillError::NotInterruptible),
                Phase::Running => a.killed = true,
            }
            if let Some(waker) = a.waiting {
                // A host call waits for this run: it returns now, and the
                // run ends when it does.
                crate::sys::waker::wake(waker);
            }
            match target {
                Target::Header(header) => {
                    // SAFETY: armed for this generation, whose run is in
                    // progress: the instance is alive and cannot leave the
                    // slot before taking this lock.
                    unsafe { set_interrupt_words(header, true, POISONED_STACK_LIMIT) };
                    return Ok(KillSuccess::Signalled);
                }
                Target::Group { group, instance } => (group, instance),
            }
        };
        // Outside this lock: the group's lock is taken first where both are.
        if let Some(group) = group.upgrade() {
            group.interrupt(instance, &state, self.generation);
        }
        Ok(KillSuccess::Signalled)
    }

    /// Asks the run, if its guest code is running, to yield to the host at
    /// its next loop header or entry into a function that can recur (or
    /// when the host function it is in returns):
    /// the run returns `RunResult::Yielded` with a [`Preempted`] value,
    /// and `resume` continues it where it was. Nothing else changes: a
    /// kill still ends it. Returns whether the request was made: not for a
    /// run that has not started or has ended, one already killed, a
    /// module compiled without interruption checks, or an instance of a
    /// link group.
    ///
    /// [`Preempted`]: crate::Preempted
    pub fn preempt(&self) -> bool {
        let Some(state) = self.state.upgrade() else {
            return false;
        };
        let mut a = state.lock();
        if a.generation != self.generation
            || a.phase != Phase::Running
            || !a.interruptible
            || a.killed
        {
            return false;
        }
        let Some(Target::Header(header)) = a.target else {
            return false;
        };
        a.preempt = true;
        // SAFETY: armed for this generation, whose run is in progress: the
        // instance is alive and cannot leave the slot before taking this
        // lock. Only the interrupt word is set: the stack limit stays, so
        // function entries go on as before.
        unsafe {
            (*(std::ptr::addr_of!((*header).interrupt) as *const AtomicU64))
                .store(1, Ordering::SeqCst)
        };
        true
    }
}
