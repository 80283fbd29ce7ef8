//! Executable code memory: a private copy of `.text` with relocations
//! applied while it is writable, then made read+execute. It is never
//! writable and executable at once.

use crate::sys::mmap::{self, Protection};
use crate::Error;

/// A module's machine code, mapped read+execute.
pub struct CodeMemory {
    base: *mut u8,
    len: usize,
    mapped_len: usize,
}

// SAFETY: the code is immutable once made executable; the pointer is only
// read.
unsafe impl Send for CodeMemory {}
// SAFETY: as above.
unsafe impl Sync for CodeMemory {}

/// A relocation to apply: an absolute 64-bit address at `offset`.
pub struct AbsReloc {
    pub offset: usize,
    pub value: u64,
}

impl CodeMemory {
    /// Copies `text`, applies `relocs` and makes the copy executable.
    pub fn new(text: &[u8], relocs: &[AbsReloc]) -> Result<Self, Error> {
        let page = mmap::page_size();
        let mapped_len = text.len().max(1).next_multiple_of(page);
        let base = mmap::map_anonymous(mapped_len)?;
        let code = CodeMemory {
            base,
            len: text.len(),
            mapped_len,
        };
        // SAFETY: `base` is a fresh writable mapping of at least `text.len()`
        // bytes that nothing else refers to.
        let dst = unsafe { std::slice::from_raw_parts_mut(base, text.len()) };
        dst.copy_from_slice(text);
        for r in relocs {
            let site = dst.get_mut(r.offset..r.offset + 8).ok_or_else(|| {
                Error::InvalidModule(format!("relocation at {:#x} is outside the code", r.offset))
            })?;
            site.copy_from_slice(&r.value.to_le_bytes());
        }
        // SAFETY: the mapping is ours; no references into it outlive this.
        unsafe { mmap::protect(base, mapped_len, Protection::ReadExec)? };
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
