//! The memories of an instance, by memory index.
//!
//! - Memory 0, when the module defines it, lives in the slot's heap at
//!   `vmctx` (its life across instances is `heap.rs`'s business) and is
//!   described by the header's own `MemoryDef`.
//! - Every other memory the module defines lives in one of the slot's extra
//!   heaps: address spaces of the same size as the slot's heap, reserved
//!   the first time a module in the slot needs them and kept for the slot's
//!   later instances. An extra memory starts zeroed; its data segments are
//!   applied at instantiation, and when the instance goes everything it
//!   made accessible is given back, so the next instance sees nothing of it.
//! - An imported memory is its owner's: the `MemoryDef` generated code
//!   reads, and `memory.grow`, go to the instance that defines it.
//!
//! The header's `memories` array points at each memory's `MemoryDef`.

use lucet_module::{HeapSpec, MemoryDef, WASM_PAGE_SIZE};

use super::Instance;
use crate::sys::mmap::{self, Protection};
use crate::{Error, Limits};

/// Most bytes a memory of layout `heap` may have in a region with
/// `limits`.
pub(crate) fn memory_limit(limits: &Limits, heap: &HeapSpec, memory64: bool) -> u64 {
    let index_limit = if memory64 { u64::MAX } else { 1 << 32 };
    let module_max = heap
        .max_pages
        .unwrap_or(u64::MAX)
        .saturating_mul(WASM_PAGE_SIZE)
        .min(index_limit);
    limits
        .heap_memory_size
        .min(heap.reserved_size)
        .min(module_max)
}

/// Where memory `index` of an instance is: the instance that defines it,
/// and the memory's index in that instance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemoryRef {
    pub owner: *mut Instance,
    pub index: u32,
}

/// A memory other than memory 0 that an instance defines.
pub(crate) struct ExtraMemory {
    /// Its memory index.
    pub index: u32,
    /// What generated code reads (boxed: its address is in the header's
    /// array).
    pub def: Box<MemoryDef>,
    /// Bytes from the base made accessible since instantiation.
    pub mapped: u64,
    /// Most bytes it may grow to.
    pub limit: u64,
}

impl Instance {
    /// Builds the memory table: the references, the definitions generated
    /// code reads, and the extra memories (made accessible at their initial
    /// size). Memory 0's heap is set up by `setup_memory` before.
    pub(super) fn setup_memories(&mut self) -> Result<(), Error> {
        let module = self.module_ref();
        let data = module.metadata();
        let this = self as *mut Instance;
        self.buf.memory_refs.clear();
        self.buf.memory_defs.clear();
        self.buf.extra_memories.clear();
        let mut imported = self.imports().memories().iter();
        let mut extra_heaps = 0;
        for (i, m) in data.memories.iter().enumerate() {
            let i = i as u32;
            if m.import.is_some() {
                let r = imported.next().expect("resolved with the module");
                // SAFETY: the owner is in this instance's link group, which
                // outlives it; its memory table is built (it instantiated
                // before this module was even loaded).
                let def = unsafe { (*r.owner).memory_def_ptr(r.index) };
                self.buf.memory_refs.push(MemoryRef {
                    owner: r.owner,
                    index: r.index,
                });
                self.buf.memory_defs.push(def);
                continue;
            }
            self.buf.memory_refs.push(MemoryRef {
                owner: this,
                index: i,
            });
            if i == 0 {
                // SAFETY: the header's place is the instance page's end.
                let def = unsafe { std::ptr::addr_of_mut!((*self.header()).memory) };
                self.buf.memory_defs.push(def);
                continue;
            }
            let base = self.region.extra_heap(self.slot.index, extra_heaps)?;
            extra_heaps += 1;
            let initial = m.heap.initial_pages * WASM_PAGE_SIZE;
            // SAFETY: the extra heap is this slot's, reserved with the
            // slot's heap address space (which `check_fits` compared with
            // the module's), and holds nothing of an earlier instance.
            unsafe { mmap::protect(base, initial as usize, Protection::ReadWrite)? };
            let mut def = Box::new(MemoryDef {
                base,
                current_length: initial,
            });
            self.buf.memory_defs.push(&mut *def as *mut MemoryDef);
            let limit = memory_limit(self.region.limits(), &m.heap, m.memory64);
            self.buf.extra_memories.push(ExtraMemory {
                index: i,
                def,
                mapped: initial,
                limit,
            });
        }
        Ok(())
    }

