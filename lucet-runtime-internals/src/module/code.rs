//! Executable code memory: `.text`, moved out of the loader's private
//! copy of the module file, read+execute, and the call table after it.
//!
//! ```text
//! base                                  base + text_len
//! | .text (the copy's pages, read+execute) | call table (read-only once filled) |
//! ```
//!
//! The code needs no relocation: its calls into the runtime go through
//! stubs at the end of `.text`, which jump through the call table's slots
//! (PC-relative, so the table must lie right after the code). The code
//! pages are the very pages whose bytes the loader checked (their page
//! table entries move; no byte is copied), private to the process and
//! shared by every instance of the module in it. They are never writable
//! once moved; the call table (a page or so) is filled while writable and
//! then made read-only. Nothing is ever writable and executable at once.
//! (On aarch64, the kernel makes the instruction cache coherent when a
//! page becomes executable.)

use crate::sys::mmap::{self, Protection};
use crate::sys::private_copy::PrivateCopy;
use crate::Error;

/// Transparent huge pages are this size (x86_64, and aarch64 with 4 KiB
/// pages).
const HUGE_PAGE: usize = 2 << 20;

/// A module's machine code, mapped read+execute, and its call table.
pub struct CodeMemory {
    /// The address space taken: the code and table lie inside it.
    reservation: *mut u8,
    base: *mut u8,
    len: usize,
    mapped_len: usize,
}

// SAFETY: the code and call table are immutable once mapped; the pointer is
// only read.
unsafe impl Send for CodeMemory {}
// SAFETY: as above.
unsafe impl Sync for CodeMemory {}

impl CodeMemory {
    /// Takes the `text_len` bytes at `text_offset` of `copy` (both
    /// page-aligned) as the code, read+execute, followed by a call table
    /// holding `call_table`. The rest of the copy goes.
    pub fn adopt(
        copy: PrivateCopy,
        text_offset: u64,
        text_len: usize,
        call_table: &[u64],
    ) -> Result<Self, Error> {
        let page = mmap::page_size();
        if text_len == 0 || text_len % page != 0 || text_offset % page as u64 != 0 {
            return Err(Error::InvalidModule(format!(
                "the code is not aligned to this machine's {page}-byte pages"
            )));
        }
        let table_len = (call_table.len() * 8).max(1).next_multiple_of(page);
        // The code goes where its huge pages stay whole: at the same offset
        // from a huge-page boundary as in the copy.
        let code_len = text_len + table_len;
        let mapped_len = code_len + HUGE_PAGE;
        let reservation = mmap::reserve(mapped_len)?;
        let source = copy.address_of(text_offset as usize);
        let first = (reservation as usize).next_multiple_of(HUGE_PAGE);
        let mut base = first + source % HUGE_PAGE;
        if base >= reservation as usize + HUGE_PAGE {
            base -= HUGE_PAGE;
        }
        // In the reservation: `base` is under a huge page past its start,
        // and the reservation is a huge page longer than the code.
        let base = base as *mut u8;
        let code = CodeMemory {
            reservation,
            base,
            len: text_len,
            mapped_len,
        };
        // SAFETY: `base..base+text_len` lies in our fresh reservation, which
        // nothing refers to; the range moved is page-aligned (checked).
        unsafe {
            copy.move_pages_out(text_offset as usize, text_len, base)?;
            mmap::protect(base, text_len, Protection::ReadExecute)?;
        }
        // SAFETY: the table's pages follow the code inside our reservation.
        let table = unsafe { base.add(text_len) };
        // SAFETY: as above; page-aligned.
        unsafe { mmap::commit_fixed(table, table_len)? };
        // SAFETY: the table is a fresh writable mapping of `table_len >=
        // 8 * call_table.len()` bytes, page-aligned (so aligned for u64),
        // that nothing else refers to.
        let slots = unsafe { std::slice::from_raw_parts_mut(table as *mut u64, call_table.len()) };
        slots.copy_from_slice(call_table);
        // SAFETY: the table is ours; no reference into it outlives this.
        unsafe { mmap::protect(table, table_len, Protection::Read)? };
        Ok(code)
    }

    /// Address of the first byte.
    pub fn base(&self) -> usize {
        self.base as usize
    }

    /// Whether `pc` lies in this code.
    pub fn contains(&self, pc: usize) -> bool {
        pc >= self.base() && pc < self.base() + self.len
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // SAFETY: modules are dropped only when no instance (and so no code
        // pointer) refers to them: instances hold an `Arc<Module>`.
        unsafe { mmap::unmap(self.reservation, self.mapped_len) };
    }
}
