//! `fd_*`: operations on open descriptors.

use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use cap_std::fs::File;
use cap_std::time::{Duration, SystemClock};
use fs_set_times::{SetTimes, SystemTimeSpec};
use system_interface::fs::{Advice, FileIoExt};

use super::{GuestMemory, WasiCtx};
use crate::wasi::ctx::{Descriptor, Stream};
use crate::wasi::memory::{offset, CHUNK};
use crate::wasi::types::{
    dirent_bytes, fdflags, filetype, fstflags, rights, whence, Errno, Fdstat, Filestat, WasiResult,
};

/// Runs `f` on a host file descriptor borrowed as a `std::fs::File`.
fn with_host_fd<R>(fd: RawFd, f: impl FnOnce(&mut std::fs::File) -> R) -> R {
    // SAFETY: the descriptor is open for the duration of the call (it is the
    // process's stdio, or owned by a descriptor we hold); ManuallyDrop keeps
    // it from being closed here.
    let mut file = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    f(&mut file)
}

/// The WASI file type of a host `st_mode`.
pub fn filetype_of_mode(mode: libc::mode_t) -> u8 {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => filetype::DIRECTORY,
        libc::S_IFREG => filetype::REGULAR_FILE,
        libc::S_IFLNK => filetype::SYMBOLIC_LINK,
        libc::S_IFCHR => filetype::CHARACTER_DEVICE,
        libc::S_IFBLK => filetype::BLOCK_DEVICE,
        libc::S_IFSOCK => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    }
}

fn nanos(sec: i64, nsec: i64) -> u64 {
    (sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec.max(0) as u64)
}

/// `fstat` of a host descriptor.
pub fn fstat(fd: RawFd) -> WasiResult<Filestat> {
    // SAFETY: `st` is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open (see `with_host_fd`); `st` is valid.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(Filestat {
        dev: st.st_dev,
        ino: st.st_ino,
        filetype: filetype_of_mode(st.st_mode),
        nlink: st.st_nlink as u64, // u32 on aarch64
        size: st.st_size as u64,
        atim: nanos(st.st_atime, st.st_atime_nsec),
        mtim: nanos(st.st_mtime, st.st_mtime_nsec),
        ctim: nanos(st.st_ctime, st.st_ctime_nsec),
    })
}

/// A `Filestat` from cap-std metadata (for paths).
pub fn filestat_of_meta(m: &cap_std::fs::Metadata) -> Filestat {
    use cap_std::fs::MetadataExt;
    Filestat {
        dev: m.dev(),
        ino: m.ino(),
        filetype: filetype_of_mode(m.mode() as libc::mode_t),
        nlink: m.nlink(),
        size: m.size(),
        atim: nanos(m.atime(), m.atime_nsec()),
        mtim: nanos(m.mtime(), m.mtime_nsec()),
        ctim: nanos(m.ctime(), m.ctime_nsec()),
    }
}

/// `fcntl(F_GETFL)` as WASI fdflags.
fn host_fdflags(fd: RawFd) -> WasiResult<u16> {
    // SAFETY: F_GETFL only reads the descriptor's flags.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let mut out = 0;
    if fl & libc::O_APPEND != 0 {
        out |= fdflags::APPEND;
    }
    if fl & libc::O_NONBLOCK != 0 {
        out |= fdflags::NONBLOCK;
    }
    if fl & libc::O_SYNC == libc::O_SYNC {
        out |= fdflags::SYNC;
    } else if fl & libc::O_DSYNC != 0 {
        out |= fdflags::DSYNC;
    }
    if fl & libc::O_RSYNC == libc::O_RSYNC && out & fdflags::SYNC != 0 {
        out |= fdflags::RSYNC;
    }
    Ok(out)
}

/// The file `fd`, for a call that needs `rights` on it: a stream is
/// `on_stream` and a directory `on_dir` (what the call says of them), a
/// file without the rights `ENOTCAPABLE`.
fn file_with(
    ctx: &mut WasiCtx,
    fd: u32,
    rights: u64,
    on_stream: Errno,
    on_dir: Errno,
) -> WasiResult<&mut File> {
    let allowed = ctx.has_rights(fd, rights)?;
    match ctx.get(fd)? {
        Descriptor::File { file, .. } if allowed => Ok(file),
        Descriptor::File { .. } => Err(Errno::Notcapable),
        Descriptor::Stream(_) => Err(on_stream),
        Descriptor::Dir { .. } => Err(on_dir),
    }
}

fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

pub fn fd_advise(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    offset: u64,
    len: u64,
    advice: u32,
) -> WasiResult {
    let advice = match advice {
        0 => Advice::Normal,
        1 => Advice::Sequential,
        2 => Advice::Random,
        3 => Advice::WillNeed,
        4 => Advice::DontNeed,
        5 => Advice::NoReuse,
        _ => return Err(Errno::Inval),
    };
    match ctx.get(fd)? {
        Descriptor::File { file, .. } => Ok(file.advise(offset, len, advice)?),
        Descriptor::Stream(_) => Err(Errno::Spipe),
        Descriptor::Dir { .. } => Err(Errno::Badf),
    }
}

pub fn fd_allocate(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    offset: u64,
    len: u64,
) -> WasiResult {
    let file = file_with(ctx, fd, rights::FD_ALLOCATE, Errno::Spipe, Errno::Badf)?;
    Ok(file.allocate(offset, len)?)
}

pub fn fd_close(ctx: &mut WasiCtx, _mem: &mut GuestMemory, fd: u32) -> WasiResult {
    ctx.remove(fd).map(drop)
}

pub fn fd_datasync(ctx: &mut WasiCtx, _mem: &mut GuestMemory, fd: u32) -> WasiResult {
    sync(ctx, fd, rights::FD_DATASYNC, File::sync_data)
}

pub fn fd_sync(ctx: &mut WasiCtx, _mem: &mut GuestMemory, fd: u32) -> WasiResult {
    sync(ctx, fd, rights::FD_SYNC, File::sync_all)
}

/// Flushes the file `fd` to storage with `flush`, which needs `rights`.
/// A stream has nothing to flush: it succeeds.
fn sync(
    ctx: &mut WasiCtx,
    fd: u32,
    rights: u64,
    flush: impl FnOnce(&File) -> std::io::Result<()>,
) -> WasiResult {
    if let Descriptor::Stream(_) = ctx.get(fd)? {
        return Ok(());
    }
    let file = file_with(ctx, fd, rights, Errno::Badf, Errno::Badf)?;
    Ok(flush(file)?)
}

/// The fdstat of a descriptor.
pub fn fdstat(d: &Descriptor) -> WasiResult<Fdstat> {
    Ok(match d {
        Descriptor::Stream(s) => {
            let (ft, flags, rights_base) = match s {
                Stream::Inherit(fd) => {
                    let readable = *fd == 0;
                    let io = if readable {
                        rights::FD_READ
                    } else {
                        rights::FD_WRITE
                    };
                    if is_tty(*fd) {
                        (
                            filetype::CHARACTER_DEVICE,
                            host_fdflags(*fd)?,
                            io | rights::POLL_FD_READWRITE | rights::FD_FILESTAT_GET,
                        )
                    } else {
                        let ft = fstat(*fd).map(|s| s.filetype).unwrap_or(filetype::UNKNOWN);
                        (
                            ft,
                            host_fdflags(*fd)?,
                            io | rights::POLL_FD_READWRITE | rights::FD_FILESTAT_GET,
                        )
                    }
                }
                Stream::Owned(fd) => (
                    filetype::SOCKET_STREAM,
                    host_fdflags(fd.as_raw_fd())?,
                    rights::FD_READ | rights::FD_WRITE | rights::POLL_FD_READWRITE,
                ),
                Stream::Reader(_) => (
                    filetype::UNKNOWN,
                    0,
                    rights::FD_READ | rights::POLL_FD_READWRITE,
                ),
                Stream::Writer(_) => (
                    filetype::UNKNOWN,
                    0,
                    rights::FD_WRITE | rights::POLL_FD_READWRITE,
                ),
                Stream::Null => (
                    filetype::CHARACTER_DEVICE,
                    0,
                    rights::FD_READ | rights::FD_WRITE | rights::POLL_FD_READWRITE,
                ),
            };
            Fdstat {
                filetype: ft,
                flags,
                rights_base,
                rights_inheriting: 0,
            }
        }
        Descriptor::File { file, read, write } => {
            let mut base = rights::FILE_BASE;
            if *read {
                base |= rights::FD_READ;
            }
            if *write {
                base |= rights::FD_WRITE;
            }
            Fdstat {
                filetype: fstat(file.as_raw_fd())?.filetype,
                flags: host_fdflags(file.as_raw_fd())?,
                rights_base: base,
                rights_inheriting: 0,
            }
        }
        Descriptor::Dir { .. } => Fdstat {
            filetype: filetype::DIRECTORY,
            flags: 0,
            rights_base: rights::DIR_BASE,
            rights_inheriting: rights::DIR_INHERITING,
        },
    })
}

