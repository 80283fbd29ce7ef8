//! The life of a slot's heap across instances.
//!
//! When an instance goes, its heap is put back to its module's initial
//! memory in place instead of being thrown away: growth beyond the initial
//! size is given back, pages of the copy-on-write memory image revert to the
//! file's contents (`madvise(MADV_DONTNEED)` on a private file mapping), and
//! the other pages are zeroed — with `memset` for the first
//! `Limits::keep_resident` bytes, which stay resident for the next instance,
//! and by giving the rest back to the system. The slot records that its
//! heap is clean for that module, and the next instance of the same module
//! finds its memory ready: no system call at all. Another module (or
//! anything unusual) decommits the heap and maps it afresh.
//!
//! Whatever the path, a new instance never sees a byte its predecessor
//! wrote: every page below the old accessible size is zeroed, reverted or
//! decommitted.

use lucet_module::WASM_PAGE_SIZE;

use super::Instance;
use crate::region::SlotMemory;
use crate::sys::mmap::{self, Protection};
use crate::Error;

impl Instance {
    fn slot_memory(&mut self) -> &mut SlotMemory {
        let state = self.region.slot_state(self.slot.index);
        // SAFETY: the slot's memory state belongs to the slot's holder, this
        // instance, while it lives.
        unsafe { &mut *state.memory.get() }
    }

    /// The module's initial memory size in bytes (0 without an own memory).
    fn initial_bytes(&self) -> u64 {
        match &self.module.metadata().memory {
            Some(m) if m.import.is_none() => m.heap.initial_pages * WASM_PAGE_SIZE,
            _ => 0,
        }
    }

    /// Makes the initial memory accessible, with the image mapped over it,
    /// unless the slot holds exactly that already.
    pub(super) fn setup_memory(&mut self) -> Result<(), Error> {
        if let Some(imported) = &self.module.imports().memory {
            self.memory_owner = Some(imported.owner);
        }
        let initial = self.initial_bytes();
        let id = self.module.id();
        let heap = self.slot.heap();
        let mem = *self.slot_memory();
        if mem.clean_for != id || mem.mapped != initial || id == 0 {
            self.slot_memory().clean_for = 0;
            // SAFETY: the ranges lie in this slot's heap reservation, which
            // nothing refers into between instances.
            unsafe {
                mmap::decommit(heap, mem.mapped as usize)?;
                self.slot_memory().mapped = 0;
                mmap::protect(heap, initial as usize, Protection::ReadWrite)?;
                self.slot_memory().mapped = initial;
                let image = self.module.image();
                for chunk in &self.module.metadata().image.chunks {
                    mmap::map_file_cow(
                        heap.add(chunk.heap_offset as usize),
                        chunk.len as usize,
                        &image.file,
                        image.offset + chunk.section_offset,
                    )?;
                }
            }
        }
        // From now on the heap is the instance's: not clean for anyone.
        self.slot_memory().clean_for = 0;
        self.heap_mapped = initial;
        Ok(())
    }

    /// Puts the heap back to the module's initial memory (see the module
    /// documentation), leaving the slot clean for the module.
    pub(super) fn teardown(&mut self) -> Result<(), Error> {
        let initial = self.initial_bytes();
        let mapped = self.heap_mapped;
        let heap = self.slot.heap();
        self.heap_mapped = 0;
        // SAFETY: the header lives as long as the instance.
        unsafe { (*self.header()).memory.current_length = 0 };
        self.slot_memory().clean_for = 0;
        self.slot_memory().mapped = mapped;
        // SAFETY: every range lies in this slot's heap reservation below the
        // accessible size; the instance is not running, so nothing refers
        // into it.
        unsafe {
            if mapped > initial {
                mmap::decommit(heap.add(initial as usize), (mapped - initial) as usize)?;
                self.slot_memory().mapped = initial;
            }
            let keep = self.region.limits().keep_resident.min(initial);
            let zero = |from: u64, to: u64| -> Result<(), Error> {
                let resident_end = to.min(keep).max(from);
                if resident_end > from {
                    std::ptr::write_bytes(
                        heap.add(from as usize),
                        0,
                        (resident_end - from) as usize,
                    );
                }
                mmap::discard(
                    heap.add(resident_end as usize),
                    (to - resident_end) as usize,
                )
            };
            let mut at = 0;
            for chunk in &self.module.metadata().image.chunks {
                zero(at, chunk.heap_offset)?;
                // Reverts to the image's pages in the file.
                mmap::discard(heap.add(chunk.heap_offset as usize), chunk.len as usize)?;
                at = chunk.heap_offset + chunk.len;
            }
            zero(at, initial)?;
        }
        let id = self.module.id();
        self.slot_memory().clean_for = id;
        Ok(())
    }
}
