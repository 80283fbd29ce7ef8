//! The life of a slot's heap across instances.
//!
//! When an instance goes, its heap is put back to its module's initial
//! memory in place instead of being thrown away. Inside the first
//! `Limits::keep_resident` bytes (the window), the pages the instance
//! touched — found in the page tables — are zeroed with `memset` and stay
//! resident for the next instance (grown pages made inaccessible again,
//! ready for the next growth), and image pages revert to the file's
//! (`madvise(MADV_DONTNEED)` on a private file mapping); past the window,
//! everything goes back to the system (one `madvise`, and growth
//! decommitted). The slot records that its heap is clean for that module, and
//! the next instance of the same module finds its memory ready: no system
//! call at all. Another module (or anything unusual) decommits the heap and
//! maps it afresh.
//!
//! Why a window: on the machine the benchmarks ran on (`lucet-bench
//! reset`), zeroing a dirty page in place costs about 40 ns, while giving
//! it back costs about 150 ns and the next instance then faults it in again
//! (about 650 ns more): memset wins at every dirty size from 4 KiB to
//! 4 MiB, so the window bounds only how much memory an idle slot keeps.
//! A page zeroed in place stays present, so "touched" means touched since
//! the slot last gave the page back: the pages a slot zeroes are the union
//! of what its instances touched, within the window.
//!
//! Whatever the path, a new instance never sees a byte its predecessor
//! wrote: every page below the old accessible size is zeroed, reverted or
//! given back. Pages swapped out count as touched.

use lucet_module::WASM_PAGE_SIZE;

use std::ptr;

use super::region::SlotMemory;
use super::Instance;
use crate::sys::mmap::{self, Protection};
use crate::Error;

impl Instance {
    fn slot_memory(&mut self) -> &mut SlotMemory {
        let state = self.region.slot_state(self.slot.index);
        // SAFETY: the slot's memory state belongs to the slot's holder, this
        // instance, while it lives.
        unsafe { &mut *state.memory.get() }
    }

    /// The initial size of memory 0 in bytes (0 unless the module defines
    /// it).
    fn initial_bytes(&self) -> u64 {
        match self.module.metadata().memories.first() {
            Some(m) if m.import.is_none() => m.heap.initial_pages * WASM_PAGE_SIZE,
            _ => 0,
        }
    }

