//! `sock_*`: operations on sockets the program was given or accepted. On
//! any other descriptor they fail with `ENOTSOCK`, as the specification
//! says.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::fd::fstat;
use super::{GuestMemory, WasiCtx};
use crate::wasi::ctx::{Descriptor, Stream};
use crate::wasi::memory::{offset, CHUNK};
use crate::wasi::types::{fdflags, filetype, rights, Errno, WasiResult};

/// The host socket behind `fd`, or `ENOTSOCK`.
fn socket(ctx: &mut WasiCtx, fd: u32) -> WasiResult<RawFd> {
    let raw = match ctx.get(fd)? {
        Descriptor::Stream(Stream::Inherit(raw)) => *raw,
        Descriptor::Stream(Stream::Owned(owned)) => owned.as_raw_fd(),
        Descriptor::File { file, .. } => file.as_raw_fd(),
        _ => return Err(Errno::Notsock),
    };
    if fstat(raw)?.filetype != filetype::SOCKET_STREAM {
        return Err(Errno::Notsock);
    }
    Ok(raw)
}

fn last_error() -> Errno {
    std::io::Error::last_os_error().into()
}

pub fn sock_accept(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    flags: u32,
    out: u32,
) -> WasiResult {
    let flags = u16::try_from(flags).map_err(|_| Errno::Inval)?;
    if flags & !fdflags::NONBLOCK != 0 {
        return Err(Errno::Inval);
    }
    mem.check(out, 4)?;
    let raw = socket(ctx, fd)?;
    let mut sflags = libc::SOCK_CLOEXEC;
    if flags & fdflags::NONBLOCK != 0 {
        sflags |= libc::SOCK_NONBLOCK;
    }
    mem.ready_for(raw, libc::POLLIN)?;
    // SAFETY: accept4 on a socket we hold, without an address buffer.
    let new = unsafe { libc::accept4(raw, std::ptr::null_mut(), std::ptr::null_mut(), sflags) };
    if new < 0 {
        return Err(last_error());
    }
    // SAFETY: `new` is a fresh descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(new) };
    let wasi_fd = ctx.push(
        Descriptor::Stream(Stream::Owned(owned)),
        rights::SOCKET_BASE,
        0,
    )?;
    mem.write_u32(out, wasi_fd)
}

#[allow(clippy::too_many_arguments)]
pub fn sock_recv(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    n: u32,
    ri_flags: u32,
    out_len: u32,
    out_flags: u32,
) -> WasiResult {
    if ri_flags & !3 != 0 {
        return Err(Errno::Inval);
    }
    mem.check(out_len, 4)?;
    mem.check(out_flags, 2)?;
    let raw = socket(ctx, fd)?;
    let mut flags = 0;
    if ri_flags & 1 != 0 {
        flags |= libc::MSG_PEEK;
    }
    // MSG_WAITALL is done here, a wait and a receive at a time, so that
    // every wait can be interrupted.
    let wait_all = ri_flags & 2 != 0;
    let iovs = mem.iovecs(iovs, n)?;
    let mut total: u32 = 0;
    'buffers: for (buf, len) in iovs {
        let mut filled: u32 = 0;
        while filled < len {
            mem.ready_for(raw, libc::POLLIN)?;
            let at = offset(buf, filled)?;
            let slice = mem.slice_mut(at, (len - filled).min(CHUNK as u32))?;
            // SAFETY: `slice` is a valid writable buffer of its length.
            let got = unsafe {
                libc::recv(
                    raw,
                    slice.as_mut_ptr() as *mut libc::c_void,
                    slice.len(),
                    flags,
                )
            };
            if got < 0 {
                if total + filled > 0 {
                    total += filled;
                    break 'buffers;
                }
                return Err(last_error());
            }
            filled += got as u32;
            if got == 0 || !wait_all {
                break;
            }
        }
        total += filled;
        if filled < len {
            break;
        }
    }
    mem.write_u32(out_len, total)?;
    mem.write_u16(out_flags, 0)
}

pub fn sock_send(
    ctx: &mut WasiCtx,
    mem: &mut GuestMemory,
    fd: u32,
    iovs: u32,
    n: u32,
    _si_flags: u32,
    out: u32,
) -> WasiResult {
    mem.check(out, 4)?;
    let raw = socket(ctx, fd)?;
    let iovs = mem.iovecs(iovs, n)?;
    let mut total: u32 = 0;
    for (buf, len) in iovs {
        mem.ready_for(raw, libc::POLLOUT)?;
        let slice = mem.slice(buf, len.min(CHUNK as u32))?;
        // SAFETY: `slice` is a valid readable buffer of its length.
        let sent = unsafe {
            libc::send(
                raw,
                slice.as_ptr() as *const libc::c_void,
                slice.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            if total > 0 {
                break;
            }
            return Err(last_error());
        }
        total += sent as u32;
        if (sent as u32) < len {
            break;
        }
    }
    mem.write_u32(out, total)
}

pub fn sock_shutdown(ctx: &mut WasiCtx, _mem: &mut GuestMemory, fd: u32, how: u32) -> WasiResult {
    let how = match how {
        1 => libc::SHUT_RD,
        2 => libc::SHUT_WR,
        3 => libc::SHUT_RDWR,
        _ => return Err(Errno::Inval),
    };
    let raw = socket(ctx, fd)?;
    // SAFETY: shutdown on a socket we hold.
    if unsafe { libc::shutdown(raw, how) } != 0 {
        return Err(last_error());
    }
    Ok(())
}
