//! The instance's GC heap and the objects the runtime creates in it: those
//! of constant expressions, and of the array builtins that copy from data
//! and element segments.
//!
//! The heap is a part of the slot (`Slot::gc_heap`) that generated code
//! fills upwards through the header's `gc_next` (a bump pointer), up to
//! `gc_limit`. A new instance, and an instance after `reset`, starts with
//! `gc_next` at the start of the heap: the old objects are gone in O(1).
//! Their bytes stay until overwritten, but nothing can read them:
//! references to them died with the instance (host handles carry the
//! instance's GC epoch and are refused after it), and every new object is
//! written whole before a reference to it exists. The part of the heap
//! used beyond `Limits::keep_resident` is given back to the system when
//! the instance goes (not at a reset: the same instance will use it
//! again).
//!
//! The heap is two halves for the copying collector (`collector.rs`):
//! allocation fills the current one; a collection copies what lives into
//! the other. An object that does not fit even after a collection traps
//! with `GcHeapExhausted`.

use std::ptr;

use lucet_module::{
    array_size, ElemItems, InstanceHeader, ObjectHeader, StorageType, StructLayout, ValRaw,
};

use super::Instance;
use crate::host_roots::HostRoots;
use crate::limits::GcAlgorithm;
use crate::sys::mmap;

/// What the array builtins return for a GC heap without room.
pub(crate) const EXHAUSTED: u64 = 0;
/// What the array builtins return for a range outside the segment.
pub(crate) const OUTSIDE_SEGMENT: u64 = 1;

/// Writes the value `v` as a field of `storage` at `at`.
///
/// # Safety
/// `at` must be valid for writes of `storage.size()` bytes.
unsafe fn write_field(at: *mut u8, storage: StorageType, v: &ValRaw) {
    // SAFETY: the caller's promise; `ValRaw` holds values little-endian
    // from its first byte, as objects do (both targets are little-endian).
    unsafe { ptr::copy_nonoverlapping(v.0.as_ptr(), at, storage.size() as usize) }
}

impl Instance {
    /// Empties the GC heap and starts a new epoch (at instantiation).
    pub(super) fn reset_gc_heap(&mut self) {
        let base = self.slot.gc_heap() as u64;
        let space = self.gc_space_size();
        let header: *mut InstanceHeader = self.header();
        // SAFETY: the header is valid for the instance's life.
        unsafe {
            (*header).gc_next = base;
            (*header).gc_limit = base + space;
        }
        self.host_roots.start_epoch();
        self.gc_collections = 0;
    }

    /// The size of the space objects are allocated in: each half of the
    /// GC heap for the copying collector, all of it for mark-compact.
    pub(super) fn gc_space_size(&self) -> u64 {
        let size = self.slot.layout.gc_heap_size as u64;
        let space = match self.region.limits().gc_algorithm {
            GcAlgorithm::Copying => size / 2,
            GcAlgorithm::MarkCompact => size,
        };
        space & !(ObjectHeader::ALIGN - 1)
    }

    /// The used part of the current space: from its start to `gc_next`.
    pub(crate) fn gc_heap_used(&self) -> (usize, usize) {
        let base = self.slot.gc_heap() as u64;
        let space = self.gc_space_size();
        // SAFETY: the header is valid for the instance's life.
        let (next, limit) = unsafe { ((*self.header()).gc_next, (*self.header()).gc_limit) };
        let start = if limit == base + space {
            base
        } else {
            base + space
        };
        (start as usize, next as usize)
    }

    /// The start of the half that is not the current one (copying).
    pub(super) fn gc_other_half(&self) -> u64 {
        let base = self.slot.gc_heap() as u64;
        let (start, _) = self.gc_heap_used();
        if start as u64 == base {
            base + self.gc_space_size()
        } else {
            base
        }
    }

    /// How many collections the GC heap has had since instantiation.
    pub(crate) fn gc_collections(&self) -> u64 {
        self.gc_collections
    }

    /// Gives back the memory of the GC heap the instance used past
    /// `Limits::keep_resident` (when it goes).
    #[inline]
    pub(super) fn release_gc_heap(&mut self) -> Result<(), crate::Error> {
        let base = self.slot.gc_heap() as u64;
        let used = if self.gc_collections > 0 {
            // Both halves were written (copying), or the space filled
            // before compaction (mark-compact).
            match self.region.limits().gc_algorithm {
                GcAlgorithm::Copying => 2 * self.gc_space_size(),
                GcAlgorithm::MarkCompact => self.gc_space_size(),
            }
        } else {
            // SAFETY: the header is valid for the instance's life.
            unsafe { (*self.header()).gc_next }.saturating_sub(base)
        };
        let page = mmap::page_size() as u64;
        let keep = self.region.limits().keep_resident.next_multiple_of(page);
        let used = used.next_multiple_of(page);
        if used > keep {
            // SAFETY: the range lies in the slot's GC heap, and the instance
            // is not running: nothing refers into it any more.
            unsafe {
                mmap::discard(
                    self.slot.gc_heap().add(keep as usize),
                    (used - keep) as usize,
                )?
            };
        }
        Ok(())
    }

