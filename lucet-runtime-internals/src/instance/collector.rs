//! The garbage collector of the GC heap: the roots every collection
//! starts from, and the default collector, copying (Cheney) over two
//! halves of the heap (`compactor.rs` has the other, mark-compact).
//!
//! Objects are allocated by bumping a pointer through the current half.
//! When an object does not fit, a collection copies every object reachable
//! from the roots into the other half, in the order a breadth-first walk
//! finds them, and allocation goes on after the last copy. Its work is
//! proportional to what survives, not to what was allocated: instances
//! whose objects mostly die early (the edge's common case) pay little,
//! and an instance that never fills its half never collects at all.
//!
//! Roots are precise: the guest frames' stack maps (the compiler kept
//! every reference that may be an object in the frame across each call,
//! and the frontend reloads them after it, so moving objects is safe),
//! the instance's globals and tables whose types may hold objects, element
//! segments evaluated at instantiation, and the payloads of the instance's
//! exceptions. A copied object's header word becomes its new address with
//! the low bit set (type records are 8-aligned, so the bit is free).
//!
//! The host's handles to objects (`GcRef`) are roots too (`host_roots`):
//! a collection updates the address they share, so they stay valid, and
//! forgets those the host dropped. Every root is visited through
//! `visit_roots`, which both collectors share. Instances of a link group,
//! which may hold each other's objects, collect together
//! (`group_collector.rs`).

use lucet_module::{ObjectHeader, TypeRecord, ValType, REF_TAG_MASK};

use super::group_collector::collect_group;
use super::Instance;
use crate::limits::GcAlgorithm;
use crate::module::Module;

/// What a collection does with each root: a slot holding a reference
/// that may be an object of the collected heap.
pub(super) trait RootVisitor {
    /// Visits the reference in `slot`.
    ///
    /// # Safety
    /// `slot` must be valid for reads and writes, and hold a reference
    /// made by guest code of the collected instance (or anything that is
    /// not an address in the heap's used part).
    unsafe fn visit(&mut self, slot: *mut u64);
}

/// The copying state of one collection.
struct Copier {
    /// The half being evacuated: `from.0..from.1` (its used part).
    from: (u64, u64),
    /// Where the next copy goes, in the other half.
    next: u64,
}

impl Copier {
    /// Updates the reference in `slot` to its object's copy, copying the
    /// object first if this is the first reference to it.
    ///
    /// # Safety
    /// `slot` must be valid for reads and writes, and hold a reference
    /// made by guest code of the collected instance (or anything that is
    /// not an address in the half being evacuated).
    unsafe fn forward(&mut self, slot: *mut u64) {
        // SAFETY: the caller's promise; an address in the evacuated half
        // is an object's, whose header word is its type's record or, once
        // copied, its new address with the low bit set.
        unsafe {
            let r = *slot;
            if r == 0 || r & REF_TAG_MASK != 0 || r < self.from.0 || r >= self.from.1 {
                return;
            }
            let header = r as *mut u64;
            if *header & 1 != 0 {
                *slot = *header & !1;
                return;
            }
            let size = object_size(r);
            let to = self.next;
            std::ptr::copy_nonoverlapping(r as *const u8, to as *mut u8, size as usize);
            self.next += size;
            *header = to | 1;
            *slot = to;
        }
    }

    /// Forwards the references of the copied object at `object`.
    ///
    /// # Safety
    /// `object` must be a copied object in the other half.
    unsafe fn scan(&mut self, object: u64) {
        // SAFETY: the object was copied whole, header first.
        unsafe {
            let ty = &*(*(object as *const *const TypeRecord));
            for_each_field(object, ty, |slot| self.forward(slot));
        }
    }
}

impl RootVisitor for Copier {
    unsafe fn visit(&mut self, slot: *mut u64) {
        // SAFETY: the trait's promise is `forward`'s.
        unsafe { self.forward(slot) }
    }
}