pub fn fd_fdstat_get(ctx: &mut WasiCtx, mem: &mut GuestMemory, fd: u32, out: u32) -> WasiResult {
    let mut stat = fdstat(ctx.get(fd)?)?;
    (stat.rights_base, stat.rights_inheriting) = ctx.rights(fd)?;
    mem.write(out, &stat.to_bytes())
}

pub fn fd_fdstat_set_flags(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    flags: u32,
) -> WasiResult {
    let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
    if flags & !fdflags::ALL != 0 || flags & (fdflags::DSYNC | fdflags::SYNC | fdflags::RSYNC) != 0
    {
        return Err(Errno::Inval);
    }
    let raw = match ctx.get(fd)? {
        Descriptor::File { file, .. } => file.as_raw_fd(),
        Descriptor::Stream(Stream::Owned(fd)) => fd.as_raw_fd(),
        // The host's own stdio stays as the host set it up.
        Descriptor::Stream(_) => return Ok(()),
        Descriptor::Dir { .. } => return Err(Errno::Badf),
    };
    // SAFETY: F_GETFL/F_SETFL on a descriptor we hold.
    unsafe {
        let mut fl = libc::fcntl(raw, libc::F_GETFL);
        if fl < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        fl &= !(libc::O_APPEND | libc::O_NONBLOCK);
        if flags & fdflags::APPEND != 0 {
            fl |= libc::O_APPEND;
        }
        if flags & fdflags::NONBLOCK != 0 {
            fl |= libc::O_NONBLOCK;
        }
        if libc::fcntl(raw, libc::F_SETFL, fl) < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
    }
    Ok(())
}

pub fn fd_fdstat_set_rights(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    base: u64,
    inheriting: u64,
) -> WasiResult {
    ctx.set_rights(fd, base, inheriting)
}

pub fn fd_filestat_get(ctx: &mut WasiCtx, mem: &mut GuestMemory, fd: u32, out: u32) -> WasiResult {
    let stat = match ctx.get(fd)? {
        Descriptor::File { file, .. } => fstat(file.as_raw_fd())?,
        Descriptor::Dir { dir, .. } => fstat(dir.as_raw_fd())?,
        Descriptor::Stream(Stream::Inherit(fd)) => fstat(*fd)?,
        Descriptor::Stream(Stream::Owned(fd)) => fstat(fd.as_raw_fd())?,
        Descriptor::Stream(_) => Filestat {
            filetype: filetype::UNKNOWN,
            ..Filestat::default()
        },
    };
    mem.write(out, &stat.to_bytes())
}

pub fn fd_filestat_set_size(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    size: u64,
) -> WasiResult {
    let file = file_with(
        ctx,
        fd,
        rights::FD_FILESTAT_SET_SIZE,
        Errno::Inval,
        Errno::Badf,
    )?;
    Ok(file.set_len(size)?)
}

/// The time to set from a timestamp and its flags (`atim`/`mtim` pair).
pub fn time_spec(ts: u64, flags: u16, set: u16, now: u16) -> WasiResult<Option<SystemTimeSpec>> {
    match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(Errno::Inval),
        (true, false) => Ok(Some(SystemTimeSpec::Absolute(
            (SystemClock::UNIX_EPOCH + Duration::from_nanos(ts)).into_std(),
        ))),
        (false, true) => Ok(Some(SystemTimeSpec::SymbolicNow)),
        (false, false) => Ok(None),
    }
}

