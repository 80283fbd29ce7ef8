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
use std::sync::{Arc, Mutex, Weak};
use std::thread::ThreadId;

use lucet_module::InstanceHeader;

use super::bind::{bind, Binding, Imports, InstanceExport};
use super::kill::{set_interrupt_words, KillState, POISONED_STACK_LIMIT};
use super::{Instance, InstanceHandle};
use crate::module::{import_names, Module};
use crate::Error;

/// Binds the imports of `module` (one that imports from instances) for a
/// new instance: imports from a module name in `links` to that instance's
/// exports (which joins it to this thread's link group), the rest to the
/// host's definitions the module was loaded with.
pub(crate) fn bind_imports(
    module: &Module,
    links: &[(&str, &InstanceHandle)],
) -> Result<Imports, Error> {
    let host = module
        .host_definitions()
        .expect("only modules that import from instances bind at instantiation");
    let data = module.metadata();
    let imported_from = |name: &str| import_names(data).any(|(i, _)| i.module == name);
    let mut exporters: Vec<(&str, Weak<LinkGroup>, *mut Instance, Arc<Module>)> =
        Vec::with_capacity(links.len());
    for (name, handle) in links {
        // Only exporters the module uses join the link group; the first
        // instance given for a name is the one used.
        if !imported_from(name) || exporters.iter().any(|(n, ..)| n == name) {
            continue;
        }
        let (group, instance) = handle.join_link_group()?;
        exporters.push((
            *name,
            Arc::downgrade(&group),
            instance,
            handle.module().clone(),
        ));
    }
    let lookup = |import: &lucet_module::ImportName| -> Option<Binding> {
        // The instance's export, or else the host's definition of the name.
        let exported = exporters
            .iter()
            .find(|(name, ..)| *name == import.module)
            .and_then(|(_, group, instance, exporter)| {
                let export = exporter.metadata().export(&import.name)?;
                Some(Binding::Export(InstanceExport {
                    group: group.clone(),
                    instance: *instance,
                    kind: export.kind,
                }))
            });
        exported.or_else(|| {
            host.get(&import.module, &import.name)
                .cloned()
                .map(Binding::Host)
        })
    };
    bind(
        module.metadata(),
        module.type_ids(),
        &lookup,
        host.defaults_unknown_imports(),
    )
}

/// Instances linked to each other on one thread.
pub(crate) struct LinkGroup {
    thread: ThreadId,
    /// Every instance of the group, live or released. Changed only on
    /// `thread` (or after the last handle is gone).
    members: UnsafeCell<Vec<*mut Instance>>,
    /// Handles that are not dropped yet.
    live_handles: AtomicUsize,
    /// The run on the CPU, and the headers it writes to.
    runs: Mutex<GroupRuns>,
}

/// Which member runs, and every member's header. Code of any member may run
/// on the stack of the member whose run is on the CPU, so every header
/// carries that run's stack limit and interrupt state (killed: interrupt
/// word set, stack limit poisoned). Kill switches of other threads write
/// them under the same lock.
struct GroupRuns {
    /// Every member's header (changed on the group's thread, read by kill
    /// switches on any thread).
    headers: Vec<*mut InstanceHeader>,
    /// The innermost member whose run is on the CPU; null when none is.
    current: *mut Instance,
}

impl GroupRuns {
    /// Makes every header carry the state of `current`'s run.
    ///
    /// # Safety
    /// `current` is null or a live member whose run is on the CPU.
    unsafe fn apply(&self) {
        // SAFETY: as the caller guarantees; members' headers live as long
        // as the group's members, which outlive any run.
        unsafe {
            let (interrupt, limit) = match self.current.as_ref() {
                None => (false, 0),
                Some(inst) if inst.kill.killed() => (true, POISONED_STACK_LIMIT),
                Some(inst) => (false, inst.stack_limit),
            };
            for h in &self.headers {
                set_interrupt_words(*h, interrupt, limit);
            }
        }
    }
}

// SAFETY: the member list is only touched on the group's thread (checked by
// `check_thread`) or, at teardown, when no handle exists anywhere; the
// headers in `runs` are written under its lock, while their members live.
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
                runs: Mutex::new(GroupRuns {
                    headers: Vec::new(),
                    current: std::ptr::null_mut(),
                }),
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
        // SAFETY: only the group's thread changes the list; `inst` is live.
        unsafe {
            (*self.members.get()).push(inst);
            self.lock_runs().headers.push((*inst).header());
        }
    }

    /// The group's instances.
    ///
    /// # Safety
    /// Called on the group's thread (or from its signal handler).
    pub(crate) unsafe fn members(&self) -> &[*mut Instance] {
        // SAFETY: see above; nothing changes the list concurrently.
        unsafe { &*self.members.get() }
    }

    fn lock_runs(&self) -> std::sync::MutexGuard<'_, GroupRuns> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `inst`'s run goes on the CPU (a run starts or resumes); returns the
    /// member it goes on top of, for `leave`.
    ///
    /// # Safety
    /// Called on the group's thread; `inst` is a live member.
    pub(crate) unsafe fn enter(&self, inst: *mut Instance) -> *mut Instance {
        let mut runs = self.lock_runs();
        let outer = std::mem::replace(&mut runs.current, inst);
        // SAFETY: `inst` is live and about to run.
        unsafe { runs.apply() };
        outer
    }

    /// The run `enter` put on the CPU is off it; `outer` (from `enter`) is
    /// back on top.
    ///
    /// # Safety
    /// Called on the group's thread, with what `enter` returned.
    pub(crate) unsafe fn leave(&self, outer: *mut Instance) {
        let mut runs = self.lock_runs();
        runs.current = outer;
        // SAFETY: `outer` is null or a member whose run was on the CPU
        // before, and is again.
        unsafe { runs.apply() };
    }

    /// Rewrites every header with the state of the run on the CPU (after a
    /// member's header was written afresh).
    ///
    /// # Safety
    /// Called on the group's thread.
    pub(crate) unsafe fn refresh(&self) {
        let runs = self.lock_runs();
        // SAFETY: `current` is null or on the CPU, so live.
        unsafe { runs.apply() };
    }

    /// A kill switch killed `inst`'s run of `generation` (its state is
    /// `state`): interrupts it if it is the run on the CPU. (Otherwise the
    /// run is interrupted when it is back on top: `enter`/`leave` apply the
    /// state.)
    pub(crate) fn interrupt(&self, inst: *mut Instance, state: &KillState, generation: u64) {
        let runs = self.lock_runs();
        if runs.current == inst && state.generation() == generation {
            // SAFETY: `inst` is on the CPU, so live.
            unsafe { runs.apply() };
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