    /// The host's handles into the GC heap, and the epoch of its
    /// contents.
    pub(crate) fn host_roots(&self) -> &HostRoots {
        &self.host_roots
    }

    /// Whether the `len` bytes at `start` lie in the GC heap's used part.
    pub(crate) fn gc_heap_holds(&self, start: u64, len: u64) -> bool {
        let (base, next) = self.gc_heap_used();
        start >= base as u64 && start.checked_add(len).is_some_and(|end| end <= next as u64)
    }

    /// `size` bytes (a multiple of 8) of the GC heap for an object of the
    /// module's type `type_index`, its header written; `None` when they do
    /// not fit.
    pub(crate) fn allocate_object(&mut self, type_index: u32, size: u64) -> Option<*mut u8> {
        let record = *self.module.type_records().get(type_index as usize)?;
        let header: *mut InstanceHeader = self.header();
        // SAFETY: the header is valid for the instance's life; the range
        // checked against `gc_limit` lies in the slot's GC heap, which is
        // read-write and not yet part of any object.
        unsafe {
            let next = (*header).gc_next;
            let end = next.checked_add(size)?;
            if end > (*header).gc_limit {
                return None;
            }
            (*header).gc_next = end;
            let object = next as *mut u8;
            (*(object as *mut ObjectHeader)).ty = record;
            Some(object)
        }
    }

    /// A struct of type `type_index` with `fields` (or zeros): its
    /// address, `None` when the GC heap is full.
    pub(super) fn new_struct(&mut self, type_index: u32, fields: Option<&[ValRaw]>) -> Option<u64> {
        let module = self.module.clone();
        let types = module.metadata().types.get(type_index as usize)?;
        let field_types = types.as_struct()?;
        let layout = StructLayout::new(field_types);
        let object = self.allocate_object(type_index, u64::from(layout.size))?;
        let zero = ValRaw::default();
        for (i, (f, offset)) in field_types.iter().zip(&layout.offsets).enumerate() {
            let v = fields.and_then(|v| v.get(i)).unwrap_or(&zero);
            // SAFETY: the field lies inside the object just allocated.
            unsafe { write_field(object.add(*offset as usize), f.storage, v) };
        }
        Some(object as u64)
    }

    /// An array of type `type_index` of `len` elements, whose length is
    /// written and elements are not: its address and element storage.
    /// From guest code (`from_guest`) a full heap is collected first.
    fn new_array_uninit(
        &mut self,
        type_index: u32,
        len: u32,
        from_guest: bool,
    ) -> Option<(*mut u8, StorageType)> {
        let elem = self
            .module
            .metadata()
            .types
            .get(type_index as usize)?
            .as_array()?
            .storage;
        let size = array_size(elem, len);
        let object = if from_guest {
            self.allocate_collecting(type_index, size)?
        } else {
            self.allocate_object(type_index, size)?
        };
        // SAFETY: the length lies inside the object just allocated.
        unsafe {
            *(object.add(ObjectHeader::OFFSET_ARRAY_LENGTH as usize) as *mut u32) = len;
        }
        Some((object, elem))
    }

    /// An array of type `type_index` with the elements `values` (one
    /// value repeated `len` times when `repeat`), `None` when the GC heap
    /// is full.
    pub(super) fn new_array(
        &mut self,
        type_index: u32,
        len: u32,
        values: &[ValRaw],
        repeat: bool,
        from_guest: bool,
    ) -> Option<u64> {
        let (object, elem) = self.new_array_uninit(type_index, len, from_guest)?;
        let zero = ValRaw::default();
        let size = elem.size() as usize;
        let first = ObjectHeader::OFFSET_ARRAY_ELEMENTS as usize;
        for i in 0..len as usize {
            let v = if repeat {
                values.first()
            } else {
                values.get(i)
            };
            // SAFETY: element `i < len` lies inside the object.
            unsafe { write_field(object.add(first + i * size), elem, v.unwrap_or(&zero)) };
        }
        Some(object as u64)
    }

    /// The bytes of data segment `seg` (none once dropped).
    fn data_bytes(&self, seg: u32) -> &[u8] {
        match self.module.metadata().data_segments.get(seg as usize) {
            Some(s) if !self.buf.dropped_data[seg as usize] => &s.bytes,
            _ => &[],
        }
    }

    /// The number of items element segment `seg` has (none once dropped).
    pub(super) fn elem_len(&self, seg: u32) -> usize {
        match self.module.metadata().elements.get(seg as usize) {
            Some(s) if !self.buf.dropped_elems[seg as usize] => s.items.len(),
            _ => 0,
        }
    }