/// Checks `fst_flags` and returns the (atime, mtime) to set.
pub fn times(
    atim: u64,
    mtim: u64,
    fst: u32,
) -> WasiResult<(Option<SystemTimeSpec>, Option<SystemTimeSpec>)> {
    let fst = u16::try_from(fst).map_err(|_| Errno::Inval)?;
    if fst & !fstflags::ALL != 0 {
        return Err(Errno::Inval);
    }
    Ok((
        time_spec(atim, fst, fstflags::ATIM, fstflags::ATIM_NOW)?,
        time_spec(mtim, fst, fstflags::MTIM, fstflags::MTIM_NOW)?,
    ))
}

pub fn fd_filestat_set_times(
    ctx: &mut WasiCtx,
    _mem: &mut GuestMemory,
    fd: u32,
    atim: u64,
    mtim: u64,
    fst: u32,
) -> WasiResult {
    let (a, m) = times(atim, mtim, fst)?;
    let allowed = ctx.has_rights(fd, rights::FD_FILESTAT_SET_TIMES)?;
    match ctx.get(fd)? {
        Descriptor::Stream(_) => Err(Errno::Badf),
        _ if !allowed => Err(Errno::Notcapable),
        Descriptor::File { file, .. } => Ok(SetTimes::set_times(file, a, m)?),
        Descriptor::Dir { dir, .. } => Ok(cap_fs_ext::DirExt::set_times(
            dir,
            ".",
            cap_time(a),
            cap_time(m),
        )?),
    }
}

/// A time to set, as cap-std's directory calls take it.
pub fn cap_time(t: Option<SystemTimeSpec>) -> Option<cap_fs_ext::SystemTimeSpec> {
    t.map(|t| match t {
        SystemTimeSpec::SymbolicNow => cap_fs_ext::SystemTimeSpec::SymbolicNow,
        SystemTimeSpec::Absolute(t) => {
            cap_fs_ext::SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(t))
        }
    })
}

/// A read of a host stream (stdin, a pipe, a socket), which may block:
/// once it is readable (or the run is asked to stop: `EINTR`), one read
/// into the first non-empty buffer, as short as what is there.
fn read_host_stream(mem: &mut GuestMemory, fd: RawFd, iovs: &[(u32, u32)]) -> WasiResult<u32> {
    let Some(&(buf, len)) = iovs.iter().find(|(_, len)| *len > 0) else {
        return Ok(0);
    };
    mem.ready_for(fd, libc::POLLIN)?;
    let len = len.min(CHUNK as u32);
    let slice = mem.slice_mut(buf, len)?;
    let n = with_host_fd(fd, |f| f.read(slice))?;
    u32::try_from(n).map_err(|_| Errno::Overflow)
}

/// Reads into the guest buffers `iovs` from `src`, one buffer at a time,
/// stopping at a short read. `at` reads at an offset (pread).
fn read_into(
    mem: &mut GuestMemory,
    iovs: &[(u32, u32)],
    mut read: impl FnMut(&mut [u8], u64) -> std::io::Result<usize>,
) -> WasiResult<u32> {
    let mut total: u64 = 0;
    'buffers: for &(buf, len) in iovs {
        // Large buffers a chunk at a time, stopping early if the run is
        // asked to stop (it ends when the call returns).
        let mut done: u32 = 0;
        while done < len {
            if total > 0 && mem.interrupted() {
                break 'buffers;
            }
            let n = (len - done).min(CHUNK as u32);
            let slice = mem.slice_mut(offset(buf, done)?, n)?;
            let got = match read(slice, total) {
                Ok(got) => got,
                Err(e) if total > 0 && e.kind() == std::io::ErrorKind::WouldBlock => break 'buffers,
                Err(e) => return Err(e.into()),
            };
            total += got as u64;
            done += got as u32;
            if got < n as usize {
                break 'buffers;
            }
        }
    }
    u32::try_from(total).map_err(|_| Errno::Overflow)
}

