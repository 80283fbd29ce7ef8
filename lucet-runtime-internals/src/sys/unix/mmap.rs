//! Virtual memory: reserving address space, changing protections, mapping
//! file pages copy-on-write, and giving pages back.
//!
//! Every function takes raw addresses; callers guarantee that the ranges they
//! pass lie inside mappings they own (a region, a code mapping). Errors carry
//! the failing call and `errno`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;

use crate::Error;

/// Host page size (4 KiB on x86_64 Linux; checked at startup by the region).
pub fn page_size() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        // SAFETY: sysconf has no memory-safety preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if size <= 0 {
            4096
        } else {
            size as usize
        }
    })
}

pub(super) fn os_error(what: &str) -> Error {
    let e = io::Error::last_os_error();
    let hint = if e.raw_os_error() == Some(libc::ENOMEM) {
        " (out of memory, or out of memory mappings: see vm.max_map_count)"
    } else {
        ""
    };
    Error::System(format!("{what}: {e}{hint}"))
}

/// The most memory mappings a process may have (`vm.max_map_count`), if
/// known.
pub fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How many memory mappings this process has now, if known.
pub fn map_count() -> Option<usize> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    Some(maps.iter().filter(|b| **b == b'\n').count())
}

/// Protection of a range of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// No access.
    None,
    /// Read and write.
    ReadWrite,
    /// Read only.
    Read,
    /// Read and execute (code).
    ReadExecute,
}

impl Protection {
    fn bits(self) -> libc::c_int {
        match self {
            Protection::None => libc::PROT_NONE,
            Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
            Protection::Read => libc::PROT_READ,
            Protection::ReadExecute => libc::PROT_READ | libc::PROT_EXEC,
        }
    }
}

/// Reserves `len` bytes of inaccessible address space (no memory committed).
pub fn reserve(len: usize) -> Result<*mut u8, Error> {
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing
    // touches no existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(os_error(&format!("reserving {len} bytes of address space")));
    }
    Ok(p as *mut u8)
}

/// The size of this process's user address space (a power of two: 2^47 on
/// x86_64, 2^39 or 2^48 on aarch64, by kernel configuration), from the
/// highest mapping in `/proc/self/maps` (the stack lies near the top; the
/// x86_64 vsyscall page above it is the kernel's). `None` when it cannot
/// be read.
pub fn user_address_space() -> Option<u64> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let top = maps
        .lines()
        .filter(|l| !l.ends_with("[vsyscall]"))
        .filter_map(|l| {
            let (_, end) = l.split_whitespace().next()?.split_once('-')?;
            u64::from_str_radix(end, 16).ok()
        })
        .max()?;
    top.checked_next_power_of_two()
}

/// Maps `len` bytes of fresh, zeroed, readable and writable memory.
pub fn map_anonymous(len: usize) -> Result<*mut u8, Error> {
    // SAFETY: as in `reserve`.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(os_error(&format!("mapping {len} bytes")));
    }
    Ok(p as *mut u8)
}

/// Unmaps a range.
///
/// # Safety
/// The range must be a mapping the caller owns, with no live references in it.
pub unsafe fn unmap(addr: *mut u8, len: usize) {
    // SAFETY: the caller owns the range and nothing refers to it any more.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

/// Changes the protection of a page-aligned range.
///
/// # Safety
/// The range must lie inside a mapping the caller owns; making memory
/// inaccessible must not invalidate references the program still uses.
pub unsafe fn protect(addr: *mut u8, len: usize, prot: Protection) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the caller guarantees the range is theirs.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot.bits()) };
    if r != 0 {
        return Err(os_error("mprotect"));
    }
    Ok(())
}

/// Replaces a range with fresh inaccessible pages, giving its memory back to
/// the system. Faster than `madvise` + `mprotect`, and it merges the range
/// back into one mapping.
///
/// # Safety
/// The range must lie inside a mapping the caller owns, with no live
/// references into it.
pub unsafe fn decommit(addr: *mut u8, len: usize) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: MAP_FIXED replaces pages the caller owns and no longer uses.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(os_error("decommitting memory"));
    }
    Ok(())
}

/// Maps `len` bytes of `fd` at `offset` over `addr`, private, with `prot`.
///
/// # Safety
/// `addr..addr+len` must lie inside a mapping the caller owns, with no live
/// references into it; `offset` and `len` must be page-aligned.
unsafe fn map_file_fixed(
    addr: *mut u8,
    len: usize,
    fd: &impl AsRawFd,
    offset: u64,
    prot: libc::c_int,
    what: &str,
) -> Result<(), Error> {
    // SAFETY: MAP_FIXED replaces pages the caller owns; the mapping is
    // private, so writes (where `prot` allows them) never reach the file.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            fd.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(os_error(what));
    }
    Ok(())
}

/// Maps `len` bytes of `fd` at `offset` over `addr`, private (copy-on-write)
/// and writable.
///
/// # Safety
/// As [`map_file_fixed`].
pub unsafe fn map_file_cow(
    addr: *mut u8,
    len: usize,
    fd: &impl AsRawFd,
    offset: u64,
) -> Result<(), Error> {
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: the caller upholds `map_file_fixed`'s contract.
    unsafe { map_file_fixed(addr, len, fd, offset, prot, "mapping the memory image") }
}

/// Replaces a range with fresh zeroed, readable and writable pages.
///
/// # Safety
/// `addr..addr+len` must lie inside a mapping the caller owns, with no live
/// references into it; `len` must be page-aligned.
pub unsafe fn commit_fixed(addr: *mut u8, len: usize) -> Result<(), Error> {
    // SAFETY: MAP_FIXED replaces pages the caller owns.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(os_error("mapping the call table"));
    }
    Ok(())
}

