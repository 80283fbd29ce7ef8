//! Bounds-checked access to guest memory: every pointer and length a guest
//! passes is checked, and a bad one is `EFAULT`, never a host crash or a
//! read of host memory.

use lucet_runtime::{Interrupt, Wait};

use super::types::{Errno, WasiResult};

/// `base + offset` as a guest address: past 4 GiB is out of every memory
/// (`EFAULT`), never a wrap to the bottom of memory.
pub fn offset(base: u32, offset: u32) -> WasiResult<u32> {
    base.checked_add(offset).ok_or(Errno::Fault)
}

/// Most iovecs one read or write takes (POSIX's `IOV_MAX` on Linux); more
/// is `EINVAL`.
pub const IOV_MAX: u32 = 1024;

/// Longest path a call takes, in bytes (Linux's `PATH_MAX`); longer is
/// `ENAMETOOLONG`.
pub const PATH_MAX: u32 = 4096;

/// Host work done in one go between checks of the run's interrupt: large
/// reads, writes and random fills proceed in chunks of this size.
pub const CHUNK: usize = 1 << 20;

/// The guest's side of a WASI call: its linear memory, and its run's
/// [`Interrupt`] (whether it was asked to stop; waits that end when it is).
pub struct GuestMemory<'a> {
    mem: &'a mut [u8],
    interrupt: Option<Interrupt<'a>>,
}

impl<'a> GuestMemory<'a> {
    /// Wraps an instance's linear memory, without an interrupt (nothing
    /// waits: `wait` is `ENOTSUP`).
    pub fn new(mem: &'a mut [u8]) -> Self {
        GuestMemory {
            mem,
            interrupt: None,
        }
    }

    /// Wraps linear memory and the run's interrupt, as host calls see them.
    pub fn with_interrupt(mem: &'a mut [u8], interrupt: Interrupt<'a>) -> Self {
        GuestMemory {
            mem,
            interrupt: Some(interrupt),
        }
    }

    /// Whether the run was asked to stop: long work returns early.
    pub fn interrupted(&self) -> bool {
        self.interrupt.is_some_and(|i| i.requested())
    }

    /// Waits until one of `fds` is ready or `timeout` passes; `EINTR` if
    /// the run is asked to stop meanwhile (the run then ends as soon as the
    /// call returns).
    pub fn wait(
        &self,
        fds: &mut [libc::pollfd],
        timeout: Option<std::time::Duration>,
    ) -> WasiResult<Wait> {
        let interrupt = self.interrupt.ok_or(Errno::Notsup)?;
        match interrupt.poll(fds, timeout)? {
            Wait::Interrupted => Err(Errno::Intr),
            w => Ok(w),
        }
    }