pub fn fd_read(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    n: u32,
    out: u32,
) -> WasiResult {
    mem.check(out, 4)?;
    let iovs = mem.iovecs(iovs, n)?;
    let nread = match ctx.get_with(fd, rights::FD_READ)? {
        Descriptor::File { file, read, .. } => {
            if !*read {
                return Err(Errno::Badf);
            }
            read_into(mem, &iovs, |buf, _| file.read(buf))?
        }
        Descriptor::Stream(s) => match s {
            Stream::Inherit(fd) => read_host_stream(mem, *fd, &iovs)?,
            Stream::Owned(fd) => read_host_stream(mem, fd.as_raw_fd(), &iovs)?,
            Stream::Reader(r) => read_into(mem, &iovs, |buf, _| r.read(buf))?,
            Stream::Null => 0,
            Stream::Writer(_) => return Err(Errno::Badf),
        },
        Descriptor::Dir { .. } => return Err(Errno::Badf),
    };
    mem.write_u32(out, nread)
}

pub fn fd_pread(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    n: u32,
    offset: u64,
    out: u32,
) -> WasiResult {
    mem.check(out, 4)?;
    let iovs = mem.iovecs(iovs, n)?;
    ctx.get_with(fd, rights::FD_READ)?;
    let (file, read, _) = ctx.file(fd)?;
    if !read {
        return Err(Errno::Badf);
    }
    let nread = read_into(mem, &iovs, |buf, done| {
        file.read_at(buf, file_offset(offset, done)?)
    })?;
    mem.write_u32(out, nread)
}

/// `offset + done` as a file offset; past 2^63 is `EINVAL` (as
/// pread/pwrite say for a negative offset).
fn file_offset(offset: u64, done: u64) -> std::io::Result<u64> {
    offset
        .checked_add(done)
        .filter(|o| *o <= i64::MAX as u64)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))
}

/// Gathers the guest buffers `iovs` for a write.
fn gather<'m>(mem: &'m GuestMemory, iovs: &[(u32, u32)]) -> WasiResult<Vec<IoSlice<'m>>> {
    iovs.iter()
        .map(|&(buf, len)| mem.slice(buf, len).map(IoSlice::new))
        .collect()
}