/// Calls `visit` on every reference field of the object at `object`,
/// whose type is `ty`.
///
/// # Safety
/// `object` must be an object of type `ty`, its fields valid for reads and
/// writes.
pub(super) unsafe fn for_each_field(object: u64, ty: &TypeRecord, mut visit: impl FnMut(*mut u64)) {
    if ty.ref_count == 0 {
        return;
    }
    // SAFETY: the caller's promise; an array's length is at its offset.
    unsafe {
        if ty.kind == 2 {
            let len = *((object + ObjectHeader::OFFSET_ARRAY_LENGTH as u64) as *const u32);
            let first = object + u64::from(ObjectHeader::OFFSET_ARRAY_ELEMENTS);
            for i in 0..u64::from(len) {
                visit((first + i * 8) as *mut u64);
            }
        } else {
            let offsets = std::slice::from_raw_parts(ty.ref_offsets, ty.ref_count as usize);
            for at in offsets {
                visit((object + u64::from(*at)) as *mut u64);
            }
        }
    }
}

/// The size of the object at `object`, whose header holds its type.
///
/// # Safety
/// `object` must be a live object.
pub(super) unsafe fn object_size(object: u64) -> u64 {
    // SAFETY: the caller's promise: the header is the type's record.
    unsafe { object_size_of(object, &*(*(object as *const *const TypeRecord))) }
}

/// The size of the object at `object`, of type `ty`.
///
/// # Safety
/// `object` must be a live object of type `ty`.
pub(super) unsafe fn object_size_of(object: u64, ty: &TypeRecord) -> u64 {
    // SAFETY: the caller's promise; an array's length is at its offset.
    unsafe {
        if ty.kind == 2 {
            let len = *((object + ObjectHeader::OFFSET_ARRAY_LENGTH as u64) as *const u32);
            (u64::from(ObjectHeader::OFFSET_ARRAY_ELEMENTS)
                + u64::from(len) * u64::from(ty.object_size))
            .next_multiple_of(ObjectHeader::ALIGN)
        } else {
            u64::from(ty.object_size)
        }
    }
}

/// A collection must leave at least 1/`PROGRESS_SHARE` of the space free
/// for the allocation that asked for it to go ahead.
const PROGRESS_SHARE: u64 = 16;

impl Instance {
    /// Allocates `size` bytes for an object of type `type_index` from
    /// guest code (a builtin whose entry recorded the calling frame),
    /// collecting garbage when they do not fit.
    pub(crate) fn allocate_collecting(&mut self, type_index: u32, size: u64) -> Option<*mut u8> {
        if let Some(object) = self.allocate_object(type_index, size) {
            return Some(object);
        }
        match self.group.clone() {
            Some(group) => {
                let this: *mut Instance = self;
                // SAFETY: called from a builtin on the stack of the run on
                // the CPU, whose entry recorded the calling guest frame in
                // this instance's header; a group runs on its thread only.
                let work = unsafe { collect_group(&group, Some(this)) }?;
                self.charge_fuel(work);
            }
            // SAFETY: called from a builtin on the guest's stack, whose
            // entry recorded the calling guest frame in the header.
            None => unsafe { self.collect(true) },
        }
        // A collection that leaves less than a sixteenth of the space free
        // does not let the program make progress: each allocation would
        // be another full collection, its work uncounted. The heap counts
        // as exhausted, so collection costs at most sixteen times the
        // bytes allocated.
        let (start, next) = self.gc_heap_used();
        let space = self.gc_space_size();
        if (next - start) as u64 > space - space / PROGRESS_SHARE {
            return None;
        }
        self.allocate_object(type_index, size)
    }