    /// Gives back everything the extra memories made accessible.
    pub(super) fn teardown_memories(&mut self) -> Result<(), Error> {
        for m in &mut self.buf.extra_memories {
            // SAFETY: the range is the part of the slot's extra heap this
            // instance made accessible; the instance is not running.
            unsafe { mmap::decommit(m.def.base, m.mapped as usize)? };
            m.mapped = 0;
            m.def.current_length = 0;
        }
        self.buf.extra_memories.clear();
        Ok(())
    }

    /// The `MemoryDef` of memory `index`.
    pub(crate) fn memory_def_ptr(&self, index: u32) -> *mut MemoryDef {
        self.buf.memory_defs[index as usize]
    }

    /// The instance that defines memory `index`, and its index there.
    pub(crate) fn memory_ref(&self, index: u32) -> MemoryRef {
        self.buf.memory_refs[index as usize]
    }

    /// Memory `index`'s accessible bytes, or nothing if there is no such
    /// memory.
    pub(crate) fn memory_at(&self, index: u32) -> &[u8] {
        let Some(&def) = self.buf.memory_defs.get(index as usize) else {
            return &[];
        };
        // SAFETY: `current_length` bytes from the base are mapped read-write
        // for as long as the memory's owner lives (memory never shrinks).
        unsafe { std::slice::from_raw_parts((*def).base, (*def).current_length as usize) }
    }

    /// Memory `index`'s accessible bytes, mutably.
    pub(crate) fn memory_at_mut(&mut self, index: u32) -> &mut [u8] {
        let Some(&def) = self.buf.memory_defs.get(index as usize) else {
            return &mut [];
        };
        // SAFETY: as in `memory_at`; instances of a group run one at a time.
        unsafe { std::slice::from_raw_parts_mut((*def).base, (*def).current_length as usize) }
    }

    /// The current size of memory `index` in bytes (0 if there is none).
    pub(crate) fn memory_len_at(&self, index: u32) -> u64 {
        self.memory_at(index).len() as u64
    }

    /// Bytes of the memories this instance defines, together, but for
    /// memory `except` (`heap_memory_size` bounds the sum).
    pub(crate) fn defined_memory_bytes_but(&self, except: u32) -> u64 {
        let mut total = 0u64;
        if except != 0
            && self
                .buf
                .memory_refs
                .first()
                .is_some_and(|r| std::ptr::eq(r.owner, self))
        {
            // SAFETY: the header is valid for the instance's life.
            total += unsafe { (*self.header()).memory.current_length };
        }
        for m in &self.buf.extra_memories {
            if m.index != except {
                total = total.saturating_add(m.def.current_length);
            }
        }
        total
    }

    /// `memory.grow` of memory `index`: the old size in pages, or `None`.
    pub(crate) fn grow_memory_at(&mut self, index: u32, delta: u64) -> Option<u64> {
        let r = *self.buf.memory_refs.get(index as usize)?;
        if !std::ptr::eq(r.owner, self) {
            // SAFETY: the owner is in this instance's link group, whose
            // instances run one at a time.
            return unsafe { (*r.owner).grow_memory_at(r.index, delta) };
        }
        if index == 0 {
            return self.grow_memory(delta);
        }
        let others = self.defined_memory_bytes_but(index);
        let budget = self.region.limits().heap_memory_size;
        let m = self
            .buf
            .extra_memories
            .iter_mut()
            .find(|m| m.index == index)?;
        let old_pages = m.def.current_length / WASM_PAGE_SIZE;
        let new_len = old_pages.checked_add(delta)?.checked_mul(WASM_PAGE_SIZE)?;
        // Its own bound, and one budget for all the instance's memories.
        if new_len > m.limit || others.saturating_add(new_len) > budget {
            return None;
        }
        if new_len > m.mapped {
            // SAFETY: the range lies in the memory's extra heap (limit <=
            // reservation) and is not in use.
            unsafe {
                mmap::protect(
                    m.def.base.add(m.mapped as usize),
                    (new_len - m.mapped) as usize,
                    Protection::ReadWrite,
                )
            }
            .ok()?;
            m.mapped = new_len;
        }
        m.def.current_length = new_len;
        Some(old_pages)
    }
}