/// The buffers of `bufs` from buffer `at.0`, byte `at.1` on, at most
/// [`CHUNK`] bytes in all.
fn chunk_at<'a>(bufs: &'a [IoSlice<'a>], at: (usize, usize)) -> Vec<IoSlice<'a>> {
    let mut out = Vec::new();
    let mut room = CHUNK;
    let (mut i, mut skip) = at;
    while i < bufs.len() && room > 0 {
        let b = &bufs[i][skip..];
        let take = b.len().min(room);
        out.push(IoSlice::new(&b[..take]));
        room -= take;
        i += 1;
        skip = 0;
    }
    out
}

/// The leading buffers of `bufs`, at most [`CHUNK`] bytes in all.
fn first_chunk<'a>(bufs: &'a [IoSlice<'a>]) -> Vec<IoSlice<'a>> {
    chunk_at(bufs, (0, 0))
}

/// Writes `bufs` with `write` a chunk at a time, returning what was
/// written: all of it, a short write, or what was written before the run
/// was asked to stop.
fn write_chunked(
    mem: &GuestMemory,
    bufs: &[IoSlice],
    mut write: impl FnMut(&[IoSlice]) -> std::io::Result<usize>,
) -> WasiResult<usize> {
    let mut written = 0;
    // Where the next chunk starts: buffer index, byte in it.
    let mut at = (0, 0);
    loop {
        while at.0 < bufs.len() && at.1 == bufs[at.0].len() {
            at = (at.0 + 1, 0);
        }
        if at.0 == bufs.len() || (written > 0 && mem.interrupted()) {
            break;
        }
        let chunk = chunk_at(bufs, at);
        let want: usize = chunk.iter().map(|b| b.len()).sum();
        let n = match write(&chunk) {
            Ok(n) => n,
            Err(e) if written > 0 && e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e.into()),
        };
        written += n;
        let mut left = n;
        while left > 0 {
            let rest = bufs[at.0].len() - at.1;
            if left >= rest {
                left -= rest;
                at = (at.0 + 1, 0);
            } else {
                at.1 += left;
                left = 0;
            }
        }
        if n < want {
            break;
        }
    }
    Ok(written)
}

fn write_all_vectored(w: &mut dyn Write, bufs: &[IoSlice]) -> std::io::Result<usize> {
    let mut total = 0;
    for b in bufs {
        w.write_all(b)?;
        total += b.len();
    }
    Ok(total)
}

pub fn fd_write(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    n: u32,
    out: u32,
) -> WasiResult {
    mem.check(out, 4)?;
    let iovs = mem.iovecs(iovs, n)?;
    let written = {
        let bufs = gather(mem, &iovs)?;
        match ctx.get_with(fd, rights::FD_WRITE)? {
            Descriptor::File { file, write, .. } => {
                if !*write {
                    return Err(Errno::Badf);
                }
                let mut f: &File = file;
                write_chunked(mem, &bufs, |b| f.write_vectored(b))?
            }
            Descriptor::Stream(s) => match s {
                // Host streams may block (a full pipe): once writable (or
                // EINTR if the run is asked to stop), one write, as short
                // as the stream takes.
                Stream::Inherit(fd) => {
                    mem.ready_for(*fd, libc::POLLOUT)?;
                    with_host_fd(*fd, |f| f.write_vectored(&first_chunk(&bufs)))?
                }
                Stream::Owned(fd) => {
                    let fd = fd.as_raw_fd();
                    mem.ready_for(fd, libc::POLLOUT)?;
                    with_host_fd(fd, |f| f.write_vectored(&first_chunk(&bufs)))?
                }
                Stream::Writer(w) => {
                    let n = write_all_vectored(w.as_mut(), &bufs)?;
                    w.flush()?;
                    n
                }
                Stream::Null => bufs.iter().map(|b| b.len()).sum(),
                Stream::Reader(_) => return Err(Errno::Badf),
            },
            Descriptor::Dir { .. } => return Err(Errno::Badf),
        }
    };
    mem.write_u32(out, u32::try_from(written).map_err(|_| Errno::Overflow)?)
}

pub fn fd_pwrite(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    n: u32,
    offset: u64,
    out: u32,
) -> WasiResult {
    mem.check(out, 4)?;
    let iovs = mem.iovecs(iovs, n)?;
    let written = {
        let bufs = gather(mem, &iovs)?;
        ctx.get_with(fd, rights::FD_WRITE)?;
        let (file, _, write) = ctx.file(fd)?;
        if !write {
            return Err(Errno::Badf);
        }
        let mut total = 0u64;
        for b in &bufs {
            file.write_all_at(b, file_offset(offset, total)?)?;
            total += b.len() as u64;
        }
        total
    };
    mem.write_u32(out, u32::try_from(written).map_err(|_| Errno::Overflow)?)
}

pub fn fd_prestat_get(ctx: &mut WasiCtx, mem: &mut GuestMemory, fd: u32, out: u32) -> WasiResult {
    match ctx.get(fd)? {
        Descriptor::Dir {
            preopen: Some(name),
            ..
        } => {
            let len = u32::try_from(name.len()).map_err(|_| Errno::Overflow)?;
            mem.check(out, 8)?;
            mem.write(out, &[0, 0, 0, 0])?;
            mem.write_u32(offset(out, 4)?, len)
        }
        Descriptor::Dir { preopen: None, .. } => Err(Errno::Notsup),
        _ => Err(Errno::Badf),
    }
}

pub fn fd_prestat_dir_name(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    path: u32,
    len: u32,
) -> WasiResult {
    match ctx.get(fd)? {
        Descriptor::Dir {
            preopen: Some(name),
            ..
        } => {
            if name.len() > len as usize {
                return Err(Errno::Nametoolong);
            }
            mem.write(path, name.as_bytes())
        }
        Descriptor::Dir { preopen: None, .. } => Err(Errno::Notsup),
        _ => Err(Errno::Badf),
    }
}

pub fn fd_renumber(ctx: &mut WasiCtx, _mem: &mut GuestMemory, from: u32, to: u32) -> WasiResult {
    ctx.renumber(from, to)
}

fn seek(ctx: &mut WasiCtx, fd: u32, pos: SeekFrom) -> WasiResult<u64> {
    match ctx.get(fd)? {
        Descriptor::File { file, .. } => Ok(file.seek(pos)?),
        Descriptor::Stream(_) => Err(Errno::Spipe),
        Descriptor::Dir { .. } => Err(Errno::Badf),
    }
}

pub fn fd_seek(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    offset: i64,
    wh: u32,
    out: u32,
) -> WasiResult {
    let pos = match wh {
        whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::Inval)?),
        whence::CUR => SeekFrom::Current(offset),
        whence::END => SeekFrom::End(offset),
        _ => return Err(Errno::Inval),
    };
    mem.check(out, 8)?;
    let new = seek(ctx, fd, pos)?;
    mem.write_u64(out, new)
}