/// Gives back the memory of a range but keeps it mapped: anonymous pages read
/// as zero again, private file pages as the file's contents.
///
/// # Safety
/// The range must lie inside a mapping the caller owns, with no live
/// references into it.
pub unsafe fn discard(addr: *mut u8, len: usize) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the caller owns the range and no longer needs its contents.
    let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    if r != 0 {
        return Err(os_error("madvise"));
    }
    Ok(())
}

/// Whether [`discard`] makes anonymous pages read as zero on this system, as
/// Linux guarantees (checked once per process on one page). Some user-mode
/// emulators (qemu before 8.1) accept `MADV_DONTNEED` and do nothing, and
/// there a reset heap would keep what the last instance wrote.
pub fn discard_zeroes() -> bool {
    static ZEROES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ZEROES.get_or_init(|| {
        let page = page_size();
        let Ok(p) = map_anonymous(page) else {
            return false;
        };
        // SAFETY: `p` is a fresh read-write page of ours; the reads are
        // volatile so that the compiler cannot assume the write survived.
        unsafe {
            std::ptr::write_volatile(p, 0x5a);
            let zeroed = discard(p, page).is_ok() && std::ptr::read_volatile(p) == 0;
            unmap(p, page);
            zeroed
        }
    })
}

/// A page, touched since it was last given back (present in memory or
/// swapped out). An untouched page of a private anonymous mapping reads as
/// zero.
pub const PAGE_TOUCHED: u8 = 1;

/// A page of a private file mapping that holds a private copy (it was
/// written, or swapped out, which only private copies are): it no longer
/// reads as the file. Present file pages and absent pages read as the file.
pub const PAGE_PRIVATE: u8 = 2;

/// The state of each page of a range, in `out` (one entry per page:
/// [`PAGE_TOUCHED`] and [`PAGE_PRIVATE`] flags), from `/proc/self/pagemap`. Returns `false` (and
/// leaves `out` meaningless) where pagemap cannot be read.
///
/// (Not `mincore`: it reports swapped-out pages as absent, and such a page
/// still holds its data.) `addr` must be page-aligned.
pub fn page_states(addr: *const u8, len: usize, out: &mut Vec<u8>) -> bool {
    use std::os::unix::fs::FileExt;
    if len == 0 {
        out.clear();
        return true;
    }
    static PAGEMAP: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;
    const FILE: u64 = 1 << 61;
    let Some(pagemap) = PAGEMAP.get_or_init(|| std::fs::File::open("/proc/self/pagemap").ok())
    else {
        return false;
    };
    let page = page_size();
    let first = addr as usize / page;
    let pages = len.div_ceil(page);
    out.clear();
    out.reserve(pages);
    // Entries are 8 bytes per page; read them in batches.
    let mut entries = [0u64; 512];
    let mut at = 0;
    while at < pages {
        let n = (pages - at).min(entries.len());
        // SAFETY: u64 has no invalid bit patterns; the slice covers `n`
        // entries of the array.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(entries.as_mut_ptr() as *mut u8, n * 8) };
        if pagemap
            .read_exact_at(bytes, ((first + at) * 8) as u64)
            .is_err()
        {
            return false;
        }
        out.extend(entries[..n].iter().map(|&e| {
            let touched = e & (PRESENT | SWAPPED) != 0;
            let private = e & SWAPPED != 0 || (e & PRESENT != 0 && e & FILE == 0);
            (PAGE_TOUCHED * touched as u8) | (PAGE_PRIVATE * private as u8)
        }));
        at += n;
    }
    true
}

/// The most bytes a module file may have: loading copies it into memory
/// whole (see `PrivateCopy`).
pub const MAX_MODULE_FILE: u64 = 1 << 30;

/// An in-memory file (a memfd) sealed against every change: it can neither
/// be written nor shrink nor grow, by this process or any other. A module's
/// memory image is kept in one, so that instances can map it copy-on-write
/// and no mapping of it can become shorter under a reader (a truncated file
/// would make reads past its new end fault with SIGBUS).
pub struct SealedFile(std::fs::File);

impl SealedFile {
    /// A sealed file holding `bytes` (a module's memory image).
    pub fn with_bytes(name: &str, bytes: &[u8]) -> Result<SealedFile, Error> {
        let len = bytes.len() as u64;
        if len > MAX_MODULE_FILE {
            return Err(too_large(len));
        }
        let mut file = sealable_memfd(name)?;
        std::io::Write::write_all(&mut file, bytes)
            .map_err(|e| Error::System(format!("memfd: {e}")))?;
        seal(file)
    }

    /// The file, to map.
    pub fn file(&self) -> &std::fs::File {
        &self.0
    }
}

/// A module file (or image) over [`MAX_MODULE_FILE`] bytes.
pub(super) fn too_large(len: u64) -> Error {
    Error::InvalidModule(format!(
        "the file is {len} bytes; a module file is at most {MAX_MODULE_FILE} bytes"
    ))
}

/// A new memfd that can be sealed.
fn sealable_memfd(name: &str) -> Result<std::fs::File, Error> {
    let cname = std::ffi::CString::new(name.replace('\0', "_")).unwrap_or_default();
    // SAFETY: memfd_create takes a valid C string and returns a new fd.
    let fd =
        unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(os_error("memfd_create"));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Seals `file` against writes, shrinking, growing and further sealing. It
/// has no writable mapping (it was only written through the descriptor), so
/// the write seal is granted.
fn seal(file: std::fs::File) -> Result<SealedFile, Error> {
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor we own, with an integer argument.
    if unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::F_ADD_SEALS,
            seals,
        )
    } < 0
    {
        return Err(os_error("sealing a memfd"));
    }
    Ok(SealedFile(file))
}
