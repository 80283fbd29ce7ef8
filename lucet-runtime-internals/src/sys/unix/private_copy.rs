//! A module file's bytes in this process's own anonymous memory, where
//! loading checks them: no other process can change them, and they cannot
//! shrink under a reader. The code pages are then moved, not copied, to
//! where they run (`move_pages_out`).
//!
//! Why anonymous memory and not a sealed memfd: on the machines the
//! benchmarks ran on, a fresh 4 KiB page costs about 2 µs to allocate, and
//! shared memory (a memfd) gets no transparent huge pages by default; an
//! anonymous copy of a file of 2 MiB or more asks for huge pages
//! (`MADV_HUGEPAGE`), which allocate 512 times fewer (`lucet-bench load`:
//! 24 MiB copied in about 7 ms instead of 15).

use std::os::fd::AsRawFd;
use std::ptr;

use super::mmap::{map_anonymous, os_error, page_size, too_large, unmap, MAX_MODULE_FILE};
use crate::Error;

/// Transparent huge pages are this size (x86_64, and aarch64 with 4 KiB
/// pages); alignment to it lets the kernel use them.
const HUGE_PAGE: usize = 2 << 20;

/// A read-only copy of a file's bytes in private anonymous memory.
pub struct PrivateCopy {
    base: *mut u8,
    len: usize,
    /// The mapping: `len` rounded up to pages.
    mapped: usize,
}

// SAFETY: the copy is read-only once made; the pointer is only read.
unsafe impl Send for PrivateCopy {}
// SAFETY: as above.
unsafe impl Sync for PrivateCopy {}

impl PrivateCopy {
    /// A copy of what `file` holds now (`name` for errors). Refused past
    /// [`MAX_MODULE_FILE`] bytes, before anything is copied; a file that
    /// shrinks while it is read is refused.
    pub fn read(file: &std::fs::File, name: &str) -> Result<PrivateCopy, Error> {
        let io = |e: std::io::Error| Error::Io {
            path: name.to_string(),
            source: e,
        };
        let len = file.metadata().map_err(io)?.len();
        if len > MAX_MODULE_FILE {
            return Err(too_large(len));
        }
        let copy = PrivateCopy::writable(len as usize)?;
        let mut at = 0;
        while at < copy.len {
            // SAFETY: `base + at .. base + len` lies in the fresh writable
            // mapping, which nothing else refers to.
            let n = unsafe {
                libc::pread(
                    file.as_raw_fd(),
                    copy.base.add(at) as *mut libc::c_void,
                    copy.len - at,
                    at as libc::off_t,
                )
            };
            match n {
                n if n > 0 => at += n as usize,
                0 => {
                    return Err(Error::InvalidModule(format!(
                        "{name}: the file shrank while it was read"
                    )))
                }
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(io(e));
                    }
                }
            }
        }
        copy.seal()
    }

    /// A copy of `bytes`.
    pub fn with_bytes(bytes: &[u8]) -> Result<PrivateCopy, Error> {
        let len = bytes.len() as u64;
        if len > MAX_MODULE_FILE {
            return Err(too_large(len));
        }
        let copy = PrivateCopy::writable(bytes.len())?;
        // SAFETY: the fresh mapping holds `len` writable bytes, apart from
        // `bytes`.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), copy.base, bytes.len()) };
        copy.seal()
    }

    /// Fresh writable memory for `len` bytes, aligned for huge pages when
    /// it is large enough to use them.
    fn writable(len: usize) -> Result<PrivateCopy, Error> {
        let mapped = len.max(1).next_multiple_of(page_size());
        let huge = mapped >= HUGE_PAGE;
        let reserve = if huge { mapped + HUGE_PAGE } else { mapped };
        let p = map_anonymous(reserve)?;
        if !huge {
            return Ok(PrivateCopy {
                base: p,
                len,
                mapped,
            });
        }
        let base = (p as usize).next_multiple_of(HUGE_PAGE) as *mut u8;
        let head = base as usize - p as usize;
        // SAFETY: the head and tail are ours, outside `base..base+mapped`,
        // and nothing refers to them; the advice only affects how the
        // range is backed (a refusal leaves it with small pages).
        unsafe {
            unmap(p, head);
            unmap(base.add(mapped), reserve - head - mapped);
            libc::madvise(base as *mut libc::c_void, mapped, libc::MADV_HUGEPAGE);
        }
        Ok(PrivateCopy { base, len, mapped })
    }

    /// Makes the copy read-only.
    fn seal(self) -> Result<PrivateCopy, Error> {
        // SAFETY: the mapping is ours; no reference into it exists yet.
        if unsafe { libc::mprotect(self.base as *mut libc::c_void, self.mapped, libc::PROT_READ) }
            != 0
        {
            return Err(os_error("mprotect"));
        }
        Ok(self)
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping holds `len` bytes, read-only for its life
        // (`move_pages_out` uses the copy up, so no borrow outlives a move).
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
    }

    /// Moves the pages of `offset..offset + len` (page-aligned) to `to`,
    /// replacing what was mapped there, and gives the rest of the copy
    /// back: the copy is used up. No byte is copied: the page table entries
    /// move.
    ///
    /// The moved range is left unmapped here, never mapped again: between
    /// the move and any refill, another thread's `mmap` may be given that
    /// very range, and a fixed mapping over it would destroy theirs. So
    /// only the parts of the copy that are still ours are unmapped.
    ///
    /// # Safety
    /// `to..to + len` must lie in a mapping the caller owns, with no live
    /// references into it.
    pub unsafe fn move_pages_out(
        self,
        offset: usize,
        len: usize,
        to: *mut u8,
    ) -> Result<(), Error> {
        let page = page_size();
        let end = offset.checked_add(len).filter(|e| *e <= self.mapped);
        if offset % page != 0 || len % page != 0 || end.is_none() {
            return Err(Error::InvalidModule(
                "a section to move is not a whole range of pages of the file".into(),
            ));
        }
        if len == 0 {
            return Ok(());
        }
        // SAFETY: `self` by value: no reference into the copy is live. The
        // source lies in our mapping; the caller owns the destination.
        unsafe {
            let from = self.base.add(offset);
            let p = libc::mremap(
                from as *mut libc::c_void,
                len,
                len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                to as *mut libc::c_void,
            );
            if p == libc::MAP_FAILED {
                // Nothing moved: the copy is still whole, and its drop
                // unmaps it.
                return Err(os_error("moving a module's code"));
            }
            // What is still ours: the pages before the moved range and
            // after it.
            unmap(self.base, offset);
            unmap(from.add(len), self.mapped - offset - len);
        }
        std::mem::forget(self);
        Ok(())
    }

    /// Where `offset` of the copy lies in memory.
    pub fn address_of(&self, offset: usize) -> usize {
        self.base as usize + offset
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, and `bytes()` borrows end with it.
        unsafe { unmap(self.base, self.mapped) };
    }
}
