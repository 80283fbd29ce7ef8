//! Executable code memory: `.text` mapped read+execute from the module
//! file's sealed copy, and the call table after it.
//!
//! ```text
//! base                                  base + text_len
//! | .text (copy's pages, read+execute)  | call table (anonymous, read-only once filled) |
//! ```
//!
//! The code needs no relocation: its calls into the runtime go through
//! stubs at the end of `.text`, which jump through the call table's slots
//! (PC-relative, so the table must lie right after the code). The code
//! pages are never writable, so they are the sealed copy's own, shared by
//! every instance of the module in the process; only the call table
//! (a page or so) is private, filled while writable and then made
//! read-only. Nothing is ever writable and executable at once.

use std::fs::File;

use crate::sys::mmap::{self, Protection};
use crate::Error;

/// A module's machine code, mapped read+execute, and its call table.
pub struct CodeMemory {
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
    /// Maps `text_len` bytes of `file` at `text_offset` (both page-aligned)
    /// read+execute, followed by a call table holding `call_table`.
    pub fn map(
        file: &File,
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
        let mapped_len = text_len + table_len;
        let base = mmap::reserve(mapped_len)?;
        let code = CodeMemory {
            base,
            len: text_len,
            mapped_len,
        };
        // SAFETY: `base..base+text_len` is our fresh reservation; offset and
        // length are page-aligned (checked above).
        unsafe { mmap::map_file_exec(base, text_len, file, text_offset)? };
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
        unsafe { mmap::unmap(self.base, self.mapped_len) };
    }
}