    /// Makes the initial memory accessible, with the image mapped over it,
    /// unless the slot holds exactly that already.
    pub(super) fn setup_memory(&mut self) -> Result<(), Error> {
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
                if let Some(file) = &self.module.image().file {
                    for chunk in &self.module.metadata().image.chunks {
                        mmap::map_file_cow(
                            heap.add(chunk.heap_offset as usize),
                            chunk.len as usize,
                            file.file(),
                            chunk.section_offset,
                        )?;
                    }
                }
            }
        }
        if let Some(copy) = &self.module.image().copy {
            // A clean heap is zero outside the image's chunks, whatever
            // they hold: copy the image in.
            for chunk in &self.module.metadata().image.chunks {
                let from = &copy[chunk.section_offset as usize..][..chunk.len as usize];
                // SAFETY: the chunk lies in the accessible initial memory
                // (checked with the module), which nothing else refers to.
                unsafe {
                    ptr::copy_nonoverlapping(
                        from.as_ptr(),
                        heap.add(chunk.heap_offset as usize),
                        from.len(),
                    )
                };
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
        self.teardown_memories()?;
        // A linked instance's exceptions may be referred to from the other
        // instances of its group: they go with the group (or a collection).
        if self.group.is_none() {
            self.buf.exceptions.clear();
        }
        let initial = self.initial_bytes();
        let mapped = self.heap_mapped;
        self.heap_mapped = 0;
        // SAFETY: the header lives as long as the instance.
        unsafe { (*self.header()).memory.current_length = 0 };
        self.slot_memory().clean_for = 0;
        self.slot_memory().mapped = mapped;
        let mut pages = std::mem::take(&mut self.buf.pages);
        let result = self.reset_growth(initial, mapped, &mut pages);
        let result = result.and_then(|()| self.reset_initial_memory(initial, &mut pages));
        self.buf.pages = pages;
        result?;
        let id = self.module.id();
        self.slot_memory().clean_for = id;
        Ok(())
    }

    /// Takes back the memory grown past `initial` (up to `mapped`): inside
    /// the window, pages the instance touched are zeroed in place and made
    /// inaccessible again, staying resident for the next instance that
    /// grows (so that it neither faults them in again nor has the system
    /// zero them); past the window, they are given back.
    fn reset_growth(
        &mut self,
        initial: u64,
        mapped: u64,
        pages: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if mapped <= initial {
            return Ok(());
        }
        let heap = self.slot.heap();
        let page = mmap::page_size() as u64;
        let window = self.region.limits().keep_resident / page * page;
        let keep_to = window.clamp(initial, mapped);
        // Every range below lies in this slot's heap reservation, between
        // `initial` and `mapped`; the instance is not running, so nothing
        // refers into it.
        if keep_to > initial {
            // SAFETY: see above.
            let start = unsafe { heap.add(initial as usize) };
            let len = (keep_to - initial) as usize;
            if !mmap::page_states(start, len, pages) {
                pages.clear();
                pages.resize(len / page as usize, mmap::PAGE_TOUCHED);
            }
            for (i, state) in pages.iter().enumerate() {
                if state & mmap::PAGE_TOUCHED != 0 {
                    // SAFETY: see above.
                    unsafe { ptr::write_bytes(start.add(i * page as usize), 0, page as usize) };
                }
            }
            // SAFETY: see above.
            unsafe { mmap::protect(start, len, Protection::None)? };
        }
        if mapped > keep_to {
            // SAFETY: see above.
            unsafe { mmap::decommit(heap.add(keep_to as usize), (mapped - keep_to) as usize)? };
        }
        self.slot_memory().mapped = initial;
        Ok(())
    }

    /// Puts `0..initial` back to the module's initial memory. Inside the
    /// first `Limits::keep_resident` bytes (the window), pages the instance
    /// touched are zeroed in place and stay resident; the pages of a mapped
    /// image it changed (private copies now) get the image's bytes back
    /// and stay resident too, so that the next instance neither faults
    /// them in nor copies them on write (each such fault flushes the TLBs
    /// of the other cores that run the process's threads: under
    /// virtualisation, an interrupt that costs more than the copy). A
    /// copied image's chunks are left as they are: the next instance copies
    /// the image over them. Past the window, everything is given back with
    /// one `madvise`: anonymous pages read as zero again, image pages as
    /// the file.
    ///
    /// The page states come from one read of the page tables (about
    /// 300 ns); without them, every page counts as changed.
    fn reset_initial_memory(&mut self, initial: u64, pages: &mut Vec<u8>) -> Result<(), Error> {
        let heap = self.slot.heap();
        let page = mmap::page_size() as u64;
        let window = (self.region.limits().keep_resident / page * page).min(initial);
        let chunks = &self.module.metadata().image.chunks[..];
        let image = self.module.image();
        // The mapped image's chunks in the window, and where their bytes
        // are in the view.
        let view = image.view.as_deref().filter(|_| image.copy.is_none());
        let mapped_chunks = || {
            chunks
                .iter()
                .filter(move |_| view.is_some())
                .map(|c| {
                    (
                        c.heap_offset,
                        (c.heap_offset + c.len).min(window),
                        c.section_offset,
                    )
                })
                .filter(|(from, to, _)| to > from)
        };
        // The parts of the window to zero: the gaps between image chunks.
        let gaps = || {
            chunks
                .iter()
                .map(|c| (c.heap_offset, c.heap_offset + c.len))
                .chain(std::iter::once((initial, initial)))
                .scan(0, |at, (start, end)| {
                    let gap = (*at, start.min(window));
                    *at = end;
                    Some(gap)
                })
                .filter(|(from, to)| to > from)
        };
        let scan_to = gaps()
            .map(|(_, to)| to)
            .chain(mapped_chunks().map(|(_, to, _)| to))
            .max()
            .unwrap_or(0);
        if !mmap::page_states(heap, scan_to as usize, pages) {
            // Without page information, every page counts as changed.
            pages.clear();
            pages.resize(
                scan_to.div_ceil(page) as usize,
                mmap::PAGE_TOUCHED | mmap::PAGE_PRIVATE,
            );
        }
        // Every range below lies in this slot's accessible heap, under
        // `initial`; the instance is not running, so nothing refers into it.
        for (from, to) in gaps() {
            for p in from / page..to.div_ceil(page) {
                if pages[p as usize] & mmap::PAGE_TOUCHED != 0 {
                    let start = (p * page).max(from);
                    let end = ((p + 1) * page).min(to);
                    // SAFETY: see above.
                    unsafe {
                        ptr::write_bytes(heap.add(start as usize), 0, (end - start) as usize)
                    };
                }
            }
        }
        if let Some(view) = view {
            for (from, to, section) in mapped_chunks() {
                for p in from / page..to.div_ceil(page) {
                    if pages[p as usize] & mmap::PAGE_PRIVATE != 0 {
                        let start = (p * page).max(from);
                        let end = ((p + 1) * page).min(to);
                        let bytes =
                            &view[(section + start - from) as usize..][..(end - start) as usize];
                        // SAFETY: see above; the view is the module's own
                        // mapping, apart from the heap.
                        unsafe {
                            ptr::copy_nonoverlapping(
                                bytes.as_ptr(),
                                heap.add(start as usize),
                                bytes.len(),
                            )
                        };
                    }
                }
            }
        }
        // Past the window, everything goes back.
        if initial > window {
            // SAFETY: see above.
            unsafe { mmap::discard(heap.add(window as usize), (initial - window) as usize)? };
        }
        Ok(())
    }
}
