//! The instance side of the builtins: `memory.grow` and the bulk memory and
//! table instructions. Each checks its bounds with 64-bit arithmetic and
//! reports failure to the caller, which traps in guest code.

use lucet_module::{InstanceHeader, WASM_PAGE_SIZE};

use super::{Instance, Table};
use crate::sys::mmap::{self, Protection};

/// `start..start + len` as a range of a slice of `bound` elements, if it
/// lies inside it (64-bit arithmetic: no wraparound).
fn range(start: u64, len: u64, bound: usize) -> Option<std::ops::Range<usize>> {
    let end = start.checked_add(len)?;
    if end > bound as u64 {
        return None;
    }
    Some(start as usize..end as usize)
}

impl Instance {
    /// `memory.grow` of memory 0 in the slot's heap: the old size in pages,
    /// or `None` (guest sees -1).
    pub(crate) fn grow_memory(&mut self, delta: u64) -> Option<u64> {
        let header: *mut InstanceHeader = self.header();
        // SAFETY: the header is valid for the instance's life.
        let current = unsafe { (*header).memory.current_length };
        let old_pages = current / WASM_PAGE_SIZE;
        let new_len = old_pages.checked_add(delta)?.checked_mul(WASM_PAGE_SIZE)?;
        // Its own bound, and one budget for all the instance's memories.
        let others = self.defined_memory_bytes_but(0);
        if new_len > self.heap_limit
            || others.saturating_add(new_len) > self.region.limits().heap_memory_size
        {
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
        Some(old_pages)
    }

    pub(crate) fn memory_init(&mut self, mem: u32, seg: u32, dst: u64, src: u64, len: u64) -> bool {
        let module = self.module_ref();
        let Some(segment) = module.metadata().data_segments.get(seg as usize) else {
            return false;
        };
        let bytes: &[u8] = if self.buf.dropped_data[seg as usize] {
            &[]
        } else {
            &segment.bytes
        };
        let memory = self.memory_at_mut(mem);
        let (Some(dst), Some(src)) = (range(dst, len, memory.len()), range(src, len, bytes.len()))
        else {
            return false;
        };
        memory[dst].copy_from_slice(&bytes[src]);
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
            unsafe { &mut Instance::bufs(r.owner).tables[r.index] }
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
    pub(crate) fn table_grow(&mut self, t: u32, delta: u64, init: u64) -> Option<u64> {
        let r = *self.buf.table_refs.get(t as usize)?;
        if !std::ptr::eq(r.owner, self) {
            // The table's elements count against its owner's budget.
            // SAFETY: an imported table's owner is in this instance's link
            // group, which outlives it; its instances run one at a time.
            return unsafe { (*r.owner).grow_own_table(r.index, delta, init) };
        }
        self.grow_own_table(r.index, delta, init)
    }

    /// `table.grow` of this instance's own table `index`, within its
    /// declared maximum and the instance's table-element budget.
    fn grow_own_table(&mut self, index: usize, delta: u64, init: u64) -> Option<u64> {
        let used: u64 = self
            .buf
            .tables
            .iter()
            .map(|t| t.elements.len() as u64)
            .sum();
        let budget = self.region.limits().max_table_elements;
        if used.checked_add(delta)? > budget {
            return None;
        }
        let table = &mut self.buf.tables[index];
        table.def.written = 1;
        let old = table.elements.len() as u64;
        let new = old.checked_add(delta)?;
        if new > u64::from(table.max) {
            return None;
        }
        let delta = usize::try_from(delta).ok()?;
        table.elements.try_reserve(delta).ok()?;
        table.elements.resize(new as usize, init);
        // Re-point the definition at the (possibly reallocated) storage.
        table.def.base = table.elements.as_mut_ptr();
        table.def.len = table.elements.len() as u32;
        Some(old)
    }

    pub(crate) fn table_fill(&mut self, t: u32, dst: u64, val: u64, len: u64) -> bool {
        if t as usize >= self.buf.table_refs.len() {
            return false;
        }
        let table = self.table_for_write(t);
        let Some(dst) = range(dst, len, table.elements.len()) else {
            return false;
        };
        table.elements[dst].fill(val);
        true
    }

    pub(crate) fn table_copy(&mut self, dt: u32, st: u32, dst: u64, src: u64, len: u64) -> bool {
        if dt as usize >= self.buf.table_refs.len() || st as usize >= self.buf.table_refs.len() {
            return false;
        }
        let src_len = self.table_mut(st).elements.len();
        let dst_len = self.table_mut(dt).elements.len();
        let (Some(dst), Some(src)) = (range(dst, len, dst_len), range(src, len, src_len)) else {
            return false;
        };
        // Copy through a buffer: the two tables may be one and the same.
        let items: Vec<u64> = self.table_mut(st).elements[src].to_vec();
        self.table_for_write(dt).elements[dst].copy_from_slice(&items);
        true
    }

    pub(crate) fn table_init(&mut self, t: u32, seg: u32, dst: u64, src: u64, len: u64) -> bool {
        let module = self.module_ref();
        if module.metadata().elements.get(seg as usize).is_none() {
            return false;
        }
        let available = self.elem_len(seg);
        if t as usize >= self.buf.table_refs.len() {
            return false;
        }
        let table_len = self.table_mut(t).elements.len();
        let (Some(dst), Some(src)) = (range(dst, len, table_len), range(src, len, available))
        else {
            return false;
        };
        let items: Vec<u64> = src.map(|i| self.elem_item(seg, i)).collect();
        self.table_for_write(t).elements[dst].copy_from_slice(&items);
        true
    }

    pub(crate) fn elem_drop(&mut self, seg: u32) {
        if let Some(d) = self.buf.dropped_elems.get_mut(seg as usize) {
            *d = true;
        }
    }
}