pub fn fd_tell(ctx: &mut WasiCtx, mem: &mut GuestMemory, fd: u32, out: u32) -> WasiResult {
    let at = seek(ctx, fd, SeekFrom::Current(0))?;
    mem.write_u64(out, at)
}

pub fn fd_readdir(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    buf: u32,
    buf_len: u32,
    cookie: u64,
    out: u32,
) -> WasiResult {
    let dir = ctx.dir_with(fd, rights::FD_READDIR)?;
    mem.slice(buf, buf_len)?;
    let own = fstat(dir.as_raw_fd())?;
    let mut entries: Vec<(u64, u8, Vec<u8>)> = vec![
        (own.ino, filetype::DIRECTORY, b".".to_vec()),
        (own.ino, filetype::DIRECTORY, b"..".to_vec()),
    ];
    for entry in dir.entries()? {
        let entry = entry?;
        use std::os::unix::fs::DirEntryExt;
        let ft = entry.file_type()?;
        let ftype = if ft.is_dir() {
            filetype::DIRECTORY
        } else if ft.is_symlink() {
            filetype::SYMBOLIC_LINK
        } else if ft.is_file() {
            filetype::REGULAR_FILE
        } else {
            use cap_fs_ext::FileTypeExt;
            if ft.is_block_device() {
                filetype::BLOCK_DEVICE
            } else if ft.is_char_device() {
                filetype::CHARACTER_DEVICE
            } else if ft.is_socket() {
                filetype::SOCKET_STREAM
            } else {
                filetype::UNKNOWN
            }
        };
        use std::os::unix::ffi::OsStrExt;
        entries.push((entry.ino(), ftype, entry.file_name().as_bytes().to_vec()));
    }
    let mut used: u32 = 0;
    for (i, (ino, ftype, name)) in entries
        .iter()
        .enumerate()
        .skip(cookie.min(u32::MAX as u64) as usize)
    {
        let header = dirent_bytes(i as u64 + 1, *ino, name.len() as u32, *ftype);
        for part in [&header[..], &name[..]] {
            let room = (buf_len - used) as usize;
            let n = part.len().min(room);
            mem.write(offset(buf, used)?, &part[..n])?;
            used += n as u32;
            if n < part.len() {
                // The buffer is full: the guest sees a full buffer and asks
                // again from the last complete entry.
                return mem.write_u32(out, used);
            }
        }
    }
    mem.write_u32(out, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_writes_keep_every_byte_in_order() {
        let mut memory = vec![0u8; 16];
        let mem = GuestMemory::new(&mut memory);
        let a: Vec<u8> = (0..CHUNK + CHUNK / 2).map(|i| i as u8).collect();
        let b: Vec<u8> = Vec::new();
        let c: Vec<u8> = (0..CHUNK / 3).map(|i| (i * 7) as u8).collect();
        let bufs = [IoSlice::new(&a), IoSlice::new(&b), IoSlice::new(&c)];
        let mut out = Vec::new();
        let mut calls = 0;
        let n = write_chunked(&mem, &bufs, |chunk| {
            calls += 1;
            assert!(chunk.iter().map(|b| b.len()).sum::<usize>() <= CHUNK);
            for b in chunk {
                out.extend_from_slice(b);
            }
            Ok(chunk.iter().map(|b| b.len()).sum())
        })
        .unwrap();
        assert_eq!(n, a.len() + c.len());
        assert_eq!(calls, 2);
        assert_eq!(out, [&a[..], &c[..]].concat());
        // A short write ends it, with what was written.
        let n = write_chunked(&mem, &bufs, |_| Ok(1000)).unwrap();
        assert_eq!(n, 1000);
    }
}