    /// `array.new_data`: the array's address, or [`EXHAUSTED`] or
    /// [`OUTSIDE_SEGMENT`].
    pub(crate) fn array_new_data(
        &mut self,
        type_index: u32,
        seg: u32,
        offset: u64,
        len: u64,
    ) -> u64 {
        let Some(elem) = self
            .module
            .metadata()
            .types
            .get(type_index as usize)
            .and_then(|t| t.as_array())
        else {
            return OUTSIDE_SEGMENT;
        };
        let Ok(len32) = u32::try_from(len) else {
            return OUTSIDE_SEGMENT;
        };
        let bytes = len * u64::from(elem.storage.size());
        let available = self.data_bytes(seg).len() as u64;
        if offset
            .checked_add(bytes)
            .map_or(true, |end| end > available)
        {
            return OUTSIDE_SEGMENT;
        }
        let Some((object, _)) = self.new_array_uninit(type_index, len32, true) else {
            return EXHAUSTED;
        };
        let src = &self.data_bytes(seg)[offset as usize..(offset + bytes) as usize];
        // SAFETY: the elements (`bytes` of them) lie inside the new object.
        unsafe {
            ptr::copy_nonoverlapping(
                src.as_ptr(),
                object.add(ObjectHeader::OFFSET_ARRAY_ELEMENTS as usize),
                src.len(),
            )
        };
        object as u64
    }

    /// `array.new_elem`: the array's address, or [`EXHAUSTED`] or
    /// [`OUTSIDE_SEGMENT`].
    pub(crate) fn array_new_elem(
        &mut self,
        type_index: u32,
        seg: u32,
        offset: u64,
        len: u64,
    ) -> u64 {
        let Ok(len32) = u32::try_from(len) else {
            return OUTSIDE_SEGMENT;
        };
        if offset
            .checked_add(len)
            .map_or(true, |end| end > self.elem_len(seg) as u64)
        {
            return OUTSIDE_SEGMENT;
        }
        // Allocate first: a collection moves objects the items refer to,
        // and updates the evaluated segments they are read from.
        let Some((object, _)) = self.new_array_uninit(type_index, len32, true) else {
            return EXHAUSTED;
        };
        let first = object.wrapping_add(ObjectHeader::OFFSET_ARRAY_ELEMENTS as usize) as *mut u64;
        for i in 0..len {
            let item = self.elem_item(seg, (offset + i) as usize);
            // SAFETY: element `i < len` (8 bytes: a reference) lies inside
            // the new object.
            unsafe { *first.add(i as usize) = item };
        }
        object as u64
    }

    /// `array.init_data` after generated code checked the array's range:
    /// copies `bytes` bytes of data segment `seg` from `offset` to `dst`.
    /// False when they lie outside the segment.
    pub(crate) fn array_init_data(&mut self, seg: u32, dst: u64, offset: u64, bytes: u64) -> bool {
        let data = self.data_bytes(seg);
        if offset
            .checked_add(bytes)
            .map_or(true, |end| end > data.len() as u64)
        {
            return false;
        }
        if !self.gc_heap_holds(dst, bytes) {
            return false;
        }
        let src = &data[offset as usize..(offset + bytes) as usize];
        // SAFETY: generated code checked that the `bytes` bytes at `dst`
        // are elements of an array of this instance's GC heap.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        true
    }

    /// `array.init_elem` after generated code checked the array's range:
    /// writes `len` references of element segment `seg` from `offset` to
    /// `dst`. False when they lie outside the segment.
    pub(crate) fn array_init_elem(&mut self, seg: u32, dst: u64, offset: u64, len: u64) -> bool {
        if offset
            .checked_add(len)
            .map_or(true, |end| end > self.elem_len(seg) as u64)
        {
            return false;
        }
        if !self.gc_heap_holds(dst, len * 8) {
            return false;
        }
        for i in 0..len {
            let item = self.elem_item(seg, (offset + i) as usize);
            // SAFETY: generated code checked that `len` 8-byte elements
            // at `dst` belong to an array of this instance's GC heap.
            unsafe { *(dst as *mut u64).add(i as usize) = item };
        }
        true
    }

    /// Evaluates, once, the items of the element segments whose
    /// expressions create objects (at instantiation, in module order).
    pub(super) fn evaluate_allocating_segments(&mut self) -> Result<(), crate::Error> {
        let module = self.module.clone();
        self.buf.evaluated_elems.clear();
        for seg in &module.metadata().elements {
            let values = match &seg.items {
                ElemItems::Exprs(es) if es.iter().any(|e| e.allocates()) => {
                    let mut values = Vec::with_capacity(es.len());
                    for e in es {
                        values.push(self.eval(e)?.get_u64());
                    }
                    Some(values.into_boxed_slice())
                }
                _ => None,
            };
            self.buf.evaluated_elems.push(values);
        }
        Ok(())
    }
}