    /// Collects garbage now, at the host's request: from a host function
    /// the guest called (`in_host_call`), or while no guest code of the
    /// instance is on its stack. In a link group, every member's heap is
    /// collected (`group_collector.rs`); false, collecting nothing, when
    /// another member has a run in progress, or the host function's
    /// caller is code that records no frames (a module without GC types)
    /// while another member's code may hold objects.
    ///
    /// # Safety
    /// With `in_host_call`, guest code of this instance must be suspended
    /// in a call to a host function through its module's import stub
    /// (which recorded the calling frame in the header if the module can
    /// hold GC references), running or yielded; without it, no guest code
    /// of the instance may be on its stack.
    pub(crate) unsafe fn collect_garbage(&mut self, in_host_call: bool) -> bool {
        if self.preempted {
            // Yielded at an interrupt check, which records no exit frame.
            return false;
        }
        let holds_objects = |m: &Instance| m.module.type_records().iter().any(|t| t.kind != 0);
        // Only modules that can hold GC references record the calling
        // frame in their import stubs; one without struct or array types
        // has no objects for its frames to hold.
        let frames = in_host_call && holds_objects(self);
        let Some(group) = self.group.clone() else {
            // SAFETY: the caller's promise; without `frames`, no frame
            // holds an object.
            unsafe { self.collect(frames) };
            return true;
        };
        let this: *mut Instance = self;
        // SAFETY: the caller's promise; a group's members are live and
        // run on its thread (`collect_group` checks which run where).
        unsafe {
            if in_host_call && !frames && group.members().iter().any(|m| holds_objects(&**m)) {
                return false;
            }
            let exit = if frames { Some(this) } else { None };
            match collect_group(&group, exit) {
                Some(work) => {
                    (*this).charge_fuel(work);
                    true
                }
                None => false,
            }
        }
    }

    /// Collects garbage: copies what the roots reach into the other half
    /// of the GC heap, which becomes the current one.
    ///
    /// # Safety
    /// With `frames`, guest code of this instance must be suspended in a
    /// call to a builtin through `sys::gc` or to a host function through
    /// an import stub (the header's `exit_fp` and `exit_pc` are that
    /// call's), on this instance's stack; without, no guest frame of the
    /// instance may hold references.
    unsafe fn collect(&mut self, frames: bool) {
        let (start, next) = self.gc_heap_used();
        let before = next - start;
        match self.region.limits().gc_algorithm {
            // SAFETY: the caller's promise.
            GcAlgorithm::Copying => unsafe { self.collect_copying(frames) },
            // SAFETY: the caller's promise.
            GcAlgorithm::MarkCompact => unsafe { self.collect_compacting(frames) },
        }
        self.gc_collections += 1;
        // The collection's work is the guest's: a word of heap scanned or
        // moved costs about what an instruction does. (It reaches the
        // guest's count where the count is in the header: collections in
        // host calls. One that an allocation needs is bounded by the
        // progress rule of `allocate_collecting` instead.)
        let (start, next) = self.gc_heap_used();
        let after = next - start;
        self.charge_fuel(((before + after) / 8) as u64);
    }

    /// A copying collection (see `collect`).
    ///
    /// # Safety
    /// As for `collect`.
    unsafe fn collect_copying(&mut self, frames: bool) {
        let (start, next) = self.gc_heap_used();
        let to = self.gc_other_half();
        let mut copier = Copier {
            from: (start as u64, next as u64),
            next: to,
        };
        // SAFETY: the caller's promise for the frames; every other root is
        // storage of this instance holding references of traced types.
        unsafe {
            self.visit_roots(&mut copier, frames);
            let mut scan = to;
            while scan < copier.next {
                copier.scan(scan);
                scan += object_size(scan);
            }
        }
        let space = self.gc_space_size();
        let header = self.header();
        // SAFETY: the header is valid for the instance's life.
        unsafe {
            (*header).gc_next = copier.next;
            (*header).gc_limit = to + space;
        }
    }

    /// Visits every root: the guest frames' slots (with `frames`), the
    /// instance's globals and tables, evaluated element segments,
    /// exception payloads and the host's handles.
    ///
    /// # Safety
    /// As for `collect`.
    pub(super) unsafe fn visit_roots<V: RootVisitor>(&mut self, v: &mut V, frames: bool) {
        // SAFETY: the caller's promise for the frames; every other root is
        // storage of this instance holding references of traced types.
        unsafe {
            if frames {
                self.visit_frames(v);
            }
            self.visit_globals(v);
            self.visit_tables(v);
            for values in self.buf.evaluated_elems.iter_mut().flatten() {
                for slot in values.iter_mut() {
                    v.visit(slot);
                }
            }
            self.visit_exceptions(v);
            // A root holds the address of an object of this heap.
            self.host_roots.update(|address| v.visit(address));
        }
    }

