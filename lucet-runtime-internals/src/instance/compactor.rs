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

/// Whether `r` is a reference to an object in `heap` (its used part).
fn is_object(r: u64, heap: (u64, u64)) -> bool {
    r != 0 && r & REF_TAG_MASK == 0 && r >= heap.0 && r < heap.1
}

/// Marks what the roots reach.
struct Marker {
    heap: (u64, u64),
    /// Marked objects whose fields are still to be marked.
    stack: Vec<u64>,
}

impl Marker {
    /// Marks the object `r` refers to, if it is one and not yet marked.
    ///
    /// # Safety
    /// An object reference `r` must be to a live object of the heap.
    unsafe fn mark(&mut self, r: u64) {
        if !is_object(r, self.heap) {
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

impl RootVisitor for Marker {
    unsafe fn visit(&mut self, slot: *mut u64) {
        // SAFETY: the trait's promise.
        unsafe { self.mark(*slot) }
    }
}

/// Rewrites references to their objects' new addresses.
struct Updater<'a> {
    heap: (u64, u64),
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
            if !is_object(r, self.heap) {
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

impl Instance {
    /// A mark-compact collection (see `collect`).
    ///
    /// # Safety
    /// As for `collect`.
    pub(super) unsafe fn collect_compacting(&mut self, frames: bool) {
        let (start, next) = self.gc_heap_used();
        let heap = (start as u64, next as u64);
        // SAFETY: the caller's promise for the frames; the roots hold
        // references of this heap, and the heap from `start` to `next` is
        // a sequence of whole objects.
        unsafe {
            let mut marker = Marker {
                heap,
                stack: Vec::new(),
            };
            self.visit_roots(&mut marker, frames);
            while let Some(object) = marker.stack.pop() {
                for_each_field(object, type_of(object), |slot| marker.mark(*slot));
            }

            let mut moves = Vec::new();
            let (mut at, mut to) = (heap.0, heap.0);
            while at < heap.1 {
                let size = object_size_of(at, type_of(at));
                if *(at as *const u64) & MARK != 0 {
                    moves.push((at, to));
                    to += size;
                }
                at += size;
            }

            let mut updater = Updater {
                heap,
                moves: &moves,
            };
            self.visit_roots(&mut updater, frames);
            for &(old, _) in &moves {
                for_each_field(old, type_of(old), |slot| updater.update(slot));
            }

            // Each object goes down, never over one not yet moved.
            for &(old, new) in &moves {
                let size = object_size_of(old, type_of(old));
                *(old as *mut u64) &= !MARK;
                if old != new {
                    std::ptr::copy(old as *const u8, new as *mut u8, size as usize);
                }
            }
            (*self.header()).gc_next = to;
        }
    }
}
