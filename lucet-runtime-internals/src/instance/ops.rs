//! The instance side of the builtins: `memory.grow` and the bulk memory and
//! table instructions. Each checks its bounds with 64-bit arithmetic and
//! reports failure to the caller, which traps in guest code.

use lucet_module::{InstanceHeader, WASM_PAGE_SIZE};

use super::{Instance, Table};
use crate::sys::mmap::{self, Protection};

/// `start + len <= bound`, without overflow.
fn in_bounds(start: u32, len: u32, bound: usize) -> bool {
    start as u64 + len as u64 <= bound as u64
}

impl Instance {
    /// `memory.grow`: the old size in pages, or `None` (guest sees -1).
    pub(crate) fn grow_memory(&mut self, delta: u32) -> Option<u32> {
        if let Some(owner) = self.memory_owner {
            // SAFETY: the owner is in this instance's link group, whose
            // instances run one at a time.
            return unsafe { (*owner).grow_memory(delta) };
        }
        let header: *mut InstanceHeader = self.header();
        // SAFETY: the header is valid for the instance's life.
        let current = unsafe { (*header).memory.current_length };
        let old_pages = current / WASM_PAGE_SIZE;
        let new_len = (old_pages + delta as u64) * WASM_PAGE_SIZE;
        if new_len > self.heap_limit {
            return None;
        }
        if new_len > self.heap_mapped {
            let start = self.heap_mapped as usize;
            // SAFETY: the range lies in the slot's heap reservation
            // (heap_limit <= reservation) and is not in use.
            let r = unsafe {
                mmap::protect(
                    self.slot.heap().add(start),
                    new_len as usize - start,
                    Protection::ReadWrite,
                )
            };
            r.ok()?;
            self.heap_mapped = new_len;
        }
        // SAFETY: as above.
        unsafe { (*header).memory.current_length = new_len };
        Some(old_pages as u32)
    }

    pub(crate) fn memory_fill(&mut self, dst: u32, val: u8, len: u32) -> bool {
        let memory = self.memory_mut();
        if !in_bounds(dst, len, memory.len()) {
            return false;
        }
        memory[dst as usize..(dst + len) as usize].fill(val);
        true
    }

    pub(crate) fn memory_copy(&mut self, dst: u32, src: u32, len: u32) -> bool {
        let memory = self.memory_mut();
        if !in_bounds(dst, len, memory.len()) || !in_bounds(src, len, memory.len()) {
            return false;
        }
        memory.copy_within(src as usize..(src + len) as usize, dst as usize);
        true
    }

    pub(crate) fn memory_init(&mut self, seg: u32, dst: u32, src: u32, len: u32) -> bool {
        let module = self.module.clone();
        let Some(segment) = module.metadata().data_segments.get(seg as usize) else {
            return false;
        };
        let bytes: &[u8] = if self.buf.dropped_data[seg as usize] {
            &[]
        } else {
            &segment.bytes
        };
        let memory = self.memory_mut();
        if !in_bounds(src, len, bytes.len()) || !in_bounds(dst, len, memory.len()) {
            return false;
        }
        memory[dst as usize..(dst + len) as usize]
            .copy_from_slice(&bytes[src as usize..(src + len) as usize]);
        true
    }

    pub(crate) fn data_drop(&mut self, seg: u32) {
        if let Some(d) = self.buf.dropped_data.get_mut(seg as usize) {
            *d = true;
        }
    }

    /// Table `t` of the index space, wherever it lives.
    pub(crate) fn table_mut(&mut self, t: u32) -> &mut Table {
        let r = self.buf.table_refs[t as usize];
        if std::ptr::eq(r.owner, self) {
            &mut self.buf.tables[r.index]
        } else {
            // SAFETY: an imported table's owner is in this instance's link
            // group, which outlives it; its instances run one at a time.
            unsafe { &mut (&mut (*r.owner).buf.tables)[r.index] }
        }
    }

    /// Table `t`, marked written (its slot restores it for the next
    /// instance).
    fn table_for_write(&mut self, t: u32) -> &mut Table {
        let table = self.table_mut(t);
        table.def.written = 1;
        table
    }

    /// `table.grow`: the old size, or `None` (guest sees -1).
    pub(crate) fn table_grow(&mut self, t: u32, delta: u32, init: u64) -> Option<u32> {
        if t as usize >= self.buf.table_refs.len() {
            return None;
        }
        let table = self.table_for_write(t);
        let old = table.elements.len() as u32;
        let new = old.checked_add(delta)?;
        if new > table.max {
            return None;
        }
        table.elements.try_reserve(delta as usize).ok()?;
        table.elements.resize(new as usize, init);
        // Re-point the definition at the (possibly reallocated) storage.
        table.def.base = table.elements.as_mut_ptr();
        table.def.len = table.elements.len() as u32;
        Some(old)
    }

    pub(crate) fn table_fill(&mut self, t: u32, dst: u32, val: u64, len: u32) -> bool {
        if t as usize >= self.buf.table_refs.len() {
            return false;
        }
        let table = self.table_for_write(t);
        if !in_bounds(dst, len, table.elements.len()) {
            return false;
        }
        table.elements[dst as usize..(dst + len) as usize].fill(val);
        true
    }

    pub(crate) fn table_copy(&mut self, dt: u32, st: u32, dst: u32, src: u32, len: u32) -> bool {
        if dt as usize >= self.buf.table_refs.len() || st as usize >= self.buf.table_refs.len() {
            return false;
        }
        let src_len = self.table_mut(st).elements.len();
        let dst_len = self.table_mut(dt).elements.len();
        if !in_bounds(dst, len, dst_len) || !in_bounds(src, len, src_len) {
            return false;
        }
        let (dst, src, len) = (dst as usize, src as usize, len as usize);
        // Copy through a buffer: the two tables may be one and the same.
        let items: Vec<u64> = self.table_mut(st).elements[src..src + len].to_vec();
        self.table_for_write(dt).elements[dst..dst + len].copy_from_slice(&items);
        true
    }

    pub(crate) fn table_init(&mut self, t: u32, seg: u32, dst: u32, src: u32, len: u32) -> bool {
        let module = self.module.clone();
        let Some(segment) = module.metadata().elements.get(seg as usize) else {
            return false;
        };
        let available = if self.buf.dropped_elems[seg as usize] {
            0
        } else {
            segment.items.len()
        };
        if t as usize >= self.buf.table_refs.len() {
            return false;
        }
        let table_len = self.table_mut(t).elements.len();
        if !in_bounds(src, len, available) || !in_bounds(dst, len, table_len) {
            return false;
        }
        let items: Vec<u64> = (src as usize..(src + len) as usize)
            .map(|i| self.elem_item(&segment.items, i))
            .collect();
        self.table_for_write(t).elements[dst as usize..(dst + len) as usize]
            .copy_from_slice(&items);
        true
    }

    pub(crate) fn elem_drop(&mut self, seg: u32) {
        if let Some(d) = self.buf.dropped_elems.get_mut(seg as usize) {
            *d = true;
        }
    }
}