    /// Before an operation on host descriptor `fd` that may block (a read
    /// or write of a pipe, terminal or socket): waits until `fd` is ready
    /// for `events` (`POLLIN`, `POLLOUT`), or `EINTR` if the run is asked
    /// to stop first. Returns at once if `fd` is ready, or non-blocking
    /// (the operation then says `EAGAIN` itself).
    pub fn ready_for(&self, fd: std::os::fd::RawFd, events: libc::c_short) -> WasiResult {
        let mut fds = [libc::pollfd {
            fd,
            events,
            revents: 0,
        }];
        // SAFETY: `fds` is a valid array of one; a zero timeout never blocks.
        if unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) } > 0 {
            return Ok(());
        }
        // SAFETY: F_GETFL takes no pointer.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || flags & libc::O_NONBLOCK != 0 {
            return Ok(());
        }
        self.wait(&mut fds, None).map(drop)
    }

    fn range(&self, ptr: u32, len: u32) -> WasiResult<std::ops::Range<usize>> {
        let end = ptr as u64 + len as u64;
        if end > self.mem.len() as u64 {
            return Err(Errno::Fault);
        }
        Ok(ptr as usize..end as usize)
    }

    /// Checks that `len` bytes at `ptr` are in memory: calls with side
    /// effects check their result pointers first, so a bad one fails the
    /// call before anything happens.
    pub fn check(&self, ptr: u32, len: u32) -> WasiResult {
        self.range(ptr, len).map(drop)
    }

    /// `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> WasiResult<&[u8]> {
        let r = self.range(ptr, len)?;
        Ok(&self.mem[r])
    }

    /// `len` bytes at `ptr`, mutably.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> WasiResult<&mut [u8]> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.mem[r])
    }

    /// Copies `bytes` to `ptr`.
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> WasiResult {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::Fault)?;
        self.slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    /// Reads a little-endian `u16`.
    pub fn read_u16(&self, ptr: u32) -> WasiResult<u16> {
        Ok(u16::from_le_bytes(self.slice(ptr, 2)?.try_into().unwrap()))
    }

    /// Reads a little-endian `u32`.
    pub fn read_u32(&self, ptr: u32) -> WasiResult<u32> {
        Ok(u32::from_le_bytes(self.slice(ptr, 4)?.try_into().unwrap()))
    }

    /// Reads a little-endian `u64`.
    pub fn read_u64(&self, ptr: u32) -> WasiResult<u64> {
        Ok(u64::from_le_bytes(self.slice(ptr, 8)?.try_into().unwrap()))
    }

    /// Writes a little-endian `u16`.
    pub fn write_u16(&mut self, ptr: u32, v: u16) -> WasiResult {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u32`.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> WasiResult {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u64`.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> WasiResult {
        self.write(ptr, &v.to_le_bytes())
    }

    /// A UTF-8 string (paths); invalid UTF-8 is `EILSEQ`.
    pub fn str(&self, ptr: u32, len: u32) -> WasiResult<&str> {
        std::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::Ilseq)
    }

    /// A path: UTF-8 of at most [`PATH_MAX`] bytes.
    pub fn path(&self, ptr: u32, len: u32) -> WasiResult<&str> {
        if len > PATH_MAX {
            return Err(Errno::Nametoolong);
        }
        self.str(ptr, len)
    }

    /// An array of at most [`IOV_MAX`] `iovec`s: `(buf, len)` pairs, each
    /// checked.
    pub fn iovecs(&self, ptr: u32, count: u32) -> WasiResult<Vec<(u32, u32)>> {
        if count > IOV_MAX {
            return Err(Errno::Inval);
        }
        let bytes = count * 8;
        self.range(ptr, bytes)?;
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let at = offset(ptr, i * 8)?;
            let buf = self.read_u32(at)?;
            let len = self.read_u32(offset(at, 4)?)?;
            self.range(buf, len)?;
            out.push((buf, len));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_bounds_is_efault() {
        let mut bytes = vec![0u8; 16];
        let mut m = GuestMemory::new(&mut bytes);
        assert_eq!(m.read_u32(12), Ok(0));
        assert_eq!(m.read_u32(13), Err(Errno::Fault));
        assert_eq!(m.read_u64(u32::MAX), Err(Errno::Fault));
        assert_eq!(m.write_u32(14, 1), Err(Errno::Fault));
        assert_eq!(m.slice(16, 0).map(|s| s.len()), Ok(0));
        m.write_u32(0, 8).unwrap();
        m.write_u32(4, 100).unwrap();
        assert_eq!(
            m.iovecs(0, 1),
            Err(Errno::Fault),
            "iovec points past the end"
        );
        assert_eq!(m.iovecs(0, u32::MAX), Err(Errno::Inval));
        assert_eq!(m.iovecs(0, IOV_MAX + 1), Err(Errno::Inval));
        assert_eq!(m.path(0, PATH_MAX + 1), Err(Errno::Nametoolong));
        m.write(8, &[0xff, 0xfe]).unwrap();
        assert_eq!(m.str(8, 2), Err(Errno::Ilseq));
    }
}