    /// Visits the references the guest frames keep, from the builtin's or
    /// host function's caller (the header's exit record) to the first
    /// frame outside this instance's code.
    ///
    /// # Safety
    /// As for `collect`.
    unsafe fn visit_frames(&mut self, v: &mut impl RootVisitor) {
        let module = self.module.clone();
        // SAFETY: the header is valid; the caller's promise for the frames.
        unsafe {
            let header = self.header();
            let walk = FrameWalk {
                exit: ((*header).exit_fp, (*header).exit_pc),
                stack: (
                    self.slot.stack_bottom() as u64,
                    self.slot.stack_top() as u64,
                ),
            };
            walk.visit(v, &[&*module]);
        }
    }

    /// Visits the references in the instance's own globals.
    ///
    /// # Safety
    /// The globals area holds this instance's values.
    unsafe fn visit_globals(&mut self, v: &mut impl RootVisitor) {
        let module = self.module.clone();
        for (i, g) in module.metadata().globals.iter().enumerate() {
            if g.import.is_none() && g.ty.may_be_gc_object() {
                // SAFETY: a defined global's slot holds its value.
                unsafe { v.visit(self.global_storage(i as u32) as *mut u64) };
            }
        }
    }

    /// Visits the references in the instance's own tables.
    ///
    /// # Safety
    /// The tables hold this instance's references.
    unsafe fn visit_tables(&mut self, v: &mut impl RootVisitor) {
        for t in self.buf.tables.iter_mut() {
            if ValType::Ref(t.ty).may_be_gc_object() {
                for e in t.elements.iter_mut() {
                    // SAFETY: an element of a table of traced references.
                    unsafe { v.visit(e) };
                }
            }
        }
    }

    /// Visits the references in the payloads of the instance's
    /// exceptions (all of them: the exception collector decides which
    /// die).
    ///
    /// # Safety
    /// The exceptions hold values of this instance's code.
    unsafe fn visit_exceptions(&mut self, v: &mut impl RootVisitor) {
        for (types, values) in self.buf.exceptions.payloads_mut() {
            for (t, value) in types.iter().zip(values.iter_mut()) {
                if t.may_be_gc_object() {
                    // SAFETY: a payload value of a traced type, whose low
                    // 8 bytes hold the reference.
                    unsafe { v.visit(value.0.as_mut_ptr() as *mut u64) };
                }
            }
        }
    }
}

/// The guest frames of one stack that a collection walks: from the frame
/// that called a builtin or a host function to the first frame outside
/// the code of the modules walked.
pub(super) struct FrameWalk {
    /// The calling frame: its frame pointer and return address (an exit
    /// record of an instance header).
    pub exit: (u64, u64),
    /// The stack's bounds: no frame is read outside them.
    pub stack: (u64, u64),
}

impl FrameWalk {
    /// Visits the slots that the stack maps of the frames' modules (one
    /// of `modules` holds each frame's code) say hold references.
    ///
    /// # Safety
    /// The exit record must be that of a call suspended on this stack,
    /// made by code of one of `modules`; frames of generated code keep
    /// frame pointers.
    pub(super) unsafe fn visit(&self, v: &mut impl RootVisitor, modules: &[&Module]) {
        let (bottom, top) = self.stack;
        let (mut fp, mut pc) = self.exit;
        // SAFETY: the caller's promise; each frame pointer is checked to
        // lie in the stack before it is read.
        unsafe {
            while let Some(module) = modules.iter().find(|m| m.code().contains(pc as usize)) {
                if fp % 8 != 0 || fp < bottom || fp + 16 > top {
                    return;
                }
                let text = (pc as usize - module.code().base()) as u32;
                if let Ok(Some(map)) = module.stack_map_at(text) {
                    let sp = fp.wrapping_sub(u64::from(map.frame_size));
                    for offset in map.offsets() {
                        let slot = sp + u64::from(offset);
                        if slot >= bottom && slot + 8 <= top {
                            v.visit(slot as *mut u64);
                        }
                    }
                }
                pc = *((fp + 8) as *const u64);
                fp = *(fp as *const u64);
            }
        }
    }
}
