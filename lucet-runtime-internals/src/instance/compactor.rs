//! The mark-compact collector (`GcAlgorithm::MarkCompact`): objects fill
//! the whole GC heap, and a collection slides the live ones down to its
//! start, in address order.
//!
//! Four steps: mark what the roots reach (the header word's low bit, free
//! since type records are 8-aligned; an explicit stack, no recursion);
//! walk the heap once to give each marked object its new address (kept in
//! a table sorted by old address); rewrite every root and every field of
//! a live object through that table; slide the objects down and clear
//! their marks. The table takes 16 bytes per live object of host memory,
//! so at most twice `gc_heap_size` (objects are at least 8 bytes).
//!
//! The same steps collect several heaps at once (`compact`): the heaps of
//! a link group, whose objects may refer to each other's
//! (`group_collector.rs`). There a copying member's objects go to its
//! other half instead of down, so each member keeps its own layout.

use lucet_module::{TypeRecord, REF_TAG_MASK};

use super::collector::{for_each_field, object_size_of, RootVisitor};
use super::Instance;

/// The header bit of a marked object.
const MARK: u64 = 1;

/// The type of the object at `object`, marked or not.
///
/// # Safety
/// `object` must be an object of the heap being collected.
unsafe fn type_of(object: u64) -> &'static TypeRecord {
    // SAFETY: the header word is the type's record (which lives for the
    // whole process), with the mark in its low bit.
    unsafe { &*((*(object as *const u64) & !MARK) as *const TypeRecord) }
}

/// Whether `r` is a reference to an object in one of `heaps` (their used
/// parts).
fn is_object(r: u64, heaps: &[(u64, u64)]) -> bool {
    r != 0 && r & REF_TAG_MASK == 0 && heaps.iter().any(|h| r >= h.0 && r < h.1)
}

/// Marks what the roots reach.
struct Marker<'a> {
    heaps: &'a [(u64, u64)],
    /// Marked objects whose fields are still to be marked.
    stack: Vec<u64>,
}

impl Marker<'_> {
    /// Marks the object `r` refers to, if it is one and not yet marked.
    ///
    /// # Safety
    /// An object reference `r` must be to a live object of the heaps.
    unsafe fn mark(&mut self, r: u64) {
        if !is_object(r, self.heaps) {
            return;
        }
        let header = r as *mut u64;
        // SAFETY: the caller's promise.
        unsafe {
            if *header & MARK == 0 {
                *header |= MARK;
                self.stack.push(r);
            }
        }
    }
}

impl RootVisitor for Marker<'_> {
    unsafe fn visit(&mut self, slot: *mut u64) {
        // SAFETY: the trait's promise.
        unsafe { self.mark(*slot) }
    }
}

/// Rewrites references to their objects' new addresses.
struct Updater<'a> {
    heaps: &'a [(u64, u64)],
    /// (old address, new address) of every live object, by old address.
    moves: &'a [(u64, u64)],
}

impl Updater<'_> {
    /// Rewrites the reference in `slot`.
    ///
    /// # Safety
    /// `slot` must be valid for reads and writes.
    unsafe fn update(&self, slot: *mut u64) {
        // SAFETY: the caller's promise.
        unsafe {
            let r = *slot;
            if !is_object(r, self.heaps) {
                return;
            }
            // Every reference from a root or a live object is to a
            // marked object, so it is in the table.
            if let Ok(i) = self.moves.binary_search_by_key(&r, |m| m.0) {
                *slot = self.moves[i].1;
            }
        }
    }
}

impl RootVisitor for Updater<'_> {
    unsafe fn visit(&mut self, slot: *mut u64) {
        // SAFETY: the trait's promise.
        unsafe { self.update(slot) }
    }
}

/// Where a collection finds its roots: one instance's, or a link group's.
pub(super) trait Roots {
    /// Visits every root with `v`.
    ///
    /// # Safety
    /// The roots' storage must be valid for reads and writes, and every
    /// frame walked must be suspended where its stack map holds.
    unsafe fn visit<V: RootVisitor>(&mut self, v: &mut V);
}

/// The roots of one instance (`Instance::visit_roots`).
pub(super) struct InstanceRoots {
    pub inst: *mut Instance,
    /// Whether its guest frames are walked (see `Instance::collect`).
    pub frames: bool,
}

impl Roots for InstanceRoots {
    unsafe fn visit<V: RootVisitor>(&mut self, v: &mut V) {
        // SAFETY: the trait's promise; the instance is live.
        unsafe { (*self.inst).visit_roots(v, self.frames) }
    }
}

/// One heap of a mark-compact collection.
pub(super) struct Compaction {
    /// Its used part: whole objects from `.0` to `.1`.
    pub used: (u64, u64),
    /// Where its live objects go, in address order: the start of the
    /// heap (sliding them down), or the start of the other half of a
    /// copying heap (collected this way with its link group).
    pub to: u64,
    /// After the collection: the end of the last live object.
    pub end: u64,
}

/// Collects `heaps` (sorted by address, none overlapping) together:
/// marks what `roots` reach in any of them, gives each live object its
/// new address in its own heap, rewrites every reference to it, and moves
/// the objects.
///
/// # Safety
/// Each `used` range must be a sequence of whole objects, and the roots
/// and the fields of live objects the only references to them; a `to` in
/// another half must have room for the heap's whole used part.
pub(super) unsafe fn compact(heaps: &mut [Compaction], roots: &mut impl Roots) {
    let bounds: Vec<(u64, u64)> = heaps.iter().map(|h| h.used).collect();
    // SAFETY: the caller's promise: the roots hold references of these
    // heaps (or none), and the heaps are sequences of whole objects.
    unsafe {
        let mut marker = Marker {
            heaps: &bounds,
            stack: Vec::new(),
        };
        roots.visit(&mut marker);
        while let Some(object) = marker.stack.pop() {
            for_each_field(object, type_of(object), |slot| marker.mark(*slot));
        }

        // Sorted by old address, since the heaps are.
        let mut moves = Vec::new();
        for heap in heaps.iter_mut() {
            let (mut at, mut to) = (heap.used.0, heap.to);
            while at < heap.used.1 {
                let size = object_size_of(at, type_of(at));
                if *(at as *const u64) & MARK != 0 {
                    moves.push((at, to));
                    to += size;
                }
                at += size;
            }
            heap.end = to;
        }

        let mut updater = Updater {
            heaps: &bounds,
            moves: &moves,
        };
        roots.visit(&mut updater);
        for &(old, _) in &moves {
            for_each_field(old, type_of(old), |slot| updater.update(slot));
        }

        // Each object goes down its heap (never over one not yet moved)
        // or to the other half.
        for &(old, new) in &moves {
            let size = object_size_of(old, type_of(old));
            *(old as *mut u64) &= !MARK;
            if old != new {
                std::ptr::copy(old as *const u8, new as *mut u8, size as usize);
            }
        }
    }
}

impl Instance {
    /// A mark-compact collection (see `collect`).
    ///
    /// # Safety
    /// As for `collect`.
    pub(super) unsafe fn collect_compacting(&mut self, frames: bool) {
        let (start, next) = self.gc_heap_used();
        let mut heaps = [Compaction {
            used: (start as u64, next as u64),
            to: start as u64,
            end: start as u64,
        }];
        let mut roots = InstanceRoots { inst: self, frames };
        // SAFETY: the caller's promise for the frames; the heap from
        // `start` to `next` is a sequence of whole objects.
        unsafe {
            compact(&mut heaps, &mut roots);
            (*self.header()).gc_next = heaps[0].end;
        }
    }
}
