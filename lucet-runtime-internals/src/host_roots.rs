//! The host's handles to objects of an instance's GC heap, which are
//! roots of its collector.
//!
//! Every `GcRef` the runtime gives the host shares one `ObjectRoot`: the
//! object's current address and the epoch of the heap's contents it
//! belongs to. The instance keeps a weak list of the roots it handed out;
//! a collection forwards the address of every root still held, so a
//! handle stays valid across collections, and drops the roots whose
//! handles are all gone, so a dropped handle keeps nothing alive. A reset
//! (or a new instance in the slot) starts a new epoch and forgets the
//! list: the old handles are refused from then on.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// A GC heap's contents are valid for one epoch: from instantiation (or a
/// reset) to the next reset or the instance's end. Epochs are never
/// reused in the process.
pub(crate) fn next_epoch() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Where one object is, as the host's handles to it see it.
#[derive(Debug)]
pub(crate) struct ObjectRoot {
    /// The object's address, updated by each collection that moves it.
    address: AtomicU64,
    /// The epoch of the heap contents the object belongs to.
    epoch: u64,
}

impl ObjectRoot {
    /// The object's address now.
    pub(crate) fn address(&self) -> u64 {
        self.address.load(Ordering::Relaxed)
    }

    /// The epoch of the heap contents the object belongs to.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// The host's roots into one instance's GC heap, and its epoch.
#[derive(Debug)]
pub(crate) struct HostRoots {
    epoch: u64,
    /// The roots handed out in this epoch. Interior mutability: handles
    /// are made where the instance is only shared (reading a global), and
    /// an instance is used by one thread at a time.
    roots: RefCell<Vec<Weak<ObjectRoot>>>,
    /// Drop dead entries when the list reaches this length, so that a
    /// host making handles without collections keeps it bounded by twice
    /// the handles it holds.
    prune_at: std::cell::Cell<usize>,
}

/// The list length below which dead entries are left until a collection.
const FIRST_PRUNE: usize = 64;

impl Default for HostRoots {
    fn default() -> HostRoots {
        HostRoots {
            epoch: 0,
            roots: RefCell::new(Vec::new()),
            prune_at: std::cell::Cell::new(FIRST_PRUNE),
        }
    }
}

impl HostRoots {
    /// Starts a new epoch of the heap (it was emptied): the handles of the
    /// old one are no longer roots, and are refused.
    pub(crate) fn start_epoch(&mut self) {
        self.epoch = next_epoch();
        self.roots.get_mut().clear();
        self.prune_at.set(FIRST_PRUNE);
    }

    /// The epoch of the heap's current contents.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A new root for the object at `address`, of the current epoch.
    pub(crate) fn root(&self, address: u64) -> Arc<ObjectRoot> {
        let root = Arc::new(ObjectRoot {
            address: AtomicU64::new(address),
            epoch: self.epoch,
        });
        let mut roots = self.roots.borrow_mut();
        if roots.len() >= self.prune_at.get() {
            roots.retain(|r| r.strong_count() > 0);
            self.prune_at.set((roots.len() * 2).max(FIRST_PRUNE));
        }
        roots.push(Arc::downgrade(&root));
        root
    }

    /// Calls `visit` on the address of every root the host still holds (a
    /// collection may move the objects), and forgets the others.
    pub(crate) fn update(&mut self, mut visit: impl FnMut(&mut u64)) {
        let roots = self.roots.get_mut();
        roots.retain(|r| match r.upgrade() {
            Some(root) => {
                let mut address = root.address();
                visit(&mut address);
                root.address.store(address, Ordering::Relaxed);
                true
            }
            None => false,
        });
        self.prune_at.set((roots.len() * 2).max(FIRST_PRUNE));
    }

    /// How many roots the host holds.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.roots
            .borrow()
            .iter()
            .filter(|r| r.strong_count() > 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_handles_are_forgotten_and_held_ones_forwarded() {
        let mut roots = HostRoots::default();
        roots.start_epoch();
        let kept = roots.root(0x1000);
        let dropped = roots.root(0x2000);
        assert_eq!(roots.held(), 2);
        drop(dropped);
        let mut seen = Vec::new();
        roots.update(|a| {
            seen.push(*a);
            *a += 0x10;
        });
        assert_eq!(seen, [0x1000]);
        assert_eq!(kept.address(), 0x1010);
        assert_eq!(roots.held(), 1);
        let epoch = kept.epoch();
        roots.start_epoch();
        assert_ne!(roots.epoch(), epoch);
        assert_eq!(roots.held(), 0);
    }

    #[test]
    fn the_list_stays_bounded_without_collections() {
        let mut roots = HostRoots::default();
        roots.start_epoch();
        let held: Vec<_> = (0..10).map(|i| roots.root(i * 8)).collect();
        for i in 0..100_000 {
            drop(roots.root(i * 8));
        }
        assert!(roots.roots.borrow().len() <= 2 * FIRST_PRUNE + held.len());
        assert_eq!(roots.held(), 10);
    }
}
