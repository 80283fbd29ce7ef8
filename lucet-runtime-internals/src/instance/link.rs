//! Link groups: instances that import each other's functions, memories,
//! tables or globals.
//!
//! Linked instances hold raw pointers into each other (code, `vmctx`, table
//! and global storage, funcref records stored in each other's tables), so
//! they live and die together: a group's instances are torn down when the
//! last handle to any of them is dropped, never one by one. An instance whose
//! instantiation failed stays in its group too, because the specification
//! keeps what its segments already wrote into imported tables callable.
//!
//! A group belongs to the thread that created it: its instances run only
//! there, one call stack at a time, so that guest code of one instance
//! running inside a call from another is never concurrent with anything
//! else in the group. That thread is also the only one that changes the
//! member list, which is why the signal handler may read it.
//!
//! Instances that are not linked (the common case) have no group and pay
//! nothing for this.

use std::cell::{RefCell, UnsafeCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::ThreadId;

use super::Instance;
use crate::Error;

/// Instances linked to each other on one thread.
pub(crate) struct LinkGroup {
    thread: ThreadId,
    /// Every instance of the group, live or released. Changed only on
    /// `thread` (or after the last handle is gone).
    members: UnsafeCell<Vec<*mut Instance>>,
    /// Handles that are not dropped yet.
    live_handles: AtomicUsize,
    /// The stack limit of the instance whose run is on the CPU, which every
    /// member's header carries while it runs (0 when none runs).
    stack_limit: UnsafeCell<usize>,
}

// SAFETY: the member list is only touched on the group's thread (checked by
// `check_thread`) or, at teardown, when no handle exists anywhere.
unsafe impl Send for LinkGroup {}
// SAFETY: as above.
unsafe impl Sync for LinkGroup {}

thread_local! {
    /// The group instances linked on this thread join.
    static THREAD_GROUP: RefCell<Weak<LinkGroup>> = const { RefCell::new(Weak::new()) };
}

impl LinkGroup {
    /// The group of the current thread, created if there is none.
    pub(crate) fn for_this_thread() -> Arc<LinkGroup> {
        THREAD_GROUP.with(|g| {
            let mut g = g.borrow_mut();
            if let Some(group) = g.upgrade() {
                return group;
            }
            let group = Arc::new(LinkGroup {
                thread: std::thread::current().id(),
                members: UnsafeCell::new(Vec::new()),
                live_handles: AtomicUsize::new(0),
                stack_limit: UnsafeCell::new(0),
            });
            *g = Arc::downgrade(&group);
            group
        })
    }

    /// Fails unless called on the group's thread.
    pub(crate) fn check_thread(&self) -> Result<(), Error> {
        if std::thread::current().id() == self.thread {
            Ok(())
        } else {
            Err(Error::InvalidState(
                "linked instances can only be used on the thread that linked them",
            ))
        }
    }

    /// Adds an instance that one more handle refers to.
    ///
    /// # Safety
    /// Called on the group's thread; `inst` must stay live until teardown.
    pub(crate) unsafe fn add_member(&self, inst: *mut Instance) {
        self.live_handles.fetch_add(1, Ordering::SeqCst);
        // SAFETY: only the group's thread changes the list.
        unsafe { (*self.members.get()).push(inst) };
    }

    /// The group's instances.
    ///
    /// # Safety
    /// Called on the group's thread (or from its signal handler).
    pub(crate) unsafe fn members(&self) -> &[*mut Instance] {
        // SAFETY: see above; nothing changes the list concurrently.
        unsafe { &*self.members.get() }
    }

    /// Makes `limit` every member's stack limit, returning the previous one.
    /// Code of any member may run on the stack of the member that is
    /// running, so all must check against that stack.
    ///
    /// # Safety
    /// Called on the group's thread.
    pub(crate) unsafe fn set_stack_limit(&self, limit: usize) -> usize {
        // SAFETY: only the group's thread runs its members or changes this.
        unsafe {
            let previous = std::mem::replace(&mut *self.stack_limit.get(), limit);
            for m in self.members() {
                (*(**m).header()).stack_limit = limit;
            }
            previous
        }
    }

    /// Drops one handle's claim; returns true when it was the last, and the
    /// group must be torn down.
    pub(crate) fn release(&self) -> bool {
        self.live_handles.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Takes the member list for teardown.
    ///
    /// # Safety
    /// Only once no handle to any member is left.
    pub(crate) unsafe fn take_members(&self) -> Vec<*mut Instance> {
        // SAFETY: no handle exists, so nothing else uses the list.
        unsafe { std::mem::take(&mut *self.members.get()) }
    }
}
